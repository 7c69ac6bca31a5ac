"""Progress of long work: a live bar on a terminal, plain lines (no escape codes) anywhere else.

Why: runs are started as ``nohup keras-srgan train ... > run.log``; a bar redrawn with carriage returns
turns such a log into noise. ``Progress`` counts items (files, images, frames); training writes its own
line per log interval.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr) is an interactive terminal."""
    try:
        return bool((stream or sys.stderr).isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def duration(seconds: float) -> str:
    """``42s``, ``6m02s``, ``3h05m``: short enough for a log line."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def plain_line(done: int, total: int | None, unit: str, elapsed: float, desc: str = "") -> str:
    """``desc: 12/40 img (30%), 8s, ETA 19s``: one progress line with nothing a text file cannot show."""
    head = f"{desc}: " if desc else ""
    if not total:
        return f"{head}{done} {unit}, {duration(elapsed)}"
    tail = f", ETA {duration(elapsed / done * (total - done))}" if done and done < total else ""
    return f"{head}{done}/{total} {unit} ({100 * done / total:.0f}%), {duration(elapsed)}{tail}"


class Progress:
    """Counts ``update`` calls toward ``total``: a tqdm bar when stderr is a terminal, else a plain line
    on stdout at most every ``every`` seconds and one when done (stderr keeps only errors and warnings,
    which scripts read). ``enabled=False`` shows nothing; ``enabled=None`` shows the bar on a terminal
    and nothing elsewhere (for short, optional progress).
    """

    def __init__(
        self, total: int | None, unit: str, desc: str = "", enabled: bool | None = True, every: float = 10.0
    ):
        self.total, self.unit, self.desc, self.every = total, unit, desc, every
        self.done = 0
        self.start = self.last = time.monotonic()
        terminal = on_terminal()
        self.bar = None
        self.plain = bool(enabled) and not terminal
        if enabled is not False and terminal:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=unit, desc=desc or None, leave=False, file=sys.stderr)

    def over(self, items):
        """Yield ``items``, counting each once its loop body is done (also after a ``continue``); close."""
        with self:
            for item in items:
                yield item
                self.update()

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.plain and (time.monotonic() - self.last >= self.every or self.done == self.total):
            self._line()

    def _line(self) -> None:
        self.last = time.monotonic()
        print(plain_line(self.done, self.total, self.unit, self.last - self.start, self.desc), flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.plain and self.done != self.total and self.done:
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Training logs: a CSV of metrics, TensorBoard scalars and LR | SR | HR images, the plain train.log."""

from __future__ import annotations

import csv
import statistics
import sys
import warnings
from pathlib import Path

import tensorflow as tf
from tensorflow.core.util.event_pb2 import Event

from keras_srgan.files import atomic_path
from keras_srgan.progress import duration, on_terminal

CSV_NAME = "metrics.csv"


def _rows_up_to(rows: list[dict], last_step: int) -> list[dict]:
    """Complete rows up to ``last_step``, stopping at the first torn row (a kill mid-write leaves one)."""
    kept = []
    for row in rows:
        step = row.get("step") or ""
        if None in row.values() or None in row or not step.isdigit() or int(step) > last_step:
            break
        kept.append(row)
    return kept


class MetricsCSV:
    """One row per logged step. On resume, rows after the restored step are dropped (no duplicates)."""

    def __init__(self, run_dir: str | Path, resume_step: int | None = None):
        self.path = Path(run_dir) / CSV_NAME
        self.columns: list[str] | None = None
        if self.path.exists() and resume_step is not None:
            with open(self.path, newline="") as f:
                rows = _rows_up_to(list(csv.DictReader(f)), resume_step)
            self.columns = list(rows[0].keys()) if rows else None
            self._rewrite(rows)
        elif self.path.exists():
            self.path.unlink()

    def _rewrite(self, rows: list[dict]) -> None:
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            if self.columns:
                writer = csv.DictWriter(f, self.columns, restval="")
                writer.writeheader()
                writer.writerows(rows)

    def write(self, step: int, values: dict) -> None:
        row = {"step": step, **{k: f"{float(v):.6g}" for k, v in values.items()}}
        if self.columns is None:
            self.columns = list(row)
            self._rewrite([])
        elif not set(row) <= set(self.columns):  # a new column (e.g. val_psnr): rewrite the header
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            self.columns += [key for key in row if key not in self.columns]
            self._rewrite(rows)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns, restval="").writerow(row)
            f.flush()


def truncate_event_files(log_dir: Path, last_step: int) -> None:
    """Rewrite the event files in ``log_dir`` without events after ``last_step``, each atomically.

    Why: a run resumed from ``last_step`` trains the steps after it again, and TensorBoard would otherwise
    draw both the old and the new values for them.
    """
    if not log_dir.is_dir():
        return
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        if path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
            continue
        kept, dropped = [], False
        try:
            for record in tf.data.TFRecordDataset(str(path)):
                raw = record.numpy()
                if Event.FromString(raw).step > last_step:
                    dropped = True
                else:
                    kept.append(raw)
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError):
            dropped = True  # a record torn by a kill: everything before it is kept
        if not dropped:
            continue
        try:
            with atomic_path(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
                for raw in kept:
                    writer.write(raw)
        except (OSError, tf.errors.OpError) as exc:
            warnings.warn(
                f"{path}: could not drop TensorBoard events after step {last_step} ({exc}); "
                "TensorBoard may show two values for the re-trained steps",
                stacklevel=2,
            )


class TensorBoardLog:
    """Scalars and images, a new event file per (re)start; ``resume_step``: drop the events after it first."""

    def __init__(self, run_dir: str | Path, resume_step: int | None = None):
        log_dir = Path(run_dir) / "tensorboard"
        if resume_step is not None:
            truncate_event_files(log_dir, resume_step)
        self.writer = tf.summary.create_file_writer(str(log_dir))

    def scalars(self, step: int, values: dict) -> None:
        with self.writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, float(value))
        self.writer.flush()

    def triplets(self, step: int, lr, sr, hr, max_images: int = 3) -> None:
        """LR (nearest-upsampled to HR size) | SR | HR side by side, values in [0, 1]."""
        size = tf.shape(hr)[1:3]
        lr_big = tf.image.resize(lr, size, method="nearest")
        grid = tf.concat([lr_big, sr, hr], axis=2)[:max_images]
        with self.writer.as_default(step=step):
            tf.summary.image("lr_sr_hr", tf.clip_by_value(grid, 0.0, 1.0), max_outputs=max_images)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class TrainLog:
    """One plain line per log interval (step, losses, lr, s/step, ETA) and the run's messages, in
    ``train.log`` and on stdout when it is not a terminal (a terminal gets the live bar instead)."""

    def __init__(self, run_dir: Path | None, total_steps: int):
        self.path = Path(run_dir) / "train.log" if run_dir is not None else None
        self.total = total_steps
        self.recent: list[float] = []  # s/step of the last timed intervals
        self.to_stdout = not on_terminal(sys.stdout)

    def say(self, line: str, stdout: bool = True) -> None:
        if stdout:
            print(line, flush=True)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(line + "\n")

    def interval(self, step: int, values: dict, timed: bool) -> None:
        """``timed``: the interval's speed counts for the ETA (not the first one, which traced the step).
        The ETA uses the median of the last five such intervals: a machine's speed drifts, and a run that
        was paused (SIGSTOP) would otherwise carry the pause for hours."""
        if timed:
            self.recent = [*self.recent[-4:], values["sec_per_step"]]
        shown = " ".join(f"{k} {v:.4g}" for k, v in values.items() if k not in ("sec_per_step", "lr"))
        eta = f" ETA {duration(statistics.median(self.recent) * (self.total - step))}" if self.recent else ""
        line = (
            f"step {step}/{self.total} {shown} lr {values['lr']:.3g} {values['sec_per_step']:.3f} s/step{eta}"
        )
        self.say(line, stdout=self.to_stdout)

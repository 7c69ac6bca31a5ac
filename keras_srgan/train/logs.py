"""Training logs: a CSV of metrics and TensorBoard scalars and LR | SR | HR image triplets."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import tensorflow as tf
from tensorflow.core.util.event_pb2 import Event

from keras_srgan.files import atomic_path

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
                rows = list(csv.DictReader(f))
            rows = _rows_up_to(rows, resume_step)
            self.columns = list(rows[0].keys()) if rows else None
            with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
                if self.columns:
                    writer = csv.DictWriter(f, self.columns)
                    writer.writeheader()
                    writer.writerows(rows)
        elif self.path.exists():
            self.path.unlink()

    def write(self, step: int, values: dict) -> None:
        row = {"step": step, **{k: f"{float(v):.6g}" for k, v in values.items()}}
        if self.columns is None:
            self.columns = list(row)
            with open(self.path, "w", newline="") as f:
                csv.DictWriter(f, self.columns).writeheader()
        for key in row:
            if key not in self.columns:  # a new column (e.g. val_psnr): rewrite the header
                self._add_column(key)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns, restval="").writerow(row)
            f.flush()

    def _add_column(self, key: str) -> None:
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        self.columns.append(key)
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns, restval="")
            writer.writeheader()
            writer.writerows(rows)


def _events_up_to(path: Path, last_step: int) -> tuple[list[bytes], bool]:
    """Serialized events of one event file with step <= ``last_step``; and whether any were dropped."""
    kept, dropped = [], False
    try:
        for record in tf.data.TFRecordDataset(str(path)):
            raw = record.numpy()
            event = Event.FromString(raw)
            if event.step > last_step:
                dropped = True
            else:
                kept.append(raw)
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError):
        dropped = True  # a record torn by a kill: everything before it is kept
    return kept, dropped


def truncate_event_files(log_dir: Path, last_step: int) -> None:
    """Rewrite the event files in ``log_dir`` without events after ``last_step``.

    Why: after a resume from step ``last_step`` the steps after it are trained again, and TensorBoard
    would otherwise draw both the old and the new values for them. Each file is rewritten under a
    temporary name and swapped in with ``os.replace``; if that fails the old file stays as it was.
    """
    if not log_dir.is_dir():
        return
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        if path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)
            continue
        kept, dropped = _events_up_to(path, last_step)
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
    """Scalars and images; each (re)start writes a new event file.

    On resume, pass ``resume_step``: events after it (from the interrupted run) are removed first, so
    every step appears once.
    """

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

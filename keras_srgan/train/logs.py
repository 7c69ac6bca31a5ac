"""Training logs: a CSV of metrics and TensorBoard scalars and LR | SR | HR image triplets."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import tensorflow as tf

CSV_NAME = "metrics.csv"


class MetricsCSV:
    """One row per logged step. On resume, rows after the restored step are dropped (no duplicates)."""

    def __init__(self, run_dir: str | Path, resume_step: int | None = None):
        self.path = Path(run_dir) / CSV_NAME
        self.columns: list[str] | None = None
        if self.path.exists() and resume_step is not None:
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            rows = [r for r in rows if r.get("step", "").isdigit() and int(r["step"]) <= resume_step]
            self.columns = list(rows[0].keys()) if rows else None
            tmp = self.path.with_name(".tmp-" + self.path.name)
            with open(tmp, "w", newline="") as f:
                if self.columns:
                    writer = csv.DictWriter(f, self.columns)
                    writer.writeheader()
                    writer.writerows(rows)
            os.replace(tmp, self.path)
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
        tmp = self.path.with_name(".tmp-" + self.path.name)
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)


class TensorBoardLog:
    def __init__(self, run_dir: str | Path):
        self.writer = tf.summary.create_file_writer(str(Path(run_dir) / "tensorboard"))

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

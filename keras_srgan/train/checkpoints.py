"""Run checkpoints that never lose work.

``tf.train.CheckpointManager`` writes the data and index files first and then replaces the small
``checkpoint`` state file atomically, so a kill at any moment leaves the previous checkpoint usable.
Restoring tries the newest checkpoint first and falls back to older ones, warning about each bad file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import tensorflow as tf

from keras_srgan.errors import UserError

CHECKPOINT_DIR = "checkpoints"


class RunCheckpoints:
    """Step counter, networks, optimizers and RNG state of one run folder."""

    def __init__(self, run_dir: str | Path, keep: int = 3, **trackables):
        self.directory = Path(run_dir) / CHECKPOINT_DIR
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(step=self.step, **trackables)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.directory), max_to_keep=keep)

    @staticmethod
    def exist(run_dir: str | Path) -> bool:
        return tf.train.latest_checkpoint(str(Path(run_dir) / CHECKPOINT_DIR)) is not None

    def save(self, step: int) -> str:
        self.step.assign(step)
        return self.manager.save(checkpoint_number=step)

    def restore_latest(self) -> int:
        """Restore the newest usable checkpoint and return its step."""
        candidates = list(reversed(self.manager.checkpoints))
        if not candidates:
            raise UserError(f"{self.directory}: no checkpoint to resume from")
        for prefix in candidates:
            try:
                status = self.checkpoint.restore(prefix)
                status.assert_existing_objects_matched()
                return int(self.step.numpy())
            except Exception as exc:  # truncated/corrupt data or index file
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                warnings.warn(
                    f"checkpoint {prefix} is unusable ({reason}); trying an older one", stacklevel=2
                )
        raise UserError(f"{self.directory}: every checkpoint is unusable")

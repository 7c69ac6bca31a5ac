"""Run checkpoints that never lose work.

``tf.train.Checkpoint`` writes a checkpoint's data and index under a temporary name and renames them;
``tf.train.CheckpointManager`` then replaces the small ``checkpoint`` state file atomically. A kill at
any moment therefore leaves the previous checkpoints usable. Restoring tries the newest checkpoint first
(including a complete one the state file had not recorded yet) and falls back to older ones, warning
about each bad file. A failed save (disk full, unwritable folder) removes its partial files and raises a
``UserError``; the earlier checkpoints are untouched.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import tensorflow as tf

from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason

CHECKPOINT_DIR = "checkpoints"
_NUMBERED = re.compile(r"^ckpt-(\d+)\.index$")


def _on_disk(directory: Path) -> dict[int, str]:
    """Step -> prefix of every ``ckpt-N`` that has an index file in ``directory``."""
    found = {}
    if directory.is_dir():
        for path in directory.iterdir():
            match = _NUMBERED.match(path.name)
            if match:
                found[int(match.group(1))] = str(directory / f"ckpt-{match.group(1)}")
    return found


def _listed(directory: Path) -> list[str]:
    """Prefixes recorded in the state file (oldest first); a broken state file counts as empty."""
    try:
        state = tf.train.get_checkpoint_state(str(directory))
    except Exception as exc:  # a corrupt text proto
        warnings.warn(
            f"{directory / 'checkpoint'} is unreadable ({error_reason(exc)}); scanning the folder",
            stacklevel=3,
        )
        return []
    if state is None:
        return []
    return list(state.all_model_checkpoint_paths)


def _step_of(prefix: str) -> int:
    match = re.search(r"ckpt-(\d+)$", prefix)
    return int(match.group(1)) if match else -1


class RunCheckpoints:
    """Step counter, networks, optimizers and RNG state of one run folder.

    ``write_dir`` (default: ``run_dir``) is where saves go; a non-chief worker of a multi-worker run
    restores from the chief's ``run_dir`` but writes to a scratch folder.
    """

    def __init__(self, run_dir: str | Path, keep: int = 3, write_dir: str | Path | None = None, **trackables):
        self.directory = Path(run_dir) / CHECKPOINT_DIR
        self.write_directory = Path(write_dir) / CHECKPOINT_DIR if write_dir is not None else self.directory
        self.keep = keep
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(step=self.step, **trackables)
        self.manager = self._manager()
        self.last_saved_step: int | None = None
        self.restored: str | None = None  # the checkpoint ``restore_latest`` restored

    def _manager(self) -> tf.train.CheckpointManager:
        state = self.write_directory / "checkpoint"
        if state.exists() and not _listed(self.write_directory):
            # unparsable or empty: move it aside so the manager can start afresh (the files stay)
            state.replace(state.with_name("checkpoint.unreadable"))
            warnings.warn(
                f"{state} is unreadable or empty; moved to checkpoint.unreadable, the folder is scanned instead",
                stacklevel=3,
            )
        return tf.train.CheckpointManager(self.checkpoint, str(self.write_directory), max_to_keep=self.keep)

    @staticmethod
    def exist(run_dir: str | Path) -> bool:
        directory = Path(run_dir) / CHECKPOINT_DIR
        return bool(_on_disk(directory)) or bool(_listed(directory))

    def save(self, step: int) -> str:
        """Write the checkpoint for ``step``; on failure remove its partial files and raise UserError."""
        self.step.assign(step)
        try:
            path = self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as exc:
            name = f"ckpt-{step}"  # remove its files and temp folders, unless the state file lists it
            if name not in {Path(p).name for p in _listed(self.write_directory)}:
                for path in self.write_directory.glob(f"{name}*"):
                    if not path.name.startswith((name + ".", name + "_temp")):
                        continue
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
            good = [p for p in _listed(self.write_directory) if Path(p + ".index").exists()]
            kept = f"the latest good checkpoint is {good[-1]}" if good else "no earlier checkpoint exists"
            raise UserError(
                f"{self.write_directory}: cannot write the checkpoint for step {step} ({error_reason(exc)}); "
                f"its partial files were removed and {kept}"
            ) from None
        self.last_saved_step = step
        return path

    def restore_latest(self) -> int:
        """Restore the newest usable checkpoint (recorded, or complete but unrecorded); returns its step."""
        listed = {_step_of(p): str(self.directory / Path(p).name) for p in _listed(self.directory)}
        by_step = {**_on_disk(self.directory), **listed}
        candidates = [by_step[s] for s in sorted(by_step, reverse=True)]
        if not candidates:
            raise UserError(f"{self.directory}: no checkpoint to resume from")
        for prefix in candidates:
            try:
                for suffix in (".index", ".data-00000-of-00001"):
                    if not Path(prefix + suffix).exists():
                        raise FileNotFoundError(f"{prefix + suffix} is missing")
                self.checkpoint.restore(prefix).assert_existing_objects_matched()
            except Exception as exc:  # truncated/corrupt data or index file
                detail = error_reason(exc)
                named = self._name_bad_file(prefix, detail)
                warnings.warn(f"checkpoint {named} is unusable ({detail}); trying an older one", stacklevel=2)
                continue
            step = int(self.step.numpy())
            self._adopt(prefix)
            self.restored = prefix
            return step
        raise UserError(f"{self.directory}: every checkpoint is unusable ({', '.join(candidates)})")

    @staticmethod
    def _name_bad_file(prefix: str, detail: str) -> str:
        """The file an error is about when TensorFlow says it; else the index and data files."""
        for path in sorted(Path(prefix).parent.glob(Path(prefix).name + ".*")):
            if str(path) in detail or path.name in detail:
                return str(path)
        if "index" in detail.lower() or "sstable" in detail.lower() or "table" in detail.lower():
            return prefix + ".index"
        return f"{prefix} ({prefix}.index / {prefix}.data-00000-of-00001)"

    def _adopt(self, prefix: str) -> None:
        """Make the restored checkpoint the manager's latest, so rotation and resume agree with it.

        Only needed after a fallback or an unrecorded checkpoint; a failure here only warns.
        """
        listed = _listed(self.directory)
        if self.write_directory != self.directory or (listed and Path(listed[-1]).name == Path(prefix).name):
            return
        restored_step = _step_of(prefix)
        older = {_step_of(p) for p in listed} | set(_on_disk(self.directory))
        keep = [
            f"ckpt-{step}"
            for step in sorted(older)
            if 0 <= step < restored_step and (self.directory / f"ckpt-{step}.index").exists()
        ]
        names = [*keep, Path(prefix).name]
        names = names[-self.keep :] if self.keep else names
        try:
            tf.compat.v1.train.update_checkpoint_state(
                str(self.directory), model_checkpoint_path=names[-1], all_model_checkpoint_paths=names
            )
        except (tf.errors.OpError, OSError) as exc:
            warnings.warn(
                f"{self.directory / 'checkpoint'}: could not record {prefix} ({error_reason(exc)})",
                stacklevel=3,
            )
        self.manager = self._manager()

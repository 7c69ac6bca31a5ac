"""The pieces of ``trainer.fit``'s step loop: the step function, intervals, the divergence guard, validation,
stop signals and the plain-text log.

Each piece owns one decision so the loop in ``trainer`` reads as a list of them: run a step, guard
against divergence, log at the log interval, validate, write images, checkpoint, stop when asked.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import threading
from pathlib import Path

import tensorflow as tf

from keras_srgan.errors import UserError
from keras_srgan.metrics import psnr_y_tf
from keras_srgan.progress import duration, on_terminal
from keras_srgan.train.srgan_model import SKIPPED, STEP_SKIPPED


def local(value) -> float:
    """A host float from a (possibly per-replica) tensor."""
    if isinstance(value, tf.distribute.DistributedValues):
        value = tf.distribute.get_strategy().experimental_local_results(value)[0]
    return float(value)


def due(step: int, every: int, last: int) -> bool:
    """Whether an every-``every``-steps action runs after ``step`` (always after the last step)."""
    return step % every == 0 or step == last


def make_step_fn(model, strategy, update_generator: bool, jit_compile: bool):
    """batch -> (global metric results, whether this step was skipped), one ``tf.function``."""
    step_fn = tf.function(
        lambda batch: model.train_step(batch, update_generator=update_generator), jit_compile=jit_compile
    )
    trackers = model.trackers

    @tf.function
    def train_one(batch):
        out = strategy.run(step_fn, args=(batch,))
        # every replica made the same skip decision; read one
        skipped = strategy.experimental_local_results(out)[0][STEP_SKIPPED]
        # read in cross-replica context: metric variables are summed over replicas (global values)
        return {name: tracker.result() for name, tracker in trackers.items()}, skipped

    return train_one


class DivergenceGuard:
    """Counts skipped (non-finite) steps and stops the run after ``max_bad_steps`` in a row."""

    def __init__(self, max_bad_steps: int):
        self.max_bad_steps = max_bad_steps
        self.total = 0
        self.streak = 0
        self.first_bad = 0

    def observe(self, step: int, skipped: bool, last_checkpoint: str) -> None:
        """Record whether ``step`` was skipped; raises UserError when the streak reaches the limit."""
        if not skipped:
            self.streak, self.first_bad = 0, 0
            return
        self.total += 1
        self.streak += 1
        self.first_bad = self.first_bad or step
        if self.streak >= self.max_bad_steps:
            raise UserError(
                f"training diverged: {self.streak} consecutive steps ({self.first_bad}-{step}) had a "
                f"non-finite loss or gradient and were skipped; stopped. The last good checkpoint "
                f"is {last_checkpoint or 'none (no checkpoint was written yet)'}; try a lower --lr, "
                f"check the data, or raise --max-bad-steps"
            )

    @property
    def healthy(self) -> bool:
        """No bad step since the last good one: a checkpoint now would hold good weights."""
        return not self.streak


class Validation:
    """Y-channel PSNR of the shown generator on fixed validation crops, and LR | SR | HR image logs."""

    def __init__(self, model, generator, val_ds, sample_batch):
        self.model = model
        self.generator = generator
        self.val_ds = val_ds
        self.sample_batch = sample_batch
        scale = model.degradation.scale

        @tf.function
        def psnr_sum(hr):
            lr, hr01 = model.make_pair(hr, add_noise=False)
            sr = tf.cast(generator(lr, training=False), tf.float32)
            count = tf.shape(hr)[0]
            return psnr_y_tf(sr, hr01, crop_border=scale) * tf.cast(count, tf.float32), count

        self._psnr_sum = psnr_sum

    def __call__(self) -> dict:
        """``{"val_psnr": mean}`` over the validation set; empty without one."""
        if self.val_ds is None:
            return {}
        total, count = 0.0, 0
        for hr in self.val_ds:
            batch_sum, batch_count = self._psnr_sum(hr)
            total, count = total + float(batch_sum), count + int(batch_count)
        return {"val_psnr": total / count} if count else {}

    def log_images(self, tb_log, step: int) -> None:
        hr = next(iter(self.val_ds)) if self.val_ds is not None else self.sample_batch
        lr, hr01 = self.model.make_pair(hr, add_noise=False)
        sr = tf.cast(self.generator(lr, training=False), tf.float32)
        tb_log.triplets(step, lr, sr, hr01)


def interval_values(logs: dict, interval_steps: int) -> dict:
    """The interval's metric means as host floats; only the skip count when every step was skipped."""
    values = {k: local(v) for k, v in logs.items()}
    if values[SKIPPED] >= interval_steps - 0.5:  # every step skipped: the means are empty
        values = {SKIPPED: values[SKIPPED]}
    return values


class StopSignals:
    """SIGTERM and SIGINT while training: finish the current step, checkpoint it, then stop.

    Why: Kubernetes, Slurm, spot VMs and ``docker stop`` send SIGTERM, and its default action loses every
    step since the last checkpoint. The handler only records the signal; the loop looks between steps,
    so the checkpoint always holds a whole step. A signal the parent chose to ignore (``SIG_IGN``: a
    shell starts ``&`` jobs with SIGINT ignored) stays ignored. A second signal while stopping is
    acknowledged and otherwise ignored, so it cannot tear the checkpoint being written. Handlers can only
    be set from the main thread; elsewhere the signals keep their current behaviour.
    """

    NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}

    def __init__(self, agree=None):
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        # all workers of a multi-worker run must stop at the same step: ``agree(flag)`` is True when any is
        self._agree = agree

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.NAMES:
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN:
                    self._previous[signum] = previous
                    signal.signal(signum, self._record)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _record(self, signum, frame) -> None:
        name = self.NAMES[signum]
        if self.received is None:
            self.received = signum
            message = f"{name}: stopping after the current step; a checkpoint will be written\n"
        else:
            message = f"{name}: already stopping; the checkpoint is being written\n"
        os.write(2, message.encode())  # no buffered I/O inside a signal handler

    def stop_now(self) -> bool:
        """Whether to stop after the step just finished (on every worker at once)."""
        if self._agree is None:
            return self.received is not None
        return self._agree(self.received is not None)

    @property
    def name(self) -> str:
        return self.NAMES.get(self.received, "another worker's signal")

    @property
    def exit_code(self) -> int:
        """128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports a killed job."""
        return 128 + (self.received or signal.SIGTERM)


def any_worker(strategy):
    """``flag -> bool``: True on every worker when any worker's flag is, by one all-reduce (multi-worker)."""

    @tf.function
    def reduce(flag):
        per_replica = strategy.run(lambda f: tf.cast(f, tf.float32), args=(flag,))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None) > 0

    return lambda flag: bool(reduce(tf.constant(flag)))


class TrainLog:
    """One plain line per log interval (step, losses, lr, s/step, ETA) in ``train.log`` of the run folder,
    and on stdout when stdout is not a terminal (a terminal gets the live bar instead); the run's other
    one-line messages (resuming, interrupted) go to both too.
    """

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

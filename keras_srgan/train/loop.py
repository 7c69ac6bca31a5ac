"""The pieces of ``trainer.fit``'s step loop: the step function, intervals, the divergence guard, validation.

Each piece owns one decision so the loop in ``trainer`` reads as a list of them: run a step, guard
against divergence, log at the log interval, validate, write images, checkpoint.
"""

from __future__ import annotations

import tensorflow as tf

from keras_srgan.errors import UserError
from keras_srgan.metrics import psnr_y_tf
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
    """Counts skipped (non-finite) steps and stops the run after ``max_bad_steps`` in a row.

    ``last_step`` is the last step it saw (where an interrupted run stopped).
    """

    def __init__(self, max_bad_steps: int, start_step: int = 0):
        self.max_bad_steps = max_bad_steps
        self.last_step = start_step
        self.total = 0
        self.streak = 0
        self.first_bad = 0

    def observe(self, step: int, skipped: bool, last_checkpoint: str) -> None:
        """Record whether ``step`` was skipped; raises UserError when the streak reaches the limit."""
        self.last_step = step
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

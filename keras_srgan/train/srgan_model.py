"""``SRGAN``: the generator, the (optional) discriminator and the losses in one Keras model.

``train_step`` receives a batch of HR crops (uint8), makes the LR batch on the device with the
configured degradation, and updates the networks. Without a discriminator it is the paper's MSE
(or VGG) pre-training of SRResNet; with one, one D step and one G step per batch, where
G loss = content + adv_weight * (-log D(G(x))).

A step whose loss or gradients are not finite is skipped (no weight or optimizer update, on every
replica) and counted in the ``skipped_steps`` metric; its values stay out of the other metrics.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_srgan.data.degradation import Degradation
from keras_srgan.losses.content import ContentLoss, adversarial_losses
from keras_srgan.metrics import psnr_y_tf

GAN_METRICS = ("g_loss", "d_loss", "content", "adversarial", "d_real", "d_fake", "psnr")
PRETRAIN_METRICS = ("g_loss", "psnr")
SKIPPED = "skipped_steps"  # a Sum tracker: steps skipped for a non-finite loss or gradient


def _for_tape(optimizer, loss: tf.Tensor) -> tf.Tensor:
    """The loss to differentiate: the replica share, times the fp16 loss scale. Call inside the tape."""
    loss = _replica_scale(loss)
    return optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss


def _replica_scale(loss: tf.Tensor) -> tf.Tensor:
    """Per-replica loss -> contribution to the global-batch mean (gradients are summed over replicas)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / tf.cast(replicas, loss.dtype) if replicas > 1 else loss


def _all_replicas_finite(finite: tf.Tensor) -> tf.Tensor:
    """True only if every replica saw finite values, so all replicas make the same skip decision."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return finite
    bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
    return tf.equal(bad, 0.0)


def _apply_if_finite(finite: tf.Tensor, updates: list[tuple]) -> tf.Tensor:
    """Apply each ``(optimizer, grads, variables)`` only if ``finite`` holds on all replicas.

    A skipped step leaves weights, optimizer moments and the optimizer's iteration count untouched.
    Strategies that need ``merge_call`` to apply gradients (MirroredStrategy) do not allow it inside a
    ``tf.cond`` in replica context, so there the condition is evaluated in cross-replica context, the
    same way Keras' LossScaleOptimizer does it.
    """
    finite = _all_replicas_finite(finite)

    def apply_all(*grad_lists):
        for (optimizer, _, variables), grads in zip(updates, grad_lists, strict=True):
            optimizer.apply(list(grads), variables)

    grad_lists = tuple(list(grads) for _, grads, _ in updates)
    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(finite, lambda: apply_all(*grad_lists), lambda: None)
        return finite

    def cross_replica(distribution, finite, *grad_lists):
        # identical on every replica after _all_replicas_finite
        first = distribution.experimental_local_results(finite)[0]
        tf.cond(
            first,
            lambda: distribution.extended.call_for_each_replica(apply_all, args=grad_lists),
            lambda: None,
        )

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, *grad_lists))
    return finite


class SRGAN(keras.Model):
    """Trains an SRResNet generator alone (``discriminator=None``) or adversarially.

    Data: HR batches, uint8 or float in [0, 1]. Generator input is LR in [0, 1]; its output and the
    discriminator input are in [-1, 1].
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model | None = None,
        content_loss: ContentLoss | None = None,
        degradation: Degradation | None = None,
        adv_weight: float = 1e-3,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.content_loss = content_loss or ContentLoss("mse")
        self.degradation = degradation or Degradation(scale=int(generator.scale))
        self.adv_weight = float(adv_weight)
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = GAN_METRICS if discriminator is not None else PRETRAIN_METRICS
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.trackers[SKIPPED] = keras.metrics.Sum(name=SKIPPED)
        self.val_psnr = keras.metrics.Mean(name="val_psnr")

    @property
    def is_gan(self) -> bool:
        return self.discriminator is not None

    def compile(self, g_optimizer, d_optimizer=None, **kwargs):
        if self.is_gan and d_optimizer is None:
            raise ValueError("the GAN stage needs a d_optimizer")
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    @property
    def metrics(self):
        return [*self.trackers.values(), self.val_psnr]

    def call(self, lr, training=False):
        return self.generator(lr, training=training)

    def _pair(self, data, add_noise: bool = True):
        hr = data[0] if isinstance(data, (tuple, list)) else data
        if hr.dtype == tf.uint8:
            hr = tf.cast(hr, tf.float32) / 255.0
        hr = tf.cast(hr, tf.float32)
        lr = self.degradation(hr, self.seed_generator, add_noise=add_noise)
        return lr, hr

    @staticmethod
    def _gradients(optimizer, scaled_loss, variables, tape) -> tuple[list, tf.Tensor]:
        """Gradients of ``scaled_loss`` (see ``_for_tape``) and whether they and the loss are finite."""
        grads = tape.gradient(scaled_loss, variables)
        finite = tf.reduce_all(tf.math.is_finite(scaled_loss))
        if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            # One global norm instead of a check per tensor: cheap, and NaN/Inf anywhere makes it non-finite.
            # (A LossScaleOptimizer handles overflowing scaled gradients itself by lowering its scale.)
            norm = tf.linalg.global_norm([g for g in grads if g is not None])
            finite = tf.logical_and(finite, tf.math.is_finite(norm))
        return grads, finite

    def train_step(self, data):
        lr, hr = self._pair(data)
        hr_m11 = hr * 2.0 - 1.0
        if not self.is_gan:
            with tf.GradientTape() as tape:
                sr = tf.cast(self.generator(lr, training=True), tf.float32)
                loss = self.content_loss(hr_m11, sr)
                scaled = _for_tape(self.g_optimizer, loss)
            g_vars = self.generator.trainable_variables
            grads, ok = self._gradients(self.g_optimizer, scaled, g_vars, tape)
            ok = _apply_if_finite(ok, [(self.g_optimizer, grads, g_vars)])
            values = {"g_loss": loss}
        else:
            with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
                sr = tf.cast(self.generator(lr, training=True), tf.float32)
                real_logits = self.discriminator(hr_m11, training=True)
                fake_logits = self.discriminator(sr, training=True)
                d_loss, adversarial = adversarial_losses(real_logits, fake_logits)
                content = self.content_loss(hr_m11, sr)
                g_loss = content + self.adv_weight * adversarial
                d_scaled, g_scaled = _for_tape(self.d_optimizer, d_loss), _for_tape(self.g_optimizer, g_loss)
            d_vars, g_vars = self.discriminator.trainable_variables, self.generator.trainable_variables
            d_grads, d_ok = self._gradients(self.d_optimizer, d_scaled, d_vars, d_tape)
            g_grads, g_ok = self._gradients(self.g_optimizer, g_scaled, g_vars, g_tape)
            # A bad D or G step skips both updates, so the two networks never drift out of step.
            ok = _apply_if_finite(
                tf.logical_and(d_ok, g_ok),
                [(self.d_optimizer, d_grads, d_vars), (self.g_optimizer, g_grads, g_vars)],
            )
            values = {
                "g_loss": g_loss,
                "d_loss": d_loss,
                "content": content,
                "adversarial": adversarial,
                "d_real": tf.reduce_mean(tf.sigmoid(tf.cast(real_logits, tf.float32))),
                "d_fake": tf.reduce_mean(tf.sigmoid(tf.cast(fake_logits, tf.float32))),
            }
        values["psnr"] = psnr_y_tf((sr + 1.0) * 0.5, hr)
        # A skipped step's values (often NaN) stay out of the means; it is counted in skipped_steps.
        weight = tf.cast(ok, tf.float32)
        for name, value in values.items():
            value = tf.cast(value, tf.float32)
            self.trackers[name].update_state(tf.where(ok, value, tf.zeros_like(value)), sample_weight=weight)
        # Metric variables sum over replicas, so each replica adds its share of the one skipped step.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.trackers[SKIPPED].update_state((1.0 - tf.cast(ok, tf.float32)) / replicas)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def test_step(self, data):
        """Y-channel PSNR (border = scale) of the generator on a validation batch."""
        lr, hr = self._pair(data, add_noise=False)
        sr = tf.cast(self.generator(lr, training=False), tf.float32)
        self.val_psnr.update_state(psnr_y_tf((sr + 1.0) * 0.5, hr, crop_border=self.degradation.scale))
        return {"val_psnr": self.val_psnr.result()}

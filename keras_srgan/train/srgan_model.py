"""``SRGAN``: the generator, the (optional) discriminator and the losses in one Keras model.

``train_step`` takes a batch of HR crops (uint8, or float in [0, 1]; or ``(hr, lr)`` pairs), makes the LR
on the device with the degradation, and updates the networks; everything in the step is in [0, 1]. Without
a discriminator it is the paper's pre-training of SRResNet. With one, by default the paper's GAN stage: a D
step, then a G step against the *updated* D (``gan_update="alternating"``), G loss = content + adv_weight *
adversarial (+ fm_weight * an L1 match of D's conv features). ``"simultaneous"`` takes both gradients from
one pass against the pre-update D (one D forward less); ``adversarial="relativistic"`` is ESRGAN's loss.

A step whose loss or gradients are not finite is skipped on every replica, counted in ``skipped_steps``
and kept out of the other metrics. Simultaneous: a bad D or G skips both. Alternating (D is applied before
G's gradients exist): a bad D step, G output or content loss skips both; bad G gradients after a good D
step skip G. Under fp16 loss scaling each optimizer whose own gradients overflowed lowers its scale.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_srgan.data.degradation import Degradation
from keras_srgan.losses.content import ContentLoss, adversarial_losses, phase_bias_loss
from keras_srgan.metrics import psnr_y_tf

GAN_UPDATES = ("alternating", "simultaneous")
GAN_METRICS = ("g_loss", "d_loss", "content", "adversarial", "d_real", "d_fake", "psnr")
PRETRAIN_METRICS = ("g_loss", "psnr")
SKIPPED = "skipped_steps"  # a Sum tracker: steps skipped for a non-finite loss or gradient
STEP_SKIPPED = "step_skipped"  # in train_step's result: 1.0 if this very step was skipped, else 0.0


def _for_tape(optimizer, loss: tf.Tensor) -> tf.Tensor:
    """The loss to differentiate (inside the tape): the replica's share of the global-batch mean (gradients
    are summed over replicas), times the fp16 loss scale."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    loss = loss / tf.cast(replicas, loss.dtype) if replicas > 1 else loss
    return optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss


def _all_replicas_finite(finite: tf.Tensor) -> tf.Tensor:
    """True only if every replica saw finite values, so all replicas make the same skip decision."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return finite
    bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
    return tf.equal(bad, 0.0)


def _lower_loss_scales(updates: list[tuple], own_finite: list[tf.Tensor]) -> None:
    """On a skipped step, halve the loss scale of each fp16 optimizer whose own gradients overflowed.

    What ``LossScaleOptimizer.apply`` does with non-finite gradients, without applying anything.
    """
    for (optimizer, _, _), finite in zip(updates, own_finite, strict=True):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            counter = optimizer.step_counter
            optimizer.dynamic_scale.assign(optimizer.dynamic_scale * tf.where(finite, 1.0, 0.5))
            counter.assign(tf.where(finite, counter, tf.zeros_like(counter)))


def _apply_if_finite(
    updates: list[tuple], own_finite: list[tf.Tensor], allowed: tf.Tensor | bool = True
) -> tf.Tensor:
    """Apply each ``(optimizer, grads, variables)`` only if ``allowed`` and all ``own_finite`` flags hold
    on all replicas (each flag belongs to one update: its loss and gradients are finite).

    A skipped step leaves weights, optimizer moments and the optimizer's iteration count untouched.
    Strategies that need ``merge_call`` to apply gradients (MirroredStrategy) do not allow it inside a
    ``tf.cond`` in replica context, so there the condition is evaluated in cross-replica context, the
    same way Keras' LossScaleOptimizer does it. Returns whether the updates were applied.
    """
    own_finite = [_all_replicas_finite(f) for f in own_finite]
    finite = tf.logical_and(tf.reduce_all(tf.stack(own_finite)), allowed)

    def apply_all(*grad_lists):
        for (optimizer, _, variables), grads in zip(updates, grad_lists, strict=True):
            optimizer.apply(list(grads), variables)

    grad_lists = tuple(list(grads) for _, grads, _ in updates)
    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(finite, lambda: apply_all(*grad_lists), lambda: _lower_loss_scales(updates, own_finite))
        return finite

    def cross_replica(distribution, finite, own_finite, *grad_lists):
        # identical on every replica after _all_replicas_finite
        first = distribution.experimental_local_results(finite)[0]
        own_first = [distribution.experimental_local_results(f)[0] for f in own_finite]
        tf.cond(
            first,
            lambda: distribution.extended.call_for_each_replica(apply_all, args=grad_lists),
            lambda: _lower_loss_scales(updates, own_first),
        )

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, own_finite, *grad_lists))
    return finite


def _finite_gradients(scaled_loss: tf.Tensor, variables, tape) -> tuple[list, tf.Tensor]:
    """Gradients of ``scaled_loss`` (see ``_for_tape``) and whether they and the loss are finite.

    One global norm instead of a check per tensor: cheap, and NaN/Inf anywhere makes it non-finite.
    """
    grads = tape.gradient(scaled_loss, variables)
    norm = tf.linalg.global_norm([g for g in grads if g is not None])
    return grads, tf.logical_and(tf.reduce_all(tf.math.is_finite(scaled_loss)), tf.math.is_finite(norm))


class SRGAN(keras.Model):
    """Trains a generator alone (``discriminator=None``) or adversarially (see the module docstring)."""

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model | None = None,
        content_loss: ContentLoss | None = None,
        degradation: Degradation | None = None,
        adv_weight: float = 1e-3,
        seed: int = 0,
        gan_update: str = "alternating",
        adversarial: str = "standard",
        fm_weight: float = 0.0,
        phase_weight: float = 0.0,
        **kwargs,
    ):
        if gan_update not in GAN_UPDATES:  # a typo would otherwise train alternating without a word
            raise ValueError(f"gan_update must be one of {GAN_UPDATES}, got {gan_update!r}")
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.content_loss = content_loss or ContentLoss("mse")
        self.degradation = degradation or Degradation(scale=int(generator.scale))
        self.adv_weight = float(adv_weight)
        self.gan_update = gan_update
        self.adversarial = adversarial
        self.fm_weight = float(fm_weight)
        self.phase_weight = float(phase_weight)
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = GAN_METRICS if discriminator is not None else PRETRAIN_METRICS
        if discriminator is not None and self.fm_weight:
            names = (*names, "feature_match")
        if discriminator is not None and self.phase_weight:
            names = (*names, "phase_bias")  # pre-training folds it into g_loss
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.trackers[SKIPPED] = keras.metrics.Sum(name=SKIPPED)

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
        return list(self.trackers.values())

    def call(self, lr, training=False):
        return self.generator(lr, training=training)

    def make_pair(self, data, add_noise: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
        """(LR, HR) float32 batches in [0, 1] from an HR batch (uint8, or float in [0, 1]).

        A paired batch ``(hr, lr)`` (``--lr-data``) brings its own LR, which is used as given.
        """
        hr = data[0] if isinstance(data, (tuple, list)) else data
        given = data[1] if isinstance(data, (tuple, list)) and len(data) > 1 else None

        def to_float(x):
            return tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)

        hr = to_float(hr)
        if given is not None:
            return to_float(given), hr
        lr = self.degradation(hr, self.seed_generator, add_noise=add_noise)
        return lr, hr

    def _discriminate(self, images: tf.Tensor, with_features: bool):
        if with_features:
            return self.discriminator(images, training=True, return_features=True)
        return self.discriminator(images, training=True), None

    def _generator_loss(self, content, real_logits, fake_logits, real_features, fake_features, hr, sr):
        """G's total loss (from its content loss) and its parts, all float32."""
        _, adversarial = adversarial_losses(real_logits, fake_logits, self.adversarial)
        g_loss = content + self.adv_weight * adversarial
        parts = {"content": content, "adversarial": adversarial}
        if self.phase_weight:
            phase_bias = phase_bias_loss(hr, sr, int(self.generator.scale))
            g_loss += self.phase_weight * phase_bias
            parts["phase_bias"] = phase_bias
        if self.fm_weight:
            matched = [
                tf.reduce_mean(tf.abs(tf.cast(f, tf.float32) - tf.stop_gradient(tf.cast(r, tf.float32))))
                for f, r in zip(fake_features, real_features, strict=True)
            ]
            feature_match = tf.add_n(matched) / len(matched)
            g_loss += self.fm_weight * feature_match
            parts["feature_match"] = feature_match
        return g_loss, parts

    def train_step(self, data, update_generator: bool = True):
        """One training step; returns the running metric results (``skipped_steps`` among them) and
        ``step_skipped``: whether this step was skipped (the same on every replica).

        ``update_generator=False`` (a Python bool, fixed when traced): a D-only warm-up step.
        """
        lr, hr = self.make_pair(data)
        if not self.is_gan:
            with tf.GradientTape() as tape:
                sr = tf.cast(self.generator(lr, training=True), tf.float32)
                loss = self.content_loss(hr, sr)
                if self.phase_weight:
                    loss += self.phase_weight * phase_bias_loss(hr, sr, int(self.generator.scale))
                scaled = _for_tape(self.g_optimizer, loss)
            g_vars = self.generator.trainable_variables
            grads, g_ok = _finite_gradients(scaled, g_vars, tape)
            ok = _apply_if_finite([(self.g_optimizer, grads, g_vars)], [g_ok])
            values = {"g_loss": loss}
        elif self.gan_update == "simultaneous":
            sr, ok, values = self._simultaneous_step(lr, hr, update_generator)
        else:
            sr, ok, values = self._alternating_step(lr, hr, update_generator)
        values["psnr"] = psnr_y_tf(sr, hr)
        return self._record(ok, values)

    def _record(self, ok: tf.Tensor, values: dict) -> dict:
        # A skipped step's values (often NaN) stay out of the means; it is counted in skipped_steps.
        weight = tf.cast(ok, tf.float32)
        for name, value in values.items():
            value = tf.cast(value, tf.float32)
            self.trackers[name].update_state(tf.where(ok, value, tf.zeros_like(value)), sample_weight=weight)
        # Metric variables sum over replicas, so each replica adds its share of the one skipped step.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.trackers[SKIPPED].update_state((1.0 - tf.cast(ok, tf.float32)) / replicas)
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        results[STEP_SKIPPED] = 1.0 - tf.cast(ok, tf.float32)
        return results

    def _d_values(self, d_loss, real_logits, fake_logits) -> dict:
        return {
            "d_loss": d_loss,
            "d_real": tf.reduce_mean(tf.sigmoid(tf.cast(real_logits, tf.float32))),
            "d_fake": tf.reduce_mean(tf.sigmoid(tf.cast(fake_logits, tf.float32))),
        }

    def _simultaneous_step(self, lr, hr, update_generator: bool):
        """Both gradients from one forward pass (G's adversarial gradient from the pre-update D)."""
        fm = bool(self.fm_weight)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            sr = tf.cast(self.generator(lr, training=True), tf.float32)
            real_logits, real_features = self._discriminate(hr, fm)
            fake_logits, fake_features = self._discriminate(sr, fm)
            d_loss, _ = adversarial_losses(real_logits, fake_logits, self.adversarial)
            g_loss, parts = self._generator_loss(
                self.content_loss(hr, sr), real_logits, fake_logits, real_features, fake_features, hr, sr
            )
            d_scaled, g_scaled = _for_tape(self.d_optimizer, d_loss), _for_tape(self.g_optimizer, g_loss)
        d_vars, g_vars = self.discriminator.trainable_variables, self.generator.trainable_variables
        d_grads, d_ok = _finite_gradients(d_scaled, d_vars, d_tape)
        g_grads, g_ok = _finite_gradients(g_scaled, g_vars, g_tape)
        updates = [(self.d_optimizer, d_grads, d_vars)]
        flags = [d_ok]
        if update_generator:
            updates.append((self.g_optimizer, g_grads, g_vars))
            flags.append(g_ok)
        # A bad D or G step skips both updates, so the two networks never drift out of step.
        ok = _apply_if_finite(updates, flags)
        values = {"g_loss": g_loss, **parts, **self._d_values(d_loss, real_logits, fake_logits)}
        return sr, ok, values

    def _alternating_step(self, lr, hr, update_generator: bool):
        """The paper's order: D step on (HR, G(x)); then G's loss against the updated D."""
        fm = bool(self.fm_weight)
        with tf.GradientTape() as g_tape:
            sr = tf.cast(self.generator(lr, training=True), tf.float32)
            content = self.content_loss(hr, sr)
            with g_tape.stop_recording(), tf.GradientTape() as d_tape:
                real_logits, _ = self._discriminate(hr, False)
                fake_logits, _ = self._discriminate(tf.stop_gradient(sr), False)
                d_loss, _ = adversarial_losses(real_logits, fake_logits, self.adversarial)
                d_scaled = _for_tape(self.d_optimizer, d_loss)
            with g_tape.stop_recording():
                d_vars = self.discriminator.trainable_variables
                d_grads, d_ok = _finite_gradients(d_scaled, d_vars, d_tape)
                # a non-finite G output or content loss skips D too: both networks skip together
                d_applied = _apply_if_finite(
                    [(self.d_optimizer, d_grads, d_vars)], [d_ok], allowed=tf.math.is_finite(content)
                )
            # G against the updated D. The standard loss needs D(HR) only for feature matching; the
            # relativistic loss always does (it compares fake logits with the mean real logit).
            fake_logits_g, fake_features = self._discriminate(sr, fm)
            if fm or self.adversarial == "relativistic":
                real_logits_g, real_features = self._discriminate(hr, fm)
                real_logits_g = tf.stop_gradient(real_logits_g)
            else:
                real_logits_g, real_features = real_logits, None
            g_loss, parts = self._generator_loss(
                content, real_logits_g, fake_logits_g, real_features, fake_features, hr, sr
            )
            g_scaled = _for_tape(self.g_optimizer, g_loss)
        if not update_generator:
            ok = d_applied
        else:
            g_vars = self.generator.trainable_variables
            g_grads, g_ok = _finite_gradients(g_scaled, g_vars, g_tape)
            # a skipped D step skips G too; a bad G after a good D step skips G only
            ok = _apply_if_finite([(self.g_optimizer, g_grads, g_vars)], [g_ok], allowed=d_applied)
        values = {"g_loss": g_loss, **parts, **self._d_values(d_loss, real_logits, fake_logits)}
        return sr, ok, values

"""The generator's [0, 1] contract: shipped weights give the old outputs, losses and steps are unchanged.

Every reference here is the old contract written out by hand (``old_contract``: tanh output, the
discriminator and the pixel losses on [-1, 1]), not the code under test.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import smooth_image
from old_contract import discriminator_m11, generator_tanh

from keras_srgan.inference.engines import Predictor
from keras_srgan.losses import ContentLoss
from keras_srgan.models import build_discriminator, build_generator
from keras_srgan.train.srgan_model import SRGAN
from keras_srgan.weights import load_generator, shipped_weights

SIZE = 32


def _lr(height: int = 20, width: int = 28, seed: int = 3) -> np.ndarray:
    return (smooth_image(height, width, seed=seed).astype(np.float32) / 255.0)[None]


@pytest.mark.parametrize("name", sorted(n for n, m in shipped_weights().items() if m["class"] == "SRResNet"))
def test_shipped_weights_give_the_old_tanh_output_mapped(name):  # CompactSR has no tanh
    """(tanh + 1) / 2 of the old forward pass, bit for bit; the predictor clips nothing away."""
    g = load_generator(name)
    lr = _lr()
    old = (generator_tanh(g, lr).numpy() + 1.0) * 0.5
    new = g(lr, training=False).numpy()
    assert new.dtype == np.float32 and new.shape == (1, 80, 112, 3)
    np.testing.assert_array_equal(new, old)
    # the predictor against the old predictor's graph: one traced function of the old forward pass
    old_predictor = tf.function(lambda x: tf.clip_by_value((generator_tanh(g, x) + 1.0) * 0.5, 0.0, 1.0))
    np.testing.assert_array_equal(Predictor(g)(lr), old_predictor(tf.constant(lr)).numpy())


def test_discriminator_maps_its_input_in_float32_before_mixed_precision():
    """Under mixed_bfloat16, D([0, 1]) equals the old D([-1, 1]) exactly: the map is float32, then the cast."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(4)
        d = build_discriminator(SIZE, filters=8, dense_units=16)
        x = tf.random.stateless_uniform((3, SIZE, SIZE, 3), seed=(5, 6))
        new = d(x, training=False)
        old = discriminator_m11(d, x * 2.0 - 1.0, training=False)
        assert new.dtype == tf.float32
        np.testing.assert_array_equal(new.numpy(), old.numpy())
    finally:
        keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("kind", ["mse", "l1"])
def test_pixel_losses_stay_on_the_minus_one_one_scale(kind):
    """The recipes' weights were tuned with pixel losses on [-1, 1]: an MSE on [0, 1] would be 4x smaller."""
    rng = np.random.default_rng(0)
    hr, sr = (rng.uniform(0, 1, (2, 8, 8, 3)).astype(np.float32) for _ in range(2))
    diff = (hr * 2.0 - 1.0) - (sr * 2.0 - 1.0)
    expected = np.mean(diff**2) if kind == "mse" else np.mean(np.abs(diff))
    assert float(ContentLoss(kind)(tf.constant(hr), tf.constant(sr))) == pytest.approx(expected, rel=1e-6)


def test_vgg_loss_equals_the_old_minus_one_one_formula():
    with pytest.warns(UserWarning, match="RANDOM"):
        loss_fn = ContentLoss("vgg22", vgg_weights="random")
    rng = np.random.default_rng(1)
    hr, sr = (rng.uniform(0, 1, (2, 16, 16, 3)).astype(np.float32) for _ in range(2))

    def old_features(x01):
        x = (x01 * 2.0 - 1.0 + 1.0) * 127.5  # the old ``_vgg``: [-1, 1] -> [0, 255]
        return loss_fn.features(keras.applications.vgg19.preprocess_input(x)).numpy() / 12.75

    expected = np.mean((old_features(hr) - old_features(sr)) ** 2)
    assert float(loss_fn(tf.constant(hr), tf.constant(sr))) == pytest.approx(expected, rel=1e-5)


def test_alternating_gan_step_updates_d_as_the_old_contract_did():
    """D's SGD step of the paper's order, by hand in [-1, 1], equals the train step's (G covered in test_gan_step)."""
    lr_rate = 0.05
    keras.utils.set_random_seed(7)
    g = build_generator(scale=4, num_blocks=1, filters=8)
    d = build_discriminator(SIZE, filters=8, dense_units=16)
    model = SRGAN(g, d, content_loss=ContentLoss("mse"), adv_weight=1e-3)
    model.compile(g_optimizer=keras.optimizers.SGD(lr_rate), d_optimizer=keras.optimizers.SGD(lr_rate))
    batch = tf.constant(np.stack([smooth_image(SIZE, SIZE, seed=10 + i) for i in range(4)]))
    low, hr = model.make_pair(batch, add_noise=False)
    d_copy = build_discriminator(SIZE, filters=8, dense_units=16)
    d_copy.set_weights(d.get_weights())
    sr_m11 = generator_tanh(g, low, training=True)
    with tf.GradientTape() as tape:
        real = discriminator_m11(d_copy, hr * 2.0 - 1.0, training=True)
        fake = discriminator_m11(d_copy, sr_m11, training=True)
        d_loss = -tf.reduce_mean(tf.math.log_sigmoid(real)) - tf.reduce_mean(tf.math.log_sigmoid(-fake))
    grads = tape.gradient(d_loss, d_copy.trainable_variables)
    expected = [(v - lr_rate * gr).numpy() for v, gr in zip(d_copy.trainable_variables, grads, strict=True)]
    logs = model.train_step(batch)
    actual = [v.numpy() for v in d.trainable_variables]
    diff = max(float(np.max(np.abs(a - e))) for a, e in zip(actual, expected, strict=True))
    assert diff < 1e-6  # measured 5.9e-7 (SGD at 0.05: gradients agree to ~1e-5)
    assert float(logs["d_loss"]) == pytest.approx(float(d_loss), rel=1e-5)

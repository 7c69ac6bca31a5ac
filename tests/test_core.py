"""Models, layers, degradations and losses: shapes, equivalences and gradients."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_srgan.data.degradation import Degradation, bicubic_downsample, gaussian_downsample, gaussian_kernel
from keras_srgan.losses import ContentLoss, adversarial_losses
from keras_srgan.models import (
    ICNR,
    Discriminator,
    PixelShuffle,
    SRResNet,
    build_discriminator,
    build_generator,
)


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("size", [(7, 5), (16, 16), (1, 1)])
def test_generator_output_shape_and_range(scale, size):
    model = build_generator(scale=scale, num_blocks=1, filters=8)
    x = np.random.default_rng(0).random((2, *size, 3), dtype=np.float32)
    y = model(x).numpy()
    assert y.shape == (2, size[0] * scale, size[1] * scale, 3)
    assert np.all(np.abs(y) <= 1.0)


def test_generator_rejects_non_power_of_two_scale():
    with pytest.raises(ValueError, match="power of two"):
        SRResNet(scale=3)


def test_paper_generator_has_about_1_55m_parameters():
    assert abs(build_generator().count_params() - 1.55e6) < 0.01e6


def test_pixel_shuffle_matches_depth_to_space():
    x = np.random.default_rng(1).random((2, 5, 6, 12), dtype=np.float32)
    ours = PixelShuffle(2)(x).numpy()
    np.testing.assert_array_equal(ours, tf.nn.depth_to_space(x, 2).numpy())
    assert ours.shape == (2, 10, 12, 3)


def test_icnr_makes_shuffled_output_nearest_neighbour():
    conv = keras.layers.Conv2D(4 * 3, 3, padding="same", kernel_initializer=ICNR(2), use_bias=False)
    x = np.random.default_rng(2).random((1, 6, 6, 5), dtype=np.float32)
    up = PixelShuffle(2)(conv(x)).numpy()
    # every 2x2 block of the shuffled output holds one value per channel
    blocks = up.reshape(1, 6, 2, 6, 2, 3)
    np.testing.assert_allclose(blocks, np.broadcast_to(blocks[:, :, :1, :, :1], blocks.shape), atol=1e-6)


def test_models_round_trip_through_keras_archive(tmp_path):
    gen = build_generator(scale=4, num_blocks=1, filters=8)
    disc = build_discriminator(input_size=32, filters=8, dense_units=16)
    x = np.random.default_rng(3).random((1, 8, 8, 3), dtype=np.float32)
    for model, inp in ((gen, x), (disc, np.zeros((1, 32, 32, 3), np.float32))):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(model(inp).numpy(), loaded(inp).numpy(), atol=1e-6)
    assert gen.get_config()["scale"] == 4 and isinstance(disc, Discriminator)


def test_discriminator_outputs_one_logit_per_image():
    disc = build_discriminator(input_size=32, filters=8, dense_units=16)
    out = disc(np.zeros((3, 32, 32, 3), np.float32))
    assert out.shape == (3, 1) and out.dtype == tf.float32


def test_bicubic_degradation_equals_tf_resize_antialias():
    hr = tf.random.stateless_uniform((3, 32, 40, 3), seed=(1, 2))
    expected = tf.image.resize(hr, (8, 10), method="bicubic", antialias=True)
    np.testing.assert_allclose(bicubic_downsample(hr, 4).numpy(), expected.numpy(), atol=1e-6)
    lr = Degradation(scale=4)(hr)
    np.testing.assert_allclose(lr.numpy(), np.clip(expected.numpy(), 0, 1), atol=1e-6)


@pytest.mark.parametrize("sigma", [0.8, 1.6, 3.0])
def test_gaussian_kernel_sums_to_one_and_lr_shape(sigma):
    kernel = gaussian_kernel(sigma).numpy()
    assert kernel.shape[0] % 2 == 1
    assert abs(kernel.sum() - 1.0) < 1e-6
    hr = tf.random.stateless_uniform((2, 48, 32, 3), seed=(3, 4))
    assert gaussian_downsample(hr, 4, sigma).shape == (2, 12, 8, 3)


def test_gaussian_blur_keeps_constant_image():
    hr = tf.fill((1, 16, 16, 3), 0.25)
    np.testing.assert_allclose(gaussian_downsample(hr, 2, 1.2).numpy(), 0.25, atol=1e-6)


def test_noise_makes_a_new_lr_for_every_call():
    deg = Degradation(scale=2, noise_sigma=0.05)
    seed = keras.random.SeedGenerator(0)
    hr = tf.fill((2, 16, 16, 3), 0.5)
    a, b = deg(hr, seed).numpy(), deg(hr, seed).numpy()
    assert not np.allclose(a, b)
    np.testing.assert_allclose(deg(hr, seed, add_noise=False).numpy(), 0.5, atol=1e-6)


def test_degradation_rejects_unknown_kind():
    with pytest.raises(ValueError, match="degradation kind"):
        Degradation(kind="box")


@pytest.mark.parametrize("kind", ["mse", "vgg22", "vgg54"])
def test_content_loss_has_nonzero_generator_gradient(kind):
    """The loss must not be detached from G (a known bug in a popular implementation)."""
    gen = build_generator(scale=4, num_blocks=1, filters=8)
    with pytest.warns(UserWarning, match="RANDOM") if kind != "mse" else contextlib.nullcontext():
        loss_fn = ContentLoss(kind, vgg_weights="random")
    lr = tf.random.stateless_uniform((2, 8, 8, 3), seed=(5, 6))
    hr = tf.random.stateless_uniform((2, 32, 32, 3), seed=(7, 8), minval=-1, maxval=1)
    with tf.GradientTape() as tape:
        loss = loss_fn(hr, gen(lr, training=True))
    grads = tape.gradient(loss, gen.trainable_variables)
    assert all(g is not None for g in grads)
    assert float(loss) > 0
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads) > 0


def test_vgg_weights_missing_file_is_a_clear_error(tmp_path):
    from keras_srgan.errors import UserError

    with pytest.raises(UserError, match="not found"):
        ContentLoss("vgg54", vgg_weights=str(tmp_path / "nope.h5"))


def test_adversarial_losses_are_the_non_saturating_bce():
    real, fake = tf.constant([[3.0], [2.0]]), tf.constant([[-1.0], [0.5]])
    d_loss, g_adv = adversarial_losses(real, fake)
    sig = tf.sigmoid
    expected_d = -np.mean(np.log(sig(real))) - np.mean(np.log(1 - sig(fake)))
    expected_g = -np.mean(np.log(sig(fake)))
    assert abs(float(d_loss) - expected_d) < 1e-5
    assert abs(float(g_adv) - expected_g) < 1e-5


def test_tf_checkpoints_hold_every_model_variable(tmp_path):
    """Keras keeps list-held layers out of tf.train.Checkpoint; the models must not hold layers in lists."""
    gen = build_generator(scale=4, num_blocks=2, filters=8)
    disc = build_discriminator(input_size=32, filters=8, dense_units=16)
    for name, model in (("g", gen), ("d", disc)):
        path = tf.train.Checkpoint(model=model).save(str(tmp_path / name / "ckpt"))
        saved = [n for n, _ in tf.train.list_variables(path) if n.startswith("model/")]
        assert len(saved) == len(model.weights), (name, len(saved), len(model.weights))
    # and a restore reproduces the outputs, BN moving statistics included
    gen.get_layer("res_block_0_bn1").moving_mean.assign(tf.fill([8], 0.3))
    path = tf.train.Checkpoint(model=gen).save(str(tmp_path / "g2" / "ckpt"))
    fresh = build_generator(scale=4, num_blocks=2, filters=8)
    tf.train.Checkpoint(model=fresh).restore(path).assert_existing_objects_matched()
    x = np.random.default_rng(4).random((1, 6, 6, 3), dtype=np.float32)
    np.testing.assert_allclose(fresh(x).numpy(), gen(x).numpy(), atol=1e-6)


def test_every_content_loss_is_a_train_choice_and_pixel_losses_match_numpy():
    """The CLI offers what the library implements (l1 was missing), and the pixel losses are on [-1, 1]."""
    from keras_srgan.cli import build_parser
    from keras_srgan.losses import KINDS

    for kind in KINDS:
        assert build_parser().parse_args(["train", "--content-loss", kind]).content_loss == kind
    rng = np.random.default_rng(0)
    hr, sr = rng.random((2, 2, 8, 8, 3), dtype=np.float32)
    assert float(ContentLoss("l1")(hr, sr)) == pytest.approx(np.abs(2 * hr - 2 * sr).mean(), rel=1e-6)
    assert float(ContentLoss("mse")(hr, sr)) == pytest.approx(((2 * hr - 2 * sr) ** 2).mean(), rel=1e-6)

"""The fast default upscale path: folded BatchNorm, bf16 convs, precision selection and the fp32 opt-out.

Correctness only; speed is measured by benchmarks/upscale_throughput.py, never asserted in tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import smooth_image

from keras_srgan.errors import UserError
from keras_srgan.inference import predict
from keras_srgan.inference.predict import Predictor, fold_generator, resolve_precision
from keras_srgan.inference.upscale import Upscaler, upscale


@pytest.fixture(scope="module")
def trained_like_generator():
    """A tiny generator with non-trivial BN statistics, gammas, betas and PReLU slopes (fresh BN is identity)."""
    import keras

    from keras_srgan.models import build_generator

    keras.utils.set_random_seed(0)  # independent of which tests ran before
    model = build_generator(scale=4, num_blocks=2, filters=8)
    rng = np.random.default_rng(0)
    for v in model.weights:
        name = v.path
        if "moving_mean" in name:
            v.assign(rng.normal(0.0, 0.3, v.shape).astype("float32"))
        elif "moving_variance" in name:
            v.assign(rng.uniform(0.5, 2.0, v.shape).astype("float32"))
        elif "gamma" in name:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        elif "beta" in name:
            v.assign(rng.normal(0.0, 0.2, v.shape).astype("float32"))
        elif "alpha" in name:
            v.assign(rng.uniform(0.0, 0.3, v.shape).astype("float32"))
    return model


def lr_batch(n: int = 2, h: int = 20, w: int = 24) -> np.ndarray:
    return np.stack([smooth_image(h, w, seed=i).astype(np.float32) / 255.0 for i in range(n)])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def test_folded_bn_equals_unfolded_model(trained_like_generator):
    lr = lr_batch()
    reference = Predictor(trained_like_generator)(lr)
    folded = Predictor(trained_like_generator, fold_batchnorm=True)
    assert folded.folded and folded.precision == "fp32"
    out = folded(lr)
    assert out.shape == reference.shape == (2, 80, 96, 3)
    assert np.max(np.abs(out - reference)) < 1e-4
    assert reference.std() > 0.01  # the comparison is not between two flat images


def test_fold_generator_removes_every_batchnorm(trained_like_generator):
    params = fold_generator(trained_like_generator)
    assert len(params["blocks"]) == 2
    # BN changed the kernels: a folded kernel differs from the raw conv kernel
    raw = trained_like_generator.blocks[0].conv1.kernel.numpy()
    assert not np.allclose(params["blocks"][0]["w1"], raw)
    with pytest.raises(TypeError):
        fold_generator(object())


def test_bf16_path_stays_close_to_fp32(trained_like_generator):
    lr = lr_batch()
    reference = Predictor(trained_like_generator)(lr)
    fast = Predictor(trained_like_generator, precision="bf16")
    assert fast.folded and fast.precision == "bf16"
    out = fast(lr)
    assert out.dtype == np.float32 and out.shape == reference.shape
    assert psnr(out, reference) > 45.0
    assert not np.array_equal(out, reference)  # it really ran at a different precision


def test_precision_resolution_and_env_opt_out(monkeypatch):
    monkeypatch.delenv(predict.PRECISION_ENV, raising=False)
    expected = (
        "bf16" if predict.cpu_has_bf16() and not predict.tf.config.list_physical_devices("GPU") else "fp32"
    )
    assert resolve_precision("auto") == expected
    assert resolve_precision("fp32") == "fp32"
    monkeypatch.setenv(predict.PRECISION_ENV, "fp32")
    assert resolve_precision("auto") == "fp32"
    with pytest.raises(ValueError):
        resolve_precision("int4")


def test_upscale_default_and_fp32_opt_out(trained_like_generator, monkeypatch):
    monkeypatch.delenv(predict.PRECISION_ENV, raising=False)
    image = smooth_image(30, 26)
    reference = Predictor(trained_like_generator)(image.astype(np.float32) / 255.0)
    exact = upscale(
        image.astype(np.float32) / 255.0, generator=trained_like_generator, precision="fp32", tile=0
    )
    assert np.max(np.abs(exact - reference)) < 1e-4
    default = Upscaler(trained_like_generator, tile=0)
    assert default.predictor.folded and default.predictor.precision == resolve_precision("auto")
    out = default.upscale_array(image)
    assert out.dtype == np.uint8 and out.shape == (120, 104, 3)
    levels = np.abs(out.astype(np.int16) - np.round(reference * 255).astype(np.int16))
    assert levels.max() <= 2  # within two 8-bit levels of the fp32 Keras model
    monkeypatch.setenv(predict.PRECISION_ENV, "fp32")
    assert Upscaler(trained_like_generator).predictor.precision == "fp32"


def test_upscale_rejects_unknown_precision(trained_like_generator):
    with pytest.raises(UserError, match="precision"):
        upscale(np.zeros((4, 4, 3), np.uint8), generator=trained_like_generator, precision="fp8")


def test_non_srresnet_models_run_unfolded():
    import keras

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.UpSampling2D(4)(inputs * 2.0 - 1.0))
    runner = Predictor(model, precision="bf16")
    assert not runner.folded and runner.precision == "fp32"
    lr = lr_batch(1, 5, 6)
    np.testing.assert_allclose(runner(lr), np.repeat(np.repeat(lr, 4, 1), 4, 2), atol=1e-6)


def test_auto_tile_keeps_window_memory_of_fp32_default(trained_like_generator, monkeypatch):
    from keras_srgan.inference import tiling

    monkeypatch.delenv(predict.PRECISION_ENV, raising=False)
    fp32_window = tiling.DEFAULT_TILE + 2 * tiling.DEFAULT_OVERLAP
    assert tiling.auto_tile(4) == tiling.DEFAULT_TILE
    bf16_window = tiling.auto_tile(2) + 2 * tiling.DEFAULT_OVERLAP
    assert bf16_window**2 * 2 <= fp32_window**2 * 4 < (bf16_window + 1) ** 2 * 2
    assert Upscaler(trained_like_generator, precision="fp32").tile == tiling.DEFAULT_TILE
    assert Upscaler(trained_like_generator, precision="bf16").tile == tiling.auto_tile(2)
    assert Upscaler(trained_like_generator, tile=16).tile == 16  # an explicit tile is kept
    # a 256^2 image fits one bf16 window: no overlap recomputed
    assert len(tiling.plan_tiles(256, 256, tiling.auto_tile(2), tiling.DEFAULT_OVERLAP)) == 1


def test_tiled_fast_path_matches_untiled(trained_like_generator):
    image = smooth_image(70, 50)
    up = Upscaler(trained_like_generator, tile=16, tile_overlap=16, precision="bf16")
    tiled = up.upscale_array(image)
    whole = Upscaler(trained_like_generator, tile=0, precision="bf16").upscale_array(image)
    assert np.mean(np.abs(tiled.astype(np.int16) - whole.astype(np.int16)) <= 1) > 0.995


@pytest.mark.parametrize("kernel_size,factor", [(9, 2), (3, 2), (5, 3)])
def test_subpixel_conv_equals_shuffle_then_conv(kernel_size, factor):
    import tensorflow as tf

    rng = np.random.default_rng(kernel_size)
    c_in, c_out = 4, 3
    z = rng.normal(size=(1, 7, 6, factor * factor * c_in)).astype(np.float32)
    kernel = rng.normal(size=(kernel_size, kernel_size, c_in, c_out)).astype(np.float32)
    bias = rng.normal(size=c_out).astype(np.float32)
    expected = tf.nn.conv2d(tf.nn.depth_to_space(z, factor), kernel, 1, "SAME") + bias
    w, b = predict.subpixel_conv(kernel, bias, factor)
    got = tf.nn.depth_to_space(tf.nn.conv2d(z, w, 1, "SAME") + b, factor)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4)


def test_prelu_slopes_above_one_use_the_general_form():
    from keras_srgan.models import build_generator

    model = build_generator(scale=4, num_blocks=1, filters=4)
    for v in model.weights:
        if "alpha" in v.path:
            v.assign(np.full(v.shape, 1.7, np.float32))  # max(x, 1.7x) would be wrong for x < 0
    lr = lr_batch(1, 9, 11)
    reference = Predictor(model)(lr)
    np.testing.assert_allclose(Predictor(model, fold_batchnorm=True)(lr), reference, atol=1e-4)


def test_folded_predictor_follows_weight_changes():
    from keras_srgan.models import build_generator

    model = build_generator(scale=4, num_blocks=1, filters=4)
    up = Upscaler(model, tile=0, precision="fp32")
    image = smooth_image(9, 10)
    before = up.upscale_array(image)
    assert not up.predictor.refresh()  # unchanged weights: nothing rebuilt
    for v in model.weights:
        if "gamma" in v.path:
            v.assign(v.numpy() * 2.0)
    after = up.upscale_array(image)
    expected = np.round(Predictor(model)(image.astype(np.float32) / 255.0) * 255)
    assert not np.array_equal(before, after)
    assert np.max(np.abs(after.astype(np.float64) - expected)) <= 1

"""The fast upscale path: model transforms, engines, precision/engine selection, fallback and caches.

Correctness only, always against the plain Keras model (``Predictor(generator)`` runs the generator itself
unchanged); speed is measured by benchmarks/upscale_throughput.py, never asserted in tests.
"""

from __future__ import annotations

import builtins
import os

import numpy as np
import pytest
from conftest import smooth_image

from keras_srgan import precision as precision_policy
from keras_srgan.errors import UserError
from keras_srgan.inference import engines, openvino_engine, transforms
from keras_srgan.inference.engines import Predictor
from keras_srgan.inference.upscale import Upscaler, default_tile, upscale

HAS_OPENVINO = True
try:
    import openvino  # noqa: F401
except ImportError:
    HAS_OPENVINO = False
needs_openvino = pytest.mark.skipif(not HAS_OPENVINO, reason="openvino not installed")


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Every test uses one throw-away cache folder and no engine/precision from the environment."""
    monkeypatch.setenv(engines.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "engine-cache"))
    monkeypatch.delenv(engines.ENGINE_ENV, raising=False)
    monkeypatch.delenv(engines.PRECISION_ENV, raising=False)


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


def keras_sr(model, lr: np.ndarray) -> np.ndarray:
    """The reference: the Keras generator itself, untransformed (its output is in [0, 1]), clipped."""
    return np.clip(np.asarray(model(lr, training=False), np.float64), 0.0, 1.0)


# ------------------------------------------------------------------------------------------ transforms


def test_each_transform_equals_the_keras_model(trained_like_generator):
    lr = lr_batch()
    reference = keras_sr(trained_like_generator, lr)
    assert reference.std() > 0.01  # the comparison is not between two flat images
    candidates = {
        "fold": transforms.fold_batchnorm(trained_like_generator),
        "subpixel": transforms.subpixel_output(trained_like_generator),
        "both": transforms.subpixel_output(transforms.fold_batchnorm(trained_like_generator)),
    }
    for name, model in candidates.items():
        out = np.clip(model(lr, training=False).numpy(), 0.0, 1.0)
        assert out.shape == reference.shape == (2, 80, 96, 3)
        # measured max abs diff 1.2e-7 (fold, both), 6.6e-8 (subpixel): float32 rounding of a regrouped sum
        assert np.max(np.abs(out - reference)) < 1e-6, name
    full = transforms.inference_model(trained_like_generator)
    np.testing.assert_allclose(full(lr, training=False).numpy(), reference, atol=1e-6)


def test_fold_removes_every_batchnorm_and_subpixel_moves_the_shuffle(trained_like_generator):
    functional = trained_like_generator
    assert transforms.count_layers(functional, "BatchNormalization") == 2 * 2 + 1
    folded = transforms.fold_batchnorm(trained_like_generator)
    assert transforms.count_layers(folded, "BatchNormalization") == 0
    assert transforms.count_layers(folded, "Conv2D") == transforms.count_layers(functional, "Conv2D")
    raw = trained_like_generator.get_layer("res_block_0_conv1").kernel.numpy()
    # BN went into the kernel
    assert not np.allclose(folded.get_layer("res_block_0_conv1").kernel.numpy(), raw)
    moved = transforms.subpixel_output(folded)
    names = [layer.name for layer in moved.layers]
    # the last shuffle now follows the output conv: the conv runs at 2x, not 4x resolution
    assert names.index("tail_conv_subpixel") < names.index("tail_conv_shuffle") < names.index("tanh")
    assert "up1_shuffle" not in names
    assert moved.get_layer("tail_conv_subpixel").kernel.shape == (5, 5, 4 * 8, 4 * 3)
    # the generator itself is untouched
    assert trained_like_generator.get_layer("res_block_0_bn1").moving_mean.numpy().std() > 0


def test_transforms_reject_unknown_models():
    with pytest.raises(TypeError):
        transforms.fold_batchnorm(object())
    import keras

    inputs = keras.Input((None, None, 3))
    plain = keras.Model(inputs, keras.layers.UpSampling2D(4)(inputs))
    with pytest.raises(ValueError, match="subpixel_output"):
        transforms.subpixel_output(plain)


@pytest.mark.parametrize("kernel_size,factor", [(9, 2), (3, 2), (5, 3)])
def test_subpixel_conv_equals_shuffle_then_conv(kernel_size, factor):
    import tensorflow as tf

    rng = np.random.default_rng(kernel_size)
    c_in, c_out = 4, 3
    z = rng.normal(size=(1, 7, 6, factor * factor * c_in)).astype(np.float32)
    kernel = rng.normal(size=(kernel_size, kernel_size, c_in, c_out)).astype(np.float32)
    bias = rng.normal(size=c_out).astype(np.float32)
    expected = tf.nn.conv2d(tf.nn.depth_to_space(z, factor), kernel, 1, "SAME") + bias
    w, b = transforms.subpixel_conv(kernel, bias, factor)
    got = tf.nn.depth_to_space(tf.nn.conv2d(z, w, 1, "SAME") + b, factor)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4)


def test_prelu_slopes_above_one_stay_exact():
    from keras_srgan.models import build_generator

    model = build_generator(scale=4, num_blocks=1, filters=4)
    for v in model.weights:
        if "alpha" in v.path:
            v.assign(np.full(v.shape, 1.7, np.float32))
    lr = lr_batch(1, 9, 11)
    out = transforms.inference_model(model)(lr, training=False).numpy()
    np.testing.assert_allclose(out, keras_sr(model, lr), atol=1e-6)


# ---------------------------------------------------------------------------------------------- engines


def test_tensorflow_engine_fp32_and_bf16(trained_like_generator):
    lr = lr_batch()
    reference = keras_sr(trained_like_generator, lr)
    exact = engines.TensorFlowEngine(trained_like_generator, "fp32")
    assert np.max(np.abs(exact(lr) - reference)) < 1e-6  # measured 1.2e-7
    fast = engines.TensorFlowEngine(trained_like_generator, "bf16")
    out = fast(lr)
    assert out.dtype == np.float32 and out.shape == reference.shape
    assert psnr(out, reference) > 65.0  # measured 72.3 dB
    assert not np.array_equal(out, exact(lr))  # it really ran at a different precision


@needs_openvino
def test_openvino_engine_fp32_and_bf16(trained_like_generator):
    lr = lr_batch()
    reference = keras_sr(trained_like_generator, lr)
    exact = openvino_engine.OpenVINOEngine(trained_like_generator, "fp32")
    assert np.max(np.abs(exact(lr) - reference)) < 1e-6  # measured 1.2e-7
    assert exact(lr[0]).shape == reference[0].shape  # a single [H, W, 3] image works too
    fast = openvino_engine.OpenVINOEngine(trained_like_generator, "bf16")
    out = fast(lr)
    assert out.dtype == np.float32 and out.shape == reference.shape
    assert psnr(out, reference) > 65.0  # measured 74.5 dB


@needs_openvino
def test_openvino_ir_is_cached_per_weights_and_follows_weight_changes(trained_like_generator, monkeypatch):
    from keras_srgan.models import build_generator

    model = build_generator(scale=4, num_blocks=1, filters=4)
    first = openvino_engine.OpenVINOEngine(model, "fp32")
    assert first.ir_path is not None and first.ir_path.is_file()
    assert str(first.ir_path).startswith(os.environ[engines.CACHE_ENV])
    compiled = first.ir_path.parent / "compiled"
    lr = lr_batch(1, 9, 10)
    before = first(lr)
    assert any(compiled.iterdir())  # OpenVINO wrote its compiled blob for the next process

    def no_conversion(generator):
        raise AssertionError("converted again although the IR is cached")

    monkeypatch.setattr(openvino_engine, "convert_parts", no_conversion)
    second = openvino_engine.OpenVINOEngine(model, "fp32")
    assert second.ir_path == first.ir_path
    np.testing.assert_array_equal(second(lr), before)
    monkeypatch.undo()
    for v in model.weights:
        if "gamma" in v.path:
            v.assign(v.numpy() * 2.0)
    assert first.refresh() and not first.refresh()
    np.testing.assert_allclose(first(lr), keras_sr(model, lr), atol=1e-6)
    assert first.ir_path != second.ir_path


@pytest.mark.parametrize(
    "cap, bf16, amx",
    [
        ("", True, True),
        ("AVX2", False, False),
        ("avx512_core", False, False),
        ("AVX512_CORE_BF16", True, False),
    ],
)
def test_onednn_isa_cap_hides_the_bf16_it_rules_out(monkeypatch, cap, bf16, amx):
    """``ONEDNN_MAX_CPU_ISA`` makes the package choose as on that CPU kind (how CI emulates AVX2-only)."""
    flags = "flags\t\t: fpu sse4_1 avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8"
    monkeypatch.setattr(precision_policy, "_cpuinfo", lambda: ("model name\t: Test CPU", flags))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    found = precision_policy.cpu_flags()
    assert {"avx2", "fma", "avx512f"} <= found
    assert ("avx512_bf16" in found, "amx_bf16" in found) == (bf16, amx)


@pytest.mark.cpu_kind
def test_engine_and_precision_resolution(monkeypatch):
    expected = "bf16" if engines.cpu_has_bf16() and not engines.has_gpu() else "fp32"
    assert engines.resolve_precision("auto", "tensorflow") == expected
    assert engines.resolve_precision("auto", "openvino") == ("bf16" if engines.cpu_has_amx() else "fp32")
    # AVX512_BF16 without AMX: OpenVINO fp32
    monkeypatch.setattr(precision_policy, "cpu_has_amx", lambda: False)
    assert engines.resolve_precision("auto", "openvino") == "fp32"
    assert engines.resolve_precision("fp32", "tensorflow") == "fp32"
    monkeypatch.setenv(engines.PRECISION_ENV, "fp32")
    assert engines.resolve_precision("auto", "tensorflow") == "fp32"
    assert engines.resolve_precision("auto", "openvino") == "fp32"
    with pytest.raises(UserError, match="precision"):
        engines.resolve_precision("int4", "tensorflow")
    monkeypatch.setenv(engines.ENGINE_ENV, "tensorflow")
    assert engines.resolve_engine("auto") == ("tensorflow", None)
    assert engines.resolve_engine("openvino") == ("openvino", None)  # an explicit choice wins
    monkeypatch.setenv(engines.ENGINE_ENV, "cuda")
    with pytest.raises(UserError, match="KERAS_SRGAN_ENGINE"):
        engines.resolve_engine("auto")


def hide_openvino(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError("No module named 'openvino'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_missing_openvino_falls_back_with_one_line(trained_like_generator, monkeypatch, capsys):
    if engines.has_gpu():
        pytest.skip("a GPU picks TensorFlow anyway")
    hide_openvino(monkeypatch)
    runner = engines.load_engine(trained_like_generator)
    assert runner.name == "tensorflow"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "OpenVINO is not installed" in err and "pip install openvino" in err
    assert runner.note == err.strip()
    with pytest.raises(UserError, match="pip install openvino"):
        engines.load_engine(trained_like_generator, engine="openvino")


@needs_openvino
@pytest.mark.parametrize("where", ["__init__", "compiled"])
def test_openvino_refusing_falls_back(trained_like_generator, monkeypatch, capsys, where):
    """OpenVINO failing while loading, or when compiling for this CPU, gives TensorFlow plus one line."""
    if engines.has_gpu():
        pytest.skip("a GPU picks TensorFlow anyway")

    def refuse(self, *args, **kwargs):
        raise RuntimeError(
            "Exception from src/inference: the CPU plugin does not support this CPU\nmore detail"
        )

    monkeypatch.setattr(openvino_engine.OpenVINOEngine, where, refuse)
    runner = engines.load_engine(trained_like_generator, quiet=True)
    assert runner.name == "tensorflow" and "does not support this CPU" in runner.note
    assert "more detail" not in runner.note and capsys.readouterr().err == ""
    with pytest.raises(UserError, match="cannot run here"):
        engines.load_engine(trained_like_generator, engine="openvino")


def test_a_model_without_the_transforms_patterns_runs_unchanged():
    import keras

    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.UpSampling2D(4)(inputs))
    lr = lr_batch(1, 5, 6)
    nearest = np.repeat(np.repeat(lr, 4, 1), 4, 2)
    np.testing.assert_array_equal(Predictor(model)(lr), nearest)
    for precision in ("fp32", "bf16"):
        engine = engines.load_engine(model, engine="tensorflow", precision=precision)
        np.testing.assert_array_equal(engine(lr), nearest)
        assert engine.stages() is None and engine.radius == 0


# --------------------------------------------------------------------------------------------- upscale


def test_upscale_default_and_fp32_opt_out(trained_like_generator):
    image = smooth_image(30, 26)
    reference = keras_sr(trained_like_generator, image[None].astype(np.float32) / 255.0)[0]
    exact = upscale(
        image.astype(np.float32) / 255.0, weights=trained_like_generator, precision="fp32", tile=0
    )
    assert np.max(np.abs(exact - reference)) < 1e-6
    default = Upscaler(trained_like_generator, tile=0)
    assert default.runner.precision == engines.resolve_precision("auto", default.runner.name)
    assert default.runner.name == ("openvino" if HAS_OPENVINO and not engines.has_gpu() else "tensorflow")
    out = default.upscale_array(image)
    assert out.dtype == np.uint8 and out.shape == (120, 104, 3)
    levels = np.abs(out.astype(np.int16) - np.round(reference * 255).astype(np.int16))
    assert levels.max() <= 2  # measured 1 level (bf16) against the fp32 Keras model


def test_upscale_options_and_env(trained_like_generator, monkeypatch):
    with pytest.raises(UserError, match="precision"):
        upscale(np.zeros((4, 4, 3), np.uint8), weights=trained_like_generator, precision="fp8")
    with pytest.raises(UserError, match="engine"):
        upscale(np.zeros((4, 4, 3), np.uint8), weights=trained_like_generator, engine="cuda")
    monkeypatch.setenv(engines.PRECISION_ENV, "fp32")
    monkeypatch.setenv(engines.ENGINE_ENV, "tensorflow")
    up = Upscaler(trained_like_generator)
    assert (up.runner.name, up.runner.precision) == ("tensorflow", "fp32")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_default_tiles(precision):
    """OpenVINO (the CPU engine, fp32 opt-out included) runs a 256x256 image whole; TensorFlow keeps its memory budget."""
    from keras_srgan.inference import tiling

    tile = default_tile("openvino", precision)
    assert len(tiling.plan_tiles(256, 256, tile, tiling.DEFAULT_OVERLAP)) == 1
    assert default_tile("tensorflow", precision) == tiling.auto_tile(2 if precision == "bf16" else 4)


def test_tiled_fast_path_matches_untiled(trained_like_generator):
    image = smooth_image(70, 50)
    up = Upscaler(trained_like_generator, tile=16, tile_overlap=16)
    tiled = up.upscale_array(image)
    whole = Upscaler(trained_like_generator, tile=0).upscale_array(image)
    assert np.mean(np.abs(tiled.astype(np.int16) - whole.astype(np.int16)) <= 1) > 0.995


def test_upscaler_follows_weight_changes():
    from keras_srgan.models import build_generator

    model = build_generator(scale=4, num_blocks=1, filters=4)
    up = Upscaler(model, tile=0, precision="fp32")
    image = smooth_image(9, 10)
    before = up.upscale_array(image)
    assert not up.runner.refresh()  # unchanged weights: nothing rebuilt
    for v in model.weights:
        if "gamma" in v.path:
            v.assign(v.numpy() * 2.0)
    after = up.upscale_array(image)
    expected = np.round(keras_sr(model, image[None].astype(np.float32) / 255.0)[0] * 255)
    assert not np.array_equal(before, after)
    assert np.max(np.abs(after.astype(np.float64) - expected)) <= 1


def test_other_subclassed_models_run_as_they_are():
    import keras

    class Nearest(keras.Model):
        def call(self, x, training=False):
            return keras.ops.repeat(keras.ops.repeat(x, 4, axis=1), 4, axis=2)

    lr = lr_batch(1, 5, 6)
    runner = engines.load_engine(Nearest(), quiet=True)
    np.testing.assert_allclose(runner(lr), np.repeat(np.repeat(lr, 4, 1), 4, 2), atol=1e-6)


def test_cache_keeps_the_most_recently_used(tmp_path):
    import time

    folder = tmp_path / "openvino"
    (folder / "compiled").mkdir(parents=True)
    now = time.time()
    for i in range(10):
        for ext in ("xml", "bin"):
            path = folder / f"srgan-{i}.{ext}"
            path.write_text("x")
            os.utime(path, (now - 100 + i, now - 100 + i))
        blob = folder / "compiled" / f"{i}.blob"
        blob.write_text("x")
        os.utime(blob, (now - 100 + i, now - 100 + i))
    openvino_engine.prune_cache(folder, irs=8, blobs=3)
    assert sorted(p.name for p in folder.glob("srgan-*.xml")) == [f"srgan-{i}.xml" for i in range(2, 10)]
    assert sorted(p.name for p in folder.glob("srgan-*.bin")) == [f"srgan-{i}.bin" for i in range(2, 10)]
    assert sorted(p.name for p in (folder / "compiled").iterdir()) == ["7.blob", "8.blob", "9.blob"]


@pytest.mark.parametrize("upsampler", ["shuffle_blur", "shuffle_residual"])
def test_the_litert_transforms_are_exact_in_float(upsampler):
    """``nearest_as_shuffle`` and ``prelu_for_int8`` (docs/mobile.md: ops XNNPACK runs whole) against the
    Keras model, on a compact generator with slopes outside [0, 1] and an SRResNet."""
    import keras

    from keras_srgan.models import build_generator

    for model in (
        build_generator(arch="compact", num_convs=2, filters=8, upsampler=upsampler),
        build_generator(num_blocks=1, filters=8),
    ):
        rng = np.random.default_rng(5)
        for layer in model.layers:
            if isinstance(layer, keras.layers.PReLU):
                layer.alpha.assign(rng.uniform(-0.3, 1.3, layer.alpha.shape).astype(np.float32))
        lr = lr_batch(1, 13, 11)
        reference = keras_sr(model, lr)
        moved = transforms.nearest_as_shuffle(model)
        rebuilt = transforms.prelu_for_int8(moved)
        assert (
            transforms.count_layers(moved, "UpSampling2D") == 0
            and transforms.count_layers(rebuilt, "PReLU") == 0
        )
        for candidate in (moved, rebuilt):
            out = np.clip(candidate(lr, training=False).numpy(), 0.0, 1.0)
            np.testing.assert_allclose(out, reference, rtol=0, atol=2e-6)  # measured <= 6e-7: summation order
        assert transforms.receptive_radius(rebuilt) == transforms.receptive_radius(model)

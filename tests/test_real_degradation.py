"""The ``real`` degradation preset: each stage against an independent computation, every knob has its
effect in the expected direction, determinism per seed, and the LR statistics it is meant to produce."""

from __future__ import annotations

import io
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import smooth_image
from PIL import Image
from tensorflow.python.framework import kernels as tf_kernels

from keras_srgan.data.degradation import (
    RealDegradation,
    add_noise,
    bicubic_downsample,
    blur,
    build_degradation,
    gaussian_kernels,
    jpeg,
    real_lr_set_config,
    resize,
)
from keras_srgan.errors import UserError
from keras_srgan.train.config import TrainConfig

# Everything off: one order, resize straight to HR / 4 with bicubic, zero noise, no JPEG (= clean bicubic).
QUIET = {
    "blur_prob": 0.0, "blur_prob2": 0.0, "gaussian_noise_prob": 1.0, "gaussian_noise_prob2": 1.0,
    "noise_sigma": (0.0, 0.0), "noise_sigma2": (0.0, 0.0), "jpeg_prob": 0.0, "jpeg_prob2": 0.0,
    "second_order_prob": 0.0, "resize_range": (0.25, 0.25), "resize_kernel_probs": (0.0, 0.0, 1.0),
}  # fmt: skip
# The same with the second order on (order 1 keeps the HR size, order 2 resizes to exactly HR / 4).
QUIET2 = {**QUIET, "second_order_prob": 1.0, "resize_range": (1.0, 1.0), "resize_range2": (1.0, 1.0)}


def _textured(n: int = 8, size: int = 48) -> tf.Tensor:
    return tf.constant(np.stack([smooth_image(size, size, seed=i) for i in range(n)]) / 255.0, tf.float32)


def _flat(level: float = 0.5, n: int = 8, size: int = 96) -> tf.Tensor:
    return tf.fill([n, size, size, 3], level)


def _run(options: dict, hr: tf.Tensor, seed: int = 0) -> np.ndarray:
    return RealDegradation(**options)(hr, keras.random.SeedGenerator(seed)).numpy()


# ---------------------------------------------------------------- each stage against an independent computation


@pytest.mark.parametrize("kernel,method,antialias", [("bicubic", "bicubic", True), ("bilinear", "bilinear", False),
                                                     ("area", "area", False)])  # fmt: skip
def test_resize_equals_tf_image_resize_up_and_down(kernel, method, antialias):
    x = tf.random.stateless_uniform((2, 37, 29, 3), seed=(1, 2))
    for size in [(9, 7), (14, 13), (37, 29), (50, 61), (80, 31), (5, 100)]:
        expected = tf.image.resize(x, size, method, antialias=antialias).numpy()
        # measured max |diff| 6.3e-6 (area, upsampling), 2.9e-6 bicubic, 1.2e-7 bilinear
        np.testing.assert_allclose(resize(x, size, kernel).numpy(), expected, rtol=0, atol=1e-5)
    # sizes as tensors (drawn inside a step) give the same
    sized = tf.function(lambda x, h, w: resize(x, (h, w), kernel))
    np.testing.assert_allclose(sized(x, tf.constant(14), tf.constant(13)).numpy(), resize(x, (14, 13), kernel),
                               rtol=0, atol=1e-6)  # fmt: skip


def test_gaussian_kernels_match_the_covariance_formula_and_moments():
    sx, sy, theta = np.array([3.0, 1.5, 2.0]), np.array([1.0, 1.5, 0.7]), np.array([math.pi / 6, 0.0, 2.0])
    size = 41
    k = gaussian_kernels(tf.constant(sx, tf.float32), tf.constant(sy, tf.float32), tf.constant(theta, tf.float32),
                         size).numpy()  # fmt: skip
    r = np.arange(size) - size // 2
    y, x = np.meshgrid(r, r, indexing="ij")  # kernel[row = y, col = x]
    for i in range(3):
        rot = np.array([[math.cos(theta[i]), -math.sin(theta[i])], [math.sin(theta[i]), math.cos(theta[i])]])
        cov = rot @ np.diag([sx[i] ** 2, sy[i] ** 2]) @ rot.T  # in (x, y) coordinates
        xy = np.stack([x, y], -1).astype(np.float64)
        g = np.exp(-0.5 * np.einsum("...i,ij,...j->...", xy, np.linalg.inv(cov), xy))
        np.testing.assert_allclose(k[i], g / g.sum(), rtol=0, atol=3e-8)  # measured max |diff| 1.4e-8
        # its second moments are the covariance (a sampled Gaussian with sigma >= 0.7 keeps its variance)
        moments = [[np.sum(k[i] * a * b) for b in (x, y)] for a in (x, y)]
        np.testing.assert_allclose(moments, cov, rtol=0, atol=1e-6)  # measured max |diff| 4.1e-7


def test_blur_is_a_per_image_convolution_renormalised_at_the_borders():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 9, 11, 3))
    raw = rng.uniform(0, 1, (3, 5, 5))
    kernels = raw + raw[:, ::-1, ::-1]  # point-symmetric: convolution and correlation agree
    kernels /= kernels.sum(axis=(1, 2), keepdims=True)
    expected = np.zeros_like(images)
    for n in range(3):
        for i in range(9):
            for j in range(11):
                acc, total = np.zeros(3), 0.0
                for a in range(-2, 3):
                    for b in range(-2, 3):
                        if 0 <= i + a < 9 and 0 <= j + b < 11:
                            acc += kernels[n, a + 2, b + 2] * images[n, i + a, j + b]
                            total += kernels[n, a + 2, b + 2]
                expected[n, i, j] = acc / total
    out = blur(tf.constant(images, tf.float32), tf.constant(kernels, tf.float32)).numpy()
    np.testing.assert_allclose(out, expected, rtol=0, atol=4e-7)  # measured max |diff| 1.9e-7 (XLA: 1.2e-7)
    # and under XLA (the blur is not what keeps the preset out of XLA)
    compiled = tf.function(blur, jit_compile=True)
    np.testing.assert_allclose(compiled(tf.constant(images, tf.float32), tf.constant(kernels, tf.float32)).numpy(),
                               expected, rtol=0, atol=5e-7)  # fmt: skip


def test_jpeg_is_bit_identical_to_pillow_at_the_same_quality():
    image = smooth_image(40, 56, seed=3)
    for quality in (20, 50, 95):
        ours = jpeg(tf.constant(image[None] / 255.0, tf.float32), tf.constant([quality])).numpy()[0]
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=quality, subsampling=2)  # 4:2:0, libjpeg's default
        pil = np.asarray(Image.open(buf).convert("RGB"))
        np.testing.assert_array_equal(np.round(ours * 255).astype(np.uint8), pil)  # measured: identical


def test_gaussian_noise_std_on_a_flat_image_is_the_configured_one():
    flat = _flat(0.5, n=16, size=48)
    seed = keras.random.SeedGenerator(3)
    out = add_noise(flat, seed, 1.0, (0.03, 0.03), (0.0, 0.0), 0.0).numpy()
    # 110,592 samples: the estimate's own std is 0.03 / sqrt(2 * 110592) = 6.4e-5; measured std 0.029955,
    # mean 0.49983, channel correlation 0.010 (seeded, so these exact values come back every run)
    assert abs(out.std() - 0.03) < 3e-4
    assert abs(out.mean() - 0.5) < 3e-4
    # colour noise: channels independent; gray noise: one field on all channels
    assert abs(np.corrcoef(out[..., 0].ravel(), out[..., 1].ravel())[0, 1]) < 0.02
    gray = add_noise(flat, seed, 1.0, (0.03, 0.03), (0.0, 0.0), 1.0).numpy()
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])


@pytest.mark.parametrize("level", [0.1, 0.8])
def test_poisson_like_noise_grows_with_the_intensity_as_photon_noise(level):
    """std = scale * sqrt(x / 255): Poisson counts with 255 / scale^2 photons at white, rescaled."""
    out = add_noise(_flat(level, 16, 48), keras.random.SeedGenerator(4), 0.0, (0, 0), (2.0, 2.0), 0.0).numpy()
    expected = 2.0 * math.sqrt(level / 255)  # 0.0396 at 0.1, 0.112 at 0.8
    assert abs(out.std() / expected - 1) < 0.005  # measured ratio 0.9974 at both levels


# ---------------------------------------------------------------- the preset as a whole


def test_with_everything_off_it_is_clean_bicubic():
    hr = _textured()
    # measured max |diff| 0 for both (the identity resizes of QUIET2 are exact)
    np.testing.assert_allclose(_run(QUIET, hr), bicubic_downsample(hr, 4).numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(_run(QUIET2, hr), bicubic_downsample(hr, 4).numpy(), rtol=0, atol=1e-6)


def test_shapes_range_and_static_shapes():
    deg = RealDegradation()
    seed = keras.random.SeedGenerator(0)
    out = deg(_textured(4, 64), seed).numpy()
    assert out.shape == (4, 16, 16, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    extreme = RealDegradation(noise_sigma=(0.5, 0.5), noise_sigma2=(0.5, 0.5), gaussian_noise_prob=1.0)
    out = extreme(_textured(4, 64), seed).numpy()
    assert out.min() == 0.0 and out.max() == 1.0  # clipped, not beyond
    static = tf.function(lambda x: deg(x, seed)).get_concrete_function(tf.TensorSpec([None, 96, 96, 3]))
    assert static.output_shapes.as_list() == [None, 24, 24, 3]  # what the generator and D are traced with
    dynamic = tf.function(lambda x: deg(x, seed), input_signature=[tf.TensorSpec([None, None, None, 3])])
    assert dynamic(_textured(2, 40)).shape == (2, 10, 10, 3)
    assert RealDegradation(scale=2)(_textured(2, 40), seed).shape == (2, 20, 20, 3)


def test_deterministic_per_seed_in_eager_and_graph_and_fresh_every_batch():
    hr = _textured(4, 48)
    deg = RealDegradation(second_order_prob=0.5)  # the random choice of orders is seeded too
    a, b = keras.random.SeedGenerator(7), keras.random.SeedGenerator(7)
    first = deg(hr, a).numpy()
    np.testing.assert_array_equal(first, deg(hr, b).numpy())
    # the same draws in a graph; grappler rewrites some float ops (measured max |diff| 6e-8)
    np.testing.assert_allclose(
        deg(hr, a).numpy(), tf.function(lambda x: deg(x, b))(hr).numpy(), rtol=0, atol=1e-6
    )
    assert not np.allclose(first, deg(hr, a).numpy())  # the next batch draws anew
    assert not np.allclose(first, deg(hr, keras.random.SeedGenerator(8)).numpy())


def _sharpness(x: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: falls with blur, rises with noise."""
    return float(np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=2)).mean())


def _std(x: np.ndarray) -> float:
    return float(x.reshape(len(x), -1).std(axis=1).mean())


def _chroma(x: np.ndarray) -> float:
    return float(np.abs(x[..., 0] - x[..., 1]).mean())


TEX, FLAT = "textured", "flat"
# (knob, value a, value b, other knobs, image, metric, sign of metric(b) - metric(a); 0: only "differs")
ORDER1 = [
    ("blur_prob", 0.0, 1.0, {"blur_sigma": (2.0, 2.0)}, TEX, _sharpness, -1),
    ("blur_kernel_size", 3, 21, {"blur_prob": 1.0, "blur_sigma": (3.0, 3.0)}, TEX, _sharpness, -1),
    ("blur_sigma", (0.5, 0.5), (3.0, 3.0), {"blur_prob": 1.0}, TEX, _sharpness, -1),
    ("anisotropic_prob", 0.0, 1.0, {"blur_prob": 1.0, "blur_sigma": (0.2, 3.0)}, TEX, None, 0),
    ("resize_range", (1.0, 1.0), (0.15, 0.15), {}, TEX, _sharpness, -1),
    ("gaussian_noise_prob", 0.0, 1.0, {"noise_sigma": (0.05, 0.05), "poisson_scale": (0.05, 0.05)}, FLAT, _std, 1),
    ("noise_sigma", (0.01, 0.01), (0.05, 0.05), {}, FLAT, _std, 1),
    ("poisson_scale", (0.1, 0.1), (2.0, 2.0), {"gaussian_noise_prob": 0.0}, FLAT, _std, 1),
    ("gray_noise_prob", 0.0, 1.0, {"noise_sigma": (0.05, 0.05)}, FLAT, _chroma, -1),
    ("jpeg_prob", 0.0, 1.0, {"jpeg_quality": (20, 20)}, TEX, "jpeg_error", 1),
    ("jpeg_quality", (95, 95), (20, 20), {"jpeg_prob": 1.0}, TEX, "jpeg_error", 1),
    ("second_order_prob", 0.0, 1.0, {"resize_range2": (0.3, 0.3)}, TEX, _sharpness, -1),
    ("resize_kernel_probs", (0.0, 0.0, 1.0), (0.0, 1.0, 0.0), {"resize_range": (1.0, 1.0)}, TEX, _sharpness, 1),
]  # fmt: skip
ORDER2 = [
    (knob + "2", a, b, {k + "2" if k != "resize_kernel_probs" else k: v for k, v in extra.items()}, image, metric, sign)
    for knob, a, b, extra, image, metric, sign in ORDER1
    if knob not in ("second_order_prob", "resize_kernel_probs", "resize_range")
] + [("resize_range2", (1.0, 1.0), (0.3, 0.3), {}, TEX, _sharpness, -1)]  # fmt: skip
KNOB_CASES = ORDER1 + ORDER2


def test_the_knob_cases_cover_every_knob():
    assert sorted(case[0] for case in KNOB_CASES) == sorted(RealDegradation.knobs())


@pytest.mark.parametrize("case", KNOB_CASES, ids=[case[0] for case in KNOB_CASES])
def test_each_knob_has_its_effect(case):
    knob, a, b, extra, image, metric, sign = case
    base = {**(QUIET2 if knob.endswith("2") else QUIET), **extra}
    hr = _textured() if image == TEX else _flat(0.5, 8, 48)
    out_a, out_b = _run({**base, knob: a}, hr), _run({**base, knob: b}, hr)
    assert not np.allclose(out_a, out_b, atol=1e-4), knob
    if metric == "jpeg_error":  # distance from the same LR without JPEG
        reference = _run(base | {"jpeg_prob": 0.0, "jpeg_prob2": 0.0}, hr)

        def metric(x):
            return float(np.abs(x - reference).mean())

    if sign:
        assert np.sign(metric(out_b) - metric(out_a)) == sign, (knob, metric(out_a), metric(out_b))


def test_preset_lr_differs_from_clean_bicubic_as_expected():
    """The default preset on a flat image: noise around the flat value, no bias; on texture: blurrier."""
    flat = _flat(0.5, 16, 96)
    out = _run({}, flat)
    stds = out.reshape(16, -1).std(axis=1)
    # clean bicubic of a flat image is flat (std 0). Two orders of noise, each up to 30/255 and 25/255, then
    # resizes that average it down: measured per-image std 0.0028-0.050, batch mean |bias| 0.00035
    assert np.all(stds > 1e-3) and np.all(stds < 30 / 255 + 25 / 255)
    assert abs(out.mean() - 0.5) < 0.002
    # blur and random resizes (noise and JPEG off) remove detail that bicubic keeps: measured ratio 0.73
    hr = _textured(16, 96)
    no_noise = {"noise_sigma": (0, 0), "noise_sigma2": (0, 0), "gaussian_noise_prob": 1.0,
                "gaussian_noise_prob2": 1.0, "jpeg_prob": 0.0, "jpeg_prob2": 0.0}  # fmt: skip
    ratio = _sharpness(_run(no_noise, hr)) / _sharpness(bicubic_downsample(hr, 4).numpy())
    assert ratio < 0.8, ratio


def test_jpeg_leaves_8x8_block_edges():
    """Blockiness: pixel steps across the 8-px JPEG block borders vs inside blocks (1.0 without JPEG)."""
    hr = _textured(8, 256)  # LR 64 x 64: eight blocks a side

    def blockiness(x):
        steps = np.abs(np.diff(x, axis=2)).mean(axis=(0, 1, 3))  # step between columns j and j + 1
        return steps[7::8].mean() / np.delete(steps, np.s_[7::8]).mean()

    clean = blockiness(_run(QUIET, hr))
    compressed = blockiness(_run({**QUIET, "jpeg_prob": 1.0, "jpeg_quality": (10, 10)}, hr))
    assert 0.95 < clean < 1.05 and compressed > 1.5, (clean, compressed)  # measured 1.013 and 1.87


def test_benchmark_degradation_is_one_fixed_order():
    deg = real_lr_set_config()
    assert deg.second_order_prob == 0 and deg.resize_range == (0.25, 0.25) and deg.jpeg_quality == (50, 90)


# ---------------------------------------------------------------- where it runs


def _node_kernel_devices(node) -> set[str]:
    """Device types with a kernel that accepts the node's dtypes (GPU, DEFAULT = device-agnostic, CPU)."""
    found = set()
    for kernel in tf_kernels.get_registered_kernels_for_op(node.op).kernel:
        fits = True
        for constraint in kernel.constraint:
            attr = node.attr[constraint.name]
            types = [attr.type] if attr.WhichOneof("value") == "type" else list(attr.list.type)
            fits &= set(types) <= set(constraint.allowed_values.list.type)
        if fits:
            found.add(kernel.device_type)
    return found


def test_only_the_jpeg_loop_lacks_gpu_kernels_and_it_is_pinned_to_the_host():
    if not any(k.device_type == "GPU" for k in tf_kernels.get_registered_kernels_for_op("MatMul").kernel):
        pytest.skip("CPU-only TensorFlow build lists no GPU kernels")
    seed = keras.random.SeedGenerator(0)
    deg = RealDegradation(second_order_prob=0.5)
    graph = tf.function(lambda x: deg(x, seed)).get_concrete_function(tf.TensorSpec([16, 96, 96, 3])).graph
    graph_def = graph.as_graph_def()
    library = {f.signature.name: f for f in graph_def.library.function}
    # control flow (tf.cond, map_fn) keeps its bodies in the function library
    nodes = list(graph_def.node) + [n for f in library.values() for n in f.node_def]
    host_only = [n for n in nodes if n.op not in library and not _node_kernel_devices(n) & {"GPU", "DEFAULT"}]
    # JPEG encode/decode, and the map_fn over uint8 images around them (TensorList ops have no uint8 GPU kernel)
    assert sorted({n.op for n in host_only}) == [
        "DecodeJpeg", "EncodeJpegVariableQuality", "TensorListFromTensor", "TensorListGetItem",
        "TensorListSetItem", "TensorListStack",
    ]  # fmt: skip
    assert all(n.op.endswith("Jpeg") or n.op.endswith("Quality") or n.attr["element_dtype"].type == tf.uint8
               for n in host_only)  # fmt: skip
    assert len(nodes) > 100
    # the loop is placed on the host as a block (one copy there and back per JPEG step)
    maps = [op for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]
    conds = [op for op in graph.get_operations() if op.type in ("If", "StatelessIf")]
    for cond in conds:  # the seeded choice of one or two orders: its loops are inside the branches
        for branch in ("then_branch", "else_branch"):
            name = cond.get_attr(branch).name
            maps += [n for n in library[name].node_def if n.op in ("While", "StatelessWhile")]
    # one loop in the one-order branch, two in the two-order branch
    assert len(maps) == 3 and all(op.device.endswith("CPU:0") for op in maps), [op.device for op in maps]


# ---------------------------------------------------------------- configuration


def test_config_checks_every_knob_with_one_line_naming_it():
    cfg = TrainConfig(data=["x"], degradation="real", degradation_options={"noise_sigma": [0, 0.04]})
    deg = build_degradation(cfg.degradation, cfg.scale, options=cfg.degradation_options)
    assert deg.noise_sigma == (0.0, 0.04) and deg.jpeg_quality == (30, 95)
    bad = [
        ({"degradation": "real", "degradation_options": {"noise_sigmas": [0, 1]}}, "noise_sigmas"),
        (
            {"degradation": "real", "degradation_options": {"noise_sigma": [0.1, 0.01]}},
            "noise_sigma: low 0.1",
        ),
        ({"degradation": "real", "degradation_options": {"jpeg_quality": [0, 120]}}, "jpeg_quality"),
        ({"degradation": "real", "degradation_options": {"blur_kernel_size": 4}}, "blur_kernel_size"),
        ({"degradation": "bicubic", "degradation_options": {"jpeg_prob": 0}}, "'real' degradation only"),
        ({"degradation": "real", "jit_compile": True}, "--jit-compile"),
        ({"degradation": "jpeg"}, "degradation must be one of"),
    ]
    for overrides, expected in bad:
        with pytest.raises(UserError, match=expected) as info:
            TrainConfig(data=["x"], **overrides)
        assert len(str(info.value).splitlines()) == 1


def test_cli_sets_knobs_and_a_short_real_run_records_them(tmp_path, image_folder, capsys):
    from keras_srgan.cli import main

    run = tmp_path / "run"
    flags = ["--num-blocks", "2", "--filters", "8", "--batch-size", "2", "--patch-size", "32", "--steps", "2",
             "--mixed-precision", "off", "--log-every", "1"]  # fmt: skip
    capsys.readouterr()
    assert main(["train", "--data", str(image_folder), "--out", str(run), *flags, "--degradation", "real",
                 "--degradation-option", "bogus=1"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown degradation option(s) bogus") and len(err.splitlines()) == 1
    assert main(["train", "--data", str(image_folder), "--out", str(run), *flags, "--degradation", "real",
                 "--degradation-option", "noise_sigma=[0, 0.04]", "jpeg_prob2=0"]) == 0  # fmt: skip
    saved = json.loads((run / "config.json").read_text())
    assert saved["degradation"] == "real"
    assert saved["degradation_options"] == {"noise_sigma": [0, 0.04], "jpeg_prob2": 0}
    meta = json.loads((run / "generator.json").read_text())
    assert meta["degradation"]["kind"] == "real" and meta["degradation"]["noise_sigma"] == [0, 0.04]
    assert meta["degradation"]["jpeg_prob2"] == 0
    metrics = (run / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 3  # header + steps 1 and 2


def test_degraded_benchmark_set_is_reproducible_and_lr_sized(tmp_path):
    from keras_srgan.data.degradation import make_degraded_set

    hr_dir = tmp_path / "HR"
    hr_dir.mkdir()
    Image.fromarray(smooth_image(50, 42, seed=1)).save(hr_dir / "a.png")  # cropped to 48 x 40 first
    Image.fromarray(smooth_image(32, 32, seed=2)[..., 0]).save(hr_dir / "gray.png")  # gray -> RGB
    first = json.loads((make_degraded_set(hr_dir, tmp_path / "one", seed=3) / "manifest.json").read_text())
    again = json.loads((make_degraded_set(hr_dir, tmp_path / "two", seed=3) / "manifest.json").read_text())
    other = json.loads((make_degraded_set(hr_dir, tmp_path / "three", seed=4) / "manifest.json").read_text())
    assert first == again and first["files"] != other["files"]
    assert first["degradation"]["jpeg_quality"] == [50, 90] and first["seed"] == 3
    lr = np.asarray(Image.open(tmp_path / "one" / "a.png"))
    gray = np.asarray(Image.open(tmp_path / "one" / "gray.png"))
    assert lr.shape == (12, 10, 3) and gray.shape == (8, 8, 3)
    hr = tf.constant(smooth_image(50, 42, seed=1)[None, :48, :40] / 255.0, tf.float32)
    clean = bicubic_downsample(hr, 4)
    difference = np.abs(lr / 255.0 - clean.numpy()[0]).mean()
    assert difference > 0.025, difference  # blurred, noisy, JPEG'd: not the clean LR (measured 0.038)

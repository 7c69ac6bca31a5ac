"""Host-side tiling: window geometry, seam-free agreement with untiled output, bounded model inputs."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import tensorflow as tf
from conftest import smooth_image
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_srgan.inference import transforms
from keras_srgan.inference.engines import Predictor
from keras_srgan.inference.tiling import (
    DEFAULT_OVERLAP,
    axis_spans,
    cover,
    model_overlap,
    plan_tiles,
    upscale_tiled,
    upscale_two_stage,
)
from keras_srgan.models import build_generator


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 3000), tile=st.integers(1, 300), overlap=st.integers(0, 60))
def test_spans_cover_with_context_and_one_window_size(length, tile, overlap):
    spans = axis_spans(length, tile, overlap)
    assert spans[0].keep_start == 0 and spans[-1].keep_end == length
    assert all(a.keep_end == b.keep_start for a, b in zip(spans, spans[1:], strict=False))
    assert len({s.win_end - s.win_start for s in spans}) == 1  # one shape: batches never need padding
    for s in spans:
        assert 0 <= s.win_start <= s.keep_start < s.keep_end <= s.win_end <= length
        assert s.keep_start - s.win_start >= overlap or s.win_start == 0
        assert s.win_end - s.keep_end >= overlap or s.win_end == length
        assert s.win_end - s.win_start <= tile + 2 * overlap


def receptive_radius(num_blocks: int, scale: int = 4) -> int:
    return transforms.receptive_radius(build_generator(scale=scale, num_blocks=num_blocks, filters=4))


def test_default_overlap_is_the_default_srresnet_receptive_radius():
    # head 9x9 (4) + 16 blocks x 2 convs (32) + body (1) + up convs (1 + 0.5) + 9x9 tail at x4 (1) = 39.5
    assert DEFAULT_OVERLAP == receptive_radius(16, 4) == math.ceil(39.5)
    assert model_overlap(Predictor(build_generator(num_blocks=16, filters=4))) == DEFAULT_OVERLAP
    assert model_overlap(lambda lr: lr) == DEFAULT_OVERLAP  # no architecture to read: the default


@pytest.mark.parametrize(
    "config",
    [
        {"num_blocks": 8}, {"num_blocks": 16}, {"num_blocks": 24}, {"num_blocks": 3, "scale": 2},
        {"num_blocks": 3, "scale": 8},
        *({"arch": "compact", "num_convs": 3, "upsampler": u} for u in ("shuffle_residual", "shuffle_blur", "nearest_conv")),
        {"arch": "compact", "num_convs": 2, "upsampler": "nearest_conv", "scale": 8},
    ],
)  # fmt: skip
def test_receptive_radius_is_where_the_gradient_support_ends(config):
    """Independent measure: which LR pixels the SR pixels of one LR pixel have a nonzero gradient for.

    The farthest pixel's path runs through every conv, so its gradient is tiny (about 1e-20 at 24 blocks)
    but exactly nonzero, while pixels beyond the field get an exact zero.
    """
    gen = build_generator(filters=4, **config)
    scale = gen.scale
    for w in gen.weights:  # PReLU slope 0 (a ReLU) could cut the path of the farthest pixel by chance
        if w.path.endswith("alpha"):
            w.assign(np.full(w.shape, 0.25, np.float32))
    radius = transforms.receptive_radius(gen)
    n = 2 * radius + 7
    centre = n // 2
    lr = tf.random.stateless_uniform((1, n, n, 3), seed=(radius, scale))
    with tf.GradientTape() as tape:
        tape.watch(lr)
        # CompactSR in training mode: no clip (a clipped pixel has no gradient); SRResNet not: its
        # BatchNorm would then use statistics of the whole image
        sr = gen(lr, training=config.get("arch") == "compact")
        s = scale
        picked = tf.reduce_sum(sr[:, s * centre : s * centre + s, s * centre : s * centre + s, :])
    support = np.argwhere(np.abs(tape.gradient(picked, lr).numpy()[0]).sum(axis=-1) > 0) - centre
    assert support.min(axis=0).tolist() == [-radius, -radius]
    assert support.max(axis=0).tolist() == [radius, radius]


def _far_reaching_generator(num_blocks: int, image: np.ndarray):
    """An 8-filter x4 SRResNet with random weights whose farthest pixel visibly matters.

    With the default initialisation the pixel at the edge of the receptive field reaches an SR pixel
    through one chain of ~50 convs with a gain of ~1e-20: invisible in float32, so any overlap a little
    short of the radius still looks exact. Here every kernel has random channel mixing on its
    bottom-right tap and only 5% of that elsewhere, PReLU slopes are in [0.5, 1] and each residual
    branch is scaled x2, so that chain carries a sizeable part of the output. The tail is then scaled
    so that the largest pre-tanh value on a corner of ``image`` is 1 (no saturation hiding differences).
    """
    gen = build_generator(scale=4, num_blocks=num_blocks, filters=8)
    rng = np.random.default_rng(num_blocks)
    for w in gen.weights:
        shape = tuple(w.shape)
        if w.path.endswith("kernel"):
            kernel = rng.normal(size=shape) / math.sqrt(shape[2]) * 0.05
            kernel[-1, -1] = rng.normal(size=shape[2:]) / math.sqrt(shape[2])
            w.assign(kernel.astype(np.float32))
        elif w.path.endswith("alpha"):
            w.assign(rng.uniform(0.5, 1.0, shape).astype(np.float32))
        elif w.path.endswith("bias") or w.path.endswith("beta"):
            w.assign(np.zeros(shape, np.float32))
        elif "bn2" in w.path and w.path.endswith("gamma"):
            w.assign(np.full(shape, 2.0, np.float32))
    tail, lr = gen.get_layer("tail_conv").kernel, image[None, :48, :48]
    while (peak := float(np.abs(gen(lr, training=False).numpy() * 2.0 - 1.0).max())) > 1e-3:  # tanh(x) = x
        tail.assign(tail * 1e-3)
    tail.assign(tail * (1.0 / peak))
    return gen


@pytest.mark.parametrize("num_blocks", [8, 16, 24])
def test_overlap_of_the_receptive_radius_is_exact_and_one_less_is_not(num_blocks):
    radius = receptive_radius(num_blocks, 4)
    assert radius == 2 * num_blocks + 8  # 4 + 2B + 1 + 1.5 + 1, rounded up
    size = 2 * radius + 14  # two windows per axis for a core of 8
    image = np.random.default_rng(1).uniform(0, 1, (size, size + 4, 3)).astype(np.float32)
    predictor = Predictor(_far_reaching_generator(num_blocks, image))
    untiled = upscale_tiled(image, predictor, 4, tile=0)
    assert untiled.std() > 0.02 and 0 < untiled.min() and untiled.max() < 1  # measured 0.06 / 0.04 / 0.13
    assert model_overlap(predictor) == radius
    tiled = upscale_tiled(image, predictor, 4, tile=8, tile_batch=4)  # overlap from the model
    assert len(plan_tiles(size, size + 4, 8, radius)) > 1
    # Window-size dependent float rounding, measured max |diff| for 8 / 16 / 24 blocks: 0 / 1.2e-7 / 0 on
    # AMX (2.1e-7 with other tail scales); with oneDNN held to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2), whose conv
    # kernels differ by window shape, 4.5e-7 / 8.3e-7 / 2.7e-6. One pixel short of the radius: >= 4.4e-3.
    np.testing.assert_allclose(tiled, untiled, rtol=0, atol=5e-6)
    short = upscale_tiled(image, predictor, 4, tile=8, overlap=radius - 1, tile_batch=4)
    # measured 0.18 / 0.21 / 0.0044, >1e4 times the exact case: the pixels one past the context matter
    assert np.abs(short - untiled).max() > 1e-3


def test_upscaler_takes_the_overlap_from_its_model():
    from keras_srgan.inference.upscale import Upscaler

    gen = build_generator(num_blocks=2, filters=4)
    assert Upscaler(gen, engine="tensorflow", precision="fp32").tile_overlap == receptive_radius(2, 4) == 12
    assert Upscaler(gen, tile_overlap=5, engine="tensorflow", precision="fp32").tile_overlap == 5


def test_tiled_matches_untiled(tiny_generator):
    predictor = Predictor(tiny_generator)
    image = smooth_image(75, 93, seed=3)  # odd sizes: uneven windows and shifted edge windows
    untiled = upscale_tiled(image, predictor, 4, tile=0)
    untiled_float = upscale_tiled(image.astype(np.float32) / 255, predictor, 4, tile=0)
    # the last case takes the 2-block model's own radius (12), the others are at least that
    for tile, overlap in [(24, 16), (4, DEFAULT_OVERLAP), (40, 12), (24, None)]:
        tiled = upscale_tiled(image, predictor, 4, tile=tile, overlap=overlap, tile_batch=3)
        assert tiled.shape == untiled.shape == (300, 372, 3)
        assert len(plan_tiles(75, 93, tile, overlap or 12)) > 1
        # measured: identical. A float difference of 6e-8 could still flip a rare uint8 rounding.
        diff = np.abs(tiled.astype(int) - untiled.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() <= 1e-4, (tile, overlap)
        tiled_float = upscale_tiled(image.astype(np.float32) / 255, predictor, 4, tile, overlap, 3)
        # measured max |diff| 6.0e-8 (float rounding of differently sized windows)
        np.testing.assert_allclose(tiled_float, untiled_float, rtol=0, atol=1.2e-7)


def test_without_overlap_seams_appear(tiny_generator):
    """The agreement test can fail: cutting tiles without context changes pixels near every seam."""
    predictor = Predictor(tiny_generator)
    image = smooth_image(48, 48, seed=4)
    untiled = upscale_tiled(image, predictor, 4, tile=0)
    seamy = upscale_tiled(image, predictor, 4, tile=8, overlap=0)
    diff = np.abs(seamy.astype(int) - untiled.astype(int))
    # measured over random inits (seeds 0-11): 66-90% of values differ, by up to 4-22 levels
    assert (diff > 0).mean() > 0.5 and diff.max() >= 3


def test_only_fixed_size_windows_reach_the_model():
    calls = []

    def fake_model(lr: np.ndarray) -> np.ndarray:  # nearest-neighbour x2, records what it was given
        calls.append(lr.shape)
        return lr.repeat(2, axis=1).repeat(2, axis=2)

    image = smooth_image(301, 157, seed=1)
    out = upscale_tiled(image, fake_model, 2, tile=64, overlap=20, tile_batch=2)
    assert len(set(shape[1:] for shape in calls)) == 1
    assert all(shape[0] <= 2 and shape[1] <= 104 and shape[2] <= 104 for shape in calls)
    np.testing.assert_array_equal(out, image.repeat(2, axis=0).repeat(2, axis=1))  # exact reassembly


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_dtype_is_kept(dtype):
    image = smooth_image(20, 30).astype(dtype) * (257 if dtype == np.uint16 else 1 / 255)
    out = upscale_tiled(image.astype(dtype), lambda lr: lr.repeat(4, 1).repeat(4, 2), 4, tile=8, overlap=4)
    assert out.dtype == dtype and out.shape == (80, 120, 3)
    np.testing.assert_allclose(
        out[::4, ::4].astype(np.float64), image.astype(np.float64), rtol=1e-6, atol=1e-6
    )


# ------------------------------------------------------------------------------------------- two stages


@settings(max_examples=300, deadline=None)
@given(
    length=st.integers(1, 800),
    a=st.integers(0, 799),
    size=st.integers(1, 800),
    window=st.integers(1, 300),
    context=st.integers(0, 20),
)
def test_cover_splits_the_kept_part_with_context_and_one_window_size(length, a, size, window, context):
    a = min(a, length - 1)
    b = min(length, a + size)
    if window <= 2 * context and window < length:
        return  # no core: cover refuses it (tested below)
    spans = cover(a, b, length, window, context)
    assert spans[0].keep_start == a and spans[-1].keep_end == b
    assert all(x.keep_end == y.keep_start for x, y in zip(spans, spans[1:], strict=False))
    assert (
        len({s.win_end - s.win_start for s in spans}) == 1 and spans[0].win_end - spans[0].win_start <= window
    )
    for s in spans:
        assert 0 <= s.win_start <= s.keep_start < s.keep_end <= s.win_end <= length
        assert s.keep_start - s.win_start >= context or s.win_start == 0
        assert s.win_end - s.keep_end >= context or s.win_end == length


def test_cover_refuses_a_window_without_core():
    with pytest.raises(ValueError, match="no core"):
        cover(0, 100, 100, 6, 3)


@pytest.mark.parametrize(
    ("blocks", "scale", "tail"), [(16, 4, 3), (2, 4, 3), (24, 4, 3), (3, 2, 3), (3, 8, 3)]
)
def test_the_stage_radii_are_the_body_and_tail_receptive_fields(blocks, scale, tail):
    # body: 9x9 head (4) + 2 per block + body conv (1); tail at x4: up convs (1 + 0.5) + 9x9 at 4x (1) -> 3
    # (at x2: 1 + 9x9 at 2x (2) = 3; at x8: 1 + 0.5 + 0.25 + 0.5 -> 3, each rounded the way shuffles index)
    model = transforms.inference_model(build_generator(scale=scale, num_blocks=blocks, filters=4))
    found = transforms.radii(transforms.parts(model))
    assert found["stage_radii"] == [4 + 2 * blocks + 1, tail]
    assert found["radius"] == receptive_radius(blocks, scale) <= sum(found["stage_radii"])


def test_split_body_tail_is_the_same_model(tiny_generator):
    from keras_srgan.inference import transforms

    model = transforms.inference_model(tiny_generator)
    body, tail = transforms.split_body_tail(model)
    lr = tf.random.stateless_uniform((1, 23, 31, 3), seed=(1, 2))
    whole = model(lr, training=False).numpy()
    features = body(lr, training=False)
    assert features.shape == (1, 23, 31, 8)  # the generator's filters, at LR
    # the same layers and weights: measured bit-identical
    np.testing.assert_array_equal(tail(features, training=False).numpy(), whole)
    with pytest.raises(ValueError, match="not a chain"):
        transforms.split_body_tail(model, "res_block_0_add")  # the skip from the head joins later


def _stages(generator, engine: str):
    """(body, tail, body radius, tail radius) of an engine for ``generator``."""
    from keras_srgan.inference import engines, openvino_engine

    runner = (
        engines.TensorFlowEngine(generator, "fp32")
        if engine == "tensorflow"
        else openvino_engine.OpenVINOEngine(generator, "fp32")
    )
    return (*runner.stages(), *runner.stage_radii)


ENGINES_HERE = ["tensorflow"] + (["openvino"] if importlib.util.find_spec("openvino") else [])


@pytest.mark.parametrize("engine", ENGINES_HERE)
def test_two_stage_matches_the_untiled_keras_model(tiny_generator, engine, monkeypatch, tmp_path):
    """Body windows of 40x40 and tail windows of 14x14: many windows of both, against untiled Keras."""
    monkeypatch.setenv("KERAS_SRGAN_CACHE_DIR", str(tmp_path))
    image = smooth_image(75, 93, seed=3).astype(np.float32) / 255
    untiled = upscale_tiled(image, Predictor(tiny_generator), 4, tile=0)  # the Keras model itself
    body, tail, body_context, tail_context = _stages(tiny_generator, engine)
    assert (body_context, tail_context) == (4 + 2 * 2 + 1, 3)
    calls = {"body": [], "tail": []}

    def counted(name, run):
        return lambda x: calls[name].append(x.shape) or run(x)

    tiled = upscale_two_stage(
        image,
        counted("body", body),
        counted("tail", tail),
        4,
        body_context,
        tail_context,
        40 * 40,
        14 * 14,
    )
    assert len(calls["body"]) > 4 and len(calls["tail"]) > 4 * len(calls["body"])
    assert len(set(calls["body"])) == 1 and len(set(calls["tail"])) == 1  # one compiled shape per stage
    # measured max |diff| 6.0e-8 with either engine (fp32): float rounding
    np.testing.assert_allclose(tiled, untiled, rtol=0, atol=1.2e-7)


@pytest.mark.parametrize("short", ["body", "tail"])
def test_two_stage_is_exact_with_far_reaching_weights_and_one_pixel_less_is_not(short):
    blocks = 8
    radius = receptive_radius(blocks, 4)
    image = np.random.default_rng(2).uniform(0, 1, (2 * radius + 30, 2 * radius + 34, 3)).astype(np.float32)
    generator = _far_reaching_generator(blocks, image)
    untiled = upscale_tiled(image, Predictor(generator), 4, tile=0)
    body, tail, b, t = _stages(generator, "tensorflow")
    assert (b, t) == (4 + 2 * blocks + 1, 3)
    small = ((2 * radius + 8) ** 2, 10 * 10)
    exact = upscale_two_stage(image, body, tail, 4, b, t, *small)
    # measured max |diff| 6.0e-7, all of it the transforms' float rounding (the untiled transformed model
    # differs from Keras by the same 6.0e-7; from the two-stage result by 0)
    np.testing.assert_allclose(exact, untiled, rtol=0, atol=1e-6)
    b, t = (b - 1, t) if short == "body" else (b, t - 1)
    cut = upscale_two_stage(image, body, tail, 4, b, t, *small)
    # measured: 0.21 (body one short) and 0.36 (tail one short), >1e5 times the exact case
    assert np.abs(cut - untiled).max() > 1e-3


@pytest.mark.parametrize("engine", ENGINES_HERE)
def test_upscaler_runs_large_images_in_two_stages(tiny_generator, engine, monkeypatch, tmp_path):
    from keras_srgan.inference.upscale import Upscaler

    monkeypatch.setenv("KERAS_SRGAN_CACHE_DIR", str(tmp_path))
    up = Upscaler(tiny_generator, engine=engine, precision="fp32", tile=24)
    image = smooth_image(75, 93, seed=5)
    reference = up.upscale_array(image)  # tiled with the whole model (an explicit tile is obeyed)
    auto = Upscaler(tiny_generator, runner=up.runner)
    auto.tile = 24  # a small window so this image counts as large, with the automatic overlap
    seen = []
    real = auto.runner.stages

    def spy():
        seen.append(True)
        return real()

    monkeypatch.setattr(auto.runner, "stages", spy)
    out = auto.upscale_array(image)
    assert seen and auto.two_stage
    diff = np.abs(out.astype(int) - reference.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() <= 1e-4  # measured: identical

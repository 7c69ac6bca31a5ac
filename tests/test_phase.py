"""Phase equalisation (inference/phase.py): what it removes, what it keeps, and that every path applies it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from keras_srgan.inference import phase
from keras_srgan.metrics import grid_score

SCALE = 4


def _smooth_lr(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like float LR image in [0.2, 0.8] (values stay clear of the clip at 0 and 1 after x4)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.2, 0.8, (h // 4 + 2, w // 4 + 2, 3)).astype(np.float32)
    planes = [
        np.asarray(Image.fromarray(coarse[:, :, c], "F").resize((w, h), Image.Resampling.BILINEAR))
        for c in range(3)
    ]
    return np.clip(np.stack(planes, axis=-1), 0.2, 0.8)


def _bicubic_up(lr01: np.ndarray) -> np.ndarray:
    """Whole-image Pillow bicubic x4 of each float plane: the reference, computed in one call, no strips."""
    h, w = lr01.shape[:2]
    size = (w * SCALE, h * SCALE)
    return np.stack(
        [
            np.asarray(Image.fromarray(lr01[:, :, c], "F").resize(size, Image.Resampling.BICUBIC))
            for c in range(3)
        ],
        axis=-1,
    ).astype(np.float64)


def _pattern(amplitude: float, seed: int = 1) -> np.ndarray:
    """A zero-mean [4, 4, 3] per-phase offset with the given peak value."""
    p = np.random.default_rng(seed).uniform(-1, 1, (SCALE, SCALE, 3))
    p -= p.mean(axis=(0, 1), keepdims=True)
    return amplitude * p / np.abs(p).max()


def _tile(pattern: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.tile(pattern, (h // SCALE, w // SCALE, 1))


def _block_sums_by_loops(image: np.ndarray, block: int) -> np.ndarray:
    """[row blocks, col blocks, 4, 4, C] sums of each block's cells at each phase, one block at a time."""
    cells_h, cells_w = image.shape[0] // SCALE, image.shape[1] // SCALE
    starts_r, starts_c = range(0, cells_h, block), range(0, cells_w, block)
    out = np.zeros((len(starts_r), len(starts_c), SCALE, SCALE, image.shape[2]))
    for a, r in enumerate(starts_r):
        for b, c in enumerate(starts_c):
            for i in range(SCALE):
                for j in range(SCALE):
                    part = image[r * SCALE : (r + block) * SCALE, c * SCALE : (c + block) * SCALE]
                    out[a, b, i, j] = part[i::SCALE, j::SCALE].sum(axis=(0, 1))
    return out


def test_block_phase_sums_in_strips_equal_one_whole_resize(monkeypatch):
    lr = _smooth_lr(37, 53)
    up = _bicubic_up(lr)
    monkeypatch.setattr(phase, "STRIP_PIXELS", 53 * SCALE * 3 * 8)  # strips of 2 blocks, a ragged last one
    got = phase.bicubic_phase_sums(lr, SCALE, block=1)
    np.testing.assert_allclose(got, _block_sums_by_loops(up, 1), rtol=0, atol=1e-6)  # measured 1.9e-7
    got = phase.bicubic_phase_sums(lr, SCALE, block=3)  # partial blocks at the bottom and right
    np.testing.assert_allclose(got, _block_sums_by_loops(up, 3), rtol=0, atol=2e-6)  # measured 4.8e-7
    as_uint16 = np.rint(up * 65535).astype(np.uint16)
    np.testing.assert_allclose(
        phase.phase_sums(as_uint16, SCALE, 3), _block_sums_by_loops(as_uint16 / 65535, 3), rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("amplitude", [0.0, 3 / 255, 12 / 255])
def test_removes_an_added_static_pattern_and_nothing_else(amplitude):
    lr = _smooth_lr(48, 64)
    up = _bicubic_up(lr)
    added = _pattern(amplitude)
    sr = (up + _tile(added, *up.shape[:2])).astype(np.float32)
    np.testing.assert_allclose(phase.phase_offset(sr, lr, SCALE), added, rtol=0, atol=5e-8)  # measured 2e-8
    out = phase.equalize(sr, lr, SCALE, np.float32)
    np.testing.assert_allclose(out, up, rtol=0, atol=1.2e-7)  # measured 3e-8; 1 ulp at 0.8 is 6e-8


def test_a_grid_that_8_bit_rounding_would_keep_is_gone():
    lr = np.rint(_smooth_lr(96, 96, seed=3) * 255).astype(np.uint8)
    up = _bicubic_up(lr.astype(np.float32) / 255)
    sr = up + _tile(_pattern(2 / 255, seed=4), *up.shape[:2])
    as_uint16 = np.rint(sr * 65535).astype(np.uint16)
    before = grid_score(np.rint(sr * 255).astype(np.uint8))
    after = grid_score(phase.equalize(as_uint16, lr, SCALE, np.uint8))
    reference = grid_score(np.rint(up * 255).astype(np.uint8))
    assert before > 1.5  # measured 2.17
    # measured 0.078 (-0.31 against bicubic's -0.23). On this smooth synthetic image the spectrum at those
    # frequencies is 8-bit rounding noise: the whole-image offset gives -0.27 while only 4 of 442,368 values
    # differ from the local one's.
    assert abs(after - reference) < 0.1


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="not x4"):
        phase.equalize(np.zeros((16, 16, 3), np.uint8), np.zeros((5, 4, 3), np.uint8), SCALE)


def _gaussian_field(added: np.ndarray, counts: np.ndarray, sigma: float) -> np.ndarray:
    """Each block's Gaussian-weighted (by block distance, and by cells) mean of ``added``, as a 2-D sum."""
    rows, cols = counts.shape
    field = np.zeros_like(added)
    for a in range(rows):
        for b in range(cols):
            dist2 = (np.arange(rows)[:, None] - a) ** 2 + (np.arange(cols)[None, :] - b) ** 2
            weights = np.exp(-0.5 * dist2 / sigma**2) * counts
            field[a, b] = np.tensordot(weights, added, axes=([0, 1], [0, 1])) / weights.sum()
    return field


def _linear_to_cells(field: np.ndarray, cells: int, block: int, axis: int) -> np.ndarray:
    """``field`` sampled at block centres, interpolated to every cell along ``axis`` with np.interp."""
    starts = np.arange(0, cells, block)
    centres = (starts + np.minimum(starts + block, cells)) / 2
    moved = np.moveaxis(field, axis, 0)
    out = np.empty((cells,) + moved.shape[1:])
    for index in np.ndindex(moved.shape[1:]):
        out[(slice(None),) + index] = np.interp(
            np.arange(cells) + 0.5, centres, moved[(slice(None),) + index]
        )
    return np.moveaxis(out, 0, axis)


def _independent_equalized(generator, lr_uint8: np.ndarray, keep16: bool = False) -> np.ndarray:
    """The untiled float output minus its local phase offset (module doc of inference/phase.py), from
    whole-image arrays and loops, rounded once (``keep16``: the output first kept at 16 bits, as the CLI
    keeps it until the offset is known)."""
    lr01 = lr_uint8.astype(np.float32) / 255
    sr = np.asarray(generator(lr01[None]), np.float64)[0]
    if keep16:
        sr = np.rint(np.clip(sr, 0, 1) * 65535) / 65535
    block = phase.BLOCK_PIXELS // SCALE
    cells_h, cells_w = lr01.shape[:2]
    counts = np.outer(
        np.diff(np.append(np.arange(0, cells_h, block), cells_h)),
        np.diff(np.append(np.arange(0, cells_w, block), cells_w)),
    )
    means = _block_sums_by_loops(sr - _bicubic_up(lr01), block) / counts[:, :, None, None, None]
    added = means - means.mean(axis=(2, 3), keepdims=True)
    field = _gaussian_field(added, counts, phase.SIGMA_PIXELS / (SCALE * block))
    cell = _linear_to_cells(_linear_to_cells(field, cells_h, block, 0), cells_w, block, 1)
    offset = cell.transpose(0, 2, 1, 3, 4).reshape(sr.shape)
    return np.clip(np.rint((sr - offset) * 255), 0, 255).astype(np.uint8)


def test_a_drifting_pattern_is_followed_and_a_static_one_kept_exact():
    lr = _smooth_lr(160, 160, seed=7)
    up = _bicubic_up(lr)
    h, w = up.shape[:2]
    ramp = np.linspace(0.0, 1.0, w)[None, :, None]  # the pattern's strength grows from left to right
    drifting = up + ramp * _tile(_pattern(6 / 255, seed=8), h, w)
    local = phase.equalize(drifting.astype(np.float32), lr, SCALE, np.float64)
    whole = phase.equalize(drifting.astype(np.float32), lr, SCALE, np.float64, sigma=None)

    def left(residual):  # in levels, RMS
        return float(np.sqrt(np.mean(residual**2)) * 255)

    assert left(drifting - up) > 1.5  # measured 1.62
    assert left(whole - up) > 0.75  # one offset for the whole image leaves half of it: 0.81
    assert left(local - up) < 0.22  # measured 0.20 (radius 128 px on a 640-px image)
    static = up + _tile(_pattern(6 / 255, seed=8), h, w)
    np.testing.assert_allclose(phase.equalize(static, lr, SCALE, np.float64), up, rtol=0, atol=1e-7)  # 3.3e-8


def test_upscaler_equalizes_and_tiled_equals_untiled(tiny_generator):
    from keras_srgan.inference.upscale import Upscaler

    lr = np.rint(_smooth_lr(40, 52, seed=5) * 255).astype(np.uint8)
    settings = {"engine": "tensorflow", "precision": "fp32", "phase_equalize": True}
    whole = Upscaler(tiny_generator, tile=0, **settings).upscale_array(lr)
    tiled = Upscaler(tiny_generator, tile=16, **settings).upscale_array(lr)
    plain = Upscaler(tiny_generator, tile=0, engine="tensorflow", precision="fp32").upscale_array(lr)
    np.testing.assert_array_equal(tiled, whole)
    expected = _independent_equalized(tiny_generator, lr)
    # the Upscaler keeps the output at 16 bits (1/257 of a level) until the offset is known, this test in
    # float64: values that close to a rounding boundary may round the other way
    assert np.abs(whole.astype(int) - expected).max() <= 1
    assert np.mean(whole != expected) < 1.5e-3  # measured 9.8e-4
    assert np.mean(whole != plain) > 0.1  # the tiny model's offset moves many pixels: measured 0.12


def test_the_setting_travels_with_the_weights(tmp_path, tiny_generator):
    import keras

    from keras_srgan.evaluation import ProtocolUpscaler
    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.models import build_generator
    from keras_srgan.weights import load_generator, write_generator

    flagged = build_generator(scale=4, num_blocks=2, filters=8, phase_equalize=True)
    flagged.set_weights(tiny_generator.get_weights())
    weights_path, _ = write_generator(flagged, tmp_path / "generator")
    loaded = load_generator(weights_path)
    assert loaded.phase_equalize is True and tiny_generator.phase_equalize is False
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loaded)).phase_equalize
    assert Upscaler(loaded, engine="tensorflow").phase_equalize is True
    assert Upscaler(loaded, engine="tensorflow", phase_equalize=False).phase_equalize is False
    lr = np.rint(_smooth_lr(24, 24, seed=6) * 255).astype(np.uint8)
    protocol = ProtocolUpscaler(4, loaded, phase_equalize=True).upscale(lr)  # the CLI's path: 16 bits kept
    independent = _independent_equalized(loaded, lr, keep16=True)
    # measured identical (AMX); one value at a float32 rounding edge may move one level on another CPU
    assert np.abs(protocol.astype(int) - independent).max() <= 1
    assert np.sum(protocol != independent) <= 1


@pytest.mark.parametrize(("h", "w"), [(45, 70), (8, 13), (96, 33)])
def test_the_exported_graph_equalises_as_the_cli_does(h, w):
    """``exporters.graph.equalized`` (what the SavedModel runs) against ``phase.equalize`` (the CLI's),
    on a drifting pattern over a bicubic upsample; sizes with partial blocks, 16-bit and float SR in."""
    import tensorflow as tf

    from keras_srgan.exporters.graph import equalized

    lr = _smooth_lr(h, w, seed=h)
    up = _bicubic_up(lr)
    ramp = np.linspace(0.2, 1.0, up.shape[1])[None, :, None]
    sr = np.clip(up + ramp * _tile(_pattern(5 / 255, seed=w), *up.shape[:2]), 0, 1)
    sr16 = np.rint(sr * 65535).astype(np.uint16)
    expected = phase.equalize(sr16, lr, SCALE, np.uint8)
    graph = tf.function(lambda s, low: equalized(s, low, SCALE, tf.uint8))
    got = graph(tf.constant(sr16), tf.constant(lr)).numpy()
    # measured: identical here (AMX); float32 sums in another order could put a value at a rounding
    # boundary one level apart on another CPU, so one level on at most 0.1% of the values
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert np.mean(got != expected) < 1e-3
    as_float = tf.function(lambda s, low: equalized(s, low, SCALE, tf.float32))(
        tf.constant(sr.astype(np.float32)), tf.constant(lr)
    )
    reference = phase.equalize(sr.astype(np.float32), lr, SCALE, np.float64)
    np.testing.assert_allclose(
        as_float.numpy(), np.clip(reference, 0, 1), rtol=0, atol=5e-7
    )  # measured 1.2e-7


def test_the_loop_free_graph_equalises_a_batch_as_the_cli_does():
    """``graph.equalized_batch`` (what the whole-image ONNX and LiteRT files run) against ``phase.equalize``
    image by image: two images of a size with partial blocks, each with its own drifting pattern."""
    import tensorflow as tf

    from keras_srgan.exporters.graph import equalized_batch

    lrs, srs = [], []
    for seed in (3, 4):
        lr = _smooth_lr(45, 70, seed=seed)
        up = _bicubic_up(lr)
        ramp = np.linspace(0.2, 1.0, up.shape[0])[:, None, None]
        srs.append(np.clip(up + ramp * _tile(_pattern(6 / 255, seed=seed), *up.shape[:2]), 0, 1))
        lrs.append(lr)
    sr, lr = np.stack(srs).astype(np.float32), np.stack(lrs)
    got = tf.function(lambda s, low: equalized_batch(s, low, SCALE))(tf.constant(sr), tf.constant(lr)).numpy()
    for i in range(2):
        expected = np.clip(phase.equalize(sr[i], lr[i], SCALE, np.float64), 0, 1)
        np.testing.assert_allclose(got[i], expected, rtol=0, atol=5e-7)  # measured 6e-8 (AMX)
        as_uint8 = [np.rint(x * 255).astype(np.uint8) for x in (got[i], sr[i])]
        assert grid_score(as_uint8[0]) < grid_score(as_uint8[1]) - 0.5


def test_whole_image_onnx_litert_and_openvino_files_carry_the_equalisation(tmp_path, tiny_generator):
    """Weights that ask for equalisation: the dynamic ONNX, OpenVINO and float LiteRT files give the CLI's picture
    (Keras, then ``phase.equalize``) and say so in the manifest; a fixed-size tile file says it does not."""
    from keras_srgan.exporters import export
    from keras_srgan.exporters.parity import keras_reference, onnx_runner, openvino_runner, tflite_runner
    from keras_srgan.models import build_generator

    flagged = build_generator(scale=4, num_blocks=2, filters=8, phase_equalize=True)
    flagged.set_weights(tiny_generator.get_weights())
    entries = export(
        flagged, ["onnx", "openvino", "tflite"], tmp_path, quantize=["none", "int8"], calibration_samples=4
    )
    entries += export(flagged, ["tflite"], tmp_path, input_size="32x32")
    carried = {e["path"]: e["post_processing_in_artifact"] for e in entries}
    assert carried == {
        "onnx/srgan.onnx": True,
        "openvino/srgan.xml": True,
        "tflite/srgan_float32.tflite": True,
        "tflite/srgan_int8.tflite": False,
        "tflite/srgan_float32_32x32.tflite": False,
    }
    assert all(e["post_processing"] == ["phase_equalize"] for e in entries)
    lr = (_smooth_lr(37, 50, seed=9)[None]).astype(np.float32)
    cli = phase.equalize(keras_reference(flagged, lr)[0], lr[0], SCALE, np.float32)
    runners = {"onnx/srgan.onnx": onnx_runner, "openvino/srgan.xml": openvino_runner}
    runners["tflite/srgan_float32.tflite"] = tflite_runner
    for path, runner in runners.items():
        np.testing.assert_allclose(runner(tmp_path / path)(lr)[0], cli, rtol=0, atol=1e-6)  # measured 1.2e-7

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


def test_bicubic_phase_means_in_strips_equal_one_whole_resize(monkeypatch):
    lr = _smooth_lr(37, 53)
    up = _bicubic_up(lr)
    expected = up.reshape(37, SCALE, 53, SCALE, 3).mean(axis=(0, 2))
    monkeypatch.setattr(phase, "STRIP_PIXELS", 53 * SCALE * 3 * 8)  # strips of 2 LR rows, a ragged last one
    got = phase.bicubic_phase_means(lr, SCALE)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8)  # measured 1.6e-9


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
    assert abs(after - reference) < 0.05  # measured 0.035 (-0.27 against bicubic's -0.23)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="not x4"):
        phase.equalize(np.zeros((16, 16, 3), np.uint8), np.zeros((5, 4, 3), np.uint8), SCALE)


def _independent_equalized(generator, lr_uint8: np.ndarray) -> np.ndarray:
    """The untiled float output, minus its per-phase mean over bicubic's, rounded once: written out here."""
    lr01 = lr_uint8.astype(np.float32) / 255
    sr = np.asarray(generator(lr01[None]), np.float64)[0]
    added = sr.reshape(-1, SCALE, sr.shape[1] // SCALE, SCALE, 3).mean(axis=(0, 2))
    ref = _bicubic_up(lr01).reshape(-1, SCALE, sr.shape[1] // SCALE, SCALE, 3).mean(axis=(0, 2))
    offset = (added - added.mean(axis=(0, 1))) - (ref - ref.mean(axis=(0, 1)))
    return np.clip(np.rint((sr - _tile(offset, *sr.shape[:2])) * 255), 0, 255).astype(np.uint8)


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
    protocol = ProtocolUpscaler(4, loaded, phase_equalize=True).upscale(lr)
    np.testing.assert_array_equal(protocol, _independent_equalized(loaded, lr))  # float64 both: equal

"""``pixels``: the one home of range conversion, rounding and luma, against the formulas they replaced."""

from __future__ import annotations

import numpy as np
import pytest

from keras_srgan import pixels


def _values(dtype=np.float32, n: int = 200_003, seed: int = 0) -> np.ndarray:
    """[0, 1] values plus exact half-way points of both integer scales and values just outside the range."""
    rng = np.random.default_rng(seed)
    halves = np.concatenate([(np.arange(255) + 0.5) / 255.0, (np.arange(0, 65535, 97) + 0.5) / 65535.0])
    return np.concatenate([rng.uniform(-0.01, 1.01, n), halves, [0.0, 1.0]]).astype(dtype)


def test_from_unit_is_the_tilers_float32_formula_bit_for_bit():
    v = _values(np.float32)
    np.testing.assert_array_equal(
        pixels.from_unit(v, np.uint8), np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)
    )
    np.testing.assert_array_equal(
        pixels.from_unit(v, np.uint16), np.clip(np.rint(v * 65535.0), 0, 65535).astype(np.uint16)
    )
    np.testing.assert_array_equal(pixels.from_unit(v, np.float32), np.clip(v, 0.0, 1.0))


def test_to_uint8_is_the_protocols_float64_formula_bit_for_bit():
    v = _values(np.float32)
    expected = np.clip(np.round(v.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels.to_uint8(v), expected)


def test_to_unit_per_dtype():
    u8 = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(pixels.to_unit(u8), u8.astype(np.float32) / 255.0)
    u16 = np.arange(0, 65536, 255, dtype=np.uint16)
    np.testing.assert_array_equal(pixels.to_unit(u16), u16.astype(np.float32) / 65535.0)
    f = np.array([-0.5, 0.25, 1.5])
    np.testing.assert_array_equal(pixels.to_unit(f), np.array([0.0, 0.25, 1.0], np.float32))
    # round trip: every stored level comes back exactly
    np.testing.assert_array_equal(pixels.from_unit(pixels.to_unit(u8), np.uint8), u8)
    np.testing.assert_array_equal(pixels.from_unit(pixels.to_unit(u16), np.uint16), u16)


def test_luma_is_bt601():
    assert pixels.rgb_to_y(np.array([[0, 0, 0], [255, 255, 255]], np.uint8)) == pytest.approx([16.0, 235.0])
    np.testing.assert_allclose(pixels.LUMA_WEIGHTS, [0.299, 0.587, 0.114], atol=6e-4)
    gray = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(pixels.rgb_to_gray(np.stack([gray] * 3, -1)), gray)

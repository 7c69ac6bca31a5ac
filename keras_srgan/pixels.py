"""Pixels: the one home of value ranges, rounding and luma (numpy only), so the quantisation the
evaluation protocol measures is the one the upscaler writes. The generator's contract is RGB in [0, 1].

Rounding is half to even (``np.rint``), clipped to the integer range, in the precision of the input:
float64 for ``to_uint8`` (the protocol's exact quantisation), float32 for the tiler's windows.
"""

from __future__ import annotations

import numpy as np

# Largest value of each stored integer type: the [0, 1] scale's 1.0.
INTEGER_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}

# BT.601 studio-range luma on the 0-255 scale: Y = 16 + (65.481 R + 128.553 G + 24.966 B), RGB in [0, 1]
# (MATLAB ``rgb2ycbcr``), the channel SR papers measure on.
Y_OFFSET = 16.0
Y_WEIGHTS = np.array([65.481, 128.553, 24.966], dtype=np.float64)
# The same weights summing to 1 (0.299, 0.587, 0.114): full-range luma, R = G = B = g maps to exactly g.
LUMA_WEIGHTS = Y_WEIGHTS / Y_WEIGHTS.sum()


def to_unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float pixels -> float32 in [0, 1] (floats are taken to be on [0, 1] and clipped)."""
    pixels = np.asarray(pixels)
    scale = INTEGER_MAX.get(pixels.dtype)
    if scale is not None:
        return pixels.astype(np.float32) / np.float32(scale)
    return np.clip(pixels.astype(np.float32), 0.0, 1.0)


def round_to(values: np.ndarray, dtype: np.dtype | type = np.uint8) -> np.ndarray:
    """Values already on ``dtype``'s integer scale (0-255 for uint8) -> ``dtype``, rounded half to even."""
    rounded = np.rint(values)  # a new array, so clipped in place (a 1080p frame's output is 25 MB)
    return np.clip(rounded, 0, INTEGER_MAX[np.dtype(dtype)], out=rounded).astype(dtype)


def from_unit(values: np.ndarray, dtype: np.dtype | type = np.uint8) -> np.ndarray:
    """[0, 1] floats -> ``dtype``: integers rounded (in the input's float precision), floats clipped."""
    values = np.asarray(values)
    scale = INTEGER_MAX.get(np.dtype(dtype))
    if scale is None:
        return np.clip(values, 0.0, 1.0).astype(dtype)
    return round_to(values * scale, dtype)


def to_uint8(image01: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8, computed in float64 (exact): the protocol's quantisation of SR output."""
    return from_unit(np.asarray(image01, dtype=np.float64), np.uint8)


def _rgb(rgb: np.ndarray, name: str) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"{name} needs an RGB array [..., 3], got shape {rgb.shape}")
    return rgb.astype(np.float64)


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Y of YCbCr (BT.601, MATLAB ``rgb2ycbcr``) on the 0-255 scale, float64, for RGB [..., 3] on 0-255;
    not rounded (as BasicSR and MATLAB's evaluation scripts measure on Y)."""
    return Y_OFFSET + (_rgb(rgb, "rgb_to_y") / 255.0) @ Y_WEIGHTS


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 gray from uint8 RGB, full-range luma rounded half up (like Pillow ``convert('L')``): the inverse
    of feeding a gray image to the model as R = G = B."""
    luma = _rgb(rgb, "rgb_to_gray") @ LUMA_WEIGHTS
    return np.clip(np.floor(luma + 0.5), 0, 255).astype(np.uint8)

"""Any output size from the x4 model: the target size of ``--outscale`` / ``--width`` / ``--height`` and
the resize of the model's output there: Pillow's LANCZOS on float32 planes (antialiased when shrinking,
16-bit data kept at 16 bits, rounded once).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from keras_srgan import pixels
from keras_srgan.errors import UserError


def check_output_size(
    outscale: float | None = None, width: int | None = None, height: int | None = None
) -> tuple[float | None, int | None, int | None]:
    """One ``UserError`` line for a bad output size; returns ``outscale`` (> 0) or ``width``/``height``
    (whole pixels > 0) as numbers."""
    if outscale is not None:
        try:
            outscale = float(outscale)
        except (TypeError, ValueError):
            raise UserError(f"outscale must be a number > 0, got {outscale!r}") from None
        if not math.isfinite(outscale) or outscale <= 0:
            raise UserError(f"outscale must be a number > 0, got {outscale:g}")
        if width is not None or height is not None:
            raise UserError("pass either outscale or width/height, not both")
    sides = {"width": width, "height": height}
    for label, value in sides.items():
        if value is None:
            continue
        try:
            sides[label] = int(value)
            if sides[label] != float(value) or sides[label] <= 0:
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{label} must be a whole number of pixels > 0, got {value!r}") from None
    return outscale, sides["width"], sides["height"]


def target_size(
    width: int,
    height: int,
    scale: int,
    outscale: float | None = None,
    out_width: int | None = None,
    out_height: int | None = None,
) -> tuple[int, int]:
    """(width, height) of the result: ``scale`` x, or each side x ``outscale`` (halves up), or one side given
    and the other from the aspect ratio, or the largest size of that aspect inside both; at least 1 px."""

    def other(side: int, target: int, base: int) -> int:  # round(side * target / base), halves up, exact
        return max(1, (2 * side * target + base) // (2 * base))

    if outscale is not None:
        return max(1, math.floor(width * outscale + 0.5)), max(1, math.floor(height * outscale + 0.5))
    if out_width is not None and (out_height is None or out_width * height <= out_height * width):
        return out_width, other(height, out_width, width)  # the width is the tighter side
    if out_height is not None:
        return other(width, out_height, height), out_height
    return width * scale, height * scale


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[H, W] or [H, W, C] uint8/uint16/float in [0, 1] -> (width, height) ``size`` in the same dtype; the
    input itself when it has that size already (so x4 stays bit-identical)."""
    width, height = size
    if image.shape[1] == width and image.shape[0] == height:
        return image
    planes = image[:, :, None] if image.ndim == 2 else image
    out = np.empty((height, width, planes.shape[2]), dtype=image.dtype)
    integer = image.dtype in pixels.INTEGER_MAX
    for c in range(planes.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32), "F")
        result = np.asarray(plane.resize((width, height), Image.Resampling.LANCZOS))
        out[:, :, c] = (
            pixels.round_to(result, image.dtype) if integer else pixels.from_unit(result, image.dtype)
        )
    return out[:, :, 0] if image.ndim == 2 else out

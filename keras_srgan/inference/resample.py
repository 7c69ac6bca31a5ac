"""Any output size from the x4 model: the target size of ``--outscale`` / ``--width`` / ``--height`` and
the antialiased resize that gets the model's output there (the model always runs at its own scale).

The filter is Pillow's LANCZOS (a 3-lobe windowed sinc) on float32 planes: when shrinking, Pillow widens
the kernel by the reduction factor, so it is antialiased (not point sampling); beyond x4 it interpolates.
Float planes (never uint8 intermediates) keep 16-bit data at 16 bits; the result is rounded once.
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
    """Validate the output-size request (one ``UserError`` line naming what is wrong); returns it as numbers:
    ``outscale`` (any number > 0) or ``width``/``height`` (whole pixels > 0)."""
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
            if sides[label] != float(value):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{label} must be a whole number of pixels > 0, got {value!r}") from None
        if sides[label] <= 0:
            raise UserError(f"{label} must be a whole number of pixels > 0, got {sides[label]}")
    return outscale, sides["width"], sides["height"]


def target_size(
    width: int,
    height: int,
    scale: int,
    outscale: float | None = None,
    out_width: int | None = None,
    out_height: int | None = None,
) -> tuple[int, int]:
    """(width, height) of the result for a ``width`` x ``height`` input, a model of ``scale`` and a request
    checked by ``check_output_size``. Nothing: ``scale`` x. ``outscale``: each side x it, halves up. One of
    ``out_width``/``out_height``: that side, the other from the aspect ratio. Both: the largest size with
    the input's aspect ratio inside the box. Every side is at least 1 pixel."""

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
    """[H, W] or [H, W, C] uint8/uint16/float-in-[0, 1] -> (width, height) ``size``, same dtype, antialiased;
    the input itself when it has that size already (so x4 stays bit-identical)."""
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

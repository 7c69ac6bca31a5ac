"""Any output size from the x4 model: the target size of ``--outscale`` / ``--width`` / ``--height`` and
the antialiased resize that gets the model's output there.

The model always runs at its own scale (x4); only its result is resized. The filter is Pillow's LANCZOS
(a 3-lobe windowed sinc) applied to float32 planes: when shrinking, Pillow widens the kernel by the
reduction factor, so it is antialiased (a box-like average over the source pixels, not point sampling);
when enlarging beyond x4 it interpolates. Working on float planes (never uint8 intermediates) keeps 16-bit
data at 16-bit precision; the result is rounded once, to the input's dtype.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from keras_srgan import pixels
from keras_srgan.errors import UserError

RESAMPLE_FILTER = Image.Resampling.LANCZOS


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def check_output_size(
    outscale: float | None = None, width: int | None = None, height: int | None = None
) -> tuple[float | None, int | None, int | None]:
    """Validate the output-size request (one ``UserError`` line naming what is wrong); returns it as numbers.

    ``outscale`` (any number > 0) and ``width``/``height`` (integers > 0, pixels) exclude each other.
    """
    if outscale is not None:
        try:
            outscale = float(outscale)
        except (TypeError, ValueError):
            raise UserError(f"outscale must be a number > 0, got {outscale!r}") from None
        if not math.isfinite(outscale) or outscale <= 0:
            raise UserError(f"outscale must be a number > 0, got {outscale:g}")
        if width is not None or height is not None:
            raise UserError("pass either outscale or width/height, not both")
    checked = []
    for label, value in (("width", width), ("height", height)):
        if value is not None:
            try:
                number = int(value)
                if number != float(value):
                    raise ValueError
            except (TypeError, ValueError, OverflowError):
                raise UserError(f"{label} must be a whole number of pixels > 0, got {value!r}") from None
            if number <= 0:
                raise UserError(f"{label} must be a whole number of pixels > 0, got {number}")
            value = number
        checked.append(value)
    return outscale, checked[0], checked[1]


def target_size(
    width: int,
    height: int,
    scale: int,
    outscale: float | None = None,
    out_width: int | None = None,
    out_height: int | None = None,
) -> tuple[int, int]:
    """(width, height) of the result for a ``width`` x ``height`` input and a model of ``scale``.

    Nothing given: ``scale`` x the input. ``outscale``: round(outscale x each side), halves rounded up.
    One of ``out_width``/``out_height``: that side exactly, the other from the aspect ratio. Both: the
    largest size with the input's aspect ratio that fits inside the box (one side equals the box).
    Every side is at least 1 pixel.
    """
    outscale, out_width, out_height = check_output_size(outscale, out_width, out_height)

    def other(side: int, target: int, base: int) -> int:  # round(side * target / base), halves up, exact
        return max(1, (2 * side * target + base) // (2 * base))

    if outscale is not None:
        return max(1, _round_half_up(width * outscale)), max(1, _round_half_up(height * outscale))
    if out_width is not None and out_height is not None:
        if out_width * height <= out_height * width:  # the width is the tighter side of the box
            return out_width, other(height, out_width, width)
        return other(width, out_height, height), out_height
    if out_width is not None:
        return out_width, other(height, out_width, width)
    if out_height is not None:
        return other(width, out_height, height), out_height
    return width * scale, height * scale


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[H, W] or [H, W, C] uint8/uint16/float-in-[0, 1] -> (width, height) ``size``, same dtype; antialiased.

    Each channel goes through Pillow as a float32 plane (mode ``F``), then is clipped to the dtype's range
    and rounded once. Returns the input itself when it already has that size (so x4 stays bit-identical).
    """
    width, height = size
    if image.shape[1] == width and image.shape[0] == height:
        return image
    planes = image[:, :, None] if image.ndim == 2 else image
    out = np.empty((height, width, planes.shape[2]), dtype=image.dtype)
    integer = image.dtype in pixels.INTEGER_MAX
    for c in range(planes.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32), "F")
        result = np.asarray(plane.resize((width, height), RESAMPLE_FILTER))
        out[:, :, c] = (
            pixels.round_to(result, image.dtype) if integer else pixels.from_unit(result, image.dtype)
        )
    return out[:, :, 0] if image.ndim == 2 else out


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """Round each side down to an even number (at least 2): 4:2:0 video (yuv420p) needs even sides."""
    return tuple(max(2, side - side % 2) for side in size)  # type: ignore[return-value]

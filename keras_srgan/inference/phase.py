"""Phase equalisation: remove the fixed pattern a pixel-shuffle generator adds at its own period.

A x``s`` generator builds each s x s output cell from different filters, and a GAN stage teaches it to
add an offset that depends only on the pixel's position modulo ``s``: a faint periodic grid (the grid
score, ``metrics.grid``). Most of it is static within an image (docs/gan_stage.md, "Where the grid comes
from"), so it can be measured on the output itself and taken out before rounding:

    offset[i, j, c] = phase mean of (SR - bicubic(LR)) at (i, j), channel c, minus its mean over phases

where the phase mean is the mean over all output pixels whose (row, column) modulo ``s`` is (i, j). The
bicubic upsample of the same LR is the reference because it has no grid, yet it shares the photograph's
own content at those frequencies (the leakage of the image's edges, a gentle ramp across the phases), so
only what the generator added is removed. No ground truth is involved: this is an inference step.

Exactness: the offset is a property of the whole image, so the tiler's output is kept at 16 bits until it
is known (``Upscaler``), and a tiled result equals an untiled one. The exported graphs (SavedModel, ONNX,
LiteRT, OpenVINO) are the generator alone; ``equalize`` is the host-side step to apply to their output.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from keras_srgan import pixels

STRIP_PIXELS = 1 << 22  # values per strip of work: a few MB of float at a time, never the whole image


def _strip_rows(width: int, period: int) -> int:
    """Output rows per strip: a multiple of ``period`` holding about ``STRIP_PIXELS`` values."""
    rows = max(period, STRIP_PIXELS // max(1, 3 * width))
    return rows // period * period


def phase_means(image: np.ndarray, period: int) -> np.ndarray:
    """[period, period, C] float64 mean of ``pixels.to_unit(image)`` at each (row, col) modulo ``period``.

    ``image``: [H, W, C] uint8/uint16/float with H and W multiples of ``period``.
    """
    h, w, c = image.shape
    if h % period or w % period:
        raise ValueError(f"image of {h}x{w} is not a whole number of {period}x{period} cells")
    top = pixels.INTEGER_MAX.get(image.dtype)
    sums = np.zeros((period, period, c), np.float64)
    step = _strip_rows(w, period)
    for r in range(0, h, step):
        if top is not None:  # integer pixels: exact integer sums, no float copy of the strip
            cells = image[r : r + step].reshape(-1, period, w // period, period, c)
            sums += cells.sum(axis=(0, 2), dtype=np.int64) / top
        else:
            strip = pixels.to_unit(image[r : r + step]).astype(np.float64)
            sums += strip.reshape(-1, period, w // period, period, c).sum(axis=(0, 2))
    return sums / (h // period * (w // period))


def bicubic_phase_means(lr: np.ndarray, scale: int) -> np.ndarray:
    """``phase_means`` of the bicubic x``scale`` upsample of ``lr`` ([h, w, C]), made strip by strip.

    Pillow's bicubic (a = -0.5) on float planes; each strip is resized from a box of the whole plane, so
    the strips are exactly the rows of one whole-image resize (tested).
    """
    h, w, c = lr.shape
    sums = np.zeros((scale, scale, c), np.float64)
    step = max(1, _strip_rows(w * scale, scale) // scale)
    for ch in range(c):
        plane = Image.fromarray(np.ascontiguousarray(pixels.to_unit(lr[:, :, ch])), "F")
        for r in range(0, h, step):
            rows = min(step, h - r)
            up = plane.resize((w * scale, rows * scale), Image.Resampling.BICUBIC, box=(0, r, w, r + rows))
            cells = np.asarray(up, np.float64).reshape(rows, scale, w, scale)
            sums[:, :, ch] += cells.sum(axis=(0, 2))
    return sums / (h * w)


def phase_offset(sr: np.ndarray, lr: np.ndarray, scale: int) -> np.ndarray:
    """[scale, scale, C] offset on the [0, 1] scale that the generator added at each phase (module doc)."""
    added = phase_means(sr, scale) - bicubic_phase_means(lr, scale)
    return added - added.mean(axis=(0, 1), keepdims=True)


def equalize(sr: np.ndarray, lr: np.ndarray, scale: int, dtype: np.dtype | type = np.uint8) -> np.ndarray:
    """``sr`` ([sH, sW, C], any pixel dtype, best 16-bit or float) with its phase offset removed, as
    ``dtype`` (rounded once, half to even, clipped). ``lr`` is the [H, W, C] image ``sr`` was made from."""
    if sr.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale) or sr.shape[2] != lr.shape[2]:
        raise ValueError(f"SR {sr.shape} is not x{scale} of LR {lr.shape}")
    offset = phase_offset(sr, lr, scale).astype(np.float32)
    h, w = sr.shape[:2]
    out = np.empty(sr.shape, np.dtype(dtype))
    step = _strip_rows(w, scale)
    pattern = np.tile(offset, (step // scale, w // scale, 1))
    for r in range(0, h, step):
        strip = pixels.to_unit(sr[r : r + step])
        out[r : r + step] = pixels.from_unit(strip - pattern[: strip.shape[0]], dtype)
    return out

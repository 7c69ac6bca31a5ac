"""Phase equalisation: remove the pattern a pixel-shuffle generator adds at its own period.

A x``s`` generator builds each s x s output cell from different filters, and a GAN stage teaches it to
add an offset that depends on the pixel's position modulo ``s``: a faint periodic grid (the grid score,
``metrics.grid``). Most of it is static within an image, the rest drifts slowly across it (docs/gan_stage.md,
"Where the grid comes from"), so it can be measured on the output itself and taken out before rounding:

    added[b, i, j, c] = mean of (SR - bicubic(LR)) over the cells of block b at phase (i, j), channel c,
                        minus its mean over the s*s phases
    offset at a cell  = Gaussian-weighted mean of ``added`` over the blocks around it (radius
                        ``SIGMA_PIXELS`` output pixels, each block weighted by its cells), interpolated
                        linearly between block centres

The bicubic upsample of the same LR is the reference because it has no grid, yet it shares the photograph's
own content at those frequencies (the leakage of the image's edges), so only what the generator added is
removed. A block is ``BLOCK_PIXELS`` wide; the radius was chosen on training images as the smallest that
does not take the output's grid score below the photographs' own (docs/gan_stage.md). ``sigma=None`` gives
one offset for the whole image. No ground truth is involved: this is an inference step.

Exactness: the offset depends on the whole image, so the tiler's output is kept at 16 bits until it is
known (``Upscaler``), and a tiled result equals an untiled one. The exported graphs (SavedModel, ONNX,
LiteRT, OpenVINO) are the generator alone; ``equalize`` is the host-side step to apply to their output.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from keras_srgan import pixels

STRIP_PIXELS = 1 << 22  # values per strip of work: a few MB of float at a time, never the whole image
BLOCK_PIXELS = 32  # the offset is measured per block of cells about this many output pixels wide
SIGMA_PIXELS = 128.0  # Gaussian radius of the local offset, in output pixels (docs/gan_stage.md: how chosen)


def _strip_rows(width: int, period: int) -> int:
    """Output rows per strip: a multiple of ``period`` holding about ``STRIP_PIXELS`` values."""
    rows = max(period, STRIP_PIXELS // max(1, 3 * width))
    return rows // period * period


def block_cells(scale: int) -> int:
    """Cells (s x s output pixels each) per side of a measuring block: about ``BLOCK_PIXELS`` pixels."""
    return max(1, BLOCK_PIXELS // scale)


def _block_starts(cells: int, block: int) -> np.ndarray:
    return np.arange(0, cells, block)


def _cell_block_sums(cells: np.ndarray, block: int) -> np.ndarray:
    """[rows, P, w, P, C] per-cell values of a strip that starts at a block boundary -> [row blocks,
    col blocks, P, P, C] sums."""
    sums = np.add.reduceat(cells, _block_starts(cells.shape[0], block), axis=0)
    sums = np.add.reduceat(sums, _block_starts(cells.shape[2], block), axis=2)
    return sums.transpose(0, 2, 1, 3, 4)


def phase_sums(image: np.ndarray, period: int, block: int) -> np.ndarray:
    """[row blocks, col blocks, period, period, C] float64 sums of ``pixels.to_unit(image)`` over each
    block of ``block`` x ``block`` cells, for each (row, col) position modulo ``period``.

    ``image``: [H, W, C] uint8/uint16/float with H and W multiples of ``period``.
    """
    h, w, c = image.shape
    if h % period or w % period:
        raise ValueError(f"image of {h}x{w} is not a whole number of {period}x{period} cells")
    top = pixels.INTEGER_MAX.get(image.dtype)
    step = max(period * block, _strip_rows(w, period * block))
    parts = []
    for r in range(0, h, step):
        strip = image[r : r + step]
        # integer pixels: exact int64 sums, divided once per block
        cells = strip.reshape(-1, period, w // period, period, c)
        cells = cells.astype(np.int64) if top is not None else pixels.to_unit(cells).astype(np.float64)
        sums = _cell_block_sums(cells, block)
        parts.append(sums / top if top is not None else sums)
    return np.concatenate(parts, axis=0)


def bicubic_phase_sums(lr: np.ndarray, scale: int, block: int) -> np.ndarray:
    """``phase_sums`` of the bicubic x``scale`` upsample of ``lr`` ([h, w, C]), made strip by strip.

    Pillow's bicubic (a = -0.5) on float planes; each strip is resized from a box of the whole plane, so
    the strips are exactly the rows of one whole-image resize (tested).
    """
    h, w, c = lr.shape
    step = max(block, _strip_rows(w * scale, scale * block) // scale)
    planes = [Image.fromarray(np.ascontiguousarray(pixels.to_unit(lr[:, :, ch])), "F") for ch in range(c)]
    parts = []
    for r in range(0, h, step):
        rows = min(step, h - r)
        up = np.stack(
            [
                np.asarray(
                    plane.resize((w * scale, rows * scale), Image.Resampling.BICUBIC, box=(0, r, w, r + rows))
                )
                for plane in planes
            ],
            axis=-1,
        )
        parts.append(_cell_block_sums(up.astype(np.float64).reshape(rows, scale, w, scale, c), block))
    return np.concatenate(parts, axis=0)


def _block_counts(cells_h: int, cells_w: int, block: int) -> np.ndarray:
    """[row blocks, col blocks] number of cells in each block (the last row and column may be partial)."""
    rows = np.diff(np.append(_block_starts(cells_h, block), cells_h))
    cols = np.diff(np.append(_block_starts(cells_w, block), cells_w))
    return np.outer(rows, cols).astype(np.float64)


def _added(sr: np.ndarray, lr: np.ndarray, scale: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(per-block mean of SR - bicubic(LR) at each phase minus its mean over the phases, cells per block)."""
    if sr.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale) or sr.shape[2] != lr.shape[2]:
        raise ValueError(f"SR {sr.shape} is not x{scale} of LR {lr.shape}")
    counts = _block_counts(lr.shape[0], lr.shape[1], block)
    means = (phase_sums(sr, scale, block) - bicubic_phase_sums(lr, scale, block)) / counts[
        :, :, None, None, None
    ]
    return means - means.mean(axis=(2, 3), keepdims=True), counts


def phase_offset(sr: np.ndarray, lr: np.ndarray, scale: int) -> np.ndarray:
    """[scale, scale, C] offset on the [0, 1] scale that the generator added at each phase, whole image."""
    added, counts = _added(sr, lr, scale, block_cells(scale))
    weights = counts[:, :, None, None, None]
    return (added * weights).sum(axis=(0, 1)) / counts.sum()


def _gaussian_smooth(values: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """``values`` convolved along ``axis`` with a Gaussian of ``sigma`` samples, zeros beyond the ends."""
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    values = np.moveaxis(values, axis, 0)
    out = np.zeros_like(values)
    n = values.shape[0]
    for k, tap in zip(range(-radius, radius + 1), taps, strict=True):
        if abs(k) < n:  # out[i] += tap * values[i + k]
            out[max(0, -k) : n - max(0, k)] += tap * values[max(0, k) : n - max(0, -k)]
    return np.moveaxis(out, 0, axis)


def offset_field(
    sr: np.ndarray, lr: np.ndarray, scale: int, sigma: float | None = SIGMA_PIXELS
) -> np.ndarray:
    """[row blocks, col blocks, scale, scale, C] local phase offset at each block (``block_cells``).

    The per-block offsets, Gaussian-weighted by distance (``sigma`` output pixels) and by cells per block:
    a pattern that drifts across the image is followed, while one block's own content averages out.
    ``sigma=None`` gives the whole-image offset at every block.
    """
    block = block_cells(scale)
    if sigma is None:
        return phase_offset(sr, lr, scale)[None, None]
    added, counts = _added(sr, lr, scale, block)
    weighted, weights = added * counts[:, :, None, None, None], counts
    for axis in (0, 1):
        weighted = _gaussian_smooth(weighted, sigma / (scale * block), axis)
        weights = _gaussian_smooth(weights, sigma / (scale * block), axis)
    return weighted / weights[:, :, None, None, None]


def _interpolation(cells: int, block: int, blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower block, upper block, weight of the upper) of each cell: linear between block centres."""
    starts = _block_starts(cells, block)
    centres = (starts + np.append(starts[1:], cells)) / 2
    if blocks == 1:
        zeros = np.zeros(cells, int)
        return zeros, zeros, np.zeros(cells)
    position = np.interp(np.arange(cells) + 0.5, centres, np.arange(len(centres)))
    lower = np.minimum(np.floor(position).astype(int), blocks - 2)
    return lower, lower + 1, position - lower


def equalize(
    sr: np.ndarray,
    lr: np.ndarray,
    scale: int,
    dtype: np.dtype | type = np.uint8,
    sigma: float | None = SIGMA_PIXELS,
) -> np.ndarray:
    """``sr`` ([sH, sW, C], any pixel dtype, best 16-bit or float) with its phase offset removed, as
    ``dtype`` (rounded once, half to even, clipped). ``lr`` is the [H, W, C] image ``sr`` was made from;
    ``sigma`` the local offset's radius in output pixels (``None``: one offset for the whole image)."""
    # [row blocks, s, col blocks, s, C]: the layout of the pixels, so no per-pixel transpose is needed.
    # float32 is plenty for an offset of a few levels (error ~1e-9 of full scale)
    field = offset_field(sr, lr, scale, sigma).transpose(0, 2, 1, 3, 4).astype(np.float32)
    block = block_cells(scale)
    h, w, c = sr.shape
    col_lo, col_hi, col_t = _interpolation(w // scale, block, field.shape[2])
    row_lo, row_hi, row_t = _interpolation(h // scale, block, field.shape[0])
    col_t = col_t.astype(np.float32)[None, None, :, None, None]
    out = np.empty(sr.shape, np.dtype(dtype))
    step = _strip_rows(w, scale)
    for r in range(0, h, step):
        strip = pixels.to_unit(sr[r : r + step])
        rows = slice(r // scale, r // scale + strip.shape[0] // scale)
        t = row_t[rows].astype(np.float32)[:, None, None, None, None]
        lower = field[row_lo[rows]]
        by_row = lower + t * (field[row_hi[rows]] - lower)  # [cells, s, col blocks, s, C]
        offset = by_row[:, :, col_hi]  # [cells, s, col cells, s, C], built in place from here
        left = by_row[:, :, col_lo]
        offset -= left
        offset *= col_t
        offset += left
        out[r : r + step] = pixels.from_unit(strip - offset.reshape(strip.shape), dtype)
    return out

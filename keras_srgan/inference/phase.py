"""Phase equalisation: remove the pattern a pixel-shuffle generator adds at its own period (its grid).

Per block of cells and phase (position modulo ``s``), the mean of SR - bicubic(LR) minus its mean over the
phases is what the generator added; the offset removed at a cell is the Gaussian-weighted mean of those
around it (``SIGMA_PIXELS``), interpolated between block centres. How and why: docs/gan_stage.md, "Phase
equalisation". The offset depends on the whole image, so the tiler's output stays at 16 bits until it is
known (``Upscaler``); the exported graphs leave this host-side step to their caller.
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


def _cell_block_sums(cells: np.ndarray, block: int) -> np.ndarray:
    """[rows, P, w, P, C] per-cell values of a strip that starts at a block boundary -> [row blocks,
    col blocks, P, P, C] sums."""
    sums = np.add.reduceat(cells, np.arange(0, cells.shape[0], block), axis=0)
    sums = np.add.reduceat(sums, np.arange(0, cells.shape[2], block), axis=2)
    return sums.transpose(0, 2, 1, 3, 4)


def phase_sums(image: np.ndarray, period: int, block: int) -> np.ndarray:
    """[row blocks, col blocks, period, period, C] float64 sums of ``pixels.to_unit(image)`` ([H, W, C],
    sides multiples of ``period``) over each block of ``block`` x ``block`` cells, per phase."""
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
    """``phase_sums`` of Pillow's bicubic x``scale`` upsample of ``lr``, strip by strip: each strip resized
    from a box of the whole plane, so exactly the rows of one whole-image resize (tested)."""
    h, w, c = lr.shape
    step = max(block, _strip_rows(w * scale, scale * block) // scale)
    planes = [Image.fromarray(np.ascontiguousarray(pixels.to_unit(lr[:, :, ch])), "F") for ch in range(c)]
    parts = []
    for r in range(0, h, step):
        rows = min(step, h - r)
        size, box = (w * scale, rows * scale), (0, r, w, r + rows)
        up = np.stack([np.asarray(p.resize(size, Image.Resampling.BICUBIC, box=box)) for p in planes], -1)
        parts.append(_cell_block_sums(up.astype(np.float64).reshape(rows, scale, w, scale, c), block))
    return np.concatenate(parts, axis=0)


def _added(sr: np.ndarray, lr: np.ndarray, scale: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """(per-block mean of SR - bicubic(LR) at each phase minus its mean over the phases, cells per block)."""
    if sr.shape[:2] != (lr.shape[0] * scale, lr.shape[1] * scale) or sr.shape[2] != lr.shape[2]:
        raise ValueError(f"SR {sr.shape} is not x{scale} of LR {lr.shape}")
    rows, cols = (np.diff(np.append(np.arange(0, n, block), n)) for n in lr.shape[:2])  # partial last
    counts = np.outer(rows, cols).astype(np.float64)
    diff = phase_sums(sr, scale, block) - bicubic_phase_sums(lr, scale, block)
    means = diff / counts[:, :, None, None, None]
    return means - means.mean(axis=(2, 3), keepdims=True), counts


def phase_offset(sr: np.ndarray, lr: np.ndarray, scale: int) -> np.ndarray:
    """[scale, scale, C] offset on the [0, 1] scale that the generator added at each phase, whole image."""
    added, counts = _added(sr, lr, scale, block_cells(scale))
    return (added * counts[:, :, None, None, None]).sum(axis=(0, 1)) / counts.sum()


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
    """[row blocks, col blocks, scale, scale, C] local phase offset at each block: the block offsets
    weighted by a Gaussian of ``sigma`` output pixels and by cells (``None``: the whole-image offset)."""
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
    starts = np.arange(0, cells, block)
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

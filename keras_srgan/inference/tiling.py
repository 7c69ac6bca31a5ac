"""Tiled super-resolution with the whole image kept in host (numpy) memory.

Only fixed-size windows of the LR image go to the model, a few at a time, and each window's SR
output is written straight into a preallocated host array of the image's own dtype. Peak memory is
therefore the input + output arrays plus what one batch of windows needs on the device, instead of
growing with the image (the flaw of tilers that upload the whole image first).

Window geometry (per axis, length ``L``, core ``tile``, context ``overlap``):

* every window is ``tile + 2 * overlap`` long (or ``L`` if the image is shorter) and lies entirely
  inside the image: edge windows are shifted inwards instead of padded, so all windows share one
  shape without any padding, and pixels at the true image border see exactly the zero "same"
  padding they see untiled (reflect-padding edge tiles would change them);
* window starts are spread evenly from ``0`` to ``L - window``; each SR pixel is taken from the
  window in which it has at least ``overlap`` LR pixels of real context on every side, the seam
  between two neighbours sitting in the middle of their overlap.

With ``overlap`` >= the generator's receptive-field radius (``receptive_radius``: 40 LR pixels for the
default 16-block x4 SRResNet, 56 for 24 blocks) the tiled result equals the untiled one up to float
rounding, for any weights. ``upscale_tiled`` takes that radius from the model when no overlap is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from keras_srgan.pixels import from_unit, to_unit


def receptive_radius(num_blocks: int = 16, scale: int = 4) -> int:
    """LR pixels of context an SRResNet needs on each side of an LR pixel for all its SR pixels to be exact.

    Why: an overlap of this many LR pixels gives every kept SR pixel its whole receptive field of real
    image, so tiling is exact for any weights, not only for a model whose learnt response happens to
    decay quickly; a larger overlap only costs time (and the radius grows with the block count).

    Walks the architecture (``models.generator.SRResNet``) back from the SR pixels of one LR pixel:
    9x9 tail conv at full resolution, then per x2 stage a pixel shuffle (undone by halving the index) and
    the 3x3 conv before it, then the body 3x3 conv, two 3x3 convs per residual block and the 9x9 head conv
    at LR. In LR pixels that is 4 + 2 * num_blocks + 1 + (1 + 1/2 + ...) + 4 / scale (39.5 for 16 blocks
    at x4); the walk rounds each stage the way pixel shuffles do (exact, 40 here).
    """
    stages = math.log2(scale) if scale > 0 else -1
    if num_blocks < 0 or stages < 1 or stages != int(stages):
        raise ValueError(f"need num_blocks >= 0 and a power-of-two scale >= 2, got {num_blocks}, {scale}")
    radius = 0
    for phase in range(scale):  # SR pixel ``phase`` of LR pixel 0, at full resolution
        lo, hi = phase - 4, phase + 4  # 9x9 tail conv
        for _ in range(int(stages)):
            lo, hi = lo // 2 - 1, hi // 2 + 1  # pixel shuffle to half resolution, then its 3x3 conv
        at_lr = 1 + 2 * num_blocks + 4  # body conv, residual blocks, head conv
        radius = max(radius, at_lr - lo, hi + at_lr)
    return radius


# The context for the default generator (16 blocks, x4): 40 LR pixels.
DEFAULT_OVERLAP = receptive_radius()


def model_overlap(model: object) -> int:
    """``receptive_radius`` of an SRResNet (or of the one behind a ``Predictor``-like runner).

    A model without ``num_blocks`` and ``scale`` attributes gets ``DEFAULT_OVERLAP``.
    """
    for candidate in (model, getattr(model, "generator", None)):
        blocks, scale = getattr(candidate, "num_blocks", None), getattr(candidate, "scale", None)
        if isinstance(blocks, int) and isinstance(scale, int):
            return receptive_radius(blocks, scale)
    return DEFAULT_OVERLAP


# Core size in LR pixels; chosen by measured CPU throughput and peak memory (docs/upscaling.md).
DEFAULT_TILE = 128


def auto_tile(bytes_per_value: int, overlap: int = DEFAULT_OVERLAP) -> int:
    """The largest core whose window activations take no more memory than the fp32 default window's.

    Why: per-window activation memory scales with ``window**2 * bytes``; a bf16 model can therefore use
    a window about sqrt(2) wider (294 instead of 208 LR pixels) at the same peak memory, which wastes
    less compute on the overlap (a 1024^2 image needs 25 windows of 294^2 instead of 64 of 208^2) and
    lets a 256^2 image go through in one call.
    """
    budget = (DEFAULT_TILE + 2 * DEFAULT_OVERLAP) ** 2 * 4
    window = math.isqrt(budget // max(1, int(bytes_per_value)))
    return max(1, window - 2 * overlap)


# Windows per model call. Activation memory grows linearly with it (hundreds of MB per window for the
# full model) while a CPU is already saturated by one window, so one at a time by default.
DEFAULT_TILE_BATCH = 1


@dataclass(frozen=True)
class Span:
    """One window along an axis: ``[win_start, win_end)`` goes to the model; ``[keep_start, keep_end)`` is kept."""

    win_start: int
    win_end: int
    keep_start: int
    keep_end: int


def axis_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Windows covering ``[0, length)`` so every kept pixel has ``overlap`` pixels of context (or the border)."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if tile < 1 or overlap < 0:
        raise ValueError(f"need tile >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    window = tile + 2 * overlap
    if length <= window:
        return [Span(0, length, 0, length)]
    # n windows with evenly spread starts step at most `tile` apart, so neighbours overlap by >= 2*overlap.
    n = max(2, math.ceil((length - 2 * overlap) / tile))
    starts = [round(k * (length - window) / (n - 1)) for k in range(n)]
    spans = []
    keep_start = 0
    for k, start in enumerate(starts):
        if k + 1 < n:
            shared = start + window - starts[k + 1]  # overlap length with the next window
            keep_end = starts[k + 1] + shared // 2
        else:
            keep_end = length
        spans.append(Span(start, start + window, keep_start, keep_end))
        keep_start = keep_end
    return spans


@dataclass(frozen=True)
class Tile:
    rows: Span
    cols: Span


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """All windows of an image (row-major); ``tile <= 0`` means one window of the whole image."""
    if tile <= 0:
        return [Tile(Span(0, height, 0, height), Span(0, width, 0, width))]
    return [Tile(r, c) for r in axis_spans(height, tile, overlap) for c in axis_spans(width, tile, overlap)]


def _batches(tiles: list[Tile], size: int) -> Iterator[list[Tile]]:
    for i in range(0, len(tiles), size):
        yield tiles[i : i + size]


def upscale_tiled(
    image: np.ndarray,
    run: Callable[[np.ndarray], np.ndarray],
    scale: int,
    tile: int = DEFAULT_TILE,
    overlap: int | None = None,
    tile_batch: int = DEFAULT_TILE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """SR of an [H, W, 3] uint8/uint16/float image, window by window; returns [sH, sW, 3] of the same dtype.

    ``run`` maps float32 [N, h, w, 3] in [0, 1] to [N, s*h, s*w, 3] in [0, 1] (e.g. a ``Predictor``).
    ``overlap=None`` takes the receptive radius of the model behind ``run`` (``model_overlap``).
    ``progress`` (optional) is called with the number of windows finished after each batch.
    """
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an [H, W, 3] image, got shape {image.shape}")
    if overlap is None:
        overlap = model_overlap(run)
    height, width = image.shape[:2]
    out = np.empty((height * scale, width * scale, 3), dtype=image.dtype)
    tiles = plan_tiles(height, width, tile, overlap)
    s = scale
    for batch in _batches(tiles, max(1, int(tile_batch))):
        lr = np.stack(
            [
                to_unit(image[t.rows.win_start : t.rows.win_end, t.cols.win_start : t.cols.win_end])
                for t in batch
            ]
        )
        sr = run(lr)
        for t, sr_window in zip(batch, sr, strict=True):
            r0 = (t.rows.keep_start - t.rows.win_start) * s
            r1 = (t.rows.keep_end - t.rows.win_start) * s
            c0 = (t.cols.keep_start - t.cols.win_start) * s
            c1 = (t.cols.keep_end - t.cols.win_start) * s
            out[t.rows.keep_start * s : t.rows.keep_end * s, t.cols.keep_start * s : t.cols.keep_end * s] = (
                from_unit(sr_window[r0:r1, c0:c1], image.dtype)
            )
        del lr, sr
        if progress is not None:
            progress(len(batch))
    return out

"""Tiled super-resolution with the whole image kept in host (numpy) memory: fixed-size LR windows go to
the model and each window's SR output is written into a preallocated array of the image's dtype, so peak
memory does not grow with what the model sees.

Windows lie inside the image (edge windows are shifted inwards, never padded: one shape, and border
pixels see the zero padding they see untiled); each SR pixel comes from a window giving it ``overlap``
LR pixels of context, so with the generator's receptive radius as overlap tiled equals untiled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from keras_srgan.pixels import from_unit, to_unit

# The context of the default generator (16-block x4 SRResNet; ``transforms.receptive_radius``): 40 LR px.
DEFAULT_OVERLAP = 40


def model_overlap(model: object) -> int:
    """The LR context for exact tiles: an engine's ``radius``, else the receptive radius of a functional
    Keras model (or its ``generator``), else ``DEFAULT_OVERLAP``."""
    from keras_srgan.inference import transforms

    radius = getattr(model, "radius", None)
    if isinstance(radius, int):
        return radius
    for candidate in (model, getattr(model, "generator", None)):
        if hasattr(candidate, "_run_through_graph"):
            return transforms.receptive_radius(candidate)
    return DEFAULT_OVERLAP


# Core size in LR pixels; chosen by measured CPU throughput and peak memory (docs/upscaling.md).
DEFAULT_TILE = 128


def auto_tile(bytes_per_value: int, overlap: int = DEFAULT_OVERLAP) -> int:
    """The largest core whose window activations (``window**2 * bytes``) take no more memory than the fp32
    default window's: bf16 gets a window sqrt(2) wider (294 against 208), less compute on overlaps."""
    budget = (DEFAULT_TILE + 2 * DEFAULT_OVERLAP) ** 2 * 4
    window = math.isqrt(budget // max(1, int(bytes_per_value)))
    return max(1, window - 2 * overlap)


# Windows per model call: each costs hundreds of MB of activations, and one saturates a CPU already.
DEFAULT_TILE_BATCH = 1


@dataclass(frozen=True)
class Span:
    """One window along an axis: ``[win_start, win_end)`` goes to the model; ``[keep_start, keep_end)`` is kept."""

    win_start: int
    win_end: int
    keep_start: int
    keep_end: int


def cover(keep_start: int, keep_end: int, length: int, window: int, context: int) -> list[Span]:
    """Windows of one size inside ``[0, length)`` whose kept parts split ``[keep_start, keep_end)``, each
    kept pixel with ``context`` pixels on each side (or the border); evenly spread starts, seams in the
    middle of each overlap."""
    if not 0 <= keep_start < keep_end <= length:
        raise ValueError(f"need 0 <= keep_start < keep_end <= length, got {keep_start}, {keep_end}, {length}")
    if context < 0 or window < 1:
        raise ValueError(f"need window >= 1 and context >= 0, got window={window}, context={context}")
    window = min(window, length)
    lo, hi = max(0, keep_start - context), min(length, keep_end + context)
    if hi - lo <= window:  # one window, centred on what it must see
        start = min(max(0, lo - (window - (hi - lo)) // 2), length - window)
        return [Span(start, start + window, keep_start, keep_end)]
    if window <= 2 * context:
        raise ValueError(f"window {window} leaves no core with {context} pixels of context on each side")
    # n windows with evenly spread starts step at most window - 2 * context apart
    n = max(2, math.ceil((hi - lo - 2 * context) / (window - 2 * context)))
    starts = [lo + round(k * (hi - window - lo) / (n - 1)) for k in range(n)]
    # each seam in the middle of the overlap of two neighbours
    seams = [keep_start, *((a + b + window) // 2 for a, b in itertools.pairwise(starts)), keep_end]
    return [Span(start, start + window, seams[k], seams[k + 1]) for k, start in enumerate(starts)]


def axis_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Windows covering ``[0, length)`` with cores of up to ``tile`` pixels (``cover`` checks the rest)."""
    if tile < 1:
        raise ValueError(f"need tile >= 1, got {tile}")
    return cover(0, length, length, tile + 2 * overlap, overlap)


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> list[tuple[Span, Span]]:
    """All (rows, cols) windows of an image, row-major; ``tile <= 0`` means one window of the whole image."""
    if tile <= 0:
        return [(Span(0, height, 0, height), Span(0, width, 0, width))]
    return [(r, c) for r in axis_spans(height, tile, overlap) for c in axis_spans(width, tile, overlap)]


def _paste(out: np.ndarray, sr: np.ndarray, rows: Span, cols: Span, s: int, origin=(0, 0)) -> None:
    """Write the kept part of one window's SR output into ``out`` (spans in LR pixels from ``origin``)."""
    r0, r1 = (rows.keep_start - rows.win_start) * s, (rows.keep_end - rows.win_start) * s
    c0, c1 = (cols.keep_start - cols.win_start) * s, (cols.keep_end - cols.win_start) * s
    y0, x0 = (origin[0] + rows.keep_start) * s, (origin[1] + cols.keep_start) * s
    out[y0 : y0 + r1 - r0, x0 : x0 + c1 - c0] = from_unit(sr[r0:r1, c0:c1], out.dtype)


def upscale_tiled(
    image: np.ndarray,
    run: Callable[[np.ndarray], np.ndarray],
    scale: int,
    tile: int = DEFAULT_TILE,
    overlap: int | None = None,
    tile_batch: int = DEFAULT_TILE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """SR of an [H, W, 3] uint8/uint16/float image, window by window, in its dtype. ``run``: float32
    [N, h, w, 3] in [0, 1] -> [N, s*h, s*w, 3] (e.g. a ``Predictor``); ``overlap=None``: ``model_overlap``;
    ``progress`` gets the number of windows finished after each batch."""
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an [H, W, 3] image, got shape {image.shape}")
    if overlap is None:
        overlap = model_overlap(run)
    height, width = image.shape[:2]
    out = np.empty((height * scale, width * scale, 3), dtype=image.dtype)
    tiles = plan_tiles(height, width, tile, overlap)
    step = max(1, int(tile_batch))
    for batch in (tiles[i : i + step] for i in range(0, len(tiles), step)):
        lr = np.stack([to_unit(image[r.win_start : r.win_end, c.win_start : c.win_end]) for r, c in batch])
        sr = run(lr)
        for (rows, cols), sr_window in zip(batch, sr, strict=True):
            _paste(out, sr_window, rows, cols, scale)
        del lr, sr
        if progress is not None:
            progress(len(batch))
    return out


# LR pixels per window of each stage of ``upscale_two_stage``: 600^2 / 200^2 computed less twice but its
# 1600x1200 peak went over the memory bar; 480^2 / 160^2 stays under it (docs/upscaling.md).
BODY_WINDOW_PIXELS = 480 * 480
TAIL_WINDOW_PIXELS = 160 * 160


def _window(length: int, count: int, context: int) -> int:
    """The window length that splits ``length`` into ``count`` kept parts with ``context`` around each."""
    if count <= 1 or length <= 2 * context + 1:
        return length
    return min(length, math.ceil((length - 2 * context) / count) + 2 * context)


def _grid(height: int, width: int, context: int, pixels: int) -> tuple[int, int]:
    """(rows, cols) window lengths with the least computed area whose windows have at most ``pixels`` pixels
    (else the smallest possible windows), searched over the window counts per axis."""
    best: tuple[int, int, int] | None = None
    for n_r in range(1, height + 1):
        w_r = _window(height, n_r, context)
        room = pixels // w_r
        if room > 2 * context or room >= width:
            n_c = 1 if room >= width else math.ceil((width - 2 * context) / (room - 2 * context))
            w_c = _window(width, n_c, context)
            work = (n_r if w_r < height else 1) * w_r * (n_c if w_c < width else 1) * w_c
            if best is None or work < best[0]:
                best = (work, w_r, w_c)
        if w_r <= 2 * context + 1 or w_r == _window(height, n_r + 1, context):
            break
    if best is None:
        return min(height, 2 * context + 1), min(width, 2 * context + 1)
    return best[1], best[2]


def upscale_two_stage(
    image: np.ndarray,
    body: Callable[[np.ndarray], np.ndarray],
    tail: Callable[[np.ndarray], np.ndarray],
    scale: int,
    body_context: int,
    tail_context: int,
    body_pixels: int | None = None,
    tail_pixels: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``upscale_tiled`` for a model cut in two (``transforms.split_body_tail``), exact as well. Why: the
    body needs much context (37 px) but little memory per pixel, the tail the opposite (3 px), so the body
    runs on large windows and the tail on small windows of their features ([1, h, w, C])."""
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an [H, W, 3] image, got shape {image.shape}")
    body_pixels = BODY_WINDOW_PIXELS if body_pixels is None else body_pixels  # read now: benchmarks vary them
    tail_pixels = TAIL_WINDOW_PIXELS if tail_pixels is None else tail_pixels
    height, width = image.shape[:2]
    context = body_context + tail_context
    w_r, w_c = _grid(height, width, context, body_pixels)
    rows = axis_spans(height, w_r - 2 * context, context) if w_r < height else [Span(0, height, 0, height)]
    cols = axis_spans(width, w_c - 2 * context, context) if w_c < width else [Span(0, width, 0, width)]

    def needed(span: Span) -> int:  # pixels of the body window the tail must see to keep ``span``
        lo, hi = span.keep_start - tail_context, span.keep_end + tail_context
        return min(span.win_end, hi) - max(span.win_start, lo)

    def tail_spans(span: Span, window: int) -> list[Span]:  # over the kept part, in window coordinates
        s = span.win_start
        return cover(span.keep_start - s, span.keep_end - s, span.win_end - s, window, tail_context)

    t_r, t_c = _grid(max(map(needed, rows)), max(map(needed, cols)), tail_context, tail_pixels)
    out = np.empty((height * scale, width * scale, 3), dtype=image.dtype)
    for r in rows:
        for c in cols:
            lr = to_unit(image[r.win_start : r.win_end, c.win_start : c.win_end])[None]
            features = body(lr)[0]
            del lr
            for tr in tail_spans(r, t_r):
                for tc in tail_spans(c, t_c):
                    window = features[tr.win_start : tr.win_end, tc.win_start : tc.win_end]
                    sr = tail(np.ascontiguousarray(window)[None])[0]
                    _paste(out, sr, tr, tc, scale, (r.win_start, c.win_start))
            del features
            if progress is not None:
                progress(1)
    return out

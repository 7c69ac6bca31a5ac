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

With ``overlap`` >= the generator's receptive-field radius (``transforms.receptive_radius``: 40 LR pixels
for the default 16-block x4 SRResNet, 56 for 24 blocks) the tiled result equals the untiled one up to float
rounding, for any weights. ``upscale_tiled`` takes that radius from the model when no overlap is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from keras_srgan.pixels import from_unit, to_unit

# The context of the default generator (16-block x4 SRResNet; ``transforms.receptive_radius``): 40 LR px.
DEFAULT_OVERLAP = 40


def model_overlap(model: object) -> int:
    """The LR context for exact tiles of ``model``: an engine's (or runner's) ``radius``, else the receptive
    radius read off a functional Keras model's layers; ``DEFAULT_OVERLAP`` for a plain function."""
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


def cover(keep_start: int, keep_end: int, length: int, window: int, context: int) -> list[Span]:
    """Windows of one size inside ``[0, length)`` whose kept parts split ``[keep_start, keep_end)``.

    Every kept pixel has ``context`` pixels of the window on each side, or lies at 0 / ``length`` (a true
    border: windows are shifted inwards, never padded). Starts are spread evenly, so neighbours overlap
    by at least ``2 * context`` and each seam sits in the middle of the overlap.
    """
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
    spans = []
    start_keep = keep_start
    for k, start in enumerate(starts):
        if k + 1 < n:
            shared = start + window - starts[k + 1]  # overlap length with the next window
            end_keep = starts[k + 1] + shared // 2
        else:
            end_keep = keep_end
        spans.append(Span(start, start + window, start_keep, end_keep))
        start_keep = end_keep
    return spans


def axis_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Windows covering ``[0, length)`` so every kept pixel has ``overlap`` pixels of context (or the border)."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if tile < 1 or overlap < 0:
        raise ValueError(f"need tile >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    return cover(0, length, length, tile + 2 * overlap, overlap)


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


# LR pixels per window of each stage when an engine runs the body and the upsampling tail as two models
# (``upscale_two_stage``); chosen by measured peak memory (docs/upscaling.md): 600^2 / 200^2 would compute
# 20% more FLOPs than the kept pixels at 2048^2 instead of 28%, but its 1600x1200 peak measured 1335 MB
# cold on a quiet machine (bar 1326 MB), while 480^2 / 160^2 measured 1216 MB.
BODY_WINDOW_PIXELS = 480 * 480
TAIL_WINDOW_PIXELS = 160 * 160


def _window(length: int, count: int, context: int) -> int:
    """The window length that splits ``length`` into ``count`` kept parts with ``context`` around each."""
    if count <= 1 or length <= 2 * context + 1:
        return length
    return min(length, math.ceil((length - 2 * context) / count) + 2 * context)


def _grid(height: int, width: int, context: int, pixels: int) -> tuple[int, int]:
    """(rows, cols) window lengths with the least computed area whose windows have at most ``pixels`` pixels.

    Window counts per axis are searched (fewest columns that fit for each row count); an image whose
    smallest possible windows are still larger than ``pixels`` gets those smallest windows.
    """
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


def _needed(span: Span, length: int, context: int) -> int:
    """How many pixels of the window the tail must see to keep ``span``."""
    return min(length, span.keep_end + context) - max(0, span.keep_start - context)


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
    """``upscale_tiled`` for a model cut in two (``transforms.split_body_tail``): exact, big body windows.

    Why: the LR body needs ``body_context`` (37) pixels of context but little memory per pixel, the
    upsampling tail ``tail_context`` (3) pixels but most of the memory. The body runs on large windows
    (context: both radii), the tail on small windows of each body window's features (context: its own
    radius), so little is computed twice and no window is large where memory is. ``body`` maps LR
    [1, h, w, 3] to features [1, h, w, C]; ``tail`` features to SR [1, s*h, s*w, 3], both in [0, 1].
    """
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an [H, W, 3] image, got shape {image.shape}")
    body_pixels = BODY_WINDOW_PIXELS if body_pixels is None else body_pixels  # read now: benchmarks vary them
    tail_pixels = TAIL_WINDOW_PIXELS if tail_pixels is None else tail_pixels
    height, width = image.shape[:2]
    context = body_context + tail_context
    w_r, w_c = _grid(height, width, context, body_pixels)
    rows = axis_spans(height, w_r - 2 * context, context) if w_r < height else [Span(0, height, 0, height)]
    cols = axis_spans(width, w_c - 2 * context, context) if w_c < width else [Span(0, width, 0, width)]

    def local(span: Span) -> Span:  # the kept part in window coordinates
        start = span.win_start
        return Span(0, span.win_end - start, span.keep_start - start, span.keep_end - start)

    need_r = max(_needed(local(r), r.win_end - r.win_start, tail_context) for r in rows)
    need_c = max(_needed(local(c), c.win_end - c.win_start, tail_context) for c in cols)
    t_r, t_c = _grid(need_r, need_c, tail_context, tail_pixels)
    out = np.empty((height * scale, width * scale, 3), dtype=image.dtype)
    s = scale
    for r in rows:
        for c in cols:
            lr = to_unit(image[r.win_start : r.win_end, c.win_start : c.win_end])[None]
            features = body(lr)[0]
            del lr
            lr_, lc_ = local(r), local(c)
            for tr in cover(lr_.keep_start, lr_.keep_end, lr_.win_end, t_r, tail_context):
                for tc in cover(lc_.keep_start, lc_.keep_end, lc_.win_end, t_c, tail_context):
                    window = features[tr.win_start : tr.win_end, tc.win_start : tc.win_end]
                    sr = tail(np.ascontiguousarray(window)[None])[0]
                    r0, r1 = (tr.keep_start - tr.win_start) * s, (tr.keep_end - tr.win_start) * s
                    c0, c1 = (tc.keep_start - tc.win_start) * s, (tc.keep_end - tc.win_start) * s
                    y0, x0 = (r.win_start + tr.keep_start) * s, (c.win_start + tc.keep_start) * s
                    out[y0 : y0 + r1 - r0, x0 : x0 + c1 - c0] = from_unit(sr[r0:r1, c0:c1], image.dtype)
            del features
            if progress is not None:
                progress(1)
    return out

"""The exported computation, shared by every format so all artifacts honour one contract.

Float artifacts take LR RGB float32 ``[N, H, W, 3]`` in [0, 1] and return SR float32 in [0, 1], the
generator's own contract, clipped inside the graph. The TF Serving SavedModel serves whole images
(``Serving``): encoded images (PNG/JPEG in, PNG out) and float ones, each cut into windows inside the
graph exactly as the CLI cuts them (``tiling.axis_spans``: overlap = the model's receptive radius, so the
seams are exact), so a request's memory is bounded by its output, not by the activations of the whole
image; an image above the pixel limit is refused with INVALID_ARGUMENT and a message, before any work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from keras_srgan.exporters.signatures import (
    BYTES_INPUT,
    BYTES_OUTPUT,
    BYTES_SIGNATURE,
    FLOAT_INPUT,
    FLOAT_OUTPUT,
    FLOAT_SIGNATURE,
)
from keras_srgan.inference import phase


def float_spec(input_size: tuple[int, int] | None = None) -> tf.TensorSpec:
    """Dynamic ``[None, None, None, 3]`` unless a fixed ``(H, W)`` is asked for (batch 1, for mobile delegates)."""
    shape = [None, None, None, 3] if input_size is None else [1, int(input_size[0]), int(input_size[1]), 3]
    return tf.TensorSpec(shape, tf.float32, name=FLOAT_INPUT)


def bytes_spec() -> tf.TensorSpec:
    return tf.TensorSpec([None], tf.string, name=BYTES_INPUT)


def clipped(sr: tf.Tensor) -> tf.Tensor:
    """The generator's [0, 1] output as float32, clipped as ``inference.predict.Predictor`` clips it."""
    return tf.clip_by_value(tf.cast(sr, tf.float32), 0.0, 1.0)


def float_fn(model):
    """LR [0, 1] -> {"sr": SR [0, 1]}; a dict so the output has a stable name in every runtime."""

    def predict_float(lr):
        return {FLOAT_OUTPUT: clipped(model(lr, training=False))}

    return predict_float


@dataclass(frozen=True)
class Serving:
    """How the TF Serving SavedModel runs whole images: ``tile`` LR core pixels per window, ``overlap`` LR
    context (the model's receptive radius: exact seams), ``scale``, ``max_pixels`` (LR pixels per image;
    above it a request gets INVALID_ARGUMENT, never an out-of-memory kill) and ``phase_equalize`` (the
    weights' post-processing, ``inference.phase``, done in the graph on the whole image as the CLI does)."""

    tile: int
    overlap: int
    scale: int
    max_pixels: int
    phase_equalize: bool = False


def _spans(length: tf.Tensor, window: int, context: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """``tiling.axis_spans`` in graph ops: (window size, window starts, kept starts, kept ends) along one axis.

    The same windows and seams as the CLI's tiler: one window when the axis fits, else ``n`` windows of
    ``window`` pixels with evenly spread starts (rounded half to even, as Python's ``round``), each seam
    in the middle of two neighbours' overlap.
    """

    def one():
        return length, tf.zeros([1], tf.int32), tf.zeros([1], tf.int32), tf.reshape(length, [1])

    def several():
        n = tf.maximum(2, (length - 2 * context + window - 2 * context - 1) // (window - 2 * context))
        step = tf.cast(length - window, tf.float64) / tf.cast(n - 1, tf.float64)
        starts = tf.cast(tf.round(tf.cast(tf.range(n), tf.float64) * step), tf.int32)
        ends = tf.concat([starts[1:] + (starts[:-1] + window - starts[1:]) // 2, tf.reshape(length, [1])], 0)
        return tf.constant(window), starts, tf.concat([[0], ends[:-1]], 0), ends

    return tf.cond(length <= window, one, several)


def _as(sr: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """SR in [0, 1] as ``dtype``: float32 clipped, or an integer type rounded half to even (``pixels``)."""
    sr = clipped(sr)
    if dtype == tf.float32:
        return sr
    top = 255.0 if dtype == tf.uint8 else 65535.0
    return tf.cast(tf.round(sr * top), dtype)


def tiled(model, image: tf.Tensor, serving: Serving, dtype: tf.DType) -> tf.Tensor:
    """LR ``[H, W, 3]`` float32 in [0, 1] -> SR ``[sH, sW, 3]`` as ``dtype``, one window at a time.

    Each window's kept part is converted to ``dtype`` as soon as it is made, so the peak is the output in
    ``dtype`` plus one window's activations, whatever the image size.
    """
    s, window = serving.scale, serving.tile + 2 * serving.overlap
    rows_h, row_starts, row_keeps, row_ends = _spans(tf.shape(image)[0], window, serving.overlap)
    cols_w, col_starts, col_keeps, col_ends = _spans(tf.shape(image)[1], window, serving.overlap)

    def strip(i):
        def piece(j, pieces):
            r, c = row_starts[i], col_starts[j]
            sr = model(image[tf.newaxis, r : r + rows_h, c : c + cols_w], training=False)[0]
            kept = sr[
                (row_keeps[i] - r) * s : (row_ends[i] - r) * s, (col_keeps[j] - c) * s : (col_ends[j] - c) * s
            ]
            return j + 1, pieces.write(j, tf.transpose(_as(kept, dtype), [1, 0, 2]))  # columns as rows

        pieces = tf.TensorArray(dtype, size=tf.size(col_starts), infer_shape=False)
        _, pieces = tf.while_loop(
            lambda j, _: j < tf.size(col_starts), piece, (0, pieces), parallel_iterations=1
        )
        return tf.transpose(pieces.concat(), [1, 0, 2])

    strips = tf.TensorArray(dtype, size=tf.size(row_starts), infer_shape=False)
    _, strips = tf.while_loop(
        lambda i, _: i < tf.size(row_starts),
        lambda i, acc: (i + 1, acc.write(i, strip(i))),
        (0, strips),
        parallel_iterations=1,
    )
    return tf.ensure_shape(strips.concat(), [None, None, 3])


def _within_limit(image: tf.Tensor, serving: Serving) -> tf.Tensor:
    """``image`` once its pixel count is checked: above ``max_pixels`` the call fails with INVALID_ARGUMENT."""
    h, w = tf.shape(image)[-3], tf.shape(image)[-2]
    pixels = tf.cast(h, tf.int64) * tf.cast(w, tf.int64)
    message = f"keras-srgan: image too large: more than {serving.max_pixels} input pixels; height, width:"
    check = tf.debugging.Assert(pixels <= serving.max_pixels, [message, h, w])
    with tf.control_dependencies([check]):
        return tf.identity(image)


def serving_float_fn(model, serving: Serving):
    """Whole LR images ``[N, H, W, 3]`` in [0, 1] -> {"sr": SR in [0, 1]}, each image tiled in the graph."""

    def whole(one):
        sr = tiled(model, one, serving, tf.float32)
        return equalized(sr, one, serving.scale, tf.float32) if serving.phase_equalize else sr

    def predict_float(lr):
        lr = _within_limit(lr, serving)
        sr = tf.map_fn(
            whole,
            lr,
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.float32),
            parallel_iterations=1,
        )
        return {FLOAT_OUTPUT: sr}

    return predict_float


def decode(data: tf.Tensor) -> tf.Tensor:
    """Encoded image -> uint8 ``[H, W, 3]``, JPEGs decoded as Pillow decodes them (the CLI's reader): the
    accurate integer DCT, not TensorFlow's default fast one (up to 11 levels apart in the output)."""
    return tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False),
    )


def bytes_fn(model, serving: Serving):
    """Encoded images [N] -> PNG bytes [N]; one image at a time (a batch may mix sizes), each tiled."""

    def one(data):
        lr = tf.cast(_within_limit(decode(data), serving), tf.float32) / 255.0
        if not serving.phase_equalize:
            return tf.io.encode_png(tiled(model, lr, serving, tf.uint8))
        # as the CLI: the tiles kept at 16 bits until the whole image's offset is known, rounded once
        return tf.io.encode_png(equalized(tiled(model, lr, serving, tf.uint16), lr, serving.scale, tf.uint8))

    def serve(image_bytes):
        # one image after another: with parallel iterations the runtime ran two generator calls at once,
        # and one output in about four differed from Keras by up to 70 levels (measured in CI)
        out = tf.map_fn(
            one, image_bytes, fn_output_signature=tf.TensorSpec([], tf.string), parallel_iterations=1
        )
        return {BYTES_OUTPUT: out}

    return serve


def write_archive(
    model, path: str, input_size: tuple[int, int] | None = None, serving: Serving | None = None
) -> None:
    """A SavedModel through Keras' ExportArchive, which tracks Keras 3 variables correctly.

    Explicit signatures keep H and W dynamic. With ``serving`` (the TF Serving export): the bytes and the
    float signatures both run whole images, tiled; without it (the SavedModel other converters read): the
    float signature alone, the model on its input as it is.
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    if serving is not None:
        archive.add_endpoint(BYTES_SIGNATURE, bytes_fn(model, serving), input_signature=[bytes_spec()])
        float_endpoint = serving_float_fn(model, serving)
    else:
        float_endpoint = float_fn(model)
    archive.add_endpoint(FLOAT_SIGNATURE, float_endpoint, input_signature=[float_spec(input_size)])
    archive.write_out(path, verbose=False)


# ------------------------------------------------- phase equalisation (``inference.phase``) in graph ops


def _bicubic_taps(length: tf.Tensor, scale: int, phase: int) -> tf.Tensor:
    """``[length, 5]`` weights of LR pixels ``cell - 2 .. cell + 2`` for output phase ``phase`` of each cell:
    Pillow's bicubic upsampling (a = -0.5), taps outside the image dropped and the rest renormalised."""
    offset = (phase + 0.5) / scale - 0.5
    distance = tf.constant([k - offset for k in range(-2, 3)], tf.float64)
    x = tf.abs(distance)
    cubic = tf.where(
        x < 1, (1.5 * x - 2.5) * x * x + 1, tf.where(x < 2, -0.5 * (((x - 5) * x + 8) * x - 4), 0.0)
    )
    cells = tf.range(length)[:, None] + tf.range(-2, 3)[None, :]
    inside = tf.cast((cells >= 0) & (cells < length), tf.float64)
    weights = cubic[None, :] * inside
    return tf.cast(weights / tf.reduce_sum(weights, 1, keepdims=True), tf.float32)


def _filtered(lr: tf.Tensor, taps: tf.Tensor, axis: int) -> tf.Tensor:
    """``lr`` ``[H, W, C]`` filtered along ``axis`` with per-position taps ``[L, 5]`` (zeros beyond the ends)."""
    pad = [[0, 0]] * 3
    pad[axis] = [2, 2]
    padded = tf.pad(lr, pad)
    length = tf.shape(lr)[axis]
    shape = [1, 1, 1]
    shape[axis] = -1
    out = 0.0
    for k in range(5):
        part = padded[k : k + length] if axis == 0 else padded[:, k : k + length]
        out += part * tf.reshape(taps[:, k], shape)
    return out


def _block_sums(values: tf.Tensor, block: int) -> tf.Tensor:
    """``[H, W, ...]`` -> ``[ceil(H / block), ceil(W / block), ...]`` sums over ``block`` x ``block`` cells."""
    h, w = tf.shape(values)[0], tf.shape(values)[1]
    hb, wb = (h + block - 1) // block, (w + block - 1) // block
    rest = tf.shape(values)[2:]
    padded = tf.pad(values, [[0, hb * block - h], [0, wb * block - w]] + [[0, 0]] * (len(values.shape) - 2))
    grouped = tf.reshape(padded, tf.concat([[hb, block, wb, block], rest], 0))
    return tf.reduce_sum(grouped, [1, 3])


def _interpolation(cells: tf.Tensor, block: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``phase._interpolation`` in graph ops: (lower block, upper block, weight of the upper) of each cell."""
    starts = tf.range(0, cells, block)
    blocks = tf.size(starts)
    centres = tf.cast(starts + tf.concat([starts[1:], [cells]], 0), tf.float64) / 2.0
    x = tf.cast(tf.range(cells), tf.float64) + 0.5
    upper_ok = tf.maximum(blocks - 2, 0)
    index = tf.clip_by_value(tf.searchsorted(centres, x, side="right") - 1, 0, upper_ok)
    gap = tf.gather(centres, tf.minimum(index + 1, blocks - 1)) - tf.gather(centres, index)
    t = tf.clip_by_value(tf.math.divide_no_nan(x - tf.gather(centres, index), gap), 0.0, 1.0)
    lower = tf.minimum(tf.cast(tf.floor(tf.cast(index, tf.float64) + t), tf.int32), upper_ok)
    t = tf.cast(index, tf.float64) + t - tf.cast(lower, tf.float64)
    return lower, tf.minimum(lower + 1, blocks - 1), tf.cast(t, tf.float32)


def _gaussian(blocks: tf.Tensor, sigma: float) -> tf.Tensor:
    """``[blocks, blocks]`` matrix of ``phase._gaussian_smooth``: taps exp(-d^2 / 2 sigma^2), |d| <= ceil(3 sigma)."""
    d = tf.cast(tf.range(blocks)[:, None] - tf.range(blocks)[None, :], tf.float64)
    taps = tf.exp(-0.5 * (d / sigma) ** 2) * tf.cast(tf.abs(d) <= math.ceil(3 * sigma), tf.float64)
    return tf.cast(taps, tf.float32)


def equalized(
    sr: tf.Tensor, lr: tf.Tensor, scale: int, dtype: tf.DType, sigma: float = phase.SIGMA_PIXELS
) -> tf.Tensor:
    """``phase.equalize`` in graph ops: SR ``[sH, sW, C]`` (float32 in [0, 1], or uint16) with the local
    per-phase offset the generator added removed, as ``dtype``; ``lr`` ``[H, W, C]`` float32 in [0, 1].

    The same measurement (block phase means of SR minus Pillow-bicubic(LR), Gaussian-weighted over blocks,
    linear between block centres), so the exported model gives the CLI's picture; the SR is converted to
    float one strip of blocks at a time, so a 16-bit SR never exists in float whole.
    """
    s, block = scale, phase.block_cells(scale)
    h, w = tf.shape(lr)[0], tf.shape(lr)[1]
    channels = lr.shape[-1] or 3
    top = 65535.0 if sr.dtype == tf.uint16 else 1.0
    rows = s * block  # SR rows per strip of blocks

    def unit(part):
        return tf.cast(part, tf.float32) / top

    def sr_sums(i, acc):
        strip = unit(sr[i * rows : (i + 1) * rows])
        cells = tf.reshape(strip, [-1, s, w, s, channels])  # [cells, phase, cells, phase, C]
        sums = _block_sums(tf.transpose(cells, [0, 2, 1, 3, 4]), block)  # [1, col blocks, s, s, C]
        return i + 1, acc.write(i, sums[0])

    hb = (h + block - 1) // block
    _, acc = tf.while_loop(
        lambda i, _: i < hb, sr_sums, (0, tf.TensorArray(tf.float32, size=hb)), parallel_iterations=1
    )
    sr_blocks = acc.stack()  # [row blocks, col blocks, s, s, C]
    bicubic = []
    for i in range(s):
        by_rows = _filtered(lr, _bicubic_taps(h, s, i), 0)
        bicubic.append(
            tf.stack([_block_sums(_filtered(by_rows, _bicubic_taps(w, s, j), 1), block) for j in range(s)], 2)
        )
    counts = _block_sums(tf.ones([h, w]), block)  # cells per block
    means = (sr_blocks - tf.stack(bicubic, 2)) / counts[:, :, None, None, None]
    added = means - tf.reduce_mean(means, [2, 3], keepdims=True)
    spread = sigma / (s * block)
    gh, gw = _gaussian(tf.shape(counts)[0], spread), _gaussian(tf.shape(counts)[1], spread)
    weighted = tf.einsum(
        "ab,bcijk->acijk", gh, tf.einsum("cd,bdijk->bcijk", gw, added * counts[:, :, None, None, None])
    )
    weights = gh @ counts @ tf.transpose(gw)
    field = weighted / weights[:, :, None, None, None]  # [row blocks, col blocks, s, s, C]
    col_lo, col_hi, col_t = _interpolation(w, block)
    row_lo, row_hi, row_t = _interpolation(h, block)

    def strip_out(i, acc):
        first = i * block
        count = tf.minimum(block, h - first)
        lo, hi = row_lo[first : first + count], row_hi[first : first + count]
        t = row_t[first : first + count][:, None, None, None, None]
        by_row = tf.gather(field, lo) + t * (
            tf.gather(field, hi) - tf.gather(field, lo)
        )  # [cells, col blocks, s, s, C]
        left, right = tf.gather(by_row, col_lo, axis=1), tf.gather(by_row, col_hi, axis=1)
        offset = left + col_t[None, :, None, None, None] * (right - left)  # [cells, cells, s, s, C]
        offset = tf.reshape(tf.transpose(offset, [0, 2, 1, 3, 4]), [count * s, w * s, channels])
        return i + 1, acc.write(i, _as(unit(sr[first * s : (first + count) * s]) - offset, dtype))

    _, out = tf.while_loop(
        lambda i, _: i < hb,
        strip_out,
        (0, tf.TensorArray(dtype, size=hb, infer_shape=False)),
        parallel_iterations=1,
    )
    return tf.ensure_shape(out.concat(), [None, None, channels])

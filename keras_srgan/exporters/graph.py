"""The exported computation, shared by every format so all artifacts honour one contract.

Float artifacts take LR RGB float32 ``[N, H, W, 3]`` in [0, 1] and return SR float32 in [0, 1], clipped
in the graph. The TF Serving SavedModel serves whole images (``Serving``), encoded or float, each cut
into windows in the graph exactly as the CLI cuts them, so a request's memory is bounded by its output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from keras_srgan.inference import phase
from keras_srgan.serving import FLOAT_INPUT, FLOAT_OUTPUT, OUTPUT_NAME


def float_spec(input_size: tuple[int, int] | None = None) -> tf.TensorSpec:
    """Dynamic ``[None, None, None, 3]`` unless a fixed ``(H, W)`` is asked for (batch 1, for mobile delegates)."""
    shape = [None, None, None, 3] if input_size is None else [1, int(input_size[0]), int(input_size[1]), 3]
    return tf.TensorSpec(shape, tf.float32, name=FLOAT_INPUT)


def clipped(sr: tf.Tensor) -> tf.Tensor:
    """The generator's [0, 1] output as float32, clipped as ``engines.Predictor`` clips it."""
    return tf.clip_by_value(tf.cast(sr, tf.float32), 0.0, 1.0)


def float_function(model, input_size: tuple[int, int] | None = None, equalize_scale: int | None = None):
    """The ``tf.function`` LR [0, 1] -> {"sr": SR [0, 1]} the ONNX and OpenVINO files are converted from (a
    dict: the output has a stable name in every runtime). With ``equalize_scale`` the whole-image phase
    equalisation follows (``equalized_batch``), as the CLI does."""

    def predict_float(lr):
        sr = clipped(model(lr, training=False))
        return {FLOAT_OUTPUT: sr if equalize_scale is None else equalized_batch(sr, lr, equalize_scale)}

    return tf.function(predict_float, input_signature=[float_spec(input_size)], autograph=False)


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
    """``tiling.axis_spans`` in graph ops, the CLI's windows and seams: (window size, window starts, kept
    starts, kept ends) along one axis (starts rounded half to even, as Python's ``round``)."""

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
    """LR ``[H, W, 3]`` float32 in [0, 1] -> SR ``[sH, sW, 3]`` as ``dtype``, one window at a time, each
    window's kept part converted at once: the peak is the output plus one window's activations."""
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

        cols = tf.size(col_starts)
        pieces = tf.TensorArray(dtype, size=cols, infer_shape=False)
        _, pieces = tf.while_loop(lambda j, _: j < cols, piece, (0, pieces), parallel_iterations=1)
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


def decode(data: tf.Tensor) -> tf.Tensor:
    """Encoded image -> uint8 ``[H, W, 3]``, JPEGs decoded as Pillow decodes them (the CLI's reader): the
    accurate integer DCT, not TensorFlow's default fast one (up to 11 levels apart in the output)."""
    return tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False),
    )


def serving_functions(model, serving: Serving):
    """The SavedModel's two signatures: encoded images [N] -> PNG bytes [N], and whole LR images
    ``[N, H, W, 3]`` in [0, 1] -> {"sr": SR in [0, 1]}; each image tiled, one after another (a batch may mix
    sizes; with parallel iterations the runtime ran two generator calls at once, and one output in about
    four differed from Keras by up to 70 levels, measured in CI)."""

    def png(data):
        lr = tf.cast(_within_limit(decode(data), serving), tf.float32) / 255.0
        if not serving.phase_equalize:
            return tf.io.encode_png(tiled(model, lr, serving, tf.uint8))
        # as the CLI: the tiles kept at 16 bits until the whole image's offset is known, rounded once
        return tf.io.encode_png(equalized(tiled(model, lr, serving, tf.uint16), lr, serving.scale, tf.uint8))

    def whole(lr):
        sr = tiled(model, lr, serving, tf.float32)
        return equalized(sr, lr, serving.scale, tf.float32) if serving.phase_equalize else sr

    def serve(image_bytes):
        spec = tf.TensorSpec([], tf.string)
        return {OUTPUT_NAME: tf.map_fn(png, image_bytes, fn_output_signature=spec, parallel_iterations=1)}

    def predict_float(lr):
        spec = tf.TensorSpec([None, None, 3], tf.float32)
        sr = tf.map_fn(whole, _within_limit(lr, serving), fn_output_signature=spec, parallel_iterations=1)
        return {FLOAT_OUTPUT: sr}

    return serve, predict_float


# ------------------------------------------------- phase equalisation (``inference.phase``) in graph ops
# Batch-first ([N, ...]) and loop-free, so ONNX and LiteRT can run it too; the SavedModel's 16-bit version
# (``equalized``) walks strips of blocks instead, so a whole-image float copy of the SR never exists.


def _bicubic_taps(length: tf.Tensor, scale: int, phase: int) -> tf.Tensor:
    """``[length, 5]`` weights of LR pixels ``cell - 2 .. cell + 2`` for output phase ``phase`` of each cell:
    Pillow's bicubic upsampling (a = -0.5), taps outside the image dropped and the rest renormalised."""
    offset = (phase + 0.5) / scale - 0.5
    x = tf.abs(tf.constant([k - offset for k in range(-2, 3)], tf.float32))
    cubic = tf.where(
        x < 1, (1.5 * x - 2.5) * x * x + 1, tf.where(x < 2, -0.5 * (((x - 5) * x + 8) * x - 4), 0.0)
    )
    cells = tf.range(length)[:, None] + tf.range(-2, 3)[None, :]
    weights = cubic[None, :] * tf.cast((cells >= 0) & (cells < length), tf.float32)
    return weights / tf.reduce_sum(weights, 1, keepdims=True)


def _filtered(lr: tf.Tensor, taps: tf.Tensor, axis: int) -> tf.Tensor:
    """``lr`` ``[N, H, W, C]`` filtered along ``axis`` (1 or 2) with per-position taps ``[L, 5]``."""
    pad = [[0, 0]] * 4
    pad[axis] = [2, 2]
    padded = tf.pad(lr, pad)
    length = tf.shape(lr)[axis]
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    out = 0.0
    for k in range(5):
        part = padded[:, k : k + length] if axis == 1 else padded[:, :, k : k + length]
        out += part * tf.reshape(taps[:, k], shape)
    return out


def _block_sums(values: tf.Tensor, block: int) -> tf.Tensor:
    """``[N, H, W, ...]`` -> ``[N, ceil(H / block), ceil(W / block), ...]`` sums over block x block cells."""
    h, w = tf.shape(values)[1], tf.shape(values)[2]
    hb, wb = (h + block - 1) // block, (w + block - 1) // block
    rest = tf.shape(values)[3:]
    pad = [[0, 0], [0, hb * block - h], [0, wb * block - w]] + [[0, 0]] * (len(values.shape) - 3)
    grouped = tf.reshape(tf.pad(values, pad), tf.concat([[-1, hb, block, wb, block], rest], 0))
    return tf.reduce_sum(grouped, [2, 4])


def _sr_block_sums(sr: tf.Tensor, scale: int, block: int) -> tf.Tensor:
    """SR ``[N, sH, sW, C]`` float -> ``[N, row blocks, col blocks, s, s, C]`` sums per phase (at most 6-D
    tensors: LiteRT's limit)."""
    n, h, w, c = (tf.shape(sr)[i] for i in range(4))
    span = block * scale
    hb, wb = (h + span - 1) // span, (w + span - 1) // span
    padded = tf.pad(sr, [[0, 0], [0, hb * span - h], [0, wb * span - w], [0, 0]])
    sums = tf.reduce_sum(tf.reshape(padded, [n * hb, block, scale, wb, block, scale * c]), [1, 4])
    return tf.transpose(tf.reshape(sums, [n, hb, scale, wb, scale, c]), [0, 1, 3, 2, 4, 5])


def _field(sr_blocks: tf.Tensor, lr: tf.Tensor, scale: int, block: int, sigma: float) -> tf.Tensor:
    """``phase.offset_field``: the Gaussian-weighted per-block offset ``[N, row blocks, col blocks, s, s, C]``
    from the SR's block sums and the LR ``[N, H, W, C]`` (Pillow-bicubic block sums made here)."""
    h, w = tf.shape(lr)[1], tf.shape(lr)[2]
    bicubic = []
    for i in range(scale):
        by_rows = _filtered(lr, _bicubic_taps(h, scale, i), 1)
        row = [_block_sums(_filtered(by_rows, _bicubic_taps(w, scale, j), 2), block) for j in range(scale)]
        bicubic.append(tf.stack(row, 3))
    counts = _block_sums(tf.ones([1, h, w, 1]), block)  # cells per block
    counts = tf.reshape(counts, [1, tf.shape(counts)[1], tf.shape(counts)[2], 1, 1, 1])
    means = (sr_blocks - tf.stack(bicubic, 3)) / counts
    added = (means - tf.reduce_mean(means, [3, 4], keepdims=True)) * counts
    spread = sigma / (scale * block)
    gh, gw = _gaussian(tf.shape(counts)[1], spread), _gaussian(tf.shape(counts)[2], spread)

    def smooth(values):
        return tf.einsum("ab,nbcijk->nacijk", gh, tf.einsum("cd,nbdijk->nbcijk", gw, values))

    return smooth(added) / smooth(counts)


def _interpolation(cells: tf.Tensor, block: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``phase._interpolation`` in graph ops: (lower block, upper block, weight of the upper) of each cell,
    linear between block centres (all regular but the last block's, which may be partial)."""
    blocks = (cells + block - 1) // block
    x = tf.cast(tf.range(cells), tf.float32) + 0.5
    before = tf.cast(blocks - 2, tf.float32) * block + block / 2  # centre of the last full-period block
    last = tf.cast((blocks - 1) * block + cells, tf.float32) / 2
    tail = tf.cast(blocks - 2, tf.float32) + (x - before) / (last - before)
    position = tf.where(x <= before, (x - block / 2) / block, tf.minimum(tail, tf.cast(blocks - 1, tf.float32)))
    position = tf.maximum(position, 0.0)
    upper_ok = tf.maximum(blocks - 2, 0)
    lower = tf.minimum(tf.cast(tf.floor(position), tf.int32), upper_ok)
    return lower, tf.minimum(lower + 1, blocks - 1), position - tf.cast(lower, tf.float32)


def _gaussian(blocks: tf.Tensor, sigma: float) -> tf.Tensor:
    """``[blocks, blocks]`` matrix of ``phase._gaussian_smooth``: taps exp(-d^2 / 2 sigma^2), |d| <= ceil(3 sigma)."""
    d = tf.cast(tf.range(blocks)[:, None] - tf.range(blocks)[None, :], tf.float32)
    return tf.exp(-0.5 * (d / sigma) ** 2) * tf.cast(tf.abs(d) <= math.ceil(3 * sigma), tf.float32)


def _offset(field: tf.Tensor, rows, cols, scale: int) -> tf.Tensor:
    """The per-pixel offset ``[N, rows * s, cols * s, C]`` for the cells of ``rows`` and ``cols``, each a
    (lower block, upper block, weight) triple of ``_interpolation``."""
    (row_lo, row_hi, row_t), (col_lo, col_hi, col_t) = rows, cols
    lower = tf.gather(field, row_lo, axis=1)
    by_row = lower + tf.reshape(row_t, [1, -1, 1, 1, 1, 1]) * (tf.gather(field, row_hi, axis=1) - lower)
    left = tf.gather(by_row, col_lo, axis=2)
    offset = left + tf.reshape(col_t, [1, 1, -1, 1, 1, 1]) * (tf.gather(by_row, col_hi, axis=2) - left)
    n, h, w, c = (tf.shape(offset)[i] for i in (0, 1, 2, 5))
    return tf.reshape(tf.transpose(offset, [0, 1, 3, 2, 4, 5]), [n, h * scale, w * scale, c])


def equalized_batch(sr: tf.Tensor, lr: tf.Tensor, scale: int, sigma: float = phase.SIGMA_PIXELS) -> tf.Tensor:
    """``phase.equalize`` for float SR ``[N, sH, sW, C]`` in [0, 1] made from LR ``[N, H, W, C]``, clipped;
    no loops, for the whole-image ONNX and LiteRT signatures."""
    block = phase.block_cells(scale)
    field = _field(_sr_block_sums(sr, scale, block), lr, scale, block, sigma)
    rows, cols = _interpolation(tf.shape(lr)[1], block), _interpolation(tf.shape(lr)[2], block)
    return clipped(sr - _offset(field, rows, cols, scale))


def equalized(
    sr: tf.Tensor, lr: tf.Tensor, scale: int, dtype: tf.DType, sigma: float = phase.SIGMA_PIXELS
) -> tf.Tensor:
    """``phase.equalize`` for one SR ``[sH, sW, C]`` (float32 in [0, 1], or uint16) made from ``lr``
    ``[H, W, C]`` float32 in [0, 1], as ``dtype``; the SR is taken to float one strip of blocks at a time
    (the SavedModel's bounded memory)."""
    s, block = scale, phase.block_cells(scale)
    h, w = tf.shape(lr)[0], tf.shape(lr)[1]
    top = 65535.0 if sr.dtype == tf.uint16 else 1.0
    rows = s * block  # SR rows per strip of blocks
    hb = (h + block - 1) // block

    def unit(part):
        return tf.cast(part, tf.float32)[None] / top

    def sums(i, acc):
        return i + 1, acc.write(i, _sr_block_sums(unit(sr[i * rows : (i + 1) * rows]), s, block)[0, 0])

    _, acc = tf.while_loop(
        lambda i, _: i < hb, sums, (0, tf.TensorArray(tf.float32, size=hb)), parallel_iterations=1
    )
    field = _field(acc.stack()[None], lr[None], s, block, sigma)
    all_rows, cols = _interpolation(h, block), _interpolation(w, block)

    def strip_out(i, acc):
        first = i * block
        count = tf.minimum(block, h - first)
        part = tuple(v[first : first + count] for v in all_rows)
        offset = _offset(field, part, cols, s)
        return i + 1, acc.write(i, _as(unit(sr[first * s : (first + count) * s]) - offset, dtype)[0])

    pieces = tf.TensorArray(dtype, size=hb, infer_shape=False)
    _, out = tf.while_loop(lambda i, _: i < hb, strip_out, (0, pieces), parallel_iterations=1)
    return tf.ensure_shape(out.concat(), [None, None, lr.shape[-1] or 3])

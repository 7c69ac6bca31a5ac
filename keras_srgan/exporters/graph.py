"""The exported computation, shared by every format so all artifacts honour one contract.

Float artifacts take LR RGB float32 ``[N, H, W, 3]`` in [0, 1] and return SR float32 in [0, 1], the
generator's own contract, clipped inside the graph. The TF Serving SavedModel serves whole images
(``Serving``): encoded images (PNG/JPEG in, PNG out) and float ones, each cut into windows inside the
graph exactly as the CLI cuts them (``tiling.axis_spans``: overlap = the model's receptive radius, so the
seams are exact), so a request's memory is bounded by its output, not by the activations of the whole
image; an image above the pixel limit is refused with INVALID_ARGUMENT and a message, before any work.
"""

from __future__ import annotations

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
    context (the model's receptive radius: exact seams), ``scale``, and ``max_pixels`` (LR pixels per
    image; above it a request gets INVALID_ARGUMENT, never an out-of-memory kill)."""

    tile: int
    overlap: int
    scale: int
    max_pixels: int


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

    def predict_float(lr):
        lr = _within_limit(lr, serving)
        sr = tf.map_fn(
            lambda one: tiled(model, one, serving, tf.float32),
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
        image = _within_limit(decode(data), serving)
        return tf.io.encode_png(tiled(model, tf.cast(image, tf.float32) / 255.0, serving, tf.uint8))

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

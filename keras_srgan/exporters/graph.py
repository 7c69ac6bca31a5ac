"""The exported computation, shared by every format so all artifacts honour one contract.

Float artifacts take LR RGB float32 ``[N, H, W, 3]`` in [0, 1] and return SR float32 in [0, 1], the
generator's own contract (``models.generator.SRResNet``), clipped inside the graph. The SavedModel additionally serves encoded images (PNG/JPEG in, PNG out) for
TF Serving, where the client has bytes rather than tensors.
"""

from __future__ import annotations

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


def bytes_fn(model):
    """Encoded images [N] -> PNG bytes [N]; one image at a time so a batch may mix sizes."""

    def one(data):
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        lr = tf.cast(image, tf.float32)[tf.newaxis] / 255.0
        sr = clipped(model(lr, training=False))[0]
        return tf.io.encode_png(tf.cast(tf.round(sr * 255.0), tf.uint8))

    def serve(image_bytes):
        # one image after another: with parallel iterations the runtime ran two generator calls at once,
        # and one output in about four differed from Keras by up to 70 levels (measured in CI)
        out = tf.map_fn(
            one, image_bytes, fn_output_signature=tf.TensorSpec([], tf.string), parallel_iterations=1
        )
        return {BYTES_OUTPUT: out}

    return serve


def write_archive(
    model, path: str, input_size: tuple[int, int] | None = None, with_bytes: bool = True
) -> None:
    """A SavedModel through Keras' ExportArchive, which tracks Keras 3 variables correctly.

    ``tf.saved_model.save`` on the subclassed model directly would pin the signature to the build
    shape; explicit signatures keep H and W dynamic.
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    if with_bytes:
        archive.add_endpoint(BYTES_SIGNATURE, bytes_fn(model), input_signature=[bytes_spec()])
    archive.add_endpoint(FLOAT_SIGNATURE, float_fn(model), input_signature=[float_spec(input_size)])
    archive.write_out(path, verbose=False)

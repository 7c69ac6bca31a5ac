"""Run a generator on LR batches of any size with one traced graph.

Keras ``predict`` retraces for every new input shape; a ``tf.function`` with a
``[None, None, None, 3]`` signature is traced once and serves every image size.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class Predictor:
    """LR float32 [N, H, W, 3] in [0, 1] -> SR float32 [N, sH, sW, 3] in [0, 1] (numpy in, numpy out)."""

    def __init__(self, generator, jit_compile: bool = False):
        self.generator = generator
        self.scale = int(getattr(generator, "scale", 4))

        @tf.function(
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)], jit_compile=jit_compile
        )
        def _run(lr):
            sr = tf.cast(self.generator(lr, training=False), tf.float32)
            return tf.clip_by_value((sr + 1.0) * 0.5, 0.0, 1.0)

        self._run = _run

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        lr = np.asarray(lr, dtype=np.float32)
        if lr.ndim == 3:
            return self._run(tf.convert_to_tensor(lr[None])).numpy()[0]
        return self._run(tf.convert_to_tensor(lr)).numpy()


def to_uint8(image01: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8 with rounding (the protocol's quantisation of SR output)."""
    return np.clip(np.round(np.asarray(image01, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)

"""The reference: the Keras generator itself on LR batches of any size, in one traced graph.

Keras ``predict`` retraces for every new input shape; a ``tf.function`` with a ``[None, None, None, 3]``
signature is traced once and serves every image size. Every engine (``engines``: the transformed model,
bf16, OpenVINO) and every export is checked against this.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class Predictor:
    """LR float32 [N, H, W, 3] (or [H, W, 3]) in [0, 1] -> SR float32 in [0, 1], clipped; numpy both ways."""

    name = "keras"
    precision = "fp32"
    note = None

    def __init__(self, generator, jit_compile: bool = False):
        self.generator = generator
        self.scale = int(getattr(generator, "scale", 4))

        @tf.function(
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)], jit_compile=jit_compile
        )
        def run(lr):
            return tf.clip_by_value(tf.cast(generator(lr, training=False), tf.float32), 0.0, 1.0)

        self._run = run

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        lr = np.asarray(lr, dtype=np.float32)
        if lr.ndim == 3:
            return self._run(tf.convert_to_tensor(lr[None])).numpy()[0]
        return self._run(tf.convert_to_tensor(lr)).numpy()

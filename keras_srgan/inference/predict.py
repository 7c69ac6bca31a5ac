"""Run a generator on LR batches of any size with one traced graph: the reference every engine is checked against.

Keras ``predict`` retraces for every new input shape; a ``tf.function`` with a
``[None, None, None, 3]`` signature is traced once and serves every image size. ``Predictor(generator)``
runs the Keras model itself, unchanged. The fast paths (BatchNorm folded, output conv before the last
pixel shuffle, bf16, OpenVINO) are transforms of this same model in ``transforms`` run by ``engines``;
``Predictor(..., fold_batchnorm=True)`` or a precision other than fp32 is a ``TensorFlowEngine`` on the
transformed model, kept here for callers of the older interface.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_srgan.defaults import PRECISIONS  # noqa: F401 (re-exported for callers of the older home)
from keras_srgan.inference.engines import PRECISION_ENV, cpu_has_bf16, weights_key  # noqa: F401 (re-exported)


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``$KERAS_SRGAN_PRECISION`` if set, else ``bf16`` on a CPU-only machine with native bf16, else ``fp32``."""
    from keras_srgan.errors import UserError
    from keras_srgan.inference.engines import resolve_precision as resolve

    try:
        return resolve(precision, "tensorflow")
    except UserError as exc:
        raise ValueError(str(exc)) from None


def can_fold(generator) -> bool:
    """Whether the transforms know ``generator`` (a built SRResNet); anything else runs as is."""
    from keras_srgan.inference.transforms import is_srresnet

    return is_srresnet(generator) and generator.built


def weights_fingerprint(model) -> str:
    """A hash of every weight's bytes (and the architecture): changes whenever any weight does."""
    return weights_key(model)


class Predictor:
    """LR float32 [N, H, W, 3] in [0, 1] -> SR float32 [N, sH, sW, 3] in [0, 1] (numpy in, numpy out).

    The defaults run the Keras model itself (the reference every other path is compared with).
    ``fold_batchnorm=True`` runs the transformed model (``transforms.inference_model``) instead;
    ``precision`` ("fp32", "bf16" or "auto") picks its precision and implies the transforms when not
    "fp32". A generator the transforms do not know runs as is, in fp32.
    """

    def __init__(
        self,
        generator,
        jit_compile: bool = False,
        precision: str = "fp32",
        fold_batchnorm: bool | None = None,
    ):
        self.generator = generator
        self.scale = int(getattr(generator, "scale", 4))
        self.precision = resolve_precision(precision)
        fold = (self.precision != "fp32") if fold_batchnorm is None else bool(fold_batchnorm)
        self.folded = fold and can_fold(generator)
        if not self.folded:
            self.precision = "fp32"
        self._jit_compile = jit_compile
        self._engine = None
        if self.folded:
            from keras_srgan.inference.engines import TensorFlowEngine

            self._engine = TensorFlowEngine(generator, self.precision, jit_compile=jit_compile)
        else:
            self._run = self._build()

    def _build(self):
        generator = self.generator

        @tf.function(
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)], jit_compile=self._jit_compile
        )
        def _run(lr):
            return tf.clip_by_value(tf.cast(generator(lr, training=False), tf.float32), 0.0, 1.0)

        return _run

    def refresh(self) -> bool:
        """Rebuild the transformed copy if the generator's weights changed since it was made (see ``engines``)."""
        return self._engine.refresh() if self._engine is not None else False

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        if self._engine is not None:
            return self._engine(lr)
        lr = np.asarray(lr, dtype=np.float32)
        if lr.ndim == 3:
            return self._run(tf.convert_to_tensor(lr[None])).numpy()[0]
        return self._run(tf.convert_to_tensor(lr)).numpy()

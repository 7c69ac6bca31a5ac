"""``Predictor``, the reference (the Keras generator itself), lives in ``engines``; this path stays."""

from keras_srgan.inference.engines import Predictor

__all__ = ["Predictor"]

"""keras-srgan: SRGAN 4x super-resolution in TensorFlow / Keras 3.

The public API is imported lazily so that ``import keras_srgan`` stays cheap and optional
dependencies (tf2onnx, onnxruntime, ai-edge-litert) are only imported when used.
"""

from __future__ import annotations

import importlib

# No environment is changed here: Keras picks its backend (KERAS_BACKEND, default TensorFlow) itself, and
# the parts that need TensorFlow say so in one line under another backend (keras_srgan.settings).

__version__ = "0.1.0"

_LAZY = {
    "fit": "keras_srgan.train.trainer",
    "TrainConfig": "keras_srgan.train.config",
    "SRGAN": "keras_srgan.train.srgan_model",
    "SRResNet": "keras_srgan.models.generator",
    "CompactSR": "keras_srgan.models.generator",
    "Discriminator": "keras_srgan.models.discriminator",
    "load_generator": "keras_srgan.weights",
    "from_preset": "keras_srgan.weights",
    "write_preset": "keras_srgan.weights",
    "interpolate_generators": "keras_srgan.weights",
    "evaluate": "keras_srgan.evaluation",
    "upscale": "keras_srgan.inference.upscale",
    "Upscaler": "keras_srgan.inference.upscale",
    "upscale_video": "keras_srgan.inference.video",
    "export": "keras_srgan.exporters",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module 'keras_srgan' has no attribute {name!r}")

"""Defaults and choices the CLI shows, in one import-free module (no TensorFlow, no Keras).

The library modules read these same names, so ``keras-srgan ... --help`` and the Python API cannot
drift apart, and the CLI can build its parsers without importing anything heavy.
"""

from __future__ import annotations

DEFAULT_WEIGHTS = "srresnet"  # what every entry point loads when no weights are given

EXPORT_FORMATS = ("savedmodel", "tflite", "onnx", "openvino")
TFLITE_QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
CALIBRATION_SAMPLES = 32  # LR crops that calibrate a TFLite int8 export

"""Defaults and choices the CLI shows, in one import-free module (no TensorFlow, no Keras).

The library modules read these same names, so ``keras-srgan ... --help`` and the Python API cannot
drift apart, and the CLI can build its parsers without importing anything heavy.
"""

from __future__ import annotations

DEFAULT_WEIGHTS = "srresnet"  # what every entry point loads when no weights are given

EXPORT_FORMATS = ("savedmodel", "tflite", "onnx", "openvino")
TFLITE_QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
CALIBRATION_SAMPLES = 32  # LR crops that calibrate a TFLite int8 export

# keras-srgan upscale / Upscaler / upscale()
ENGINES = ("auto", "openvino", "tensorflow")
PRECISIONS = ("auto", "fp32", "bf16")  # inference; training's --mixed-precision has its own (precision.py)
MAX_PIXELS = 4096 * 4096  # inputs above this are refused (4096^2 in = 805 MB of 8-bit RGB out)

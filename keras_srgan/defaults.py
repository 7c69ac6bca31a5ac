"""Defaults and choices the CLI shows, in one import-free module (no TensorFlow, no Keras).

The library modules read these same names, so ``keras-srgan ... --help`` and the Python API cannot
drift apart, and the CLI can build its parsers without importing anything heavy.
"""

from __future__ import annotations

DEFAULT_WEIGHTS = "srresnet"  # what every entry point loads when no weights are given

EXPORT_FORMATS = ("savedmodel", "tflite", "onnx", "openvino")
TFLITE_QUANTIZATIONS = ("none", "float16", "dynamic", "int8", "int16x8")
CALIBRATION_SAMPLES = 32  # LR crops that calibrate a TFLite int8 export
# LR pixels per image the TF Serving SavedModel accepts (export --max-pixels); above it: INVALID_ARGUMENT
# (a 2000x2000 JPEG: measured peak memory in docs/serving.md)
SERVING_MAX_PIXELS = 4_000_000

# One precision vocabulary for training and inference (resolved in precision.py). fp16 (loss-scaled mixed
# float16) applies to training only; "off" is the older training name of fp32, still read from recipes and
# the config.json of runs written before, so they resume unchanged.
PRECISION_NAMES = ("auto", "fp32", "bf16", "fp16")
PRECISION_ALIASES = {"off": "fp32"}
TRAINING_PRECISIONS = PRECISION_NAMES  # keras-srgan train --mixed-precision
PRECISIONS = ("auto", "fp32", "bf16")  # inference: keras-srgan upscale --precision, Upscaler, upscale()

# keras-srgan train --content-loss: pixel losses, then the paper's VGG19 feature losses (losses/content.py)
CONTENT_LOSSES = ("mse", "l1", "vgg54", "vgg22")

# keras-srgan upscale / Upscaler / upscale()
ENGINES = ("auto", "openvino", "tensorflow")
MAX_PIXELS = 4096 * 4096  # inputs above this are refused (4096^2 in = 805 MB of 8-bit RGB out)

# keras-srgan upscale / evaluate --phase-equalize (inference/phase.py): "auto" takes the weights' own setting
PHASE_EQUALIZE = {"auto": None, "on": True, "off": False}

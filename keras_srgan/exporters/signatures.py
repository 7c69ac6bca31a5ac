"""The exported SavedModel's signature and tensor names: one definition for the exporter and the clients.

Import-free on purpose: ``keras_srgan.serving`` (REST clients) reads them without importing TensorFlow.
"""

from __future__ import annotations

FLOAT_SIGNATURE = "predict_float"
BYTES_SIGNATURE = "serving_default"
FLOAT_INPUT = "lr"
FLOAT_OUTPUT = "sr"
BYTES_INPUT = "image_bytes"
# TF Serving's REST API base64-encodes string outputs whose alias ends in "_bytes".
BYTES_OUTPUT = "sr_png_bytes"
# The fixed-size phone interface of a TFLite file: uint8 RGB in and out (same tensor names).
UINT8_SIGNATURE = "predict_uint8"

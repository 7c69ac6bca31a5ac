"""The OpenVINO IR cache now lives in ``openvino_engine`` (``weights_file`` in ``weights``); this path stays."""

from keras_srgan.inference.openvino_engine import convert_parts, prune_cache, remember_weights_file
from keras_srgan.weights import weights_file

__all__ = ["convert_parts", "prune_cache", "remember_weights_file", "weights_file"]

"""Client-side helpers for the exported SavedModel under TensorFlow Serving (REST and gRPC).

``serving_default`` takes encoded images (PNG/JPEG, a string tensor [N]) and returns PNGs; over REST the
bytes travel as ``{"b64": ...}``. ``predict_float`` takes LR float32 ``[N, H, W, 3]`` in [0, 1] and returns
SR. gRPC needs ``tensorflow-serving-api`` (extra ``serving``), imported only when used.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_srgan.errors import UserError

# The exported signatures' and tensors' names: one definition for the exporters and the clients (this
# module imports no TensorFlow, so REST clients read them too).
DEFAULT_MODEL_NAME = "srgan"
SIGNATURE = "serving_default"
INPUT_NAME = "image_bytes"
OUTPUT_NAME = "sr_png_bytes"  # TF Serving's REST API base64-encodes string outputs named "*_bytes"
FLOAT_SIGNATURE = "predict_float"
FLOAT_INPUT = "lr"
FLOAT_OUTPUT = "sr"
UINT8_SIGNATURE = "predict_uint8"  # a fixed-size TFLite phone file: uint8 RGB in and out, same tensor names

ImageLike = bytes | str | os.PathLike


def _encoded(images: Iterable[ImageLike], signature_name: str, instead: str) -> list[bytes]:
    """The images' raw encoded bytes for ``serving_default``, from bytes or file paths (the server decodes;
    the client never re-encodes). ``instead``: what to use for ``predict_float``."""
    if signature_name == FLOAT_SIGNATURE:
        raise UserError(
            f"{FLOAT_SIGNATURE} takes float32 pixels as '{FLOAT_INPUT}', not encoded images; use {instead}"
        )
    data = []
    for image in images:
        if not isinstance(image, bytes | bytearray) and not Path(image).is_file():
            raise UserError(f"{image}: no such image file")
        data.append(bytes(image) if isinstance(image, bytes | bytearray) else Path(image).read_bytes())
    if not data:
        raise UserError("no images to send")
    return data


def rest_url(
    host: str = "localhost",
    port: int = 8501,
    model_name: str = DEFAULT_MODEL_NAME,
    version: int | None = None,
) -> str:
    """The ``:predict`` URL of TF Serving's REST API (latest version unless one is given)."""
    versioned = f"/versions/{int(version)}" if version is not None else ""
    return f"http://{host}:{port}/v1/models/{model_name}{versioned}:predict"


def rest_payload(images: Iterable[ImageLike], signature_name: str = SIGNATURE) -> dict:
    """JSON body for REST predict: ``{"signature_name": ..., "instances": [{"b64": ...}, ...]}`` (row format,
    one unnamed input per instance: ``serving_default`` has one input)."""
    instead = 'a JSON body {"signature_name": "predict_float", "instances": <N x H x W x 3 list>}'
    instances = [{"b64": base64.b64encode(d).decode()} for d in _encoded(images, signature_name, instead)]
    return {"signature_name": signature_name, "instances": instances}


def decode_rest_response(response: dict) -> list[bytes]:
    """PNG bytes per image from a REST predict response (``{"predictions": [{"b64": ...}, ...]}``)."""
    if "error" in response:
        raise UserError(f"TF Serving error: {response['error']}")
    out = []
    for item in response.get("predictions", []):
        if isinstance(item, dict) and OUTPUT_NAME in item:  # multi-output row form
            item = item[OUTPUT_NAME]
        if not (isinstance(item, dict) and "b64" in item):
            raise UserError(f"unexpected prediction {str(item)[:80]!r}: expected {{'b64': ...}}")
        out.append(base64.b64decode(item["b64"]))
    return out


def predict_rest(images: Iterable[ImageLike], url: str | None = None, timeout: float = 60.0) -> list[bytes]:
    """POST images to TF Serving's REST API and return the SR PNGs (standard library only)."""
    import json
    import urllib.error
    import urllib.request

    body = json.dumps(rest_payload(images)).encode()
    request = urllib.request.Request(
        url or rest_url(), data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return decode_rest_response(json.loads(reply.read()))
    except urllib.error.HTTPError as exc:
        raise UserError(f"{request.full_url}: HTTP {exc.code}: {exc.read()[:200]!r}") from None
    except urllib.error.URLError as exc:
        raise UserError(f"{request.full_url}: cannot reach TF Serving ({exc.reason})") from None


def _predict_request(model_name: str, signature_name: str, version: int | None) -> Any:
    from keras_srgan.exporters import require

    request = require("tensorflow_serving.apis.predict_pb2", "a gRPC request").PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    return request


def grpc_request(
    images: Sequence[ImageLike],
    model_name: str = DEFAULT_MODEL_NAME,
    signature_name: str = SIGNATURE,
    version: int | None = None,
) -> Any:
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for ``serving_default``: the encoded
    images as a ``DT_STRING`` tensor of shape [N]."""
    import tensorflow as tf

    data = _encoded(images, signature_name, "grpc_float_request")
    request = _predict_request(model_name, signature_name, version)
    request.inputs[INPUT_NAME].CopyFrom(tf.make_tensor_proto(data, dtype=tf.string, shape=[len(data)]))
    return request


def grpc_float_request(lr: np.ndarray, model_name: str = DEFAULT_MODEL_NAME, version: int | None = None):
    """A PredictRequest for ``predict_float``: LR RGB in [0, 1], ``[H, W, 3]`` or ``[N, H, W, 3]``, as a
    float32 ``TensorProto``; the reply is 16x as many floats, so prefer ``grpc_request`` across a network."""
    import tensorflow as tf

    array = np.asarray(lr, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or 0 in array.shape:
        raise UserError(f"{FLOAT_SIGNATURE} needs RGB [N, H, W, 3] (or [H, W, 3]); got shape {array.shape}")
    request = _predict_request(model_name, FLOAT_SIGNATURE, version)
    request.inputs[FLOAT_INPUT].CopyFrom(tf.make_tensor_proto(array, dtype=tf.float32))
    return request


def _output(response: Any, name: str) -> Any:
    # Indexing a protobuf map inserts an empty entry, which would read as "no images": check first.
    if name not in response.outputs:
        found = ", ".join(sorted(response.outputs)) or "none"
        raise UserError(f"PredictResponse has no output {name!r} (outputs: {found}); wrong signature?")
    return response.outputs[name]


def decode_grpc_response(response: Any) -> list[bytes]:
    """PNG bytes per image from a ``PredictResponse`` of ``serving_default``."""
    return list(_output(response, OUTPUT_NAME).string_val)


def decode_grpc_float_response(response: Any) -> np.ndarray:
    """SR float32 ``[N, 4H, 4W, 3]`` in [0, 1] from a ``PredictResponse`` of ``predict_float`` (either
    encoding TF Serving may use: ``float_val`` or ``tensor_content``)."""
    import tensorflow as tf

    return tf.make_ndarray(_output(response, FLOAT_OUTPUT))


def predict_grpc(request: Any, target: str = "localhost:8500", timeout: float = 60.0) -> list[bytes]:
    """Send a PredictRequest over an insecure channel (fine for localhost; use TLS across networks)."""
    from keras_srgan.exporters import require

    grpc = require("grpc", "a gRPC request")
    service = require("tensorflow_serving.apis.prediction_service_pb2_grpc", "a gRPC request")
    with grpc.insecure_channel(target) as channel:
        stub = service.PredictionServiceStub(channel)
        return decode_grpc_response(stub.Predict(request, timeout=timeout))

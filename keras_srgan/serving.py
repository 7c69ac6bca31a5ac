"""Client-side helpers for the exported SavedModel under TensorFlow Serving (REST and gRPC).

The model's ``serving_default`` signature takes encoded images (PNG/JPEG bytes, string tensor [N])
as input ``image_bytes`` and returns PNG bytes as ``sr_png_bytes``. Over REST, bytes travel as
``{"b64": ...}``; TF Serving base64-encodes the output because its name ends in ``_bytes``.
``predict_float`` takes LR float32 ``[N, H, W, 3]`` in [0, 1] as ``lr`` and returns ``sr`` (gRPC
helpers: ``grpc_float_request`` / ``decode_grpc_float_response``).
gRPC needs ``tensorflow-serving-api`` (extra ``serving``), imported only when used.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_srgan.errors import UserError
from keras_srgan.exporters.signatures import (
    BYTES_INPUT,
    BYTES_OUTPUT,
    BYTES_SIGNATURE,
    FLOAT_INPUT,
    FLOAT_OUTPUT,
    FLOAT_SIGNATURE,
)

DEFAULT_MODEL_NAME = "srgan"
SIGNATURE = BYTES_SIGNATURE
INPUT_NAME = BYTES_INPUT
OUTPUT_NAME = BYTES_OUTPUT

ImageLike = bytes | str | os.PathLike


def _image_bytes(image: ImageLike) -> bytes:
    """Raw encoded bytes from bytes or a file path (the server decodes; the client never re-encodes)."""
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    path = Path(image)
    if not path.is_file():
        raise UserError(f"{path}: no such image file")
    return path.read_bytes()


def rest_url(
    host: str = "localhost",
    port: int = 8501,
    model_name: str = DEFAULT_MODEL_NAME,
    version: int | None = None,
) -> str:
    """The ``:predict`` URL of TF Serving's REST API (latest version unless one is given)."""
    versioned = f"/versions/{int(version)}" if version is not None else ""
    return f"http://{host}:{port}/v1/models/{model_name}{versioned}:predict"


def _not_float(signature_name: str, helper: str) -> None:
    if signature_name == FLOAT_SIGNATURE:
        raise UserError(
            f"{FLOAT_SIGNATURE} takes float32 pixels as '{FLOAT_INPUT}', not encoded images; use {helper}"
        )


def rest_payload(images: Iterable[ImageLike], signature_name: str = SIGNATURE) -> dict:
    """JSON body for REST predict: ``{"signature_name": ..., "instances": [{"b64": ...}, ...]}``.

    Row format with one unnamed input per instance works because ``serving_default`` has one input.
    """
    _not_float(
        signature_name, 'a JSON body {"signature_name": "predict_float", "instances": <N x H x W x 3 list>}'
    )
    instances = [{"b64": base64.b64encode(_image_bytes(img)).decode("ascii")} for img in images]
    if not instances:
        raise UserError("no images to send")
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


def string_tensor_proto(images: Sequence[ImageLike]) -> Any:
    """A ``DT_STRING`` TensorProto of shape [N] holding the encoded images (TensorFlow only)."""
    import tensorflow as tf

    data = [_image_bytes(img) for img in images]
    if not data:
        raise UserError("no images to send")
    return tf.make_tensor_proto(data, dtype=tf.string, shape=[len(data)])


def _serving_api(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            "gRPC requests need tensorflow-serving-api: pip install keras-srgan[serving]"
        ) from None


def _predict_request(model_name: str, signature_name: str, version: int | None) -> Any:
    predict_pb2 = _serving_api("tensorflow_serving.apis.predict_pb2")
    request = predict_pb2.PredictRequest()
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
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for ``serving_default``."""
    _not_float(signature_name, "grpc_float_request")
    request = _predict_request(model_name, signature_name, version)
    request.inputs[INPUT_NAME].CopyFrom(string_tensor_proto(images))
    return request


def grpc_float_request(
    lr: np.ndarray,
    model_name: str = DEFAULT_MODEL_NAME,
    version: int | None = None,
) -> Any:
    """A PredictRequest for ``predict_float``: LR RGB in [0, 1], ``[H, W, 3]`` or ``[N, H, W, 3]``.

    Sent as a float32 ``TensorProto`` (``tensor_content``); the reply is 16x as many floats, so
    prefer ``grpc_request`` (PNG in, PNG out) across a network.
    """
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
    """SR float32 ``[N, 4H, 4W, 3]`` in [0, 1] from a ``PredictResponse`` of ``predict_float``.

    Reads both encodings TF Serving may use (``float_val`` or ``tensor_content``).
    """
    import tensorflow as tf

    return tf.make_ndarray(_output(response, FLOAT_OUTPUT))


def predict_grpc(request: Any, target: str = "localhost:8500", timeout: float = 60.0) -> list[bytes]:
    """Send a PredictRequest over an insecure channel (fine for localhost; use TLS across networks)."""
    grpc = _serving_api("grpc")
    prediction_service_pb2_grpc = _serving_api("tensorflow_serving.apis.prediction_service_pb2_grpc")
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return decode_grpc_response(stub.Predict(request, timeout=timeout))

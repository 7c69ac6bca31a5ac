"""``keras_srgan.serving``: REST/gRPC request builders for the exported SavedModel under TF Serving."""

from __future__ import annotations

import base64
import importlib.util
import json

import pytest


def test_rest_payload_and_url(tmp_path):
    from keras_srgan.serving import rest_payload, rest_url

    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG fake")
    payload = rest_payload([image, b"raw-bytes"])
    assert json.loads(json.dumps(payload)) == {
        "signature_name": "serving_default",
        "instances": [
            {"b64": base64.b64encode(b"\x89PNG fake").decode()},
            {"b64": base64.b64encode(b"raw-bytes").decode()},
        ],
    }
    assert rest_url() == "http://localhost:8501/v1/models/srgan:predict"
    assert rest_url("h", 9000, "m", version=3) == "http://h:9000/v1/models/m/versions/3:predict"


def test_rest_errors_are_user_errors(tmp_path):
    from keras_srgan.errors import UserError
    from keras_srgan.serving import decode_rest_response, rest_payload

    with pytest.raises(UserError, match="no such image"):
        rest_payload([tmp_path / "missing.png"])
    with pytest.raises(UserError, match="no images"):
        rest_payload([])
    with pytest.raises(UserError, match="TF Serving error: boom"):
        decode_rest_response({"error": "boom"})
    assert decode_rest_response(
        {"predictions": [{"sr_png_bytes": {"b64": base64.b64encode(b"x").decode()}}]}
    ) == [b"x"]


def test_grpc_string_tensor_proto():
    import tensorflow as tf

    from keras_srgan.serving import string_tensor_proto

    proto = string_tensor_proto([b"one", b"two"])
    assert proto.dtype == tf.string.as_datatype_enum
    assert [d.size for d in proto.tensor_shape.dim] == [2]
    assert list(proto.string_val) == [b"one", b"two"]


def test_grpc_request_or_missing_extra():
    from keras_srgan.errors import UserError
    from keras_srgan.serving import grpc_request

    if importlib.util.find_spec("tensorflow_serving") is None:
        with pytest.raises(UserError, match=r"pip install keras-srgan\[serving\]"):
            grpc_request([b"img"])
    else:
        request = grpc_request([b"img"], model_name="srgan", version=2)
        assert request.model_spec.name == "srgan"
        assert request.model_spec.signature_name == "serving_default"
        assert request.model_spec.version.value == 2
        assert list(request.inputs["image_bytes"].string_val) == [b"img"]

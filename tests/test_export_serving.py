"""``keras_srgan.serving``: REST/gRPC requests and responses, end to end through the exported SavedModel.

No model server runs here (no package registry reachable from CI ships ``tensorflow_model_server``).
Instead each request built by the package's helpers is serialised to the wire form (protobuf bytes or
JSON text), parsed back as a server would, turned into tensors the way TF Serving does, run through the
signature it names in a real exported SavedModel, and the server-style response is decoded by the
package's helpers. The result is compared with the Keras generator's own output on the same image.
"""

from __future__ import annotations

import base64
import io
import json
import sys

import numpy as np
import pytest
from conftest import smooth_image

# Measured (TF 2.21, CPU, three fresh random generators): the PNG that comes back over gRPC and REST
# differs from the Keras output rounded to uint8 by at most 1 level (0 on most images; a value near a
# .5 rounding boundary in float32 graph vs float64 NumPy), and predict_float over gRPC is bit-identical
# to Keras (max abs diff 0.0). Tolerances: 1 level, and 1e-6 (far below one level, 3.9e-3) for floats.
MAX_LEVELS = 1
FLOAT_ATOL = 1e-6


@pytest.fixture(scope="module")
def generator():
    """The conftest's tiny random generator shape, with the tail conv scaled up for contrast.

    Freshly initialised, its tail keeps the output within about +-2 levels of mid-grey, where a
    one-level comparison would prove little; scaled, the SR output spreads over most of [0, 1].
    """
    from keras_srgan.exporters.parity import keras_reference
    from keras_srgan.models import build_generator

    model = build_generator(scale=4, num_blocks=2, filters=8)
    probe = smooth_image(16, 16, seed=9).astype(np.float32)[None] / 255.0
    tanh_std = float((keras_reference(model, probe) * 2.0 - 1.0).std())
    tail = model.get_layer("tail_conv")
    tail.kernel.assign(tail.kernel * (0.5 / tanh_std))
    return model


@pytest.fixture(scope="module")
def served(tmp_path_factory, generator):
    """A SavedModel export of the generator, laid out as TF Serving's model base path."""
    import tensorflow as tf

    from keras_srgan.exporters import export

    base = tmp_path_factory.mktemp("serving") / "out"
    (entry,) = export(generator, "savedmodel", base)
    assert entry["path"] == "savedmodel/1"
    models = {1: tf.saved_model.load(str(base / "savedmodel" / "1"))}
    return {"base": base / "savedmodel", "models": models}


# ----------------------------------------------------------------- what TF Serving does with a request


def _signature(served, name: str, version: int | None):
    """The model version (latest unless pinned) and signature a request names (default if empty)."""
    models = served["models"]
    loaded = models[version if version is not None else max(models)]
    return loaded.signatures[name or "serving_default"]


def grpc_server(served, wire: bytes) -> bytes:
    """PredictRequest bytes -> PredictResponse bytes, the way the model server handles ``Predict``."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.ParseFromString(wire)
    assert request.model_spec.name == "srgan"  # the MODEL_NAME the docker command serves
    version = request.model_spec.version.value if request.model_spec.HasField("version") else None
    fn = _signature(served, request.model_spec.signature_name, version)
    specs = fn.structured_input_signature[1]
    assert set(request.inputs) == set(specs)  # TF Serving rejects missing or extra inputs
    feeds = {}
    for name, proto in request.inputs.items():
        assert proto.dtype == specs[name].dtype.as_datatype_enum  # ... and a dtype mismatch
        feeds[name] = tf.constant(tf.make_ndarray(proto))
    outputs = fn(**feeds)
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    response.model_spec.version.value = version or max(served["models"])
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    return response.SerializeToString()


def rest_server(served, body: str) -> str:
    """A ``:predict`` JSON body -> the JSON reply, following TF Serving's REST row format."""
    import tensorflow as tf

    request = json.loads(body)
    fn = _signature(served, request.get("signature_name", ""), None)
    (input_name,) = fn.structured_input_signature[1]  # row format with one input: instances are its values

    def value(item):
        return base64.b64decode(item["b64"]) if isinstance(item, dict) and set(item) == {"b64"} else item

    outputs = fn(**{input_name: tf.constant([value(item) for item in request["instances"]])})

    def encode(name: str, item):
        if isinstance(item, bytes):
            assert name.endswith("_bytes")  # otherwise TF Serving would send (invalid UTF-8) text
            return {"b64": base64.b64encode(item).decode("ascii")}
        return item.tolist()

    arrays = {name: tensor.numpy() for name, tensor in outputs.items()}
    rows = len(next(iter(arrays.values())))
    if len(arrays) == 1:
        ((name, array),) = arrays.items()
        predictions = [encode(name, array[i]) for i in range(rows)]
    else:
        predictions = [{name: encode(name, a[i]) for name, a in arrays.items()} for i in range(rows)]
    return json.dumps({"predictions": predictions})


# ------------------------------------------------------------------------------------- reference side


def encoded(image: np.ndarray, fmt: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return buf.getvalue()


def keras_uint8(model, image_uint8: np.ndarray) -> np.ndarray:
    """The Keras generator's SR output for one uint8 image, rounded to uint8 like the PNG path."""
    from keras_srgan.exporters.parity import keras_reference
    from keras_srgan.pixels import to_uint8

    return to_uint8(keras_reference(model, image_uint8[None].astype(np.float32) / 255.0)[0])


def png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def levels(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape, (a.shape, b.shape)
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.fixture(scope="module")
def inputs():
    """A PNG and a JPEG of different sizes (one batch may mix sizes), with the pixels the model sees."""
    from PIL import Image

    png_img, jpg_img = smooth_image(9, 13, seed=3), smooth_image(12, 10, seed=4)
    png, jpg = encoded(png_img, "PNG"), encoded(jpg_img, "JPEG")
    # The model sees the JPEG as Pillow (the CLI) decodes it: the SavedModel asks for libjpeg's accurate DCT
    jpg_pixels = np.asarray(Image.open(io.BytesIO(jpg)).convert("RGB"))
    return {"bytes": [png, jpg], "pixels": [png_img, jpg_pixels]}


def assert_matches_keras(pngs: list[bytes], inputs, model) -> list[int]:
    assert len(pngs) == len(inputs["pixels"])
    diffs = []
    for data, pixels in zip(pngs, inputs["pixels"], strict=True):
        got, expected = png_pixels(data), keras_uint8(model, pixels)
        assert got.shape == (4 * pixels.shape[0], 4 * pixels.shape[1], 3)
        assert expected.std() > 20.0  # measured ~50 levels: a comparison that means something
        diffs.append(levels(got, expected))
    assert max(diffs) <= MAX_LEVELS, diffs
    return diffs


# ----------------------------------------------------------------------------------------------- gRPC


def test_grpc_png_request_round_trip_matches_keras(served, inputs, generator, tmp_path):
    from tensorflow_serving.apis import predict_pb2

    from keras_srgan.serving import decode_grpc_response, grpc_request

    path = tmp_path / "lr.png"
    path.write_bytes(inputs["bytes"][0])
    request = grpc_request([path, inputs["bytes"][1]], model_name="srgan", version=1)
    wire = request.SerializeToString()

    parsed = predict_pb2.PredictRequest()
    parsed.ParseFromString(wire)
    assert parsed == request
    assert (parsed.model_spec.signature_name, parsed.model_spec.version.value) == ("serving_default", 1)
    assert list(parsed.inputs) == ["image_bytes"]
    assert [d.size for d in parsed.inputs["image_bytes"].tensor_shape.dim] == [2]

    response = predict_pb2.PredictResponse.FromString(grpc_server(served, wire))
    assert list(response.outputs) == ["sr_png_bytes"]
    assert response.model_spec.version.value == 1
    assert_matches_keras(decode_grpc_response(response), inputs, generator)


def test_grpc_latest_version_when_none_is_pinned(served, inputs, generator):
    from tensorflow_serving.apis import predict_pb2

    from keras_srgan.serving import decode_grpc_response, grpc_request

    request = grpc_request(inputs["bytes"][:1])
    assert not request.model_spec.HasField("version")
    response = predict_pb2.PredictResponse.FromString(grpc_server(served, request.SerializeToString()))
    assert response.model_spec.version.value == 1
    (png,) = decode_grpc_response(response)
    assert levels(png_pixels(png), keras_uint8(generator, inputs["pixels"][0])) <= MAX_LEVELS


def test_grpc_float_request_round_trip_matches_keras(served, generator):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from keras_srgan.exporters.parity import keras_reference
    from keras_srgan.serving import decode_grpc_float_response, grpc_float_request

    lr = np.stack([smooth_image(11, 7, seed=5), smooth_image(11, 7, seed=6)]).astype(np.float32) / 255.0
    request = grpc_float_request(lr, version=1)
    parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert parsed.model_spec.signature_name == "predict_float"
    proto = parsed.inputs["lr"]
    assert proto.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in proto.tensor_shape.dim] == [2, 11, 7, 3]

    response = predict_pb2.PredictResponse.FromString(grpc_server(served, parsed.SerializeToString()))
    sr = decode_grpc_float_response(response)
    expected = keras_reference(generator, lr)
    assert sr.dtype == np.float32 and sr.shape == (2, 44, 28, 3)
    assert expected.std() > 0.1  # measured ~0.2
    np.testing.assert_allclose(sr, expected, rtol=0, atol=FLOAT_ATOL)

    # TF Serving answers in float_val unless told to use tensor_content: the decoder reads both.
    as_fields = predict_pb2.PredictResponse()
    field = as_fields.outputs["sr"]
    field.dtype = tf.float32.as_datatype_enum
    field.tensor_shape.CopyFrom(response.outputs["sr"].tensor_shape)
    field.float_val.extend(sr.ravel().tolist())
    np.testing.assert_array_equal(decode_grpc_float_response(as_fields), sr)

    single = grpc_float_request(lr[0])  # [H, W, 3] gets a batch axis
    assert [d.size for d in single.inputs["lr"].tensor_shape.dim] == [1, 11, 7, 3]


def test_decode_grpc_response_on_a_real_predict_response():
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from keras_srgan.errors import UserError
    from keras_srgan.serving import decode_grpc_float_response, decode_grpc_response

    pngs = [b"\x89PNG first", b"\x89PNG \x00second\xff"]  # arbitrary bytes, NULs included
    response = predict_pb2.PredictResponse()
    response.model_spec.name = "srgan"
    response.outputs["sr_png_bytes"].CopyFrom(tf.make_tensor_proto(np.array(pngs, dtype=object)))
    wire = predict_pb2.PredictResponse.FromString(response.SerializeToString())
    assert decode_grpc_response(wire) == pngs

    float_reply = predict_pb2.PredictResponse()
    float_reply.outputs["sr"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 4, 4, 3), np.float32)))
    with pytest.raises(UserError, match=r"no output 'sr_png_bytes' \(outputs: sr\)"):
        decode_grpc_response(float_reply)
    assert list(float_reply.outputs) == ["sr"]  # the check must not insert an empty entry
    with pytest.raises(UserError, match=r"no output 'sr' \(outputs: sr_png_bytes\)"):
        decode_grpc_float_response(response)
    with pytest.raises(UserError, match=r"outputs: none"):
        decode_grpc_response(predict_pb2.PredictResponse())


def test_grpc_request_errors(monkeypatch):
    from keras_srgan.errors import UserError
    from keras_srgan.serving import grpc_float_request, grpc_request

    with pytest.raises(UserError, match="use grpc_float_request"):
        grpc_request([b"img"], signature_name="predict_float")
    with pytest.raises(UserError, match=r"RGB \[N, H, W, 3\].*\(4, 4\)"):
        grpc_float_request(np.zeros((4, 4), np.float32))
    with pytest.raises(UserError, match="no images"):
        grpc_request([])
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis.predict_pb2", None)
    with pytest.raises(UserError, match=r"pip install keras-srgan\[serving\]"):
        grpc_request([b"img"])


# ----------------------------------------------------------------------------------------------- REST


def test_rest_payload_round_trip_matches_keras(served, inputs, generator):
    from keras_srgan.serving import decode_rest_response, rest_payload

    body = json.dumps(rest_payload(inputs["bytes"]))
    request = json.loads(body)
    assert request["signature_name"] == "serving_default"
    assert [list(item) for item in request["instances"]] == [["b64"], ["b64"]]

    reply = json.loads(rest_server(served, body))
    assert [list(item) for item in reply["predictions"]] == [["b64"], ["b64"]]
    assert_matches_keras(decode_rest_response(reply), inputs, generator)


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
    with pytest.raises(UserError, match="float32 pixels"):
        rest_payload([b"img"], signature_name="predict_float")
    with pytest.raises(UserError, match="TF Serving error: boom"):
        decode_rest_response({"error": "boom"})
    with pytest.raises(UserError, match="expected"):
        decode_rest_response({"predictions": [[0.5, 0.25]]})
    assert decode_rest_response(
        {"predictions": [{"sr_png_bytes": {"b64": base64.b64encode(b"x").decode()}}]}
    ) == [b"x"]


# ---------------------------------------------------------------------------------- the names agree


def test_client_names_match_the_exported_signatures(served):
    from keras_srgan import serving
    from keras_srgan.exporters.savedmodel import describe

    signatures = describe(served["models"][1])

    def names(sig: str, side: str) -> list[str]:
        return [t["name"] for t in signatures[sig][side]]

    assert set(signatures) == {serving.SIGNATURE, serving.FLOAT_SIGNATURE}
    assert names(serving.SIGNATURE, "inputs") == [serving.INPUT_NAME]
    assert names(serving.SIGNATURE, "outputs") == [serving.OUTPUT_NAME]
    assert names(serving.FLOAT_SIGNATURE, "inputs") == [serving.FLOAT_INPUT]
    assert names(serving.FLOAT_SIGNATURE, "outputs") == [serving.FLOAT_OUTPUT]


# ------------------------------------------------------------------ whole images: tiled in the graph


@pytest.mark.parametrize(("height", "width", "tile"), [(37, 45, 8), (9, 70, 16), (20, 20, 200)])
def test_graph_tiler_cuts_the_windows_the_cli_cuts_and_equals_the_whole_image(generator, height, width, tile):
    """The in-graph tiler against two independent computations: the Keras model on the whole image, and
    the host tiler's window plan (``tiling.axis_spans``: the same windows, starts and seams)."""
    import tensorflow as tf

    from keras_srgan.exporters.graph import Serving, _spans, tiled
    from keras_srgan.exporters.parity import keras_reference
    from keras_srgan.inference import tiling, transforms

    overlap = transforms.receptive_radius(generator)
    for length in (height, width, 1, 3 * tile + 7):
        window = tile + 2 * overlap
        size, starts, keeps, ends = (t.numpy() for t in _spans(tf.constant(length), window, overlap))
        expected = tiling.axis_spans(length, tile, overlap)
        assert starts.tolist() == [max(0, s.win_start) for s in expected]
        assert keeps.tolist() == [s.keep_start for s in expected] and ends.tolist() == [
            s.keep_end for s in expected
        ]
        assert size == min(window, length)
    image = smooth_image(height, width, seed=11).astype(np.float32) / 255.0
    serving = Serving(tile=tile, overlap=overlap, scale=4, max_pixels=10**6)
    whole = keras_reference(generator, image[None])[0]
    out = tf.function(lambda x: tiled(generator, x, serving, tf.float32))(tf.constant(image)).numpy()
    # exact seams: only float rounding of differently sized convolutions (measured max 1.1e-6 on AMX; the
    # host tiler's bound, test_tiling, is 5e-6 from a CPU with oneDNN held to AVX2)
    np.testing.assert_allclose(out, whole, rtol=0, atol=5e-6)
    levels = tf.function(lambda x: tiled(generator, x, serving, tf.uint8))(tf.constant(image)).numpy()
    assert np.abs(levels.astype(int) - np.rint(whole * 255).astype(int)).max() <= MAX_LEVELS


def test_savedmodel_refuses_an_image_above_the_pixel_limit_with_invalid_argument(generator, tmp_path):
    import tensorflow as tf

    from keras_srgan.exporters import export

    limit = 64 * 80  # the export's own parity image, 64x80, must still pass
    (entry,) = export(generator, "savedmodel", tmp_path, max_pixels=limit)
    assert entry["serving"]["max_pixels"] == limit and entry["serving"]["overlap"] == 12
    loaded = tf.saved_model.load(str(tmp_path / entry["path"]))
    from PIL import Image

    from keras_srgan.exporters.parity import keras_reference

    buffer = io.BytesIO()
    Image.fromarray(smooth_image(80, 64, seed=1)).save(buffer, format="JPEG", quality=70)
    lr = np.asarray(Image.open(buffer).convert("RGB"), np.float32)[None] / 255.0  # the CLI's decoder
    out = loaded.signatures["serving_default"](image_bytes=tf.constant([buffer.getvalue()]))["sr_png_bytes"]
    sr = tf.io.decode_png(out[0]).numpy().astype(int)
    # a JPEG decoded as Pillow decodes it (TensorFlow's default DCT was 4 levels off the LR, 11 off the SR)
    assert np.abs(sr - np.rint(keras_reference(generator, lr)[0] * 255)).max() <= MAX_LEVELS
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=rf"image too large: more than {limit} input pixels"
    ):
        loaded.signatures["serving_default"](image_bytes=tf.constant([_png(smooth_image(81, 64, seed=1))]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image too large"):
        loaded.signatures["predict_float"](lr=tf.zeros([1, 72, 72, 3]))


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()

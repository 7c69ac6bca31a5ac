"""The export formats as a table: per format its artifact name, its converter and its runtime runner.

``exporters.export`` writes every format through the same steps (convert under a temporary name, run
in the format's own runtime, compare with Keras, rename, list in the manifest) and ``parity.load_runner``
runs any artifact, both by looking the format up here instead of each keeping its own if-chain.
Optional runtimes are imported only when a format is used (``require`` names the pip extra).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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

# The pip extra that installs each optional module (``require`` names it in its one-line error).
EXTRAS = {
    "tf2onnx": "onnx",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "ai_edge_litert": "litert",
    "tensorflow_serving": "serving",
    "grpc": "serving",
    "openvino": "openvino",
}

Runner = Callable[[np.ndarray], np.ndarray]


def require(module: str, purpose: str):
    """Import an optional dependency or say which extra installs it (one ``error:`` line in the CLI)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module.split(".")[0], "all")
        raise UserError(
            f"{purpose} needs the '{module.split('.')[0]}' package: pip install keras-srgan[{extra}]"
        ) from None


def savedmodel_runner(path, signature: str = FLOAT_SIGNATURE) -> Callable[[np.ndarray], np.ndarray]:
    """LR -> SR [0, 1] through the SavedModel's float signature, loaded with plain TensorFlow.

    ``path`` may also be an already loaded SavedModel (loading is the slow part).
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path)) if isinstance(path, str | Path) else path
    fn = loaded.signatures[signature]
    return lambda lr: fn(**{FLOAT_INPUT: tf.constant(lr, tf.float32)})[FLOAT_OUTPUT].numpy()


def run_savedmodel_bytes(path, images: list[bytes]) -> list[np.ndarray]:
    """Decoded SR images (uint8) from the SavedModel's encoded-image signature (path or loaded model)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path)) if isinstance(path, str | Path) else path
    fn = loaded.signatures[BYTES_SIGNATURE]
    out = fn(**{BYTES_INPUT: tf.constant(images, tf.string)})[BYTES_OUTPUT].numpy()
    return [tf.io.decode_png(item).numpy() for item in out]


def tflite_runner(path: str | Path, num_threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """LR -> SR [0, 1] with the LiteRT interpreter, resizing a dynamic input when the shape changes."""
    interpreter_mod = require("ai_edge_litert.interpreter", "running a TFLite/LiteRT model")
    interpreter = interpreter_mod.Interpreter(model_path=str(path), num_threads=num_threads)
    inp = interpreter.get_input_details()[0]
    out_index = interpreter.get_output_details()[0]["index"]
    state = {"shape": None}

    def run(lr: np.ndarray) -> np.ndarray:
        shape = tuple(int(s) for s in lr.shape)
        if shape != state["shape"]:
            signature = [int(s) for s in inp["shape_signature"]]
            if any(d != -1 and d != s for d, s in zip(signature, shape, strict=True)):
                raise UserError(f"{path}: fixed input shape {tuple(signature)} cannot take {shape}")
            interpreter.resize_tensor_input(inp["index"], list(shape), strict=True)
            interpreter.allocate_tensors()
            state["shape"] = shape
        interpreter.set_tensor(inp["index"], np.asarray(lr, dtype=inp["dtype"]))
        interpreter.invoke()
        return np.array(interpreter.get_tensor(out_index))

    return run


def onnx_runner(path: str | Path, num_threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """LR -> SR [0, 1] with onnxruntime on CPU."""
    ort = require("onnxruntime", "running an ONNX model")
    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda lr: session.run(None, {name: np.asarray(lr, dtype=np.float32)})[0]


def openvino_runner(path: str | Path, precision: str = "fp32") -> Callable[[np.ndarray], np.ndarray]:
    """LR -> SR [0, 1] with the IR file in OpenVINO: the upscaler's own ``OpenVINOEngine``, from the file."""
    require("openvino", "running an OpenVINO model")
    from keras_srgan.inference.openvino_engine import OpenVINOEngine

    return OpenVINOEngine(ir=path, precision=precision, cache=False)


@dataclass(frozen=True)
class Format:
    """One export format.

    ``artifact_name(quantization, input_size, pixels="float")``: the file name under ``OUT_DIR/<name>/``.
    ``convert(model, path, quantization, input_size, context)``: writes the artifact at ``path`` (a
    temporary name; ``companions`` are the suffixes of files written beside it under the same stem).
    ``runner(path, num_threads)``: LR -> SR [0, 1] in the format's own runtime. ``describe(path)``:
    input/output names, shapes and dtypes for the manifest. ``requires``: (module, purpose) pairs checked
    before any slow work.
    """

    name: str
    artifact_name: Callable[..., str]
    convert: Callable
    runner: Callable[[str | Path, int | None], Runner]
    describe: Callable[[str | Path], dict]
    requires: tuple[tuple[str, str], ...] = ()
    companions: tuple[str, ...] = ()
    quantizations: tuple[str, ...] = ("none",)
    extra_checks: tuple[str, ...] = field(default=())


def carries_post_processing(fmt: str, quantization: str, input_size, pixels: str = "float") -> bool:
    """Whether an artifact can run the weights' whole-image post-processing (the phase equalisation) in
    its own graph: the SavedModel, and the dynamic-size ONNX, OpenVINO and float32/float16 LiteRT files. A
    fixed-size file is a tile an app loops over, and an integer graph would quantize the offsets."""
    if fmt == "savedmodel":
        return True
    dynamic_float = input_size is None and pixels == "float"
    return dynamic_float and (fmt != "tflite" or quantization in ("none", "float16"))


def _tflite_convert(model, path, quantization, input_size, context) -> None:
    from keras_srgan.exporters import tflite

    data = tflite.convert(
        model,
        quantization,
        input_size,
        calibration_samples=context.get("calibration_samples", 32),
        pixels=context.get("pixels", "float"),
        calibration_data=context.get("calibration_data"),
        info=context.setdefault("artifact_info", {}),
        equalize_scale=context.get("equalize_scale"),
    )
    Path(path).write_bytes(data)


def _onnx_convert(model, path, quantization, input_size, context) -> None:
    from keras_srgan.exporters import onnx

    onnx.convert(model, path, input_size, equalize_scale=context.get("equalize_scale"))


def _openvino_convert(model, path, quantization, input_size, context) -> None:
    from keras_srgan.exporters import openvino

    openvino.convert(model, path, input_size, equalize_scale=context.get("equalize_scale"))


def _describe(module: str) -> Callable[[str | Path], dict]:
    def describe(path: str | Path) -> dict:
        return importlib.import_module(f"keras_srgan.exporters.{module}").describe(path)

    return describe


def _name(module: str) -> Callable[..., str]:
    """The module's own ``artifact_name`` (only TFLite names its quantization and pixel type)."""

    def name(quantization: str, input_size, pixels: str = "float") -> str:
        found = importlib.import_module(f"keras_srgan.exporters.{module}").artifact_name
        return found(quantization, input_size, pixels) if module == "tflite" else found(input_size)

    return name


def _savedmodel_runner(path, num_threads=None) -> Runner:
    return savedmodel_runner(path)


# Only the file formats have a converter here; the SavedModel (a versioned folder for TF Serving) is
# written by ``exporters._export_savedmodel`` and shares the runner and describe entries.
FORMATS: dict[str, Format] = {
    "savedmodel": Format("savedmodel", lambda q, s: "", None, _savedmodel_runner, _describe("savedmodel")),
    "tflite": Format(
        "tflite",
        _name("tflite"),
        _tflite_convert,
        lambda path, threads=None: tflite_runner(path, threads),
        _describe("tflite"),
        requires=(("ai_edge_litert.interpreter", "checking the TFLite export"),),
        quantizations=("none", "float16", "dynamic", "int8", "int16x8"),
    ),
    "onnx": Format(
        "onnx",
        _name("onnx"),
        _onnx_convert,
        lambda path, threads=None: onnx_runner(path, threads),
        _describe("onnx"),
        requires=(("tf2onnx", "ONNX export"), ("onnx", "ONNX export"), ("onnxruntime", "ONNX export")),
    ),
    "openvino": Format(
        "openvino",
        _name("openvino"),
        _openvino_convert,
        lambda path, threads=None: openvino_runner(path),
        _describe("openvino"),
        requires=(("openvino", "OpenVINO export"),),
        companions=(".bin",),
        extra_checks=("openvino-bf16",),
    ),
}

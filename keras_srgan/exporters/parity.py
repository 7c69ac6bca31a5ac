"""Run each exported artifact in its own runtime and compare it with the Keras generator.

A converter can succeed and still produce a wrong model (e.g. a TFLite file that lost its weights and
outputs NaN), so an export only counts once its output on a fixed test image matches Keras. PSNR is in
dB on the [0, 1] output; 200 dB is reported for bit-identical output (instead of infinity, which JSON
cannot hold).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.exporters.signatures import FLOAT_SIGNATURE

# Minimum PSNR (dB) against Keras per quantization mode. float32 is the brief's bar; the lower ones
# come from measuring the full-size generator on Set5 (docs/export.md) with a safety margin.
THRESHOLDS_DB = {"none": 50.0, "float16": 45.0, "dynamic": 28.0, "int8": 24.0}
PSNR_CAP_DB = 200.0
DEFAULT_LR_SIZE = (64, 80)  # H != W so a transposed shape cannot pass unnoticed

EXTRAS = {
    "tf2onnx": "onnx",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "ai_edge_litert": "litert",
    "tensorflow_serving": "serving",
    "grpc": "serving",
    "openvino": "openvino",
}


class ParityError(UserError):
    """An exported artifact whose output does not match the Keras generator closely enough."""


def require(module: str, purpose: str):
    """Import an optional dependency or say which extra installs it (one ``error:`` line in the CLI)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module.split(".")[0], "all")
        raise UserError(
            f"{purpose} needs the '{module.split('.')[0]}' package: pip install keras-srgan[{extra}]"
        ) from None


def parity_image_uint8(size: tuple[int, int] | None = None) -> np.ndarray:
    """The fixed LR parity image: scikit-image's bundled astronaut, bicubic-resized to ``size`` (H, W)."""
    from PIL import Image
    from skimage import data

    h, w = size or DEFAULT_LR_SIZE
    return np.asarray(Image.fromarray(data.astronaut()).resize((w, h), Image.BICUBIC), dtype=np.uint8)


def parity_image(size: tuple[int, int] | None = None) -> np.ndarray:
    """The parity image as float32 ``[1, H, W, 3]`` in [0, 1]."""
    return (parity_image_uint8(size).astype(np.float32) / 255.0)[None]


def keras_reference(model, lr: np.ndarray) -> np.ndarray:
    """The generator's own SR output in [0, 1], through the package's one-trace predictor."""
    from keras_srgan.inference.predict import Predictor

    return Predictor(model)(lr)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB for images in [0, 1]; NaN anywhere counts as a total mismatch (0 dB)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return 0.0
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return PSNR_CAP_DB
    return float(min(PSNR_CAP_DB, 10.0 * np.log10(1.0 / mse)))


def compare(output: np.ndarray, reference: np.ndarray) -> dict:
    """PSNR and max abs difference of an artifact's output against the Keras reference."""
    output = np.asarray(output)
    if output.shape != reference.shape:
        return {"psnr_db": 0.0, "max_abs_diff": None, "error": f"shape {output.shape} != {reference.shape}"}
    diff = np.abs(output.astype(np.float64) - reference.astype(np.float64))
    max_abs = float(np.max(diff)) if np.isfinite(diff).all() else float("nan")
    return {"psnr_db": round(psnr(output, reference), 3), "max_abs_diff": max_abs}


# ---------------------------------------------------------------------------------------------- runners


def savedmodel_runner(path, signature: str = FLOAT_SIGNATURE) -> Callable[[np.ndarray], np.ndarray]:
    """LR -> SR [0, 1] through the SavedModel's float signature, loaded with plain TensorFlow.

    ``path`` may also be an already loaded SavedModel (loading is the slow part).
    """
    import tensorflow as tf

    from keras_srgan.exporters.graph import FLOAT_INPUT, FLOAT_OUTPUT

    loaded = tf.saved_model.load(str(path)) if isinstance(path, str | Path) else path
    fn = loaded.signatures[signature]
    return lambda lr: fn(**{FLOAT_INPUT: tf.constant(lr, tf.float32)})[FLOAT_OUTPUT].numpy()


def run_savedmodel_bytes(path, images: list[bytes]) -> list[np.ndarray]:
    """Decoded SR images (uint8) from the SavedModel's encoded-image signature (path or loaded model)."""
    import tensorflow as tf

    from keras_srgan.exporters.graph import BYTES_INPUT, BYTES_OUTPUT, BYTES_SIGNATURE

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
    from keras_srgan.inference.engines import OpenVINOEngine

    return OpenVINOEngine(ir=path, precision=precision, cache=False)


def load_runner(
    fmt: str, path: str | Path, num_threads: int | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """A reusable LR -> SR callable for an artifact, in that format's own runtime (never Keras)."""
    if fmt == "savedmodel":
        return savedmodel_runner(path)
    if fmt == "tflite":
        return tflite_runner(path, num_threads)
    if fmt == "onnx":
        return onnx_runner(path, num_threads)
    if fmt == "openvino":
        return openvino_runner(path)
    if fmt == "openvino-bf16":  # the same IR compiled as the CPU default compiles it
        return openvino_runner(path, "bf16")
    raise UserError(f"unknown format {fmt!r}")


def measure_artifact(fmt: str, path: str | Path, lr: np.ndarray, reference: np.ndarray, loaded=None) -> dict:
    """Parity figures of one artifact; the export code calls this (tests patch it to force a failure).

    ``loaded`` is an already loaded SavedModel, to avoid loading it twice.
    """
    try:
        run = savedmodel_runner(loaded) if loaded is not None else load_runner(fmt, path)
        output = run(lr)
    except UserError:
        raise
    except Exception as exc:  # a runtime that cannot even run the file is a parity failure, not a crash
        reason = error_reason(exc)
        return {"psnr_db": 0.0, "max_abs_diff": None, "error": f"runtime failed: {reason}"}
    return compare(output, reference)


def check(
    fmt: str, quantization: str, path: str | Path, lr: np.ndarray, reference: np.ndarray, loaded=None
) -> dict:
    """Measure, attach the threshold, and raise ParityError when below it."""
    extra = {"loaded": loaded} if loaded is not None else {}
    result = measure_artifact(fmt, path, lr, reference, **extra)
    threshold = THRESHOLDS_DB[quantization]
    result = {
        **result,
        "threshold_db": threshold,
        "test_image": f"skimage astronaut, LR {lr.shape[1]}x{lr.shape[2]}",
    }
    if not result["psnr_db"] >= threshold:
        detail = f" ({result['error']})" if result.get("error") else ""
        raise ParityError(
            f"{Path(path).name}: {fmt}/{quantization} output differs from Keras: "
            f"{result['psnr_db']:.2f} dB < {threshold:.0f} dB{detail}"
        )
    return result

"""Run each exported artifact in its own runtime and compare it with the Keras generator.

A converter can succeed and still produce a wrong model (e.g. a TFLite file that lost its weights and
outputs NaN), so an export only counts once its output on a fixed test image matches Keras. PSNR is in
dB on the [0, 1] output; 200 dB is reported for bit-identical output (instead of infinity, which JSON
cannot hold).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from keras_srgan import samples
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.exporters import require
from keras_srgan.serving import FLOAT_INPUT, FLOAT_OUTPUT, FLOAT_SIGNATURE, INPUT_NAME, OUTPUT_NAME, SIGNATURE

# Minimum PSNR (dB) against Keras per quantization mode. float32 is the brief's bar; the lower ones
# come from measuring the full-size generator on Set5 (docs/export.md) with a safety margin.
THRESHOLDS_DB = {"none": 50.0, "float16": 45.0, "dynamic": 28.0, "int8": 24.0, "int16x8": 24.0}
PSNR_CAP_DB = 200.0
DEFAULT_LR_SIZE = (64, 80)  # H != W so a transposed shape cannot pass unnoticed
PARITY_SAMPLE = "astronaut"  # never among tflite's calibration photos: int8 is not judged on what it saw
Runner = Callable[[np.ndarray], np.ndarray]  # LR -> SR [0, 1] in an artifact's own runtime


class ParityError(UserError):
    """An exported artifact whose output does not match the Keras generator closely enough."""


def parity_image_uint8(size: tuple[int, int] | None = None) -> np.ndarray:
    """The fixed LR parity image: the bundled astronaut photo, bicubic-resized to ``size`` (H, W)."""
    h, w = size or DEFAULT_LR_SIZE
    with Image.open(samples.path(PARITY_SAMPLE)) as im:
        return np.asarray(im.convert("RGB").resize((w, h), Image.BICUBIC), dtype=np.uint8)


def keras_reference(model, lr: np.ndarray) -> np.ndarray:
    """The generator's own SR output in [0, 1], through the package's one-trace predictor."""
    from keras_srgan.inference.engines import Predictor

    return Predictor(model)(lr)


def equalized(sr: np.ndarray, lr: np.ndarray, scale: int) -> np.ndarray:
    """A batch of SR [0, 1] with the CLI's phase equalisation (``phase.equalize``), float32: the CLI's
    picture, the reference of an artifact that carries the post-processing."""
    from keras_srgan.inference.phase import equalize

    return np.stack([equalize(s, low, scale, np.float32) for s, low in zip(sr, lr, strict=True)])


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


def savedmodel_runner(path) -> Runner:
    """The SavedModel's float signature (``path``, or the SavedModel already loaded: the slow part)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path)) if isinstance(path, str | Path) else path
    fn = loaded.signatures[FLOAT_SIGNATURE]
    return lambda lr: fn(**{FLOAT_INPUT: tf.constant(lr, tf.float32)})[FLOAT_OUTPUT].numpy()


def run_savedmodel_bytes(path, images: list[bytes]) -> list[np.ndarray]:
    """Decoded SR images (uint8) from the SavedModel's encoded-image signature (path or loaded model)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path)) if isinstance(path, str | Path) else path
    out = loaded.signatures[SIGNATURE](**{INPUT_NAME: tf.constant(images, tf.string)})[OUTPUT_NAME].numpy()
    return [tf.io.decode_png(item).numpy() for item in out]


def tflite_runner(path: str | Path, num_threads: int | None = None) -> Runner:
    """The LiteRT interpreter, resizing a dynamic input when the shape changes."""
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


def onnx_runner(path: str | Path, num_threads: int | None = None) -> Runner:
    """onnxruntime on CPU."""
    ort = require("onnxruntime", "running an ONNX model")
    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda lr: session.run(None, {name: np.asarray(lr, dtype=np.float32)})[0]


def openvino_runner(path: str | Path, precision: str = "fp32") -> Runner:
    """The IR in OpenVINO: the upscaler's own ``OpenVINOEngine``, from the file."""
    require("openvino", "running an OpenVINO model")
    from keras_srgan.inference.openvino_engine import OpenVINOEngine

    return OpenVINOEngine(ir=path, precision=precision, cache=False)


RUNNERS = {
    "savedmodel": lambda path, threads: savedmodel_runner(path),
    "tflite": tflite_runner,
    "onnx": onnx_runner,
    "openvino": lambda path, threads: openvino_runner(path),
    "openvino-bf16": lambda path, threads: openvino_runner(path, "bf16"),  # as the CPU default compiles it
}


def load_runner(fmt: str, path: str | Path, num_threads: int | None = None) -> Runner:
    """A reusable LR -> SR callable for an artifact, in that format's own runtime (never Keras)."""
    if fmt not in RUNNERS:
        raise UserError(f"unknown format {fmt!r}")
    return RUNNERS[fmt](path, num_threads)


def measure_artifact(
    fmt: str, path: str | Path, lr: np.ndarray, reference: np.ndarray, loaded=None, pixels: str = "float"
) -> dict:
    """Parity figures of one artifact (``loaded``: the SavedModel, already loaded). ``pixels="uint8"``: ``lr``
    is uint8 and the uint8 output is compared with the Keras output rounded to uint8 (figures on the [0, 1]
    scale; ``max_abs_diff_levels`` counts 8-bit levels). Tests patch it to force a failure."""
    try:
        run = savedmodel_runner(loaded) if loaded is not None else load_runner(fmt, path)
        output = run(lr)
        if pixels == "uint8":
            if np.asarray(output).dtype != np.uint8:
                raise UserError(f"{Path(path).name}: output is {np.asarray(output).dtype}, expected uint8")
            levels = np.abs(output.astype(np.int32) - to_uint8_levels(reference))
            result = compare(output / 255.0, to_uint8_levels(reference) / 255.0)
            return {**result, "max_abs_diff_levels": int(levels.max()) if levels.size else None}
    except UserError:
        raise
    except Exception as exc:  # a runtime that cannot even run the file is a parity failure, not a crash
        return {"psnr_db": 0.0, "max_abs_diff": None, "error": f"runtime failed: {error_reason(exc)}"}
    return compare(output, reference)


def to_uint8_levels(sr: np.ndarray) -> np.ndarray:
    """SR in [0, 1] as the uint8 levels an app would show (rounded, clipped), as int32."""
    return np.clip(np.round(np.asarray(sr, np.float64) * 255.0), 0, 255).astype(np.int32)


def check(fmt: str, quantization: str, path, lr, reference, loaded=None, pixels: str = "float") -> dict:
    """Measure, attach the threshold, and raise ParityError when below it."""
    threshold = THRESHOLDS_DB[quantization]
    result = {
        **measure_artifact(fmt, path, lr, reference, loaded=loaded, pixels=pixels),
        "threshold_db": threshold,
        "test_image": f"bundled {PARITY_SAMPLE} photo, LR {lr.shape[1]}x{lr.shape[2]}",
    }
    if not result["psnr_db"] >= threshold:
        detail = f" ({result['error']})" if result.get("error") else ""
        raise ParityError(
            f"{Path(path).name}: {fmt}/{quantization} output differs from Keras: "
            f"{result['psnr_db']:.2f} dB < {threshold:.0f} dB{detail}"
        )
    return result

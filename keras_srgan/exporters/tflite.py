"""TFLite / LiteRT conversion: float32, float16 weights, dynamic-range int8 and full int8.

Conversion goes Keras ExportArchive -> SavedModel -> ``TFLiteConverter.from_saved_model`` with only
builtin ops (no Flex delegate needed on device). The float interface is kept for every mode, including
full int8 (quantize/dequantize happen inside the model), so one client works with all four files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from keras_srgan.defaults import TFLITE_QUANTIZATIONS
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason

QUANTIZATIONS = TFLITE_QUANTIZATIONS
DEFAULT_CALIBRATION_CROP = (48, 48)
# Colour photos bundled inside scikit-image (read from its package folder: never a download). The
# parity image (astronaut) is left out so int8 is not calibrated on the image it is judged on.
CALIBRATION_IMAGES = (
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "ihc.png",
    "hubble_deep_field.jpg",
)


def artifact_name(quantization: str, input_size: tuple[int, int] | None = None) -> str:
    label = "float32" if quantization == "none" else quantization
    fixed = "" if input_size is None else f"_{input_size[0]}x{input_size[1]}"
    return f"srgan_{label}{fixed}.tflite"


def _smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = []
    for c in range(3):
        fx, fy = rng.uniform(0.02, 0.2, size=2)
        planes.append(0.5 + 0.35 * np.sin(fx * x + c) * np.cos(fy * y + 2 * c))
    return np.clip(np.stack(planes, -1) + 0.03 * rng.standard_normal((height, width, 3)), 0, 1).astype(
        np.float32
    )


def _sample_images() -> list[np.ndarray]:
    """The bundled scikit-image photos as LR float images (bicubic /4, like the training degradation)."""
    try:
        import skimage.data
    except ImportError:
        return []
    from PIL import Image

    folder = Path(skimage.data.__file__).resolve().parent
    images = []
    for name in CALIBRATION_IMAGES:
        path = folder / name
        if not path.is_file():
            continue
        with Image.open(path) as im:
            im = im.convert("RGB")
            im = im.resize((max(1, im.width // 4), max(1, im.height // 4)), Image.BICUBIC)
            images.append(np.asarray(im, dtype=np.float32) / 255.0)
    return images


def calibration_crops(
    count: int = 32, crop: tuple[int, int] = DEFAULT_CALIBRATION_CROP, seed: int = 0
) -> list[np.ndarray]:
    """LR crops ``[1, H, W, 3]`` for int8 calibration: real photos when available, else smooth synthetics."""
    rng = np.random.default_rng(seed)
    h, w = crop
    sources = _sample_images() or [_smooth_image(rng, 4 * h, 4 * w) for _ in range(4)]
    crops = []
    for i in range(count):
        src = sources[i % len(sources)]
        if src.shape[0] < h or src.shape[1] < w:
            from PIL import Image

            scale = max(h / src.shape[0], w / src.shape[1])
            size = (int(np.ceil(src.shape[1] * scale)), int(np.ceil(src.shape[0] * scale)))
            src = (
                np.asarray(Image.fromarray((src * 255).astype(np.uint8)).resize(size, Image.BICUBIC)) / 255.0
            )
        y = int(rng.integers(0, src.shape[0] - h + 1))
        x = int(rng.integers(0, src.shape[1] - w + 1))
        crops.append(src[None, y : y + h, x : x + w].astype(np.float32))
    return crops


def convert(
    model,
    quantization: str = "none",
    input_size: tuple[int, int] | None = None,
    calibration_samples: int = 32,
    saved_model: str | Path | None = None,
) -> bytes:
    """The .tflite flatbuffer for one quantization mode (``input_size`` fixes the shape to [1, H, W, 3]).

    ``saved_model``: a float-signature SavedModel of ``model`` already written by ``float_saved_model``
    (several quantizations then convert the same one); without it a temporary one is written.
    """
    if quantization not in QUANTIZATIONS:
        raise UserError(f"unknown quantization {quantization!r} (choose from {', '.join(QUANTIZATIONS)})")
    if saved_model is not None:
        return _convert(saved_model, quantization, input_size, calibration_samples)
    with float_saved_model(model, input_size) as tmp:
        return _convert(tmp, quantization, input_size, calibration_samples)


@contextmanager
def float_saved_model(model, input_size: tuple[int, int] | None = None) -> Iterator[str]:
    """A temporary SavedModel with only the float signature: what the TFLite converter reads."""
    from keras_srgan.exporters.graph import write_archive

    with tempfile.TemporaryDirectory(prefix="keras-srgan-tflite-") as tmp:
        write_archive(model, tmp, input_size=input_size, with_bytes=False)
        yield tmp


def _convert(saved_model: str | Path, quantization: str, input_size, calibration_samples: int) -> bytes:
    import tensorflow as tf

    from keras_srgan.exporters.signatures import FLOAT_SIGNATURE

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[FLOAT_SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        crops = calibration_crops(calibration_samples, input_size or DEFAULT_CALIBRATION_CROP)

        def representative_dataset() -> Iterator[list[np.ndarray]]:
            for crop in crops:
                yield [crop]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        return converter.convert()
    except Exception as exc:
        reason = error_reason(exc)
        raise UserError(f"TFLite converter failed for quantization {quantization!r}: {reason}") from None


def describe(path: str | Path) -> dict:
    """Input/output names, shapes (-1 = dynamic) and dtypes as the LiteRT interpreter reports them."""
    from keras_srgan.exporters.formats import require

    interpreter = require("ai_edge_litert.interpreter", "inspecting a TFLite model").Interpreter(
        model_path=str(path)
    )

    def tensors(details):
        return [
            {
                "name": d["name"],
                "shape": [int(s) for s in d["shape_signature"]],
                "dtype": np.dtype(d["dtype"]).name,
            }
            for d in details
        ]

    signatures = interpreter.get_signature_list()
    return {
        "inputs": tensors(interpreter.get_input_details()),
        "outputs": tensors(interpreter.get_output_details()),
        "signatures": {k: {"inputs": v["inputs"], "outputs": v["outputs"]} for k, v in signatures.items()},
    }

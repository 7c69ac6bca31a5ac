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
from PIL import Image

from keras_srgan import samples
from keras_srgan.defaults import TFLITE_QUANTIZATIONS
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.pixels import to_unit

QUANTIZATIONS = TFLITE_QUANTIZATIONS
DEFAULT_CALIBRATION_CROP = (48, 48)
# Bundled photos (``keras_srgan.samples``) the int8 calibration crops come from. The parity image's
# photo (``parity.PARITY_SAMPLE``, astronaut) is left out so int8 is not calibrated on what it is judged on.
CALIBRATION_IMAGES = ("coffee", "chelsea", "rocket")


def artifact_name(quantization: str, input_size: tuple[int, int] | None = None) -> str:
    label = "float32" if quantization == "none" else quantization
    fixed = "" if input_size is None else f"_{input_size[0]}x{input_size[1]}"
    return f"srgan_{label}{fixed}.tflite"


def _sample_images() -> list[Image.Image]:
    """The calibration photos as LR images (bicubic /4, like the training degradation)."""
    images = []
    for name in CALIBRATION_IMAGES:
        with Image.open(samples.path(name)) as im:
            im = im.convert("RGB")
            images.append(im.resize((max(1, im.width // 4), max(1, im.height // 4)), Image.BICUBIC))
    return images


def calibration_crops(
    count: int = 32, crop: tuple[int, int] = DEFAULT_CALIBRATION_CROP, seed: int = 0
) -> list[np.ndarray]:
    """LR crops ``[1, H, W, 3]`` in [0, 1] for int8 calibration, cut at seeded places from real photos."""
    rng = np.random.default_rng(seed)
    h, w = crop
    sources = _sample_images()
    crops = []
    for i in range(count):
        src = sources[i % len(sources)]
        if src.height < h or src.width < w:  # a crop larger than the LR photo: enlarge the photo first
            scale = max(h / src.height, w / src.width)
            src = src.resize(
                (int(np.ceil(src.width * scale)), int(np.ceil(src.height * scale))), Image.BICUBIC
            )
        y = int(rng.integers(0, src.height - h + 1))
        x = int(rng.integers(0, src.width - w + 1))
        crops.append(to_unit(np.asarray(src))[None, y : y + h, x : x + w])
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
        write_archive(model, tmp, input_size=input_size)
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

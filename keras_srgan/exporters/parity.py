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
from keras_srgan.exporters.formats import (  # noqa: F401 (the runners are part of parity's interface)
    EXTRAS,
    FORMATS,
    onnx_runner,
    openvino_runner,
    require,
    run_savedmodel_bytes,
    savedmodel_runner,
    tflite_runner,
)
from keras_srgan.pixels import to_unit

# Minimum PSNR (dB) against Keras per quantization mode. float32 is the brief's bar; the lower ones
# come from measuring the full-size generator on Set5 (docs/export.md) with a safety margin.
THRESHOLDS_DB = {"none": 50.0, "float16": 45.0, "dynamic": 28.0, "int8": 24.0, "int16x8": 24.0}
PSNR_CAP_DB = 200.0
DEFAULT_LR_SIZE = (64, 80)  # H != W so a transposed shape cannot pass unnoticed
PARITY_SAMPLE = "astronaut"  # never among tflite's calibration photos: int8 is not judged on what it saw


class ParityError(UserError):
    """An exported artifact whose output does not match the Keras generator closely enough."""


def parity_image_uint8(size: tuple[int, int] | None = None) -> np.ndarray:
    """The fixed LR parity image: the bundled astronaut photo, bicubic-resized to ``size`` (H, W)."""
    h, w = size or DEFAULT_LR_SIZE
    with Image.open(samples.path(PARITY_SAMPLE)) as im:
        return np.asarray(im.convert("RGB").resize((w, h), Image.BICUBIC), dtype=np.uint8)


def parity_image(size: tuple[int, int] | None = None) -> np.ndarray:
    """The parity image as float32 ``[1, H, W, 3]`` in [0, 1]."""
    return to_unit(parity_image_uint8(size))[None]


def keras_reference(model, lr: np.ndarray) -> np.ndarray:
    """The generator's own SR output in [0, 1], through the package's one-trace predictor."""
    from keras_srgan.inference.engines import Predictor

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


def load_runner(
    fmt: str, path: str | Path, num_threads: int | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """A reusable LR -> SR callable for an artifact, in that format's own runtime (never Keras)."""
    if fmt == "openvino-bf16":  # the same IR compiled as the CPU default compiles it
        return openvino_runner(path, "bf16")
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}")
    return FORMATS[fmt].runner(path, num_threads)


def measure_artifact(
    fmt: str, path: str | Path, lr: np.ndarray, reference: np.ndarray, loaded=None, pixels: str = "float"
) -> dict:
    """Parity figures of one artifact; the export code calls this (tests patch it to force a failure).

    ``loaded`` is an already loaded SavedModel, to avoid loading it twice. ``pixels="uint8"``: ``lr`` is
    uint8 and the artifact's uint8 output is compared with the Keras output rounded to uint8 (the
    figures stay on the [0, 1] scale; ``max_abs_diff_levels`` counts 8-bit levels).
    """
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
        reason = error_reason(exc)
        return {"psnr_db": 0.0, "max_abs_diff": None, "error": f"runtime failed: {reason}"}
    return compare(output, reference)


def to_uint8_levels(sr: np.ndarray) -> np.ndarray:
    """An SR image in [0, 1] as the uint8 levels an app would show (rounded, clipped), as int32."""
    return np.clip(np.round(np.asarray(sr, np.float64) * 255.0), 0, 255).astype(np.int32)


def check(
    fmt: str,
    quantization: str,
    path: str | Path,
    lr: np.ndarray,
    reference: np.ndarray,
    loaded=None,
    pixels: str = "float",
) -> dict:
    """Measure, attach the threshold, and raise ParityError when below it."""
    extra = {"loaded": loaded} if loaded is not None else {}
    if pixels != "float":
        extra["pixels"] = pixels
    result = measure_artifact(fmt, path, lr, reference, **extra)
    threshold = THRESHOLDS_DB[quantization]
    result = {
        **result,
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

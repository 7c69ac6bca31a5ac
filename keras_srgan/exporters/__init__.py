"""Export the generator to SavedModel (TF Serving), TFLite/LiteRT, ONNX and OpenVINO IR, each proven against Keras.

Every format gets the same speed-up transforms the upscaler runs (``inference.transforms``: BatchNorm
folded into the convs, output conv before the last pixel shuffle). Every artifact is written under a
temporary name, run in its own runtime on a fixed test image and compared with the plain Keras
generator; only if it reaches the parity threshold is it renamed into place and listed in
``OUT_DIR/manifest.json``. A failing artifact is deleted, never left looking valid.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from keras_srgan.defaults import CALIBRATION_SAMPLES, EXPORT_FORMATS, SERVING_MAX_PIXELS, TFLITE_QUANTIZATIONS
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.files import atomic_path
from keras_srgan.pixels import to_unit
from keras_srgan.settings import require_tensorflow_backend

FORMATS = EXPORT_FORMATS
QUANTIZATIONS = TFLITE_QUANTIZATIONS
PARITY_PIXELS = 64 * 80  # parity.parity_image_uint8(): the SavedModel must serve it
# The optional modules each format needs (checked before any slow work), and the pip extra of each.
REQUIRES = {
    "savedmodel": (),
    "tflite": ("ai_edge_litert.interpreter",),
    "onnx": ("tf2onnx", "onnx", "onnxruntime"),
    "openvino": ("openvino",),
}
EXTRAS = {
    "tf2onnx": "onnx",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "ai_edge_litert": "litert",
    "tensorflow_serving": "serving",
    "grpc": "serving",
    "openvino": "openvino",
}

__all__ = ["FORMATS", "QUANTIZATIONS", "export", "parse_input_size"]


def require(module: str, purpose: str):
    """Import an optional dependency or say which extra installs it (one ``error:`` line in the CLI)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise UserError(
            f"{purpose} needs the '{package}' package: pip install keras-srgan[{EXTRAS.get(package, 'all')}]"
        ) from None


def carries_post_processing(fmt: str, quantization: str, input_size, pixels: str = "float") -> bool:
    """Whether an artifact can run the weights' whole-image post-processing (the phase equalisation) in
    its own graph: the SavedModel, and the dynamic-size ONNX, OpenVINO and float32/float16 LiteRT files. A
    fixed-size file is a tile an app loops over, and an integer graph would quantize the offsets."""
    if fmt == "savedmodel":
        return True
    dynamic_float = input_size is None and pixels == "float"
    return dynamic_float and (fmt != "tflite" or quantization in ("none", "float16"))


def parse_input_size(
    value: str | Sequence[int] | None, option: str = "--input-size"
) -> tuple[int, int] | None:
    """``"HxW"`` (or an (H, W) pair) -> (H, W); None keeps the shape dynamic. ``option`` names the flag
    in the error."""
    if value is None:
        return None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
        if not match:
            raise UserError(f"{option} {value!r}: expected HxW, e.g. 128x128")
        value = match.groups()
    h, w = (int(v) for v in value)
    if h < 1 or w < 1:
        raise UserError(f"input size {h}x{w}: both sides must be positive")
    return h, w


def _as_list(value: str | Sequence[str], allowed: Sequence[str], what: str) -> list[str]:
    """The names asked for, in order and without repeats; ``"all"`` stands for every allowed one."""
    out: list[str] = []
    for item in [value] if isinstance(value, str) else value:
        for name in allowed if item == "all" else [item]:
            if name not in allowed:
                raise UserError(f"unknown {what} {name!r} (choose from {', '.join(allowed)})")
            if name not in out:
                out.append(name)
    return out


def _load_model(weights):
    """A built generator plus a description of where it came from (recorded in the manifest)."""
    from keras_srgan.weights import DEFAULT_WEIGHTS, generator_config, is_model, resolve, sha256_of

    model = resolve(weights)
    if is_model(weights):
        source = {"weights": f"<in-memory {type(weights).__name__}>"}
    else:
        source = {"weights": str(weights) if weights is not None else f"{DEFAULT_WEIGHTS} (default)"}
        if weights is not None and Path(weights).is_file():
            source["weights_sha256"] = sha256_of(weights)
    source["config"] = generator_config(model)
    return model, source


def export(
    weights=None,
    format: str | Sequence[str] = "all",
    out_dir: str | os.PathLike = "exported",
    quantize: str | Sequence[str] = "none",
    input_size: str | Sequence[int] | None = None,
    calibration_samples: int = CALIBRATION_SAMPLES,
    max_pixels: int = SERVING_MAX_PIXELS,
    progress: Callable[[str], None] | None = None,
    phone_size: str | Sequence[int] | None = None,
    calibration_data: Sequence[str | os.PathLike] | None = None,
) -> list[dict]:
    """Export, verify against Keras, and list in the manifest; returns the new manifest entries. ``weights``:
    anything ``load_generator`` accepts, or an already built generator. ``quantize``
    applies to TFLite only (several modes give several files). ``input_size`` (``"HxW"``) fixes the
    TFLite, ONNX and OpenVINO input to ``[1, H, W, 3]``; the SavedModel always stays dynamic for TF Serving,
    serves whole images tiled in its graph, and refuses images above ``max_pixels`` input pixels.
    ``phone_size`` (``"HxW"``) adds, for every TFLite quantization but dynamic, a fixed-size file with
    uint8 RGB in and out (``srgan_<q>_<H>x<W>_uint8.tflite``, docs/mobile.md). ``calibration_data``:
    folders of HR training images for int8/int16x8 calibration (default: T91 and BSDS200 under
    KERAS_SRGAN_DATA when present, else the bundled samples); the manifest records which.
    """
    if max_pixels < PARITY_PIXELS:
        raise UserError(
            f"max_pixels {max_pixels}: must be at least {PARITY_PIXELS}, the export's own 64x80 test image"
        )
    require_tensorflow_backend("export")
    from keras_srgan.exporters import tflite

    formats = _as_list(format, FORMATS, "format")
    quants = _as_list(quantize, QUANTIZATIONS, "quantization")
    size = parse_input_size(input_size)
    phone = parse_input_size(phone_size, "--phone-size")
    if phone is not None and "tflite" not in formats:
        raise UserError("--phone-size applies to TFLite only; add --format tflite (or all)")
    if calibration_data is not None and "tflite" in formats:
        tflite.calibration_source(calibration_data)  # a missing or empty folder: fail before slow work
    if "tflite" not in formats and quants != ["none"]:
        raise UserError(f"--quantize {'/'.join(quants)} applies to TFLite only; add --format tflite (or all)")
    for fmt in formats:  # fail before any slow work when an optional runtime is missing
        for module in REQUIRES[fmt]:
            require(module, f"the {fmt} export")
    import keras
    import tensorflow as tf

    from keras_srgan import __version__
    from keras_srgan.exporters import manifest, parity, savedmodel
    from keras_srgan.inference import transforms

    say = progress or (lambda message: None)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the output folder ({error_reason(exc)})") from None
    model, source = _load_model(weights)
    lr = to_unit(parity.parity_image_uint8(size))[None]
    reference = parity.keras_reference(model, lr)  # the plain Keras model: independent of the transforms
    # the inference transforms every engine runs (without the final clip), and which changed the model
    folded = transforms.fold_batchnorm(model)
    deployed = transforms.subpixel_output(folded, required=False)
    applied = ["fold_batchnorm"] if transforms.count_layers(model, "BatchNormalization") else []
    applied += ["subpixel_output"] if deployed is not folded else []
    common = {
        "source": source,
        "versions": {"keras_srgan": __version__, "tensorflow": tf.__version__, "keras": keras.__version__},
        "transforms": applied,
        # what the CLI does after the network, and whether this artifact does it too (else a client must)
        "post_processing": ["phase_equalize"] if model.phase_equalize else [],
    }

    jobs = [
        (fmt, q, None if fmt == "savedmodel" else size, "float")
        for fmt in formats
        for q in (quants if fmt == "tflite" else ["none"])
    ]
    checks = {"float": (lr, reference)}
    if phone is not None:  # the phone files: uint8 RGB in and out, judged against Keras rounded to uint8
        jobs += [("tflite", q, phone, "uint8") for q in quants if q in tflite.UINT8_QUANTIZATIONS]
        lr8 = parity.parity_image_uint8(phone)[None]
        checks["uint8"] = (lr8, parity.keras_reference(model, to_unit(lr8)))
    calibration = {"calibration_samples": calibration_samples, "calibration_data": calibration_data}
    entries = []
    for job in jobs:
        fmt, quant, shape, pixels = job
        label = f" ({quant}{', uint8 pixels' if pixels == 'uint8' else ''})" if fmt == "tflite" else ""
        say(f"exporting {fmt}{label}")
        created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        lr, reference = checks[pixels]
        post = bool(model.phase_equalize) and carries_post_processing(fmt, quant, shape, pixels)
        if post:  # the CLI's picture: the generator, then its post-processing
            reference = parity.equalized(reference, lr, model.scale)
        try:
            if fmt == "savedmodel":
                final, details, result = savedmodel.export(
                    deployed, out / fmt, lr, reference, model.scale, max_pixels, post
                )
            else:
                final, details, result = _export_file(
                    deployed, job, out, lr, reference, model.scale if post else None, calibration
                )
            entry = {
                "path": final.relative_to(out).as_posix(),
                "format": fmt,
                "quantization": quant,
                "input_size": list(shape) if shape else None,
                **({"pixels": pixels} if fmt == "tflite" else {}),
                # else the weights' post-processing (``post_processing``) is the client's to apply
                "post_processing_in_artifact": post or not model.phase_equalize,
                **details,
                "parity": result,
                "created": created,
                **common,
            }
            manifest.add_entries(out, [entry])
        # disk full, read-only folder: the artifact was already removed
        except (OSError, tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError) as exc:
            raise UserError(f"{out}: cannot write the {fmt} export ({error_reason(exc)})") from None
        say(
            f"  {entry['path']}: {entry['parity']['psnr_db']:.2f} dB vs Keras "
            f"(max abs diff {entry['parity']['max_abs_diff']:.2e}), {entry['size_bytes'] / 1e6:.2f} MB"
        )
        entries.append(entry)
    return entries


def _export_file(
    model, job: tuple, out: Path, lr, reference, equalize_scale, calibration: dict
) -> tuple[Path, dict, dict]:
    """Convert one job (format, quantization, input size, pixels) under a temporary name, check parity in
    the format's runtime, and rename into place; returns (the file, what the manifest says about it, the
    parity figures)."""
    from keras_srgan.exporters import manifest, parity

    fmt, quant, size, pixels = job
    module = importlib.import_module(f"keras_srgan.exporters.{fmt}")
    name = module.artifact_name(quant, size, pixels) if fmt == "tflite" else module.artifact_name(size)
    final = out / fmt / name
    final.parent.mkdir(parents=True, exist_ok=True)
    info = {}  # e.g. an int8 file's calibration source
    try:
        with atomic_path(final, companions=(".bin",) if fmt == "openvino" else ()) as tmp:
            if fmt == "tflite":
                data = module.convert(
                    model, quant, size, pixels=pixels, info=info, equalize_scale=equalize_scale, **calibration
                )
                tmp.write_bytes(data)
            else:
                module.convert(model, tmp, size, equalize_scale=equalize_scale)
            result = parity.check(fmt, quant, tmp, lr, reference, pixels=pixels)
            info = {**module.describe(tmp), **info, "sha256": manifest.sha256_file(tmp)}
            nbytes = tmp.stat().st_size
            if fmt == "openvino":  # the .bin beside the graph; the same IR compiled in bf16, as CPUs run it
                weights = tmp.with_suffix(".bin")
                info["weights_file"] = final.with_suffix(".bin").name
                info["weights_sha256"] = manifest.sha256_file(weights)
                nbytes += weights.stat().st_size
                result["bf16"] = parity.measure_artifact("openvino-bf16", tmp, lr, reference)
    except parity.ParityError as exc:
        raise parity.ParityError(f"{exc}; {name} was removed (nothing written)") from None
    return final, {**info, "size_bytes": nbytes}, result

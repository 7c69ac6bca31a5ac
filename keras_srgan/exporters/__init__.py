"""Export the generator to SavedModel (TF Serving), TFLite/LiteRT, ONNX and OpenVINO IR, each proven against Keras.

Every format gets the same speed-up transforms the upscaler runs (``inference.transforms``: BatchNorm
folded into the convs, output conv before the last pixel shuffle). Every artifact is written under a
temporary name, run in its own runtime on a fixed test image and compared with the plain Keras
generator; only if it reaches the parity threshold is it renamed into place and listed in
``OUT_DIR/manifest.json``. A failing artifact is deleted, never left looking valid.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from keras_srgan.defaults import CALIBRATION_SAMPLES, SERVING_MAX_PIXELS, TFLITE_QUANTIZATIONS
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.exporters.formats import FORMATS, carries_post_processing, require
from keras_srgan.exporters.signatures import FLOAT_SIGNATURE
from keras_srgan.files import atomic_path
from keras_srgan.pixels import to_unit
from keras_srgan.settings import require_tensorflow_backend

QUANTIZATIONS = TFLITE_QUANTIZATIONS
PARITY_PIXELS = 64 * 80  # parity.parity_image(): the SavedModel must serve it

__all__ = ["FORMATS", "QUANTIZATIONS", "export", "parse_input_size"]


def _write_errors() -> tuple[type[BaseException], ...]:
    import tensorflow as tf

    return (OSError, tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError)


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
        h, w = int(match.group(1)), int(match.group(2))
    else:
        h, w = (int(v) for v in value)
    if h < 1 or w < 1:
        raise UserError(f"input size {h}x{w}: both sides must be positive")
    return h, w


def _as_list(
    value: str | Sequence[str], allowed: Sequence[str], what: str, everything: str | None = None
) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        expanded = list(allowed) if everything is not None and item == everything else [item]
        for name in expanded:
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


def _versions() -> dict:
    import keras
    import tensorflow as tf

    from keras_srgan import __version__

    return {"keras_srgan": __version__, "tensorflow": tf.__version__, "keras": keras.__version__}


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
    """Export, verify against Keras, and list in the manifest; returns the new manifest entries.

    ``weights`` is anything ``load_generator`` accepts, or an already built generator. ``quantize``
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
    from keras_srgan.exporters import manifest, parity

    formats = _as_list(format, FORMATS, "format", everything="all")
    quants = _as_list(quantize, QUANTIZATIONS, "quantization", everything="all")
    size = parse_input_size(input_size)
    phone = parse_input_size(phone_size, "--phone-size")
    if phone is not None and "tflite" not in formats:
        raise UserError("--phone-size applies to TFLite only; add --format tflite (or all)")
    if calibration_data is not None and "tflite" in formats:
        from keras_srgan.exporters import tflite

        tflite.calibration_source(calibration_data)  # a missing or empty folder: fail before slow work
    if "tflite" not in formats and quants != ["none"]:
        raise UserError(f"--quantize {'/'.join(quants)} applies to TFLite only; add --format tflite (or all)")
    # Fail before any slow work when an optional runtime is missing.
    for fmt in formats:
        for module, purpose in FORMATS[fmt].requires:
            require(module, purpose)

    say = progress or (lambda message: None)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the output folder ({error_reason(exc)})") from None
    model, source = _load_model(weights)
    lr = parity.parity_image(size)
    reference = parity.keras_reference(model, lr)  # the plain Keras model: independent of the transforms
    deployed, applied = _transformed(model)
    common = {
        "source": source,
        "versions": _versions(),
        "transforms": applied,
        # what the CLI does after the network, and whether this artifact does it too (else a client must)
        "post_processing": ["phase_equalize"] if model.phase_equalize else [],
    }

    jobs = [(fmt, q, size, "float") for fmt in formats for q in (quants if fmt == "tflite" else ["none"])]
    checks = {"float": (lr, reference)}
    if phone is not None:  # the phone files: uint8 RGB in and out, judged against Keras rounded to uint8
        from keras_srgan.exporters import tflite

        jobs += [("tflite", q, phone, "uint8") for q in quants if q in tflite.UINT8_QUANTIZATIONS]
        lr8 = parity.parity_image_uint8(phone)[None]
        checks["uint8"] = (lr8, parity.keras_reference(model, to_unit(lr8)))
    context = {
        "calibration_samples": calibration_samples,
        "calibration_data": calibration_data,
        "max_pixels": max_pixels,
        "scale": model.scale,
        "phase_equalize": bool(model.phase_equalize),
    }
    entries = []
    for fmt, quant, shape, pixels in jobs:
        label = f" ({quant}{', uint8 pixels' if pixels == 'uint8' else ''})" if fmt == "tflite" else ""
        say(f"exporting {fmt}{label}")
        context["pixels"] = pixels
        try:
            entry = _export_one(deployed, fmt, quant, out, shape, *checks[pixels], context)
            entry.update(common)
            manifest.add_entries(out, [entry])
        except _write_errors() as exc:  # disk full, read-only folder: the artifact was already removed
            raise UserError(f"{out}: cannot write the {fmt} export ({error_reason(exc)})") from None
        say(
            f"  {entry['path']}: {entry['parity']['psnr_db']:.2f} dB vs Keras "
            f"(max abs diff {entry['parity']['max_abs_diff']:.2e}), {entry['size_bytes'] / 1e6:.2f} MB"
        )
        entries.append(entry)
    return entries


def _transformed(model) -> tuple[object, list[str]]:
    """(the generator with the inference transforms every engine runs, without the final clip; the names
    of the transforms that changed it)."""
    from keras_srgan.inference import transforms

    folded = transforms.fold_batchnorm(model)
    names = ["fold_batchnorm"] if transforms.count_layers(model, "BatchNormalization") else []
    moved = transforms.subpixel_output(folded, required=False)
    return moved, names + (["subpixel_output"] if moved is not folded else [])


def _export_one(model, fmt, quant, out: Path, size, lr, reference, context: dict) -> dict:
    """Convert, check parity in the format's runtime, and rename into place; returns the manifest entry."""
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    if fmt == "savedmodel":
        return _export_savedmodel(model, out, lr, reference, context, created)
    from keras_srgan.exporters import manifest, parity

    spec = FORMATS[fmt]
    sub = out / fmt
    sub.mkdir(parents=True, exist_ok=True)
    pixels = context.get("pixels", "float")
    name = spec.artifact_name(quant, size, pixels)
    final = sub / name
    post = context["phase_equalize"] and carries_post_processing(fmt, quant, size, pixels)
    context["equalize_scale"] = context["scale"] if post else None
    if post:  # the CLI's picture: the generator, then its post-processing
        reference = _equalized(reference, lr, context["scale"])
    try:
        with atomic_path(final, companions=spec.companions) as tmp:
            context["artifact_info"] = {}
            spec.convert(model, tmp, quant, size, context)
            result = parity.check(fmt, quant, tmp, lr, reference, pixels=pixels)
            for extra in spec.extra_checks:  # e.g. the same IR compiled in bf16, as the upscaler runs it
                result[extra.split("-")[-1]] = parity.measure_artifact(extra, tmp, lr, reference)
            info = spec.describe(tmp)
            info.update(context.pop("artifact_info", {}))  # e.g. an int8 file's calibration source
            digest, nbytes = manifest.sha256_file(tmp), tmp.stat().st_size
            for suffix in spec.companions:
                companion = tmp.with_suffix(suffix)
                info["weights_file" if suffix == ".bin" else suffix] = final.with_suffix(suffix).name
                info["weights_sha256"] = manifest.sha256_file(companion)
                nbytes += companion.stat().st_size
    except parity.ParityError as exc:
        raise parity.ParityError(f"{exc}; {name} was removed (nothing written)") from None
    return {
        "path": final.relative_to(out).as_posix(),
        "format": fmt,
        "quantization": quant,
        "input_size": list(size) if size else None,
        **({"pixels": pixels} if fmt == "tflite" else {}),
        # else the weights' post-processing (``post_processing``) is the client's to apply
        "post_processing_in_artifact": post or not context["phase_equalize"],
        **info,
        "sha256": digest,
        "size_bytes": nbytes,
        "parity": result,
        "created": created,
    }


def _equalized(sr: np.ndarray, lr: np.ndarray, scale: int) -> np.ndarray:
    """A batch of SR [0, 1] with the CLI's phase equalisation (``phase.equalize``), float32."""
    from keras_srgan.inference.phase import equalize

    return np.stack([equalize(s, low, scale, np.float32) for s, low in zip(sr, lr, strict=True)])


def _export_savedmodel(model, out: Path, lr, reference, context: dict, created: str) -> dict:
    """A new numbered version folder for TF Serving, published only after both signatures passed."""
    from keras_srgan.exporters import manifest, parity, savedmodel

    base = out / savedmodel.SUBDIR
    tmp = savedmodel.temp_dir(base)
    try:
        serving = savedmodel.write(
            model, tmp, context["scale"], context["max_pixels"], context["phase_equalize"]
        )
        import tensorflow as tf

        loaded = tf.saved_model.load(str(tmp))  # once: loading dominates the check's cost
        uint8_lr = parity.parity_image_uint8(None)
        bytes_reference = parity.keras_reference(model, to_unit(uint8_lr)[None])
        if context["phase_equalize"]:  # the CLI's picture: the generator, then its post-processing
            reference = _equalized(reference, lr, context["scale"])
            bytes_reference = _equalized(bytes_reference, to_unit(uint8_lr)[None], context["scale"])
        result = parity.check("savedmodel", "none", tmp, lr, reference, loaded=loaded)
        bytes_check = savedmodel.check_bytes_signature(loaded, uint8_lr, bytes_reference)
        if not bytes_check["ok"]:
            raise parity.ParityError(
                f"{base.name}: serving_default (PNG) output differs from Keras: {bytes_check}"
            )
        result["serving_default_png"] = bytes_check
        signatures = savedmodel.describe(loaded)
        del loaded
        digest, nbytes = manifest.sha256_tree(tmp), manifest.size_of(tmp)
        final = savedmodel.publish(tmp, base)
    except BaseException as exc:
        savedmodel.discard(tmp)
        if isinstance(exc, parity.ParityError):
            raise parity.ParityError(f"{exc}; the SavedModel was removed (no version written)") from None
        raise
    return {
        "path": final.relative_to(out).as_posix(),
        "format": "savedmodel",
        "version": int(final.name),
        "quantization": "none",
        "input_size": None,
        "inputs": signatures[FLOAT_SIGNATURE]["inputs"],
        "outputs": signatures[FLOAT_SIGNATURE]["outputs"],
        "signatures": signatures,
        "serving": dataclasses.asdict(serving),
        "post_processing_in_artifact": True,
        "sha256": digest,
        "sha256_kind": "tree: sha256 of sorted '<file sha256>  <relative path>' lines",
        "size_bytes": nbytes,
        "parity": result,
        "created": created,
    }

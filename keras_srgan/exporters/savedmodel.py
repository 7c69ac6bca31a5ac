"""SavedModel for TF Serving: ``OUT_DIR/savedmodel/<version>/`` with integer versions.

TF Serving watches the model base path and serves the highest integer version, so a new export gets
the next number and never replaces an old one (rolling back = deleting the newest folder). The model is
written to a hidden temporary folder, checked, and only then renamed to its version number.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from keras_srgan.errors import reason as error_reason
from keras_srgan.serving import FLOAT_SIGNATURE, INPUT_NAME, SIGNATURE

if TYPE_CHECKING:
    from keras_srgan.exporters.graph import Serving


def write(
    model, path: str | os.PathLike, scale: int, max_pixels: int, phase_equalize: bool = False
) -> Serving:
    """Write the serving SavedModel of ``model`` (the transformed generator) through Keras' ExportArchive
    (which tracks Keras 3 variables correctly): the bytes and the float signatures, both on whole images
    of any size, tiled in the graph. Returns how it serves: the TensorFlow engine's fp32 window, the
    model's own receptive radius as overlap (exact seams), the weights' phase equalisation if they ask."""
    import keras
    import tensorflow as tf

    from keras_srgan.exporters import graph
    from keras_srgan.inference import tiling, transforms

    overlap = transforms.receptive_radius(model)
    tile = tiling.auto_tile(4, overlap)
    serving = graph.Serving(tile, overlap, int(scale), int(max_pixels), phase_equalize)
    archive = keras.export.ExportArchive()
    archive.track(model)
    serve, predict_float = graph.serving_functions(model, serving)
    bytes_spec = tf.TensorSpec([None], tf.string, name=INPUT_NAME)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[bytes_spec])
    archive.add_endpoint(FLOAT_SIGNATURE, predict_float, input_signature=[graph.float_spec()])
    archive.write_out(str(path), verbose=False)
    return serving


def export(
    model, base: Path, lr, reference, scale: int, max_pixels: int, phase_equalize: bool
) -> tuple[Path, dict, dict]:
    """A new numbered version folder under ``base``, published only after both signatures matched Keras
    (``reference``: the float check's, equalised when the weights ask for it); returns (the folder, what
    the manifest says about it, the parity figures)."""
    import tensorflow as tf

    from keras_srgan.exporters import manifest, parity
    from keras_srgan.pixels import to_unit

    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        serving = write(model, tmp, scale, max_pixels, phase_equalize)
        loaded = tf.saved_model.load(str(tmp))  # once: loading dominates the check's cost
        uint8_lr = parity.parity_image_uint8()
        bytes_reference = parity.keras_reference(model, to_unit(uint8_lr)[None])
        if phase_equalize:
            bytes_reference = parity.equalized(bytes_reference, to_unit(uint8_lr)[None], scale)
        result = parity.check("savedmodel", "none", tmp, lr, reference, loaded=loaded)
        bytes_check = _check_bytes(loaded, uint8_lr, bytes_reference)
        if not bytes_check["ok"]:
            raise parity.ParityError(
                f"{base.name}: serving_default (PNG) output differs from Keras: {bytes_check}"
            )
        result["serving_default_png"] = bytes_check
        signatures = describe(loaded)
        del loaded
        details = {
            "inputs": signatures[FLOAT_SIGNATURE]["inputs"],
            "outputs": signatures[FLOAT_SIGNATURE]["outputs"],
            "signatures": signatures,
            "serving": dataclasses.asdict(serving),
            "sha256": manifest.sha256_tree(tmp),
            "sha256_kind": "tree: sha256 of sorted '<file sha256>  <relative path>' lines",
            "size_bytes": sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()),
        }
        final = publish(tmp, base)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, parity.ParityError):
            raise parity.ParityError(f"{exc}; the SavedModel was removed (no version written)") from None
        raise
    return final, {"version": int(final.name), **details}, result


def publish(tmp: Path, base: Path) -> Path:
    """Rename the checked temp folder to the next free version; never onto an existing one."""
    for _ in range(100):
        versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
        target = base / str(max(versions, default=0) + 1)
        if target.exists():
            continue
        try:
            os.rename(tmp, target)
        except OSError:
            if target.exists():
                continue  # another exporter won the race for this number
            raise
        return target
    raise RuntimeError(f"{base}: could not allocate a new version folder")


def _check_bytes(loaded, image_uint8: np.ndarray, reference01: np.ndarray) -> dict:
    """PNG in -> PNG out through ``serving_default``; must match Keras to within one 8-bit level."""
    from PIL import Image

    from keras_srgan.exporters.parity import run_savedmodel_bytes
    from keras_srgan.pixels import to_uint8

    buffer = io.BytesIO()
    Image.fromarray(image_uint8).save(buffer, format="PNG")
    try:
        out = run_savedmodel_bytes(loaded, [buffer.getvalue()])[0]
    except Exception as exc:
        return {"ok": False, "error": f"serving_default failed: {error_reason(exc)}"}
    expected = to_uint8(reference01[0])
    if out.shape != expected.shape:
        error = f"serving_default returned shape {out.shape}, expected {expected.shape}"
        return {"ok": False, "error": error}
    max_levels = int(np.max(np.abs(out.astype(np.int16) - expected.astype(np.int16))))
    return {"ok": max_levels <= 1, "max_abs_diff_levels": max_levels}


def describe(path) -> dict:
    """Every signature's input/output names, shapes (-1 = dynamic) and dtypes, read back from the file."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path)) if isinstance(path, str | os.PathLike) else path

    def spec(name, s):
        return {
            "name": name,
            "shape": [-1 if d is None else int(d) for d in s.shape.as_list()],
            "dtype": s.dtype.name,
        }

    signatures = {}
    for key, fn in loaded.signatures.items():
        inputs = fn.structured_input_signature[1]
        signatures[key] = {
            "inputs": [spec(k, v) for k, v in sorted(inputs.items())],
            "outputs": [spec(k, v) for k, v in sorted(fn.structured_outputs.items())],
        }
    return signatures

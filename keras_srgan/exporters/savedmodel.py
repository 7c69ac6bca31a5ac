"""SavedModel for TF Serving: ``OUT_DIR/savedmodel/<version>/`` with integer versions.

TF Serving watches the model base path and serves the highest integer version, so a new export gets
the next number and never replaces an old one (rolling back = deleting the newest folder). The model is
written to a hidden temporary folder, checked, and only then renamed to its version number.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from keras_srgan.errors import reason as error_reason

if TYPE_CHECKING:
    from keras_srgan.exporters.graph import Serving

SUBDIR = "savedmodel"


def existing_versions(base: str | os.PathLike) -> list[int]:
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def temp_dir(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    return base / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def write(
    model, path: str | os.PathLike, scale: int, max_pixels: int, phase_equalize: bool = False
) -> Serving:
    """Write the serving SavedModel of ``model`` (the transformed generator); returns how it serves: the
    TensorFlow engine's fp32 window, the model's own receptive radius as overlap (exact seams), the
    weights' phase equalisation when they ask for it."""
    from keras_srgan.exporters.graph import Serving, write_archive
    from keras_srgan.inference import tiling, transforms

    overlap = transforms.receptive_radius(model)
    serving = Serving(tiling.auto_tile(4, overlap), overlap, int(scale), int(max_pixels), phase_equalize)
    write_archive(model, str(path), input_size=None, serving=serving)
    return serving


def publish(tmp: Path, base: Path) -> Path:
    """Rename the checked temp folder to the next free version; never onto an existing one."""
    for _ in range(100):
        versions = existing_versions(base)
        target = base / str((versions[-1] + 1) if versions else 1)
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


def discard(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)


def png_bytes(image_uint8: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image_uint8).save(buf, format="PNG")
    return buf.getvalue()


def check_bytes_signature(path, image_uint8: np.ndarray, reference01: np.ndarray) -> dict:
    """PNG in -> PNG out through ``serving_default``; must match Keras to within one 8-bit level."""
    from keras_srgan.exporters.parity import run_savedmodel_bytes
    from keras_srgan.pixels import to_uint8

    try:
        out = run_savedmodel_bytes(path, [png_bytes(image_uint8)])[0]
    except Exception as exc:
        reason = error_reason(exc)
        return {"ok": False, "error": f"serving_default failed: {reason}"}
    expected = to_uint8(reference01[0])
    if out.shape != expected.shape:
        return {
            "ok": False,
            "error": f"serving_default returned shape {out.shape}, expected {expected.shape}",
        }
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

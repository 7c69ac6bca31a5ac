"""The OpenVINO engine's disk cache: IRs per weights (whole model, body and tail), the weights-file aliases
that let a later process skip TensorFlow, conversion, and pruning.

Layout under ``engines.cache_dir() / "openvino"``: ``srgan-<weights key>-ov<version>.xml`` (+ ``.bin``)
and its ``-body`` / ``-tail`` halves, ``by-file/<hash>.json`` naming the IR of a weights file, and
``compiled/`` (OpenVINO's own blobs, one per compiled shape).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from keras_srgan.files import atomic_path, write_atomic_text

# The model parts in the cache: the whole model, and the halves the two-stage tiler runs.
PARTS = ("full", "body", "tail")


def part_path(xml: Path, part: str) -> Path:
    """The IR file of one model part: the full model's own name, or ``<stem>-body.xml`` / ``-tail.xml``."""
    return xml if part == "full" else xml.with_name(f"{xml.stem}-{part}.xml")


def convert_parts(generator) -> tuple[dict, dict]:
    """(part -> ``ov.Model``, the radii): the transformed Keras model and, where it has them, its body
    and tail halves (``transforms.parts``), with the LR context each needs (``transforms.radii``)."""
    import openvino as ov
    import tensorflow as tf

    from keras_srgan.inference import transforms

    keras_parts = transforms.parts(transforms.inference_model(generator))
    out = {}
    for part, keras_model in keras_parts.items():
        channels = int(keras_model.inputs[0].shape[-1])
        fn = tf.function(lambda x, m=keras_model: m(x, training=False), autograph=False)
        spec = tf.TensorSpec([None, None, None, channels], tf.float32, name="lr")
        out[part] = ov.convert_model(fn.get_concrete_function(spec))
    return out, transforms.radii(keras_parts)


def radii_path(xml: Path) -> Path:
    return xml.with_suffix(".json")


def write_irs(models: dict, radii: dict, xml: Path) -> None:
    """Save each part beside ``xml`` (``-body``, ``-tail``) and the radii (``.json``), atomically; the
    whole model last, so its file existing means the set is complete."""
    import openvino as ov

    write_atomic_text(radii_path(xml), json.dumps(radii) + "\n")
    for part in ("body", "tail", "full"):
        if part in models:
            with atomic_path(part_path(xml, part), companions=(".bin",)) as tmp:
                ov.save_model(models[part], str(tmp), compress_to_fp16=False)


# Cache bounds: every new set of weights (each training checkpoint upscaled, each test model) adds an
# IR, and every window shape a compiled blob, so the oldest are removed beyond these counts.
MAX_CACHED_IRS = 8
MAX_CACHED_BLOBS = 32


def touch_file(path: Path) -> None:
    """Mark a cached file as recently used (what ``prune_cache`` keeps); a read-only cache is left alone."""
    try:
        os.utime(path)  # "recently used", for prune_cache
    except OSError:
        pass


def prune_cache(folder: Path, irs: int = MAX_CACHED_IRS, blobs: int = MAX_CACHED_BLOBS) -> None:
    """Keep the ``irs`` most recently used IRs (``.xml`` + ``.bin``, with their parts) and ``blobs`` newest blobs."""

    def newest_first(paths):
        def mtime(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:
                return 0.0

        return sorted(paths, key=mtime, reverse=True)

    try:
        whole = (p for p in folder.glob("srgan-*.xml") if not p.stem.endswith(("-body", "-tail")))
        for xml in newest_first(whole)[irs:]:
            for part in PARTS:
                for p in (part_path(xml, part), part_path(xml, part).with_suffix(".bin")):
                    p.unlink(missing_ok=True)
        compiled = folder / "compiled"
        if compiled.is_dir():
            for blob in newest_first(p for p in compiled.iterdir() if p.is_file())[blobs:]:
                blob.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned first, or a read-only folder: nothing is wrong


def weights_file(weights: str | os.PathLike | None) -> tuple[Path, dict] | None:
    """(file, generator config) behind a shipped name, ``.weights.h5`` or run folder; None if unsure.

    Resolves the way ``weights.load_generator`` does, without TensorFlow; anything it cannot resolve
    (a ``.keras`` file, a missing file) returns None and takes the normal path, with its errors.
    """
    from keras_srgan import weights as w

    spec = w.DEFAULT_WEIGHTS if weights is None else weights
    if isinstance(spec, str) and spec.startswith(w.REMOTE_PREFIXES):
        return None
    folder = w.WEIGHTS_DIR / spec if isinstance(spec, str) and spec in w.shipped_weights() else Path(spec)
    if w.is_preset(folder):
        path, meta = folder / w.PRESET_WEIGHTS, folder / w.PRESET_METADATA
    else:
        path = Path(spec)
        if path.is_dir():
            path = path / f"{w.GENERATOR_STEM}.weights.h5"
        if not str(path).endswith(".weights.h5"):
            return None
        meta = w.sibling_meta(path)
    if not path.is_file():
        return None
    try:
        config = json.loads(meta.read_text()).get("config", {}) if meta.is_file() else {}
    except (OSError, ValueError):
        return None
    return path, config


def file_alias(path: Path, config: dict, folder: Path) -> Path:
    """Where the IR name for a weights *file* is recorded: keyed by the file's SHA-256 and config."""
    from keras_srgan.inference.transforms import TRANSFORMS_VERSION
    from keras_srgan.weights import sha256_of

    key = hashlib.blake2b(digest_size=16)
    key.update(sha256_of(path).encode())
    key.update(json.dumps(config, sort_keys=True).encode())
    key.update(f"transforms-{TRANSFORMS_VERSION}".encode())
    return folder / "by-file" / f"{key.hexdigest()}.json"


def remember_weights_file(weights, engine) -> None:
    """Record which cached IR belongs to a weights file, so the next process can skip TensorFlow."""
    ir = getattr(engine, "ir_path", None)
    found = weights_file(weights)
    if getattr(engine, "name", None) != "openvino" or ir is None or found is None or engine.generator is None:
        return
    alias = file_alias(*found, ir.parent)
    record = {"ir": ir.name, "weights": str(found[0]), "scale": engine.scale}
    try:
        alias.parent.mkdir(parents=True, exist_ok=True)
        write_atomic_text(alias, json.dumps(record) + "\n")
    except OSError:
        pass  # no cache this time; nothing is wrong

"""Resolve a weights spec (shipped name, preset, .weights.h5, .keras, run folder) to a built generator.

``load_generator`` (``keras_srgan.from_preset``) is the one place that does this. Shipped weights are
presets in Keras' own unzipped layout, a folder beside this file per name: ``config.json`` (the
serialized model), ``model.weights.h5`` and ``metadata.json`` (Keras' fields plus the generator config,
the weights' SHA-256, checked on every load, and provenance). ``keras.saving.load_model`` loads any of
them in safe mode, and so does the same loader for ``hf://org/name`` (Hugging Face Hub) and
``kaggle://owner/model/keras/variation`` handles; nothing is unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from keras_srgan import defaults
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.files import atomic_path, write_atomic_text

WEIGHTS_DIR = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = defaults.DEFAULT_WEIGHTS
GENERATOR_STEM = "generator"  # a run folder holds generator.weights.h5 + generator.json


class WeightsError(UserError, ValueError):
    """A weights spec that cannot be resolved or loaded; the message names the file and the problem."""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


PRESET_WEIGHTS, PRESET_CONFIG, PRESET_METADATA = "model.weights.h5", "config.json", "metadata.json"
REMOTE_PREFIXES = ("hf://", "kaggle://")
HUB_EXTRA = "pip install 'keras-srgan[hub]'"


def shipped_weights() -> dict[str, dict]:
    """Name -> metadata of every preset shipped inside the package."""
    found = {}
    for folder in sorted(p for p in WEIGHTS_DIR.iterdir() if p.is_dir()):
        if (folder / PRESET_WEIGHTS).is_file() and (folder / PRESET_METADATA).is_file():
            found[folder.name] = json.loads((folder / PRESET_METADATA).read_text())
    return found


def write_preset(model, folder: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write ``model`` as a preset folder: Keras' unzipped saving layout (``model.save(folder, zipped=False)``:
    config.json, model.weights.h5, metadata.json), the metadata extended with the generator config, the
    weights' SHA-256 and ``extra`` (provenance). Made under a temporary name, then renamed into place."""
    import shutil

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save(tmp, zipped=False)
        meta = json.loads((tmp / PRESET_METADATA).read_text()) | _metadata(model, tmp / PRESET_WEIGHTS, extra)
        (tmp / PRESET_METADATA).write_text(json.dumps(meta, indent=2) + "\n")
        with contextlib.suppress(OSError):
            (tmp / "assets").rmdir()  # Keras' empty assets folder: a git checkout would not have it
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _local(spec: str | os.PathLike) -> tuple[Path, Path, bool]:
    """(weights file, its metadata file, whether a preset) of a local spec: a shipped name's or preset
    folder's ``model.weights.h5``, a run folder's ``generator.weights.h5``, or the file itself."""
    folder = WEIGHTS_DIR / spec if isinstance(spec, str) and spec in shipped_weights() else Path(spec)
    if folder.is_dir() and (folder / PRESET_CONFIG).is_file() and (folder / PRESET_WEIGHTS).is_file():
        return folder / PRESET_WEIGHTS, folder / PRESET_METADATA, True
    path = folder / f"{GENERATOR_STEM}.weights.h5" if folder.is_dir() else folder
    stem = path.name.removesuffix(".weights.h5") if path.name.endswith(".weights.h5") else path.stem
    return path, path.with_name(stem + ".json"), False


def _metadata_of(meta: Path) -> dict:
    """A weights file's metadata (generator config, SHA-256); {} without one."""
    try:
        return json.loads(meta.read_text()) if meta.is_file() else {}
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{meta}: unreadable generator config ({exc})") from None


def weights_sha256(spec: str | os.PathLike) -> str:
    """SHA-256 of the file a weights spec names, for provenance (a shipped name's recorded digest)."""
    shipped = shipped_weights()
    if isinstance(spec, str) and spec in shipped:
        return shipped[spec]["sha256"]
    path = _local(spec)[0]
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    return sha256_of(path)


def weights_file(weights: str | os.PathLike | None) -> tuple[Path, dict] | None:
    """(``.weights.h5`` file, generator config) behind a shipped name, preset, file or run folder, resolved
    as ``load_generator`` does but without TensorFlow (for the OpenVINO IR cache); None if unsure (a
    remote or ``.keras`` spec, a missing file): the normal path then reports its errors."""
    spec = DEFAULT_WEIGHTS if weights is None else weights
    if isinstance(spec, str) and spec.startswith(REMOTE_PREFIXES):
        return None
    path, meta, _ = _local(spec)
    if not (path.name.endswith(".weights.h5") and path.is_file()):
        return None
    try:
        return path, _metadata_of(meta).get("config", {})
    except WeightsError:
        return None


def _load_preset(folder: Path | str, expected_sha: str | None = None, what: str = "the preset"):
    """A preset folder (local, or a ``hf://`` handle Keras downloads) or a ``.keras`` file through
    ``keras.saving.load_model`` in safe mode."""
    import keras

    import keras_srgan.models  # noqa: F401  (registers the serializable classes)

    weights = Path(folder) / PRESET_WEIGHTS
    if expected_sha is not None and (actual := sha256_of(weights)) != expected_sha:
        raise WeightsError(
            f"{weights}: SHA-256 mismatch (expected {expected_sha[:12]}..., got {actual[:12]}...); "
            "the file is corrupt or was modified"
        )
    try:
        return keras.saving.load_model(folder, safe_mode=True, compile=False)
    except ImportError as exc:
        raise WeightsError(f"{folder}: {error_reason(exc)} ({HUB_EXTRA})") from None
    except Exception as exc:
        raise WeightsError(f"{folder}: cannot load {what} ({error_reason(exc)})") from None


def _load_remote(handle: str):
    """``hf://org/name`` through Keras' own loader; ``kaggle://...`` downloaded by kagglehub, then the same."""
    if handle.startswith("hf://"):
        return _load_preset(handle)
    try:
        import kagglehub
    except ImportError:
        raise WeightsError(f"{handle}: loading a kaggle:// preset needs kagglehub ({HUB_EXTRA})") from None
    try:
        folder = kagglehub.model_download(handle.removeprefix("kaggle://"))
    except Exception as exc:
        raise WeightsError(f"{handle}: cannot download the preset ({error_reason(exc)})") from None
    return _load_preset(Path(folder))


def write_generator(model, path_stem: str | os.PathLike, extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.weights.h5`` and ``<stem>.json`` (config + SHA-256), each via a temporary name."""
    stem = Path(path_stem)
    weights_path = stem.with_name(stem.name + ".weights.h5")
    meta_path = stem.with_name(stem.name + ".json")
    stem.parent.mkdir(parents=True, exist_ok=True)  # e.g. a scratch folder for a candidate checkpoint
    with atomic_path(weights_path) as tmp_weights:
        model.save_weights(tmp_weights)
        write_atomic_text(meta_path, json.dumps(_metadata(model, tmp_weights, extra), indent=2) + "\n")
    return weights_path, meta_path


def _metadata(model, weights_path: Path, extra: dict | None) -> dict:
    """What a weights file is saved with: the generator class and config, the file's SHA-256, ``extra``."""
    meta = {"class": type(model).__name__, "config": generator_config(model)}
    return meta | {"sha256": sha256_of(weights_path)} | (extra or {})


def generator_config(model) -> dict:
    """The config ``build_generator(**config)`` rebuilds ``model`` from. An SRResNet's has no ``arch`` key
    (the default, as in every shipped or older file); any other architecture's names it."""
    from keras_srgan.models.generator import CompactSR

    found = {k: getattr(model, k) for k in model.CONFIG}
    return {"arch": "compact", **found} if isinstance(model, CompactSR) else found


# Groups of the layout that the subclassed generators (before issue 28) wrote, by attribute path, and
# the layers they are now: ``(pattern, name)``, ``{k}`` a block or conv index ("" for 0, "_1", ...).
_LEGACY_GROUPS = (
    (r"head", "head_conv"), (r"head_act", "head_prelu"), (r"body_conv", "body_conv"), (r"body_bn", "body_bn"),
    (r"blocks/residual_block{k}/conv1", "res_block_{k}_conv1"), (r"blocks/residual_block{k}/bn1", "res_block_{k}_bn1"),
    (r"blocks/residual_block{k}/act", "res_block_{k}_prelu"), (r"blocks/residual_block{k}/conv2", "res_block_{k}_conv2"),
    (r"blocks/residual_block{k}/bn2", "res_block_{k}_bn2"), (r"body/container{k}/conv2d", "body{k}_conv"),
    (r"body/container{k}/p_re_lu", "body{k}_prelu"), (r"upsample/container{k}/conv2d", "up{k}_conv"),
    (r"upsample/container{k}/p_re_lu", "up{k}_prelu"),
)  # fmt: skip


def _load_legacy_h5(model, path: Path) -> bool:
    """Load a ``.weights.h5`` of the earlier subclassed layout into the functional ``model``; False (nothing
    done) for a file of the current layout. That layout keyed each layer by the attribute that reached it
    first; the rest sit under ``layers/`` as ``<class>_<n>``, numbered per class in the old model's layer
    order, which is the order of the functional model's remaining layers of that class. Every weight is
    checked for its shape."""
    import re

    import h5py

    with h5py.File(path, "r") as h5:
        if "head" not in h5:
            return False
        datasets = {}
        h5.visititems(
            lambda name, obj: datasets.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None
        )
    values: dict[str, list] = {}  # group -> its variables, in order
    for name in sorted(datasets, key=lambda name: int(name.rsplit("/", 1)[-1])):
        values.setdefault(name.rsplit("/vars/", 1)[0], []).append(datasets[name])
    by_layer: dict[str, list] = {}
    for group, found in values.items():
        for pattern, name in _LEGACY_GROUPS:
            match = re.fullmatch(pattern.replace("{k}", r"(_\d+)?"), group)
            if match:
                index = int(match.group(1)[1:]) if match.groups() and match.group(1) else 0
                by_layer[name.replace("{k}", str(index))] = found
                break
    with_weights = [layer for layer in model.layers if layer.weights]
    rest = [layer for layer in with_weights if layer.name not in by_layer]
    for kind in {type(layer) for layer in rest}:
        # Keras' snake case of the class name: Conv2D -> conv2d, PReLU -> p_re_lu
        snake = re.sub(
            "([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", kind.__name__)
        ).lower()
        numbered = sorted(
            (int(m.group(1) or 0), g) for g in values if (m := re.fullmatch(rf"layers/{snake}(?:_(\d+))?", g))
        )
        layers_of_kind = [layer for layer in rest if type(layer) is kind]
        if len(numbered) < len(layers_of_kind):
            raise ValueError(
                f"old layout: {len(layers_of_kind)} {kind.__name__} layers, {len(numbered)} in the file"
            )
        for layer, (_, group) in zip(layers_of_kind, numbered[-len(layers_of_kind) :], strict=True):
            by_layer[layer.name] = values[group]
    for layer in with_weights:
        found = by_layer.get(layer.name)
        if found is None or [v.shape for v in found] != [tuple(w.shape) for w in layer.weights]:
            raise ValueError(f"old layout: no weights of the right shapes for layer {layer.name!r}")
        layer.set_weights(found)
    return True


def is_model(value) -> bool:
    """An already built generator (anything Keras-callable with a config), not a name or a path."""
    return value is not None and not isinstance(value, str | os.PathLike) and callable(value)


def resolve(weights_or_model=None):
    """The one "weights or a model" convention of every entry point: a model is used as it is; a
    shipped name, file, run folder or ``None`` (the default weights, resolved here only) is loaded."""
    return weights_or_model if is_model(weights_or_model) else load_generator(weights_or_model)


def interpolate_generators(psnr_weights, gan_weights, gan_weight: float):
    """A generator whose every weight and BatchNorm statistic is ``(1 - gan_weight) * psnr + gan_weight * gan``:
    network interpolation (Wang et al., ESRGAN, 2018) of a GAN generator and the PSNR-trained generator it
    was fine-tuned from, trading PSNR for natural texture with one number. Both arguments take anything
    ``load_generator`` takes (or a built generator) and must share the architecture; the result keeps
    ``gan_weights``' config (e.g. its phase equalisation)."""
    if not 0.0 <= gan_weight <= 1.0:
        raise WeightsError(f"gan_weight {gan_weight}: must be between 0 and 1")
    psnr, gan = resolve(psnr_weights), resolve(gan_weights)
    psnr_config, gan_config = (
        {k: v for k, v in generator_config(m).items() if k != "phase_equalize"} for m in (psnr, gan)
    )
    if psnr_config != gan_config:
        raise WeightsError(
            f"cannot interpolate generators of different architectures: {psnr_config} vs {gan_config}"
        )
    from keras_srgan.models.generator import build_generator

    mixed = build_generator(**generator_config(gan))
    # each variable by its layer and name: unique in a functional generator, and free of any model name
    by_path = {"/".join(v.path.split("/")[-2:]): v.numpy() for v in psnr.weights}
    values = []
    for variable in gan.weights:
        path = "/".join(variable.path.split("/")[-2:])
        if path not in by_path:
            raise WeightsError(f"cannot interpolate: {path} has no counterpart in the PSNR generator")
        values.append((1.0 - gan_weight) * by_path[path] + gan_weight * variable.numpy())
    mixed.set_weights(values)
    return mixed


def load_generator(weights: str | os.PathLike | None = None):
    """A built generator (SRResNet or CompactSR, as its config says) from a shipped name, a preset folder or
    ``hf://`` / ``kaggle://`` handle, a ``.weights.h5`` file, a ``.keras`` file or a run folder."""
    spec = DEFAULT_WEIGHTS if weights is None else weights
    shipped = shipped_weights()
    if weights is None and DEFAULT_WEIGHTS not in shipped:
        raise WeightsError(
            f"{DEFAULT_WEIGHTS}: the default weights are not shipped in this install yet; pass a trained "
            "generator with --weights PATH (a .weights.h5 file, a .keras file or a training run folder)"
        )
    if isinstance(spec, str) and spec.startswith(REMOTE_PREFIXES):
        return _load_remote(spec)
    weights_path, meta, preset = _local(spec)
    if preset:
        return _load_preset(weights_path.parent, _metadata_of(meta).get("sha256"))
    path = Path(spec)
    if path.is_dir() and not weights_path.is_file():
        raise WeightsError(f"{path}: folder has no {weights_path.name} (is it a finished training run?)")
    if weights_path.name.endswith(".weights.h5"):
        if not weights_path.is_file():
            raise WeightsError(f"{weights_path}: no such weights file")
        from keras_srgan.models.generator import build_generator

        model = build_generator(**_metadata_of(meta).get("config", {}))
        try:
            if not _load_legacy_h5(model, weights_path):
                model.load_weights(weights_path)
        except Exception as exc:  # h5py/keras raise many types for truncated or mismatched files
            reason = error_reason(exc)
            raise WeightsError(f"{weights_path}: cannot load generator weights ({reason})") from None
        return model
    if path.suffix == ".keras":
        if not path.is_file():
            raise WeightsError(f"{path}: no such file")
        return _load_preset(path, what=".keras model")
    names = ", ".join(sorted(shipped)) or "none shipped yet"
    if path.exists():
        raise WeightsError(
            f"{path}: not a weights file (expected a preset folder, .weights.h5, .keras or a run folder)"
        )
    raise WeightsError(
        f"{spec}: unknown weights (shipped names: {names}; or pass a preset folder, hf:// or kaggle:// handle, "
        ".weights.h5/.keras file or run folder)"
    )


# The Keras-convention name: a shipped name (``"srgan"``), a preset folder or a hf:// / kaggle:// handle.
from_preset = load_generator

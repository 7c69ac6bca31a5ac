"""Benchmark evaluation (Set5 / Set14 / BSD100 style) under one explicit, printed protocol.

"My PSNR is lower than the paper" is usually a protocol mismatch, so every step follows the SR-paper
convention (:class:`keras_srgan.metrics.Protocol`, recorded in the result); ``bicubic=True`` reproduces the
published bicubic baselines. A grayscale HR (Pillow mode L, 1 or LA) is fed to the model as R = G = B and
the RGB output turned back into gray with BT.601 luma (rounded); for bicubic this is exact. PSNR/SSIM reward
the blurry mean of the plausible HR images, so no-reference scores of the SR output sit beside them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from keras_srgan.data.images import list_image_files
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.files import IMAGE_SUFFIXES, atomic_path, write_atomic_text
from keras_srgan.metrics import Protocol, blockiness, grid_groups, niqe, rgb_to_gray
from keras_srgan.pixels import to_uint8, to_unit
from keras_srgan.progress import Progress
from keras_srgan.settings import require_tensorflow_backend

PERCEPTUAL_STATEMENT = (
    "no-reference, on the SR output only (same channel and border): NIQE (Mittal et al. 2013, the authors' "
    "MATLAB model; Y rounded, 96x96 blocks; lower = more natural; needs 96x96 px after the border) and grid "
    "(mean log10 spectral peak over neighbourhood median at the 15 frequencies k/4 cycles/px of the 2- and "
    "4-px pixel-shuffle periods; about 0 for photographs, higher = stronger periodic grid); blocks (Y, whole "
    "image: mean |step| across the 32-px lattice a JPEG'd LR's 8x8 blocks become, over the mean |step| "
    "elsewhere; about 1 for photographs)"
)
# Per-image values; a set's value is the mean over its images that have one.
METRIC_KEYS = ("psnr", "ssim", "niqe", "grid", "grid_period2", "grid_period4", "blockiness")
GRAY_MODES = ("L", "1", "LA")
RGB_MODES = ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")


class BadImage(Exception):
    """An HR file that cannot be measured; it is listed under ``failed`` and left out of the means."""


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name. Not only regular files: a dangling link, a
    link loop or a folder named like an image is reported as a failed image by load_hr, not dropped."""
    return list_image_files(folder, IMAGE_SUFFIXES)


def load_hr(path: Path) -> np.ndarray:
    """uint8 HxW (gray) or HxWx3 (RGB) array; raises :class:`BadImage` with the reason when impossible."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in (*GRAY_MODES, *RGB_MODES):
                raise BadImage(f"unsupported Pillow mode {img.mode!r} (expected 8-bit gray or RGB)")
            return np.array(img.convert("L" if img.mode in GRAY_MODES else "RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage(f"cannot read image ({error_reason(exc)})") from None


def crop_to_scale(hr: np.ndarray, scale: int) -> np.ndarray:
    """Top-left crop so both sides are multiples of ``scale`` (the protocol's crop)."""
    height, width = hr.shape[:2]
    return hr[: height - height % scale, : width - width % scale]


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A gray HxW image as HxWx3 (the generator takes RGB); RGB as it is."""
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


class ProtocolUpscaler:
    """The protocol's two operations on uint8 RGB: HR -> LR (bicubic /``scale``, ``degrade``) and LR -> SR,
    by bicubic interpolation or through the ``Upscaler`` every entry point serves, untiled. ``runner``
    (an engine: LR float [N, h, w, 3] -> SR [0, 1], with a ``scale``) replaces the generator's own
    ``Predictor``."""

    def __init__(self, scale: int, generator=None, runner=None, phase_equalize: bool = False):
        import tensorflow as tf

        from keras_srgan.data.degradation import bicubic_downsample
        from keras_srgan.inference.engines import Predictor
        from keras_srgan.inference.upscale import Upscaler

        self.scale = scale
        self.task = None
        if generator is not None or runner is not None:
            runner = runner if runner is not None else Predictor(generator)
            self.task = Upscaler(generator, tile=0, runner=runner, phase_equalize=bool(phase_equalize))
            # the same engine without the post-processing, made once (not per image: it re-reads the radius)
            self._plain = (
                dataclasses.replace(self.task, phase_equalize=False) if phase_equalize else self.task
            )
        spec = [tf.TensorSpec([None, None, None, 3], tf.float32)]
        self._down = tf.function(lambda hr01: bicubic_downsample(hr01, scale), input_signature=spec)
        self._up = tf.function(
            lambda lr01: tf.image.resize(lr01, tf.shape(lr01)[1:3] * scale, method="bicubic", antialias=True),
            input_signature=spec,
        )

    def degrade(self, hr_rgb: np.ndarray) -> np.ndarray:
        return to_uint8(self._down(to_unit(hr_rgb)[None]).numpy()[0])

    def upscale_unit(self, lr_rgb: np.ndarray) -> np.ndarray:
        """uint8 LR -> float64 SR in [0, 1] before any rounding (no phase equalisation)."""
        lr01 = to_unit(lr_rgb)
        if self.task is not None:
            return np.asarray(self._plain.upscale_array(lr01), np.float64)
        return np.asarray(self._up(lr01[None]).numpy()[0], np.float64)

    def upscale(self, lr_rgb: np.ndarray) -> np.ndarray:
        """uint8 LR -> uint8 SR, rounded as ``keras-srgan upscale`` rounds (post-processing included)."""
        if self.task is not None:
            return self.task.upscale_array(lr_rgb)
        return to_uint8(self.upscale_unit(lr_rgb))


def _unique_names(items: Sequence[Path], short, fallback) -> list[str]:
    """Display names ``short(item)``, using ``fallback(item)`` for the items whose short names clash."""
    names = [short(p) for p in items]
    return [n if names.count(n) == 1 else fallback(p) for n, p in zip(names, items, strict=True)]


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def _weights_label(weights) -> str:
    if weights is None:
        from keras_srgan.weights import DEFAULT_WEIGHTS

        return DEFAULT_WEIGHTS
    if isinstance(weights, str | os.PathLike):
        return str(weights)
    return f"<{type(weights).__name__} object>"


def evaluate(
    data_dirs: str | os.PathLike | Sequence[str | os.PathLike],
    weights=None,
    bicubic: bool = False,
    scale: int = 4,
    json_path: str | os.PathLike | None = None,
    save_images: str | os.PathLike | None = None,
    progress: bool = True,
    hr: bool = False,
    phase_equalize: bool | None = None,
    lr_dirs: Sequence[str | os.PathLike] | None = None,
) -> dict:
    """Measure a generator (or ``bicubic``, or with ``hr`` the HR images themselves: PSNR/SSIM None) on
    folders of HR images, one set per folder. ``weights``: anything ``load_generator`` accepts (None = the
    default) or a built generator. Returns ``{"protocol", "method", "sets"}``; a set has the mean of each
    of ``METRIC_KEYS`` over the images that have it (NIQE/grid are None where undefined), per-image values
    under ``images`` and unreadable or too small files with their reason under ``failed``. ``lr_dirs`` (one
    per data folder): LR inputs of the same names, exactly the cropped HR / ``scale`` (e.g. a degraded set),
    instead of bicubic downsampling. Identical images have PSNR ``inf`` (JSON: ``"inf"``). ``phase_equalize``
    (None = the weights' own) removes the generator's per-phase offset before rounding, as ``upscale`` does.
    """
    require_tensorflow_backend("evaluation")
    if isinstance(data_dirs, str | os.PathLike):
        data_dirs = [data_dirs]
    folders = [Path(d) for d in data_dirs]
    if not folders:
        raise UserError("no data folder given")
    if bicubic and weights is not None:
        raise UserError("give either weights or bicubic, not both")
    if hr and (bicubic or weights is not None or lr_dirs):
        raise UserError(
            "hr measures the HR images themselves: give it without weights or bicubic (or LR folders)"
        )
    lr_folders = [Path(d) for d in lr_dirs] if lr_dirs else [None] * len(folders)
    if len(lr_folders) != len(folders):
        raise UserError(f"give one LR folder per data folder ({len(folders)} data, {len(lr_folders)} LR)")
    for folder in [*folders, *(f for f in lr_folders if f is not None)]:
        if not folder.is_dir():
            raise UserError(f"{folder}: no such folder")
    image_lists = [list_images(f) for f in folders]
    for folder, images in zip(folders, image_lists, strict=True):
        if not images:
            raise UserError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")

    protocol = Protocol(scale=scale)
    if hr:
        upscaler, method = None, "HR (the ground truth itself)"
    else:
        generator = None
        if not bicubic:
            from keras_srgan.weights import resolve

            generator = resolve(weights)
            model_scale = int(getattr(generator, "scale", scale))
            if model_scale != scale:
                label = _weights_label(weights)
                raise UserError(f"{label}: the generator upscales x{model_scale}, but --scale is {scale}")
        if phase_equalize is None:
            phase_equalize = bool(getattr(generator, "phase_equalize", False))
        if bicubic and phase_equalize:
            raise UserError("phase equalisation removes a generator's grid: bicubic has none")
        upscaler = ProtocolUpscaler(scale, generator, phase_equalize=phase_equalize)
        method = "bicubic" if bicubic else _weights_label(weights)
        if phase_equalize:
            method += " (phase-equalised)"
        if lr_dirs:
            method += f"; LR inputs from {', '.join(str(d) for d in lr_dirs)}"
    save_root = Path(save_images) if save_images is not None else None

    sets: dict[str, dict] = {}
    set_names = _unique_names(folders, lambda p: p.name, str)
    for set_name, images, lr_folder in zip(set_names, image_lists, lr_folders, strict=True):
        results: dict[str, dict] = {}
        failed: dict[str, str] = {}
        names = _unique_names(images, lambda p: p.stem, lambda p: p.name)
        lr_by_stem = {p.stem: p for p in list_images(lr_folder)} if lr_folder is not None else {}
        counter = Progress(len(images), "img", desc=set_name, enabled=progress)
        for name, path in counter.over(zip(names, images, strict=True)):
            try:
                if lr_folder is not None and path.stem not in lr_by_stem:
                    raise BadImage(f"no LR image named {path.stem}.* in {lr_folder}")
                sr, truth = super_resolve(path, upscaler, protocol, lr_by_stem.get(path.stem))
                results[name] = protocol.measure(sr, truth) if upscaler else {"psnr": None, "ssim": None}
                results[name].update(perceptual(sr, protocol.crop_border))
            except BadImage as exc:
                failed[name] = f"{path}: {exc}"
                continue
            if save_root is not None:
                (save_root / set_name).mkdir(parents=True, exist_ok=True)
                with atomic_path(save_root / set_name / f"{name}.png") as tmp:
                    Image.fromarray(sr).save(tmp, format="PNG")
        sets[set_name] = {
            **{key: _mean(r[key] for r in results.values() if r[key] is not None) for key in METRIC_KEYS},
            "count": len(results),
            "images": results,
            "failed": failed,
        }

    record = protocol.to_dict()
    record["perceptual"] = PERCEPTUAL_STATEMENT
    report = {"protocol": record, "method": method, "sets": sets}
    if json_path is not None:
        write_json(report, json_path)
    return report


def perceptual(sr: np.ndarray, crop_border: int) -> dict[str, float | None]:
    """NIQE, grid score (with its period-2 / period-4 groups) and blockiness (whole image: the lattice
    starts at its corner) of one uint8 SR image; ``None`` where a score is not defined for the image
    (too small, or NIQE of a flat image)."""
    scores: dict[str, float | None] = dict.fromkeys(METRIC_KEYS[2:])
    measures = (
        lambda: {"niqe": niqe(sr, crop_border)},
        lambda: {k if k == "grid" else f"grid_{k}": v for k, v in grid_groups(sr, crop_border).items()},
        lambda: {"blockiness": blockiness(sr)},
    )
    for measure in measures:
        try:
            scores.update(measure())
        except ValueError:  # the array is a valid uint8 image by construction: the score is undefined for it
            pass
    return scores


def super_resolve(
    path: Path, upscaler: ProtocolUpscaler | None, protocol: Protocol, lr_path: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(SR, HR) uint8 pair for one HR file, both gray (HxW) when the HR is gray; no upscaler: (HR, HR).
    ``lr_path``: the LR input (exactly the cropped HR / scale) instead of the HR bicubic-downsampled."""
    hr = crop_to_scale(load_hr(path), protocol.scale)
    height, width = hr.shape[:2]
    smallest = max(2 * protocol.crop_border + 11, protocol.scale)  # border removal + one SSIM window
    if height < smallest or width < smallest:
        raise BadImage(
            f"too small ({width}x{height} after cropping to a multiple of {protocol.scale}; "
            f"needs at least {smallest}x{smallest})"
        )
    if upscaler is None:
        return hr, hr
    if lr_path is None:
        lr = upscaler.degrade(as_rgb(hr))
    else:
        try:
            lr = as_rgb(load_hr(lr_path))
        except BadImage as exc:
            raise BadImage(f"LR {lr_path}: {exc}") from None
        expected = (height // protocol.scale, width // protocol.scale)
        if lr.shape[:2] != expected:
            raise BadImage(
                f"LR {lr_path} is {lr.shape[1]}x{lr.shape[0]}, not the cropped HR / {protocol.scale} "
                f"({expected[1]}x{expected[0]})"
            )
    sr = upscaler.upscale(lr)
    if hr.ndim == 2:
        sr = rgb_to_gray(sr)
    return sr, hr


def _json_safe(value):
    """Strict JSON: non-finite floats become the strings "inf", "-inf" or "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(report: dict, path: str | os.PathLike) -> Path:
    """Write ``report`` via a temporary file in the same folder and an atomic rename (no half files)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{path}: cannot write results ({exc.strerror or exc})") from None
    return write_atomic_text(path, json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n")


def format_table(report: dict, per_image: bool = False) -> str:
    """Plain-text results: the protocol line, then one row per set (and per image when asked)."""
    lines = [f"protocol: {report['protocol']['statement']}"]
    if "perceptual" in report["protocol"]:
        lines.append(f"perceptual: {report['protocol']['perceptual']}")
    lines.append(f"method: {report['method']}")
    width = max([len(n) for n in report["sets"]] + [5])
    if per_image:
        width = max([width] + [len(n) + 2 for s in report["sets"].values() for n in s["images"]])

    def columns(r: dict) -> str:
        return (
            f"{_fmt(r['psnr'], 2):>9}  {_fmt(r['ssim'], 4):>6}  "
            f"{_fmt(r.get('niqe'), 2):>5}  {_fmt(r.get('grid'), 2):>5}  {_fmt(r.get('blockiness'), 2):>6}"
        )

    lines.append(
        f"{'set':<{width}}  {'images':>6}  {'PSNR (dB)':>9}  {'SSIM':>6}  {'NIQE':>5}  {'grid':>5}  {'blocks':>6}"
    )
    notes = []
    for set_name, result in report["sets"].items():
        lines.append(f"{set_name:<{width}}  {result['count']:>6}  {columns(result)}")
        if per_image:
            for name, r in result["images"].items():
                lines.append(f"  {name:<{width - 2}}  {'':>6}  {columns(r)}")
        for key, label in (("niqe", "NIQE"), ("grid", "grid"), ("blockiness", "blockiness")):
            missing = sum(1 for r in result["images"].values() if key in r and r[key] is None)
            if missing:
                notes.append(
                    f"{set_name}: {label} not defined for {missing} of {result['count']} image(s) "
                    "(too small after the border, or flat); left out of its mean"
                )
    lines.extend(notes)
    failures = [reason for r in report["sets"].values() for reason in r["failed"].values()]
    if failures:
        lines.append(f"skipped {len(failures)} image(s), not in the means:")
        lines.extend(f"  {reason}" for reason in failures)
    return "\n".join(lines)


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"

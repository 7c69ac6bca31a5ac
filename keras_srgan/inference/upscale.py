"""Upscale real images: numpy arrays, PIL images, or files (the ``keras-srgan upscale`` command).

Colour goes through the generator tile by tile; gray is run as RGB and turned back into gray; alpha is
resized with bicubic; 16-bit images stay 16-bit; other output sizes than x4 are the x4 result resized.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image, ImageOps

from keras_srgan import pixels
from keras_srgan.errors import UserError
from keras_srgan.inference import image_io, phase, resample
from keras_srgan.inference.tiling import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE_BATCH,
    auto_tile,
    model_overlap,
    upscale_tiled,
    upscale_two_stage,
)

ImageLike = TypeVar("ImageLike", np.ndarray, Image.Image)

# LR window side (core + 2 * overlap) when ``tile`` is not given: the 1600x1200 peak memory stays at or
# below the TensorFlow default's (docs/upscaling.md); a 256x256 image fits in one window.
OPENVINO_WINDOW = {"bf16": 340, "fp32": 336}


def check_settings(tile, tile_overlap, tile_batch, outscale, width, height):
    """One ``UserError`` line for bad tiling or output-size settings; returns the output size as numbers."""
    if (tile is not None and tile < 0) or (tile_overlap is not None and tile_overlap < 0) or tile_batch < 1:
        raise UserError(
            f"tile ({tile}) and tile overlap ({tile_overlap}) must be >= 0 and tile batch ({tile_batch}) >= 1"
        )
    return resample.check_output_size(outscale, width, height)


def default_tile(engine: str, precision: str, overlap: int = DEFAULT_OVERLAP) -> int:
    """The core size per model call for an engine and precision (TensorFlow: ``tiling.auto_tile``)."""
    if engine == "openvino":
        return max(1, OPENVINO_WINDOW.get(precision, OPENVINO_WINDOW["fp32"]) - 2 * overlap)
    return auto_tile(2 if precision == "bf16" else 4, overlap)


@dataclass
class Upscaler:
    """A generator, the engine that runs it and tiling settings; reuse one instance for many images.

    ``generator``: weights or a model (``weights.resolve``; ``from_weights`` may start from a cached IR).
    ``engine``/``precision``: "auto" follows ``engines.load_engine`` / ``engines.resolve_precision`` (and
    ``$KERAS_SRGAN_ENGINE`` / ``$KERAS_SRGAN_PRECISION``); "fp32" is the exact opt-out (docs/performance.md).
    ``tile=None`` picks the core from the engine (``default_tile``), ``tile_overlap=None`` the generator's
    receptive radius (exact tiles); with both None, large images take the two-stage tiler when the engine
    has ``stages()``. ``outscale`` or ``width``/``height`` resize the x4 result (``resample.target_size``).
    ``phase_equalize``: remove the generator's grid (``inference.phase``); None = the weights' setting.
    """

    generator: object
    tile: int | None = None
    tile_overlap: int | None = None
    tile_batch: int = DEFAULT_TILE_BATCH
    precision: str = "auto"
    engine: str = "auto"
    runner: object = field(default=None, repr=False, compare=False)
    outscale: float | None = None
    width: int | None = None
    height: int | None = None
    phase_equalize: bool | None = None

    def __post_init__(self):
        from keras_srgan.inference.engines import load_engine

        self.outscale, self.width, self.height = check_settings(
            self.tile, self.tile_overlap, self.tile_batch, self.outscale, self.width, self.height
        )
        if self.runner is None:  # engine and precision are checked by ``load_engine``
            from keras_srgan.weights import resolve

            self.generator = resolve(self.generator)
            self.runner = load_engine(self.generator, self.engine, self.precision)
        self.two_stage = self.tile is None and self.tile_overlap is None
        if self.phase_equalize is None:
            self.phase_equalize = bool(getattr(self.generator, "phase_equalize", False))
        if self.tile_overlap is None:
            # the engine knows its radius even when started from a cached IR without the Keras model
            self.tile_overlap = model_overlap(self.runner)
        self.scale = self.runner.scale
        if self.tile is None:  # the one place the tile follows the engine's resolved precision
            self.tile = default_tile(self.runner.name, self.runner.precision, self.tile_overlap)

    @classmethod
    def from_weights(
        cls, weights=None, before_build: Callable[[], None] | None = None, **settings
    ) -> Upscaler:
        """An Upscaler that starts from the cached OpenVINO IR of a weights file when there is one (no
        TensorFlow, no Keras model); else ``before_build`` (e.g. the CLI's quiet TF import) runs first."""
        from keras_srgan.inference import openvino_engine
        from keras_srgan.weights import is_model, weights_file

        if is_model(weights):
            return cls(weights, **settings)
        engine, precision = settings.get("engine", "auto"), settings.get("precision", "auto")
        runner = openvino_engine.openvino_from_file(weights, precision, engine)  # None unless OpenVINO
        if runner is not None:
            if settings.get("phase_equalize") is None:
                found = weights_file(weights)  # resolved just now, so not None
                settings["phase_equalize"] = bool(found[1].get("phase_equalize", False))
            return cls(None, runner=runner, **settings)
        if before_build is not None:
            before_build()
        upscaler = cls(weights, **settings)
        openvino_engine.remember_weights_file(weights, upscaler.runner)
        return upscaler

    def _rgb(self, rgb: np.ndarray, progress=None) -> np.ndarray:
        """[H, W, 3] -> [sH, sW, 3] of the same dtype: the network, then the phase equalisation if on (on
        16-bit output until the offset is known)."""
        deep = self.phase_equalize and rgb.dtype == np.uint8
        wide = rgb.astype(np.uint16) * np.uint16(257) if deep else rgb  # the same [0, 1] values
        big = self.two_stage and max(rgb.shape[:2]) > self.tile + 2 * self.tile_overlap
        stages = getattr(self.runner, "stages", lambda: None)() if big else None
        if stages is not None:
            sr = upscale_two_stage(wide, *stages, self.scale, *self.runner.stage_radii, progress=progress)
        else:
            sr = upscale_tiled(
                wide, self.runner, self.scale, self.tile, self.tile_overlap, self.tile_batch, progress
            )
        return phase.equalize(sr, rgb, self.scale, rgb.dtype) if self.phase_equalize else sr

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the result for an input of that size (``resample.target_size``)."""
        return resample.target_size(width, height, self.scale, self.outscale, self.width, self.height)

    def _alpha(self, alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Bicubic resize of one [H, W] alpha plane straight to ``size``, in its own dtype."""
        if alpha.dtype == np.uint8:
            return np.asarray(Image.fromarray(alpha, "L").resize(size, Image.Resampling.BICUBIC))
        up = np.asarray(Image.fromarray(alpha.astype(np.float32), "F").resize(size, Image.Resampling.BICUBIC))
        return (
            pixels.round_to(up, np.uint16) if alpha.dtype == np.uint16 else pixels.from_unit(up, alpha.dtype)
        )

    def upscale_array(
        self, image: np.ndarray, progress=None, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """[H, W] or [H, W, 1-4] (gray, gray + alpha, RGB, RGBA) uint8/uint16/float in [0, 1] -> the same
        layout and dtype at ``output_size`` (or the explicit (width, height) ``size``)."""
        if hasattr(self.runner, "refresh"):
            self.runner.refresh()  # the engine's copy follows weights changed since it was built
        image = np.asarray(image)
        squeeze = image.ndim == 2
        image = image[:, :, None] if squeeze else image
        if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4) or 0 in image.shape:
            raise UserError(f"image: expected [H, W] or [H, W, 1-4 channels], got shape {image.shape}")
        if image.dtype not in (np.uint8, np.uint16) and not np.issubdtype(image.dtype, np.floating):
            raise UserError(f"image: unsupported dtype {image.dtype} (use uint8, uint16 or float in [0, 1])")
        channels = image.shape[-1]
        size = self.output_size(image.shape[1], image.shape[0]) if size is None else tuple(size)
        if channels >= 3:
            out = self._rgb(np.ascontiguousarray(image[:, :, :3]), progress)
        else:
            out = _to_gray(self._rgb(np.repeat(image[:, :, :1], 3, axis=2), progress))
        out = resample.resize(out, size)  # the same array when size is x4
        if channels in (2, 4):
            alpha = self._alpha(np.ascontiguousarray(image[:, :, -1]), size)
            out = np.concatenate([out, alpha[:, :, None]], axis=2)
        return out[:, :, 0] if squeeze else out

    def upscale_pil(self, img: Image.Image) -> Image.Image:
        """A PIL image (EXIF orientation applied first) -> upscaled PIL image of the matching mode."""
        pixels = image_io.from_pil(ImageOps.exif_transpose(img))
        out = image_io.to_image(self.upscale_array(pixels.array), pixels.kind)
        if pixels.info.get("icc_profile"):
            out.info["icc_profile"] = pixels.info["icc_profile"]
        return out

    def upscale_file(
        self,
        source: str | os.PathLike,
        out_dir: str | os.PathLike,
        name: str | None = None,
        max_pixels: int | None = image_io.DEFAULT_MAX_PIXELS,
        fmt: str | None = None,
        quality: int | None = None,
    ) -> Path:
        """Read, upscale and atomically write one file into ``out_dir``; returns the written path. ``fmt``
        (None: the input's) is written unless it cannot hold the image: then PNG, with a warning."""
        pixels = image_io.read_image(source, max_pixels=max_pixels)
        out_fmt = image_io.output_format(pixels.format, pixels.kind, fmt)
        if fmt and out_fmt != fmt.upper():  # asked for a format that cannot hold it: PNG, named so
            warnings.warn(
                f"{source}: {fmt.upper()} cannot hold this image ({pixels.kind}); wrote {out_fmt}",
                image_io.ImageReadWarning,
                stacklevel=2,
            )
            if name:
                name = os.path.splitext(name)[0] + image_io.CANONICAL_EXT[out_fmt]
        fmt = out_fmt
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        dest = image_io.contained_path(out_dir, name or image_io.output_name(source, fmt))
        if dest.exists() and Path(source).exists() and os.path.samefile(dest, source):
            raise UserError(f"{source}: output would overwrite the input; choose another output folder")
        result = image_io.to_image(self.upscale_array(pixels.array), pixels.kind)
        params = {"quality": quality} if quality is not None and fmt in ("JPEG", "WEBP") else {}
        if pixels.info.get("icc_profile") and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
            params["icc_profile"] = pixels.info["icc_profile"]
        return image_io.write_atomic(result, dest, fmt, **params)


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    """[H, W, 3] -> [H, W, 1] luma in the same dtype: float32 weights, halves to even (what the upscaler has
    always written; ``pixels.rgb_to_gray``, the evaluation protocol's, is 1 apart on 8,027 colours)."""
    weights = pixels.LUMA_WEIGHTS.astype(np.float32)
    out = np.empty(rgb.shape[:2] + (1,), dtype=rgb.dtype)
    step = max(1, (1 << 22) // max(1, rgb.shape[1]))  # a few MB of float32 at a time, not the whole image
    for r in range(0, rgb.shape[0], step):
        y = rgb[r : r + step].astype(np.float32) @ weights
        out[r : r + step, :, 0] = pixels.round_to(y, rgb.dtype) if rgb.dtype in pixels.INTEGER_MAX else y
    return out


@functools.lru_cache(maxsize=1)
def _shared_upscaler(weights_or_model, precision: str, engine: str) -> Upscaler:
    """The last Upscaler, so repeated ``upscale`` calls neither reload nor recompile; never changed (each
    call takes a copy with its own tile and size)."""
    return Upscaler.from_weights(weights_or_model, precision=precision, engine=engine)


def upscale(
    image: ImageLike,
    weights=None,
    *,
    tile: int | None = None,
    tile_overlap: int | None = None,
    precision: str = "auto",
    engine: str = "auto",
    outscale: float | None = None,
    width: int | None = None,
    height: int | None = None,
    phase_equalize: bool | None = None,
) -> ImageLike:
    """Super-resolve one image x4; a numpy array in gives a numpy array out, a PIL image gives a PIL image.
    ``weights``: as ``weights.resolve`` (default ``srresnet``); ``tile=0``: untiled; the rest as ``Upscaler``.
    """
    check_settings(tile, tile_overlap, DEFAULT_TILE_BATCH, outscale, width, height)  # before loading a model
    if isinstance(weights, str | os.PathLike):
        weights = os.fspath(weights)  # "x" and Path("x") are the same cache entry
    shared = _shared_upscaler(weights, precision, engine)
    upscaler = dataclasses.replace(
        shared,
        phase_equalize=shared.phase_equalize if phase_equalize is None else phase_equalize,
        tile=tile,
        tile_overlap=tile_overlap,
        outscale=outscale,
        width=width,
        height=height,
    )
    if isinstance(image, Image.Image):
        return upscaler.upscale_pil(image)
    if isinstance(image, np.ndarray):
        return upscaler.upscale_array(image)
    raise UserError(f"image: expected a numpy array or PIL image, got {type(image).__name__}")

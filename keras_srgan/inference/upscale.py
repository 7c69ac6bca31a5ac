"""Upscale real images: numpy arrays, PIL images, or files (the ``keras-srgan upscale`` command).

Colour goes through the generator tile by tile (``tiling.upscale_tiled``); grayscale is run as RGB
and turned back into gray; alpha is upscaled with bicubic and re-attached; 16-bit images (gray, colour,
with or without alpha) reach the model as floats and are written back at 16 bits (the model itself was
trained on 8-bit images, so it adds 8-bit-quality detail). Any output size other than the model's x4
(``outscale``, ``width``/``height``) is the x4 result resized with ``resample.resize``.
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

# LR window side (core + 2 * overlap) per (engine, precision) when ``tile`` is not given. OpenVINO's
# windows are sized so the peak memory of a 1600x1200 upscale stays at or below that of the previous
# TensorFlow default (docs/upscaling.md); a 256x256 image fits in one window at either precision.
OPENVINO_WINDOW = {"bf16": 340, "fp32": 336}


def default_tile(engine: str, precision: str, overlap: int = DEFAULT_OVERLAP) -> int:
    """The core size per model call for an engine and precision (TensorFlow: ``tiling.auto_tile``)."""
    if engine == "openvino":
        return max(1, OPENVINO_WINDOW.get(precision, OPENVINO_WINDOW["fp32"]) - 2 * overlap)
    return auto_tile(2 if precision == "bf16" else 4, overlap)


@dataclass
class Upscaler:
    """A generator, the engine that runs it and tiling settings; reuse one instance for many images.

    ``generator``: weights or a model, the convention of every entry point (``weights.resolve``: a built
    generator is used as it is; a shipped name, file, run folder or None, the default weights, is
    loaded). ``Upscaler.from_weights`` takes the same and may start faster: from a cached OpenVINO IR,
    without TensorFlow or the Keras model.
    ``engine``: "auto" (OpenVINO on a CPU, TensorFlow on a GPU or when OpenVINO is missing, see
    ``engines.load_engine``), "openvino" or "tensorflow"; ``$KERAS_SRGAN_ENGINE`` when "auto".
    ``precision``: "auto" (bf16 where the engine runs it fastest on this CPU, ``engines.resolve_precision``;
    measured within 0.05 dB of fp32 on
    Set5, see docs/performance.md), "bf16", or "fp32" (the opt-out, equal to the Keras model up to
    float rounding); ``$KERAS_SRGAN_PRECISION`` when "auto". ``tile=None`` picks the window core from
    the engine and precision (``default_tile``). ``tile_overlap=None`` takes the generator's receptive
    radius (``tiling.model_overlap``: 40 for the default 16 blocks), the least context that is exact.
    With both left at None, an image larger than one window goes through the two-stage tiler
    (``tiling.upscale_two_stage``: the LR body on large windows, the upsampling tail on small ones;
    exact as well) when the engine offers ``stages()``; an explicit tile or overlap is always obeyed.

    Output size: the model's x4 unless ``outscale`` (any number > 0: the x4 result resized to
    round(outscale x each side), ``resample.resize``) or ``width``/``height`` (the output's pixels, the
    aspect ratio kept; both = fit inside that box) is given; x4 itself is never resized.

    ``phase_equalize``: remove the generator's per-phase offset, its grid (``inference.phase``);
    None takes the weights' own setting (on for the shipped ``srgan``). The tiler's output then stays at
    16 bits until the offset is known (one more copy of the output in memory), and tiled still equals
    untiled.
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
    two_stage: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self):
        from keras_srgan.inference.engines import ENGINES, PRECISIONS, load_engine

        self.outscale, self.width, self.height = resample.check_output_size(
            self.outscale, self.width, self.height
        )
        if self.precision not in PRECISIONS:
            raise UserError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.engine not in ENGINES:
            raise UserError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        overlap_ok = self.tile_overlap is None or self.tile_overlap >= 0
        if (self.tile is not None and self.tile < 0) or not overlap_ok or self.tile_batch < 1:
            raise UserError(
                f"tile ({self.tile}) and tile overlap ({self.tile_overlap}) must be >= 0 and tile batch "
                f"({self.tile_batch}) >= 1"
            )
        if self.runner is None:
            from keras_srgan.weights import resolve

            self.generator = resolve(self.generator)  # weights or a model, as everywhere; None = default
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
        """An Upscaler for weights or a model (``weights.resolve``: a built generator is used as it is; a
        shipped name, file, run folder or None, the default weights, is loaded). A weights file whose
        OpenVINO IR is cached already starts without importing TensorFlow or building the Keras model
        (``openvino_engine.openvino_from_file``); otherwise ``before_build`` (if given) is called first, e.g. the
        CLI's quiet TensorFlow import."""
        from keras_srgan.inference import openvino_engine
        from keras_srgan.weights import is_model, resolve, weights_file

        if is_model(weights):
            return cls(weights, **settings)
        if settings.get("engine", "auto") in ("auto", "openvino"):
            runner = openvino_engine.openvino_from_file(
                weights, settings.get("precision", "auto"), engine=settings.get("engine", "auto")
            )
            if runner is not None:
                if settings.get("phase_equalize") is None:
                    found = weights_file(weights)  # resolved just now, so not None
                    settings["phase_equalize"] = bool(found[1].get("phase_equalize", False))
                return cls(None, runner=runner, **settings)
        if before_build is not None:
            before_build()
        upscaler = cls(resolve(weights), **settings)
        openvino_engine.remember_weights_file(weights, upscaler.runner)
        return upscaler

    def _rgb(self, rgb: np.ndarray, progress=None) -> np.ndarray:
        """[H, W, 3] -> [sH, sW, 3] of the same dtype: the network, then the phase equalisation if on."""
        if not self.phase_equalize:
            return self._network(rgb, progress)
        wide = rgb.astype(np.uint16) * np.uint16(257) if rgb.dtype == np.uint8 else rgb  # same [0, 1] values
        return phase.equalize(self._network(wide, progress), rgb, self.scale, rgb.dtype)

    def _network(self, rgb: np.ndarray, progress=None) -> np.ndarray:
        window = self.tile + 2 * self.tile_overlap
        stages = getattr(self.runner, "stages", None)
        stages = stages() if self.two_stage and stages is not None and max(rgb.shape[:2]) > window else None
        if stages is not None:
            (body, tail), (body_context, tail_context) = stages, self.runner.stage_radii
            return upscale_two_stage(
                rgb, body, tail, self.scale, body_context, tail_context, progress=progress
            )
        return upscale_tiled(
            rgb, self.runner, self.scale, self.tile, self.tile_overlap, self.tile_batch, progress=progress
        )

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the result for an input of that size (``resample.target_size``)."""
        return resample.target_size(width, height, self.scale, self.outscale, self.width, self.height)

    def _alpha(self, alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Bicubic resize of one [H, W] alpha plane straight to ``size``, in its own dtype (the model only
        knows colour; one resample from the original, antialiased when shrinking like Pillow's filters are)."""
        if alpha.dtype == np.uint8:
            return np.asarray(Image.fromarray(alpha, "L").resize(size, Image.Resampling.BICUBIC))
        up = np.asarray(Image.fromarray(alpha.astype(np.float32), "F").resize(size, Image.Resampling.BICUBIC))
        return (
            pixels.round_to(up, np.uint16) if alpha.dtype == np.uint16 else pixels.from_unit(up, alpha.dtype)
        )

    def upscale_array(
        self, image: np.ndarray, progress=None, size: tuple[int, int] | None = None
    ) -> np.ndarray:
        """[H, W], [H, W, 1|2|3|4] uint8/uint16/float-in-[0, 1] -> the same layout and dtype, ``scale`` x larger
        (or ``output_size``, or the explicit (width, height) ``size``, e.g. a video's even frame size).

        1 channel = gray, 2 = gray + alpha, 3 = RGB, 4 = RGBA.
        """
        refresh = getattr(self.runner, "refresh", None)
        if refresh is not None:
            refresh()  # the engine's copy of the model must follow weights changed since it was built
        image = np.asarray(image)
        squeeze = image.ndim == 2
        if squeeze:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4) or 0 in image.shape:
            raise UserError(f"image: expected [H, W] or [H, W, 1-4 channels], got shape {image.shape}")
        if image.dtype not in (np.uint8, np.uint16) and not np.issubdtype(image.dtype, np.floating):
            raise UserError(f"image: unsupported dtype {image.dtype} (use uint8, uint16 or float in [0, 1])")
        channels = image.shape[-1]
        size = self.output_size(image.shape[1], image.shape[0]) if size is None else tuple(size)
        colour = image[:, :, :3] if channels >= 3 else image[:, :, :1]
        alpha = image[:, :, -1] if channels in (2, 4) else None
        if channels >= 3:
            out_colour = self._rgb(np.ascontiguousarray(colour), progress)
        else:
            sr = self._rgb(np.repeat(colour, 3, axis=2), progress)
            out_colour = _to_gray(sr)
        out_colour = resample.resize(out_colour, size)  # the same array when size is x4
        if alpha is None:
            out = out_colour
        else:
            out = np.concatenate(
                [out_colour, self._alpha(np.ascontiguousarray(alpha), size)[:, :, None]], axis=2
            )
        return out[:, :, 0] if squeeze else out

    def upscale_pixels(self, pixels: image_io.Pixels, progress=None) -> Image.Image | image_io.DeepImage:
        """Decoded pixels -> a PIL image of the matching mode (``DeepImage`` for 16-bit colour)."""
        return image_io.to_image(self.upscale_array(pixels.array, progress), pixels.kind)

    def upscale_pil(self, img: Image.Image) -> Image.Image:
        """A PIL image (EXIF orientation applied first) -> upscaled PIL image of the matching mode."""
        pixels = image_io.from_pil(ImageOps.exif_transpose(img))
        out = self.upscale_pixels(pixels)
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
        """Read, upscale and atomically write one file into ``out_dir``; returns the written path.

        ``fmt`` (PNG, JPEG, WEBP; None: the input's) is what to write, unless it cannot hold the image
        (16 bits, alpha): then PNG, with a warning. ``quality``: of JPEG and WebP output (default 95).
        """
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
        result = self.upscale_pixels(pixels)
        params = {"quality": quality} if quality is not None and fmt in ("JPEG", "WEBP") else {}
        if pixels.info.get("icc_profile") and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
            params["icc_profile"] = pixels.info["icc_profile"]
        return image_io.write_atomic(result, dest, fmt, **params)


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    """[H, W, 3] -> [H, W, 1] luma in the same dtype (the model's RGB output for a gray input is near-gray).

    ``pixels.LUMA_WEIGHTS`` in float32, integers rounded half to even (``pixels.round_to``): what the
    upscaler has always written. ``pixels.rgb_to_gray`` (uint8 only, float64, halves up like Pillow) is the
    evaluation protocol's; the two differ by 1 on 8,027 of the 16.7M uint8 colours.
    """
    weights = pixels.LUMA_WEIGHTS.astype(np.float32)
    out = np.empty(rgb.shape[:2] + (1,), dtype=rgb.dtype)
    step = max(1, (1 << 22) // max(1, rgb.shape[1]))  # a few MB of float32 at a time, not the whole image
    for r in range(0, rgb.shape[0], step):
        y = rgb[r : r + step].astype(np.float32) @ weights
        out[r : r + step, :, 0] = pixels.round_to(y, rgb.dtype) if rgb.dtype in pixels.INTEGER_MAX else y
    return out


@functools.lru_cache(maxsize=1)
def _shared_upscaler(weights_or_model, precision: str, engine: str) -> Upscaler:
    """The last (weights or model, precision, engine)'s Upscaler, so repeated ``upscale`` calls neither reload
    nor recompile. Never changed after it is made: each call takes a copy with its own tile and size."""
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

    ``weights``: weights or a model, as everywhere (``weights.resolve``): a built generator, a shipped name,
    ``.weights.h5``, ``.keras`` or run folder (default: the shipped ``srresnet``). ``tile`` is the LR core size per model call (0 = whole image at
    once, None = chosen from the engine and precision, see ``Upscaler``) and ``tile_overlap`` the LR
    context around each tile (None = the model's receptive radius). ``precision``: "auto" (the fast
    default, see ``Upscaler``), "bf16" or "fp32" (opt-out; also via the ``KERAS_SRGAN_PRECISION``
    environment variable). ``engine``: one of ``engines.ENGINES`` ("auto", "openvino", "tensorflow"; also
    ``KERAS_SRGAN_ENGINE``). ``outscale`` (any number > 0) or ``width``/``height`` (output pixels, aspect
    kept; both = fit inside) resize the x4 result (``Upscaler``). The last model and engine are kept for
    the next call; for many images an ``Upscaler`` of your own says so explicitly. ``phase_equalize``:
    remove the generator's grid (``Upscaler``; None = the weights' own setting).
    """
    if (tile is not None and tile < 0) or (tile_overlap is not None and tile_overlap < 0):
        raise UserError(f"tile ({tile}) and tile_overlap ({tile_overlap}) must be >= 0")
    resample.check_output_size(outscale, width, height)  # before any model is loaded
    source = weights
    if isinstance(source, str | os.PathLike):
        source = os.fspath(source)  # "x" and Path("x") are the same cache entry
    shared = _shared_upscaler(source, precision, engine)
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

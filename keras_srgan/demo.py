"""``keras-srgan demo``: the package's main job on built-in photos, with numbers and a picture.

The four photos of ``keras_srgan.samples`` (public domain / CC0, no download) go through the evaluation
protocol (``evaluation.ProtocolUpscaler``: HR cropped to a multiple of 4, bicubic LR rounded to uint8,
bicubic and each generator back up; PSNR/SSIM on Y, a 4-pixel border left out), so the bicubic column is
comparable with published figures. One of them comes again as a degraded JPEG-like LR (``DEGRADED_SAMPLE``):
the input real photos are, where models trained on clean bicubic LR show their limits.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_srgan import samples
from keras_srgan.defaults import DEFAULT_WEIGHTS
from keras_srgan.evaluation import ProtocolUpscaler, crop_to_scale
from keras_srgan.files import atomic_path

SCALE = 4
BORDER = 4  # pixels removed from each side before PSNR/SSIM (= scale, the usual protocol)

# (bundled sample photo, crop box in HR pixels (top, left, size) for the comparison picture)
SAMPLES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("astronaut", (60, 170, 128)),
    ("chelsea", (70, 150, 128)),
    ("coffee", (120, 230, 128)),
    ("rocket", (150, 270, 128)),
)
CROP_ZOOM = 2  # nearest-neighbour zoom of crops in the comparison picture, so pixels are visible
PERCEPTUAL_MODELS = ("srgan", "srgan-mse")  # the demo's GAN column: the first of these that is shipped
# One photo again as a phone or web JPEG gives it: the "mild" level of the degraded benchmarks (blur, bicubic
# x1/4, noise, JPEG; data.degradation.LEVELS), one fixed draw. Clean-LR models sharpen its noise and blocks.
DEGRADED_SAMPLE = ("coffee", "mild", 27)


def model_label(weights) -> str:
    """A short column title: the shipped name, the run folder's name, or the file name."""
    if weights is None:
        return DEFAULT_WEIGHTS
    if not isinstance(weights, (str, os.PathLike)):
        return "SR"
    path = Path(os.fspath(weights))
    return path.parent.name if path.name == "generator.weights.h5" and path.parent.name else path.name


def sample_images(names: list[str] | None = None) -> dict[str, np.ndarray]:
    """HR uint8 RGB photos bundled with the package, cropped to a multiple of ``SCALE``."""
    names = [n for n, _ in SAMPLES] if names is None else names
    return {name: np.ascontiguousarray(crop_to_scale(samples.load(name), SCALE)) for name in names}


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow 10.0: a fixed-size bitmap font only
        return ImageFont.load_default()


def comparison_picture(
    rows: list[tuple[str, list[np.ndarray], list[str]]], columns: list[str]
) -> Image.Image:
    """A labelled grid: one row per image (its name, then a crop per method with a caption under it)."""
    panel = max(c.shape[0] for _, crops, _ in rows for c in crops) * CROP_ZOOM
    gap, header, row_title, caption = 8, 28, 24, 20
    width = gap + len(columns) * (panel + gap)
    height = header + len(rows) * (row_title + panel + caption + gap)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    big, small = _font(18), _font(14)
    for j, title in enumerate(columns):
        draw.text((gap + j * (panel + gap) + 4, 5), title, fill=(0, 0, 0), font=big)
    y = header
    for name, crops, captions in rows:
        draw.text((gap + 4, y + 4), name, fill=(60, 60, 60), font=small)
        y += row_title
        for j, (crop, text) in enumerate(zip(crops, captions, strict=True)):
            zoomed = (crop.shape[1] * CROP_ZOOM, crop.shape[0] * CROP_ZOOM)
            x = gap + j * (panel + gap)
            canvas.paste(Image.fromarray(crop).resize(zoomed, Image.Resampling.NEAREST), (x, y))
            draw.text((x + 4, y + panel + 3), text, fill=(0, 0, 0), font=small)
        y += panel + caption + gap
    return canvas


def run_demo(out_dir: str | os.PathLike = "demo", weights=None, names: list[str] | None = None, echo=print):
    """Run the demo and write LR / bicubic / SR images and ``comparison.png`` into ``out_dir``.

    ``weights``: one model (a shipped name, a path or a built model) or a list of them; None: the default
    weights and the first shipped ``PERCEPTUAL_MODELS``, so the demo shows what each stage of training
    buys. Under each crop: PSNR (Y, 4-px border) and NIQE of the whole image.
    """
    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.metrics import niqe, psnr, ssim
    from keras_srgan.weights import resolve, shipped_weights

    if weights is None:  # None: the default weights, resolved with their message when missing
        chosen = [None, *[name for name in PERCEPTUAL_MODELS if name in shipped_weights()][:1]]
    else:
        chosen = list(weights) if isinstance(weights, (list, tuple)) else [weights]
    models = {model_label(w): Upscaler(resolve(w)) for w in chosen}  # fails fast, before any work
    protocol = ProtocolUpscaler(SCALE)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    crop_boxes = dict(SAMPLES)
    # per clean image: method -> (PSNR, SSIM, NIQE); the degraded row is shown, not averaged
    all_scores: list[dict[str, tuple[float, float, float]]] = []
    rows = []
    methods = ["bicubic", *models, "HR"]
    echo(f"{'image':<12} {'HR size':>9} | " + " | ".join(f"{m[:22]:>22}" for m in methods))
    echo(f"{'':<12} {'':>9} | " + " | ".join(f"{'PSNR  SSIM    NIQE':>22}" for _ in methods))
    start = time.perf_counter()
    images = {name: (hr, protocol.degrade(hr)) for name, hr in sample_images(names).items()}
    base, level, seed = DEGRADED_SAMPLE
    degraded = degraded_lr(images[base][0], level, seed) if base in images else None
    if degraded is not None:
        images[f"{base}-{level}"] = (images[base][0], degraded)
    for name, (hr, lr) in images.items():
        outputs = {"bicubic": protocol.upscale(lr)}
        outputs.update({label: upscaler.upscale_array(lr) for label, upscaler in models.items()})
        files = {"lr": lr, "bicubic": outputs["bicubic"], **{f"sr-{m}": outputs[m] for m in models}}
        for kind, img in files.items():
            with atomic_path(out / f"{name}_{kind}.png") as tmp:
                Image.fromarray(img).save(tmp, format="PNG")
        outputs["HR"] = hr
        scores = {
            m: (psnr(img, hr, BORDER), ssim(img, hr, BORDER), niqe(img, BORDER)) for m, img in outputs.items()
        }
        if lr is not degraded:
            all_scores.append(scores)
        size = f"{hr.shape[1]}x{hr.shape[0]}"
        echo(f"{name:<12} {size:>9} | " + " | ".join(_cells(*scores[m]) for m in methods))
        top, left, side = crop_boxes.get(name.split("-")[0], (0, 0, 128))
        top, left = max(min(top, hr.shape[0] - side), 0), max(min(left, hr.shape[1] - side), 0)
        crops = [outputs[m][top : top + side, left : left + side] for m in methods]
        captions = [f"{scores[m][0]:.2f} dB  NIQE {scores[m][2]:.2f}" for m in methods[:-1]]
        rows.append((name, crops, [*captions, f"NIQE {scores['HR'][2]:.2f}"]))
    means = {m: np.mean([s[m] for s in all_scores], axis=0) for m in methods}
    echo(f"{'mean':<12} {'':>9} | " + " | ".join(_cells(*means[m]) for m in methods))
    with atomic_path(out / "comparison.png") as tmp:
        comparison_picture(rows, methods).save(tmp, format="PNG")
    echo(
        f"PSNR/SSIM on Y, {BORDER}-pixel border, x{SCALE}; mean of the clean rows; NIQE on Y (lower = more "
        f"natural; HR's is the photo's own). Wrote LR/bicubic/SR images and comparison.png to {out} in {time.perf_counter() - start:.1f} s"
    )


def degraded_lr(hr: np.ndarray, level: str, seed: int) -> np.ndarray:
    """The uint8 LR of ``hr`` through a named degradation level, one seeded draw (as the degraded sets)."""
    import keras

    from keras_srgan.data.degradation import degradation_level
    from keras_srgan.pixels import from_unit, to_unit

    lr = degradation_level(level)(to_unit(hr)[None], keras.random.SeedGenerator(seed))
    return from_unit(np.asarray(lr)[0], np.uint8)


def _cells(psnr: float, ssim: float, niqe: float) -> str:
    psnr_text = "    -" if np.isinf(psnr) else f"{psnr:5.2f}"
    ssim_text = "     -" if ssim >= 1.0 else f"{ssim:6.4f}"
    return f"{psnr_text} {ssim_text} {niqe:5.2f}".rjust(22)

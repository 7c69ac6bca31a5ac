"""``keras-srgan demo``: the package's main job on built-in photos, with numbers and a picture.

Sample photos ship inside scikit-image (no download). Each is cropped to a multiple of 4 (the HR),
bicubic-downsampled x4 and rounded to uint8 (the LR, exactly as the evaluation protocol does), then
upscaled back both with bicubic and with the generator. PSNR/SSIM follow the paper protocol
(Y channel, 4-pixel border), so the bicubic column is comparable with published bicubic figures.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_srgan.defaults import DEFAULT_WEIGHTS
from keras_srgan.files import atomic_path
from keras_srgan.pixels import from_unit, round_to

SCALE = 4
BORDER = 4  # pixels removed from each side before PSNR/SSIM (= scale, the usual protocol)

# (skimage.data function, crop box in HR pixels (top, left, size) for the comparison picture)
SAMPLES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("astronaut", (60, 170, 128)),
    ("chelsea", (70, 150, 128)),
    ("coffee", (120, 230, 128)),
    ("rocket", (150, 270, 128)),
)
CROP_ZOOM = 2  # nearest-neighbour zoom of crops in the comparison picture, so pixels are visible


@dataclass
class DemoResult:
    name: str
    hr_size: tuple[int, int]
    psnr_bicubic: float
    ssim_bicubic: float
    psnr_sr: float
    ssim_sr: float


def sample_images(names: list[str] | None = None) -> dict[str, np.ndarray]:
    """HR uint8 RGB photos from ``skimage.data`` (bundled files), cropped to a multiple of ``SCALE``."""
    import skimage.data

    wanted = [n for n, _ in SAMPLES] if names is None else names
    images = {}
    for name in wanted:
        img = np.asarray(getattr(skimage.data, name)())[:, :, :3]
        h, w = img.shape[:2]
        images[name] = np.ascontiguousarray(img[: h - h % SCALE, : w - w % SCALE])
    return images


def make_lr(hr: np.ndarray) -> np.ndarray:
    """x4 antialiased bicubic LR, rounded to uint8 (what a saved LR image would hold)."""
    import tensorflow as tf

    from keras_srgan.data.degradation import bicubic_downsample

    lr = bicubic_downsample(tf.convert_to_tensor(hr[None], tf.float32) / 255.0, SCALE)[0]
    return from_unit(lr.numpy(), np.uint8)


def bicubic_up(lr: np.ndarray) -> np.ndarray:
    """The baseline: plain bicubic x4 upsampling of the LR, rounded to uint8."""
    import tensorflow as tf

    h, w = lr.shape[:2]
    up = tf.image.resize(
        tf.convert_to_tensor(lr[None], tf.float32), (h * SCALE, w * SCALE), method="bicubic"
    )[0]
    return round_to(up.numpy(), np.uint8)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # very old Pillow: fixed-size bitmap font
        return ImageFont.load_default()


def comparison_picture(rows: list[tuple[str, str, list[np.ndarray]]], columns: list[str]) -> Image.Image:
    """A labelled grid: one row per image (title + its crops), one column per method."""
    zoom = CROP_ZOOM
    panel = max(c.shape[0] for _, _, crops in rows for c in crops) * zoom
    gap, header, row_title = 8, 28, 24
    width = gap + len(columns) * (panel + gap)
    height = header + len(rows) * (row_title + panel + gap)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    big, small = _font(18), _font(14)
    for j, title in enumerate(columns):
        draw.text((gap + j * (panel + gap) + 4, 5), title, fill=(0, 0, 0), font=big)
    y = header
    for name, subtitle, crops in rows:
        draw.text((gap + 4, y + 4), f"{name}  {subtitle}", fill=(60, 60, 60), font=small)
        y += row_title
        for j, crop in enumerate(crops):
            tile = Image.fromarray(crop).resize(
                (crop.shape[1] * zoom, crop.shape[0] * zoom), Image.Resampling.NEAREST
            )
            canvas.paste(tile, (gap + j * (panel + gap), y))
        y += panel + gap
    return canvas


def run_demo(
    out_dir: str | os.PathLike = "demo",
    weights: str | os.PathLike | None = None,
    names: list[str] | None = None,
    generator=None,
    echo=print,
) -> list[DemoResult]:
    """Run the demo and write LR / bicubic / SR images and ``comparison.png`` into ``out_dir``."""
    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.metrics import psnr, ssim
    from keras_srgan.weights import resolve

    # one convention for "weights or a model" (``generator=`` kept for callers of the older interface)
    model = resolve(generator if generator is not None else weights)  # fails fast, before any work
    upscaler = Upscaler(model)
    if generator is not None:
        label = "SR"
    else:
        path = Path(os.fspath(weights)) if weights is not None else Path(DEFAULT_WEIGHTS)
        label = f"SR ({path.parent.name if path.name == 'generator.weights.h5' and path.parent.name else path.name})"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    crop_boxes = dict(SAMPLES)
    results: list[DemoResult] = []
    rows = []
    echo(f"{'image':<12} {'HR size':>9} | {'bicubic PSNR':>12} {'SSIM':>6} | {'SR PSNR':>8} {'SSIM':>6}")
    start = time.perf_counter()
    for name, hr in sample_images(names).items():
        lr = make_lr(hr)
        bic = bicubic_up(lr)
        sr = upscaler.upscale_array(lr)
        for kind, img in (("lr", lr), ("bicubic", bic), ("sr", sr)):
            with atomic_path(out / f"{name}_{kind}.png") as tmp:
                Image.fromarray(img).save(tmp, format="PNG")
        r = DemoResult(
            name,
            (hr.shape[1], hr.shape[0]),
            psnr(bic, hr, BORDER),
            ssim(bic, hr, BORDER),
            psnr(sr, hr, BORDER),
            ssim(sr, hr, BORDER),
        )
        results.append(r)
        echo(
            f"{name:<12} {f'{r.hr_size[0]}x{r.hr_size[1]}':>9} | {r.psnr_bicubic:12.2f} {r.ssim_bicubic:6.4f} | "
            f"{r.psnr_sr:8.2f} {r.ssim_sr:6.4f}"
        )
        top, left, size = crop_boxes.get(name, (0, 0, 128))
        top, left = min(top, hr.shape[0] - size), min(left, hr.shape[1] - size)
        top, left = max(top, 0), max(left, 0)
        crops = [a[top : top + size, left : left + size] for a in (bic, sr, hr)]
        rows.append((name, f"bicubic {r.psnr_bicubic:.2f} dB | SR {r.psnr_sr:.2f} dB", crops))
    mean = [
        float(np.mean([getattr(r, k) for r in results]))
        for k in ("psnr_bicubic", "ssim_bicubic", "psnr_sr", "ssim_sr")
    ]
    echo(f"{'mean':<12} {'':>9} | {mean[0]:12.2f} {mean[1]:6.4f} | {mean[2]:8.2f} {mean[3]:6.4f}")
    picture = comparison_picture(rows, ["bicubic", label, "original (HR)"])
    with atomic_path(out / "comparison.png") as tmp:
        picture.save(tmp, format="PNG")
    echo(
        f"PSNR/SSIM on Y, {BORDER}-pixel border, x{SCALE}. Wrote LR/bicubic/SR images and comparison.png to {out} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return results

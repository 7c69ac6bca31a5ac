"""Make the model card's pictures and sharpness figures from shipped weights and run folders.

    python training/figures.py --models srresnet srgan-mse --runs srresnet=RUN_DIR srgan-mse=RUN_DIR

Writes into docs/images/: one side-by-side PNG per image (bicubic | each model | HR, crops enlarged),
training curves per run, and sharpness.json + sharpness.png: the mean gradient magnitude of SR relative to HR per model
and set (1.0 = as sharp as the ground truth; bicubic is blurrier, GAN training pushes the ratio up).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from plots import (  # training/plots.py, beside this script
    plot_sharpness,
    plot_training_curves,
    require_matplotlib,
)

from keras_srgan.errors import UserError
from keras_srgan.evaluation import ProtocolUpscaler, crop_to_scale, list_images, load_hr
from keras_srgan.metrics import rgb_to_y
from keras_srgan.weights import load_generator

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# (set, image, HR crop box left, top, size): textured regions where the models differ most
CROPS = [
    ("Set14", "baboon", 180, 60, 120),
    ("Set5", "butterfly", 70, 60, 120),
    ("BSD100", "148026", 200, 100, 120),
]
ENLARGE = 2


def mean_gradient(y: np.ndarray, border: int) -> float:
    """Mean magnitude of the finite-difference gradient of a luma image, ``border`` pixels removed."""
    y = y[border:-border, border:-border].astype(np.float64)
    gy, gx = np.gradient(y)
    return float(np.mean(np.hypot(gx, gy)))


def luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) if image.ndim == 2 else rgb_to_y(image)


def labelled(tile: np.ndarray, text: str) -> Image.Image:
    img = Image.fromarray(tile).resize((tile.shape[1] * ENLARGE, tile.shape[0] * ENLARGE), Image.NEAREST)
    canvas = Image.new("RGB", (img.width, img.height + 22), "white")
    canvas.paste(img, (0, 22))
    ImageDraw.Draw(canvas).text((4, 4), text, fill="black")
    return canvas


def side_by_side(panels: list[Image.Image]) -> Image.Image:
    gap = 6
    out = Image.new(
        "RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1), panels[0].height), "white"
    )
    x = 0
    for panel in panels:
        out.paste(panel, (x, 0))
        x += panel.width + gap
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["srresnet", "srgan-mse"], help="weights specs")
    parser.add_argument(
        "--runs", nargs="*", default=[], metavar="NAME=RUN_DIR", help="runs for training curves"
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args(argv)
    try:
        require_matplotlib()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    upscalers = {"bicubic": ProtocolUpscaler(args.scale)}
    for spec in args.models:
        generator = load_generator(spec)  # each as users get it: phase equalisation where its weights ask
        upscalers[Path(spec).name] = ProtocolUpscaler(
            args.scale, generator, phase_equalize=generator.phase_equalize
        )

    for set_name, stem, left, top, size in CROPS:
        path = next((p for p in list_images(args.data / set_name) if p.stem == stem), None)
        if path is None:
            print(f"skipping {set_name}/{stem}: not found under {args.data}", file=sys.stderr)
            continue
        hr = crop_to_scale(load_hr(path), args.scale)
        hr = np.repeat(hr[..., None], 3, axis=-1) if hr.ndim == 2 else hr
        lr = upscalers["bicubic"].degrade(hr)
        box = (slice(top, top + size), slice(left, left + size))
        panels = [labelled(up.upscale(lr)[box], name) for name, up in upscalers.items()]
        panels.append(labelled(hr[box], "HR (ground truth)"))
        target = args.out / f"compare_{set_name}_{stem}.png"
        side_by_side(panels).save(target)
        print(f"wrote {target}")

    sharpness: dict[str, dict[str, float]] = {}
    for set_name in ("Set5", "Set14", "BSD100"):
        folder = args.data / set_name
        if not folder.is_dir():
            continue
        ratios: dict[str, list[float]] = {name: [] for name in upscalers}
        for path in list_images(folder):
            hr = crop_to_scale(load_hr(path), args.scale)
            hr_rgb = np.repeat(hr[..., None], 3, axis=-1) if hr.ndim == 2 else hr
            lr = upscalers["bicubic"].degrade(hr_rgb)
            reference = mean_gradient(luma(hr_rgb), args.scale)
            for name, up in upscalers.items():
                ratios[name].append(mean_gradient(luma(up.upscale(lr)), args.scale) / reference)
        sharpness[set_name] = {name: round(float(np.mean(v)), 4) for name, v in ratios.items()}
        print(set_name, sharpness[set_name])
    (args.out / "sharpness.json").write_text(json.dumps(sharpness, indent=2) + "\n")
    if sharpness:
        print(f"wrote {plot_sharpness(sharpness, args.out / 'sharpness.png')}")

    runs = dict(item.split("=", 1) for item in args.runs)
    for name, run_dir in runs.items():
        target = plot_training_curves(
            {name: Path(run_dir) / "metrics.csv"}, args.out / f"curves_{name}.png", name
        )
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a generator's grid comes from: how much of it is a static per-phase pattern.

    python training/grid_source.py srresnet srgan-mse runs/srgan --data ../shared/data/Set14

For each image (protocol LR, Y channel, 4-px border), the static pattern is the mean of SR - bicubic(LR)
at each position modulo 4 (bicubic has no grid, and HR is not used, so the photograph's own periodic content
does not leak in). Reported per model and set: the grid score, the pattern's amplitude in grey levels
(max - min over the 16 phases), and the grid score of the float Y plane with that image's pattern removed.
Then what the shipped remedy does (``inference.phase.equalize``, the uint8 output with the generator's
per-phase offset removed before rounding): its grid score, and, as a check that does not look only at the
exact pattern frequencies of the whole image, the mean grid score over 128x128 windows ("local grid") of
the plain and the equalised output; a pattern that changes across the image shows up there.
Writes a JSON report with ``--json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from keras_srgan.evaluation import ProtocolUpscaler, crop_to_scale, list_images, load_hr
from keras_srgan.inference.phase import equalize
from keras_srgan.metrics import grid_score
from keras_srgan.metrics.grid import PERIOD, groups_of, plane_log_ratios
from keras_srgan.pixels import rgb_to_y, to_uint8
from keras_srgan.weights import resolve

BORDER = 4
WINDOW = 128  # local grid: non-overlapping windows of this side, inside the border


def phase_means(plane: np.ndarray) -> np.ndarray:
    """[PERIOD, PERIOD] mean of ``plane`` at each (row, column) position modulo PERIOD, minus their mean."""
    h, w = plane.shape[0] // PERIOD * PERIOD, plane.shape[1] // PERIOD * PERIOD
    means = plane[:h, :w].reshape(h // PERIOD, PERIOD, w // PERIOD, PERIOD).mean(axis=(0, 2))
    return means - means.mean()


def local_grid(image: np.ndarray) -> float:
    """Mean grid score over the non-overlapping WINDOW x WINDOW windows inside the border."""
    inner = image[BORDER:-BORDER, BORDER:-BORDER]
    h, w = inner.shape[:2]
    scores = [
        grid_score(inner[r : r + WINDOW, c : c + WINDOW])
        for r in range(0, h - WINDOW + 1, WINDOW)
        for c in range(0, w - WINDOW + 1, WINDOW)
    ]
    return float(np.mean(scores))


def analyse(weights: str, folder: Path) -> dict[str, float]:
    generator = resolve(weights)
    model = ProtocolUpscaler(4, generator)
    bicubic = ProtocolUpscaler(4)
    rows = []
    for path in list_images(folder):
        hr = crop_to_scale(load_hr(path), 4)
        rgb = hr if hr.ndim == 3 else np.repeat(hr[..., None], 3, axis=-1)
        lr = model.degrade(rgb)
        sr01 = model.upscale_unit(lr)
        plain = to_uint8(sr01)
        equalised = equalize(sr01, lr, 4, np.uint8)
        sr_y = rgb_to_y(plain)[BORDER:-BORDER, BORDER:-BORDER]
        bic_y = rgb_to_y(bicubic.upscale(lr))[BORDER:-BORDER, BORDER:-BORDER]
        pattern = phase_means(sr_y - bic_y)
        h, w = sr_y.shape
        tiled = np.tile(pattern, (h // PERIOD + 1, w // PERIOD + 1))[:h, :w]
        rows.append(
            {
                "grid": groups_of(plane_log_ratios(sr_y))["grid"],
                "pattern_levels": float(pattern.max() - pattern.min()),
                "grid_pattern_removed": groups_of(plane_log_ratios(sr_y - tiled))["grid"],
                "grid_equalised": grid_score(equalised, BORDER),
                "local_grid": local_grid(plain),
                "local_grid_equalised": local_grid(equalised),
                "local_grid_hr": local_grid(rgb),
            }
        )
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights", nargs="+", help="shipped names, weight files or run folders")
    parser.add_argument("--data", nargs="+", type=Path, required=True, help="HR image folders")
    parser.add_argument("--json", type=Path, help="write the report here too")
    args = parser.parse_args(argv)
    report: dict[str, dict] = {}
    print(
        "model | set | grid | static pattern (levels) | grid, pattern removed | grid, equalised | "
        "local grid: plain / equalised / HR"
    )
    for weights in args.weights:
        for folder in args.data:
            result = analyse(weights, folder)
            report.setdefault(weights, {})[folder.name] = result
            print(
                f"{weights} | {folder.name} | {result['grid']:.2f} | {result['pattern_levels']:.2f} | "
                f"{result['grid_pattern_removed']:.2f} | {result['grid_equalised']:.2f} | "
                f"{result['local_grid']:.2f} / {result['local_grid_equalised']:.2f} / {result['local_grid_hr']:.2f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

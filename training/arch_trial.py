"""Measure a training run's generator directly as a Keras model (no inference engine), for architecture trials.

    python training/arch_trial.py /work/runs/arch/NAME [--out NAME.json]
    python training/arch_trial.py --table /work/runs/arch/*.json      # markdown table of finished trials

The engines in keras_srgan/inference only know SRResNet, so the generator (any ``build_generator`` arch)
runs here as ``model(lr, training=False)`` (its [0, 1] output), float32, one image at a time, and SR is
rounded to uint8. Sets: Set5, Set14, BSD100 with the papers' protocol (``keras_srgan.evaluation``'s LR:
antialiased bicubic, rounded; ``Protocol``: PSNR / SSIM on Y, border = scale; gray HR measured on gray)
and BSD100_mild, a fixed degraded LR copy of BSD100 (``make_degraded_set``: ``real_lr_set_config()``,
seed 14; made once under /work/runs/degraded, outside the repo). Each set also gets NIQE and the grid
score of the SR output (border = scale, no post-processing) and the model its MACs per output pixel.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEGRADED = Path("/work/runs/degraded/BSD100_mild")
SETS = ("Set5", "Set14", "BSD100")


def degraded_set(folder: Path = DEGRADED, seed: int = 14) -> Path:
    """The degraded BSD100 LR folder, made once (its manifest records the knobs, seed and hashes)."""
    if not (folder / "manifest.json").is_file():
        from keras_srgan.data.degradation import make_degraded_set

        make_degraded_set(DATA / "BSD100", folder, seed=seed)
    return folder


def pairs(name: str, scale: int, upscaler):
    """(HR uint8, LR uint8 RGB, gray?) per image of a set; the LR of BSD100_mild comes from its files."""
    from PIL import Image

    from keras_srgan.evaluation import as_rgb, crop_to_scale, list_images, load_hr

    if name == "BSD100_mild":
        manifest = json.loads((degraded_set() / "manifest.json").read_text())
        for lr_name, entry in sorted(manifest["files"].items()):
            hr = crop_to_scale(load_hr(DATA / "BSD100" / entry["hr"]), scale)
            with Image.open(DEGRADED / lr_name) as img:
                lr = np.asarray(img.convert("RGB"))
            yield hr, lr
        return
    for path in list_images(DATA / name):
        hr = crop_to_scale(load_hr(path), scale)
        yield hr, upscaler.degrade(as_rgb(hr))


def measure(model, scale: int, sets=(*SETS, "BSD100_mild")) -> dict:
    import tensorflow as tf

    from keras_srgan.evaluation import ProtocolUpscaler, perceptual
    from keras_srgan.metrics import Protocol, rgb_to_gray
    from keras_srgan.pixels import to_uint8, to_unit

    protocol = Protocol(scale=scale)
    upscaler = ProtocolUpscaler(scale)  # only its protocol LR (degrade)
    run = tf.function(
        lambda x: model(x, training=False), input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)]
    )
    results = {}
    for name in sets:
        rows, started = [], time.perf_counter()
        for hr, lr in pairs(name, scale, upscaler):
            sr = to_uint8(np.clip(run(to_unit(lr)[None]).numpy()[0], 0.0, 1.0))
            if hr.ndim == 2:
                sr = rgb_to_gray(sr)
            rows.append({**protocol.measure(sr, hr), **perceptual(sr, protocol.crop_border)})
        results[name] = {
            key: float(np.mean([r[key] for r in rows if r[key] is not None]))
            for key in ("psnr", "ssim", "niqe", "grid", "grid_period2", "grid_period4")
        }
        results[name]["images"] = len(rows)
        print(f"{name}: {results[name]} ({time.perf_counter() - started:.0f} s)", flush=True)
    return results


def run_speed(run_dir: Path) -> dict:
    """Steps and mean seconds per step (logged intervals after the first) from the run's metrics.csv."""
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("sec_per_step")]
    config = json.loads((run_dir / "config.json").read_text())
    later = [float(r["sec_per_step"]) for r in rows[1:]] or [float(r["sec_per_step"]) for r in rows]
    return {
        "steps": int(rows[-1]["step"]) if rows else None,
        "sec_per_step": float(np.mean(later)) if later else None,
        "degradation": config.get("degradation"),
        "arch": config.get("arch", "srresnet"),
        "upsampler": config.get("upsampler") if config.get("arch") == "compact" else None,
        "num_blocks": config.get("num_blocks"),
        "filters": config.get("filters"),
        "lr": config.get("lr"),
        "seed": config.get("seed"),
    }


def trial(run_dir: Path, out: Path) -> dict:
    from keras_srgan.models.generator import macs_per_output_pixel
    from keras_srgan.weights import generator_config, load_generator

    model = load_generator(run_dir)
    report = {
        "run": str(run_dir),
        "generator": generator_config(model),
        "params": int(model.count_params()),
        "macs_per_output_px": macs_per_output_pixel(model),
        **run_speed(run_dir),
        "protocol": "Y (BT.601), border = scale, SR rounded to uint8; model(lr, training=False), float32",
        "results": measure(model, int(model.scale)),
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report


def table(paths: list[Path]) -> str:
    head = (
        "| run | deg | steps | s/step | MACs/px | Set5 | Set14 | BSD100 | BSD100 grid | "
        "mild PSNR | mild SSIM | mild NIQE | mild grid |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for path in paths:
        r = json.loads(Path(path).read_text())
        res, mild = r["results"], r["results"]["BSD100_mild"]
        lines.append(
            f"| {Path(r['run']).name} | {r['degradation']} | {r['steps']} | {r['sec_per_step']:.3f} | "
            f"{r['macs_per_output_px'] / 1000:.1f}k | {res['Set5']['psnr']:.2f} | {res['Set14']['psnr']:.2f} | "
            f"{res['BSD100']['psnr']:.2f} | {res['BSD100']['grid']:+.3f} | {mild['psnr']:.2f} | "
            f"{mild['ssim']:.4f} | {mild['niqe']:.2f} | {mild['grid']:+.3f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", type=Path, help="run folders (or, with --table, trial JSON files)")
    p.add_argument("--out", type=Path, help="JSON path (one run; default: <run>.trial.json beside the run)")
    p.add_argument("--table", action="store_true", help="print a markdown table of trial JSON files")
    args = p.parse_args(argv)
    if args.table:
        print(table(args.runs))
        return 0
    for run_dir in args.runs:
        out = args.out or run_dir.with_name(run_dir.name + ".trial.json")
        trial(run_dir, out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Quality versus cost of the compact generator family (issue 29): one point per trained size.

    python training/size_curve.py c4x24=runs/compact-curve-c4x24 c8x32=runs/compact-curve-c8x32 \
        c12x48=runs/compact@runs/compact-kept/ckpt-40000 c16x64=runs/compact-curve-c16x64 --steps 40000

Each ``name=RUN[@CHECKPOINT]`` is a run folder (its final weights or newest checkpoint) or one checkpoint
of it; ``--steps`` refuses a point trained for a different number of steps, so the curve compares sizes at
one budget. Each point: MACs per output pixel (``models.generator.macs_per_output_pixel``: TensorFlow's
profiler / 2, 64x64 input), parameters, and the papers' protocol on Set5 / Set14 / BSD100 (``keras_srgan.evaluate``). Shipped models
named with ``--shipped`` are measured the same way; the published anchors of the issue are drawn beside
them, marked as published (most were trained on DIV2K, not on our 291 images). Writes
docs/results/compact_curve.json and docs/images/compact_curve.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from plots import _pyplot, _save
from ship_weights import generator_from_run

from keras_srgan.evaluation import evaluate
from keras_srgan.models.generator import macs_per_output_pixel
from keras_srgan.weights import load_generator

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SETS = ("Set5", "Set14", "BSD100")
# name: (MACs per output pixel, Set5, Set14, BSD100), x4 PSNR-Y as published (issue 29's table)
PUBLISHED = {
    "FSRCNN (91 images)": (1.0e3, 30.72, 27.61, 26.98),
    "RLFN (DIV2K)": (18.8e3, 32.24, 28.62, 27.60),
    "IMDN (DIV2K)": (44e3, 32.21, 28.58, 27.56),
}


def measure(name: str, generator, steps: int | None) -> dict:
    scores = evaluate([DATA / s for s in SETS], weights=generator, progress=False)["sets"]
    point = {
        "name": name,
        "steps": steps,
        "macs_per_output_px": round(macs_per_output_pixel(generator)),
        "params": int(generator.count_params()),
    }
    for s in SETS:
        point[s] = {k: round(scores[s][k], 4) for k in ("psnr", "ssim")}
    print(
        f"{name:10s} {point['macs_per_output_px'] / 1e3:6.1f}k MACs  "
        + "  ".join(f"{s} {point[s]['psnr']:.2f}" for s in SETS),
        flush=True,
    )
    return point


def plot(points: list[dict], shipped: list[dict], out_png: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for i, (ax, s) in enumerate(zip(axes, SETS, strict=True)):
        xs = [p["macs_per_output_px"] for p in points]
        ax.plot(xs, [p[s]["psnr"] for p in points], "o-", label="CompactSR, same budget")
        for p in points:
            ax.annotate(p["name"], (p["macs_per_output_px"], p[s]["psnr"]), fontsize=7, xytext=(3, -9),
                        textcoords="offset points")  # fmt: skip
        for p in shipped:
            ax.plot(p["macs_per_output_px"], p[s]["psnr"], "s", label=f"{p['name']} (shipped)")
        for label, (macs, *psnr) in PUBLISHED.items():
            ax.plot(macs, psnr[i], "x", color="grey")
            ax.annotate(
                label, (macs, psnr[i]), fontsize=7, color="grey", xytext=(3, 3), textcoords="offset points"
            )
        ax.set_xscale("log")
        ax.set_xlabel("multiply-adds per output pixel")
        ax.set_title(f"{s}, x4, PSNR-Y (dB)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _save(fig, out_png)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("points", nargs="+", help="name=RUN_DIR or name=RUN_DIR@CHECKPOINT_PREFIX")
    p.add_argument("--steps", type=int, help="every point must be this many training steps")
    p.add_argument(
        "--shipped", nargs="*", default=["srresnet"], help="shipped weights drawn beside the curve"
    )
    p.add_argument("--json", type=Path, default=REPO / "docs" / "results" / "compact_curve.json")
    p.add_argument("--png", type=Path, default=REPO / "docs" / "images" / "compact_curve.png")
    args = p.parse_args(argv)
    points = []
    for spec in args.points:
        name, _, where = spec.partition("=")
        run, _, checkpoint = where.partition("@")
        generator, step = generator_from_run(Path(run), checkpoint or None)
        if args.steps is not None and step != args.steps:
            raise SystemExit(f"{spec}: trained {step} steps, not {args.steps}")
        points.append(measure(name, generator, step))
    points.sort(key=lambda p: p["macs_per_output_px"])
    shipped = [measure(w, load_generator(w), None) for w in args.shipped]
    args.json.write_text(json.dumps({"points": points, "shipped": shipped, "published": PUBLISHED}, indent=1))
    plot(points, shipped, args.png)
    print(f"wrote {args.json} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

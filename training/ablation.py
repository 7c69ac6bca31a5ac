"""GAN-stage ablation: equal-length runs from ``srresnet``, one switch each, measured the same way.

    python training/ablation.py --runs /work/runs/ablation            # train what is missing, then measure
    python training/ablation.py --runs DIR --only paper ema --steps 500
    python training/ablation.py --runs DIR --measure-only              # table from finished runs

Every variant is the paper's GAN stage (content MSE, since the VGG19 ImageNet weights cannot be
downloaded here; adversarial weight 1e-3; alternating updates; BN in D) with one switch changed. Each run
is a ``keras-srgan train`` process (resumed if it was interrupted); each finished run is evaluated with
``keras-srgan evaluate`` on Set14 and BSD100 (PSNR/SSIM on Y, NIQE, grid score; border 4). Writes
``ablation.json`` and ``ablation.md`` in the runs folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

BASE = [
    "--stage", "gan", "--init", "srresnet", "--content-loss", "mse", "--adv-weight", "1e-3",
    "--lr", "1e-4", "--batch-size", "16", "--patch-size", "96", "--log-every", "50",
    "--val-every", "250", "--image-every", "250", "--checkpoint-every", "100", "--lr-drop-steps",
]  # fmt: skip
# name -> (the flags that differ from the paper's GAN stage, why it is a candidate)
VARIANTS = {
    "paper": ([], "the paper's step: alternating D then G, BCE, BN in D, pixel MSE"),
    "simultaneous": (["--gan-update", "simultaneous"], "both gradients from one pass (the old step)"),
    "blur-d": (
        ["--d-downsample", "blur"],
        "antialiased downsampling in D: no aliased, periodic gradients to G",
    ),
    "ema": (["--ema-decay", "0.995"], "moving average of G's weights (horizon ~200 steps at this length)"),
    "relativistic": (["--adversarial", "relativistic"], "ESRGAN's relativistic average D"),
    "spectral": (["--d-norm", "spectral"], "spectral normalisation instead of BN in D"),
    "l1": (["--content-loss", "l1"], "L1 pixel loss instead of MSE"),
    "feature-match": (["--fm-weight", "0.05"], "L1 match of D's conv features (ImageNet-free perceptual)"),
    "phase": (["--phase-weight", "30"], "31x the MSE's cost on the per-phase mean error (the static grid)"),
    "phase300": (["--phase-weight", "300"], "301x the MSE's cost on the per-phase mean error"),
}


def train(runs: Path, name: str, steps: int, data: list[str]) -> Path:
    run = runs / name
    flags, _ = VARIANTS[name]
    done = run / "generator.weights.h5"
    if done.is_file():
        return run
    cmd = ["keras-srgan", "train", "--out", str(run)]
    if (run / "checkpoints").is_dir():
        cmd += ["--resume"]
    else:
        cmd += ["--data", *data, "--steps", str(steps), *BASE, *flags]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return run


def measure(run: Path, sets: list[str]) -> dict:
    out = run / "eval.json"
    if not out.is_file():
        cmd = [
            "keras-srgan",
            "evaluate",
            "--weights",
            str(run),
            "--data",
            *sets,
            "--json",
            str(out),
            "--no-progress",
        ]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=Path, required=True, help="folder holding one run per variant")
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), help="variants (default: all)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--measure-only", action="store_true")
    args = parser.parse_args(argv)
    names = args.only or list(VARIANTS)
    data = [str(DATA / "T91"), str(DATA / "BSDS200")]
    sets = [str(DATA / "Set14"), str(DATA / "BSD100")]
    if not args.measure_only:
        for name in names:
            train(args.runs, name, args.steps, data)
    rows = {}
    for name in names:
        run = args.runs / name
        if (run / "generator.weights.h5").is_file():
            rows[name] = {
                "flags": VARIANTS[name][0],
                "why": VARIANTS[name][1],
                "eval": measure(run, sets),
                "s_per_step": seconds_per_step(run),
            }
    (args.runs / "ablation.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = markdown_table(rows, [Path(s).name for s in sets], args.steps)
    (args.runs / "ablation.md").write_text(table)
    print(table)
    return 0


def seconds_per_step(run: Path) -> float:
    """Median of the run's logged per-interval step times (the first interval includes tracing)."""
    import csv
    import statistics

    with open(run / "metrics.csv", newline="") as f:
        values = [float(r["sec_per_step"]) for r in csv.DictReader(f) if r.get("sec_per_step")]
    return statistics.median(values[1:] or values)


def markdown_table(rows: dict, sets: list[str], steps: int) -> str:
    """One row per variant: PSNR / NIQE / grid per set (Y, border 4) and s/step."""
    head = ["variant", "switch"] + [f"{s} {m}" for s in sets for m in ("PSNR", "NIQE", "grid")] + ["s/step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        cells = [name, " ".join(row["flags"]) or "(paper)"]
        for s in sets:
            m = row["eval"]["sets"][s]
            cells += [f"{m['psnr']:.2f}", f"{m['niqe']:.2f}", f"{m['grid']:.2f}"]
        cells.append(f"{row['s_per_step']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return f"GAN-stage ablation, {steps} steps each from srresnet\n\n" + "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

"""Measure network interpolations between a PSNR generator and GAN checkpoints, and choose one.

    python training/interpolation_frontier.py runs/srgan --checkpoints runs/srgan_ckpts --psnr-weights runs/srresnet \\
        --gan-steps 10000 10500 --gan-weights 0.8 0.85 0.9 0.95 1 --max-niqe 4.48 --json frontier.json

Why: a GAN checkpoint trades PSNR for natural texture by an amount training decides. Mixing its weights
with those of the PSNR generator it was fine-tuned from (``keras_srgan.weights.interpolate_generators``)
moves along that trade with one number, without training. Every mix is measured like
training/select_checkpoint.py measures checkpoints: on the selection set (every ``--every``-th training
image, phase-equalised as shipped), never on the sets we report. The choice: the highest selection PSNR
among the mixes whose selection NIQE is at most ``--max-niqe``. ``--data`` also evaluates every mix on
the named folders, for the frontier table in the docs (not used by the choice).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import keras
from select_checkpoint import KEYS, checkpoint_steps, pooled, selection_folders
from ship_weights import generator_from_checkpoint

from keras_srgan.evaluation import evaluate
from keras_srgan.weights import interpolate_generators, load_generator


def set_means(report: dict) -> dict[str, dict[str, float | None]]:
    """{set name: {psnr, ssim, niqe, grid}} of an ``evaluate`` report."""
    return {name: {k: s.get(k) for k in KEYS} for name, s in report["sets"].items()}


def choose(rows: list[dict], max_niqe: float) -> dict | None:
    """The row with the highest selection PSNR among those with selection NIQE <= ``max_niqe``."""
    allowed = [r for r in rows if r["selection"]["niqe"] is not None and r["selection"]["niqe"] <= max_niqe]
    return max(allowed, key=lambda r: r["selection"]["psnr"]) if allowed else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="the GAN run (its config.json names the training data)")
    parser.add_argument(
        "--checkpoints", type=Path, help="folder of ckpt-N files (default: <run>/checkpoints)"
    )
    parser.add_argument(
        "--psnr-weights",
        required=True,
        help="the PSNR generator the run started from, as a file or run folder (a shipped name can change)",
    )
    parser.add_argument("--gan-steps", type=int, nargs="+", required=True, help="GAN checkpoints to mix")
    parser.add_argument(
        "--gan-weights", type=float, nargs="+", required=True, help="weights of the GAN side, 0..1"
    )
    parser.add_argument("--max-niqe", type=float, required=True, help="choose among mixes at or below this")
    parser.add_argument("--every", type=int, default=4, help="take every N-th training image (default 4)")
    parser.add_argument("--data", nargs="*", default=[], help="also evaluate every mix on these folders")
    parser.add_argument("--json", type=Path, required=True, help="write every measured mix here")
    args = parser.parse_args(argv)

    config = json.loads((args.run_dir / "config.json").read_text())
    folder = args.checkpoints or args.run_dir / "checkpoints"
    found = checkpoint_steps(folder)
    missing = sorted(set(args.gan_steps) - set(found))
    if missing:
        raise SystemExit(f"{folder}: no checkpoint for step(s) {', '.join(map(str, missing))}")
    psnr = load_generator(args.psnr_weights)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        selection = selection_folders([Path(d) for d in config["data"]], args.every, Path(tmp))
        for step in args.gan_steps:
            gan, restored = generator_from_checkpoint(config, found[step])
            if restored != step:
                raise SystemExit(f"{found[step]}: holds step {restored}, not {step}")
            for weight in args.gan_weights:
                mixed = interpolate_generators(psnr, gan, weight)
                row = {"gan_step": step, "gan_weight": weight}
                row["selection"] = pooled(
                    evaluate(selection, weights=mixed, phase_equalize=True, progress=False)
                )
                if args.data:
                    report = evaluate(args.data, weights=mixed, phase_equalize=True, progress=False)
                    row["sets"] = set_means(report)
                rows.append(row)
                measured = ", ".join(f"{k} {row['selection'][k]:.3f}" for k in KEYS)
                print(f"step {step} x {weight:g}: selection {measured}", flush=True)
                args.json.write_text(
                    json.dumps({"psnr_weights": args.psnr_weights, "rows": rows}, indent=1) + "\n"
                )
                keras.backend.clear_session()

    best = choose(rows, args.max_niqe)
    names = list(rows[0].get("sets", {}))
    header = f"{'step':>6} {'w_gan':>5} {'sel PSNR':>8} {'sel NIQE':>8}"
    print(header + "".join(f"  {n + ' PSNR/NIQE/grid':>24}" for n in names))
    for r in rows:
        line = f"{r['gan_step']:>6} {r['gan_weight']:>5.2f} {r['selection']['psnr']:8.2f} {r['selection']['niqe']:8.2f}"
        for n in names:
            m = r["sets"][n]
            line += f"  {m['psnr']:>10.2f}/{m['niqe']:.2f}/{m['grid']:>5.2f}"
        print(line + ("  <- chosen" if r is best else ""))
    if best is None:
        print(f"no mix has selection NIQE <= {args.max_niqe}")
        return 1
    print(f"chosen: step {best['gan_step']} with GAN weight {best['gan_weight']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

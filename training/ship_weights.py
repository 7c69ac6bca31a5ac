"""Copy a run's generator into the package as shipped weights (the preset ``keras_srgan/weights/<name>/``).

    python training/ship_weights.py runs/srresnet srresnet --recipe training/configs/srresnet.yaml

Takes the run's final ``generator.weights.h5`` when it has one, else the generator of its newest
checkpoint (a run still in progress), or the checkpoint given with ``--checkpoint``; records provenance
(data, steps, recipe, wall time) and the SHA-256 that ``load_generator`` checks on every load.

A run that continues shipped weights (its ``init`` is, bit for bit, what is shipped under a name) ships with
``--continues NAME``: steps, recipes and wall time then count the whole chain, not the last run alone.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import types
from pathlib import Path

import tensorflow as tf

from keras_srgan.train.config import TrainConfig
from keras_srgan.train.trainer import run_generator
from keras_srgan.weights import (
    WEIGHTS_DIR,
    WeightsError,
    interpolate_generators,
    load_generator,
    shipped_weights,
    weights_sha256,
    write_preset,
)


def generator_from_checkpoint(config: dict, prefix: str):
    """(generator, step) restored from one checkpoint (``.../ckpt-N``) of a run with this ``config.json``
    (the run's own architecture: ``trainer.run_generator``, e.g. its ``init`` weights' for a GAN stage)."""
    # the config's architecture fields over TrainConfig's defaults (no validation: the data may be gone)
    fields = {f.name: config.get(f.name, f.default) for f in dataclasses.fields(TrainConfig)}
    try:
        generator = run_generator(types.SimpleNamespace(**fields))
    except WeightsError as exc:
        raise SystemExit(f"{exc}: cannot rebuild the run's generator from its init") from None
    step = tf.Variable(0, dtype=tf.int64)
    # a run with --ema-decay ships its moving average, as its final weights would be
    name = "generator_ema" if config.get("ema_decay") else "generator"
    tf.train.Checkpoint(step=step, **{name: generator}).restore(prefix).expect_partial()
    return generator, int(step.numpy())


def generator_from_run(run_dir: Path, checkpoint: str | None = None):
    """(generator, step) from a finished run or from the newest checkpoint of a running one.

    ``checkpoint`` (a ``.../ckpt-N`` prefix, e.g. one chosen by training/select_checkpoint.py) takes that
    checkpoint instead.
    """
    config = json.loads((run_dir / "config.json").read_text())
    if checkpoint is not None:
        if not Path(checkpoint + ".index").is_file():
            raise SystemExit(f"{checkpoint}: no such checkpoint (expected {checkpoint}.index)")
        return generator_from_checkpoint(config, checkpoint)
    final = run_dir / "generator.weights.h5"
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if final.is_file() and (
        latest is None or final.stat().st_mtime >= Path(latest + ".index").stat().st_mtime
    ):
        meta = json.loads((run_dir / "generator.json").read_text())
        return load_generator(run_dir), int(meta.get("steps", config["steps"]))
    if latest is None:
        raise SystemExit(f"{run_dir}: no generator weights and no checkpoint")
    return generator_from_checkpoint(config, latest)


def wall_seconds(run_dir: Path, upto_step: int) -> float:
    """Training wall time up to ``upto_step``, from the per-interval speed column of metrics.csv."""
    total, previous = 0.0, 0
    with open(run_dir / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            step = int(row["step"])
            if step > upto_step:
                break
            total += float(row.get("sec_per_step") or 0) * (step - previous)
            previous = step
    return total


def continued_weights(name: str, init: str | None) -> dict:
    """The shipped metadata of ``name``, checked to be exactly the run's starting point."""
    shipped = shipped_weights()
    if name not in shipped:
        raise SystemExit(f"--continues {name}: no shipped weights of that name")
    if not init:
        raise SystemExit(f"--continues {name}: the run has no init, so it continues nothing")
    try:
        init_sha = weights_sha256(init)
    except WeightsError as exc:
        raise SystemExit(f"--continues {name}: {exc}") from None
    if init_sha != shipped[name]["sha256"]:
        raise SystemExit(f"--continues {name}: the run's init ({init}) is not the shipped {name} file")
    return shipped[name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name", help="shipped name, e.g. srresnet")
    parser.add_argument("--recipe", required=True, help="the recipe file that reproduces the run")
    parser.add_argument("--note", default="", help="free text, e.g. 'snapshot of a run in progress'")
    parser.add_argument(
        "--checkpoint",
        help="ship this checkpoint (a .../ckpt-N prefix) instead of the final or newest weights",
    )
    parser.add_argument(
        "--out-dir", type=Path, default=WEIGHTS_DIR, help="default: the package's weights folder"
    )
    parser.add_argument(
        "--phase-equalize",
        action="store_true",
        help="mark the weights so inference removes their static per-phase offset (inference/phase.py); "
        "for GAN stages, whose grid it removes (docs/gan_stage.md)",
    )
    parser.add_argument(
        "--interpolate-with",
        metavar="WEIGHTS",
        help="ship a network interpolation of the run's generator with these PSNR weights (the ones the run "
        "started from; training/interpolation_frontier.py chooses the mix)",
    )
    parser.add_argument("--gan-weight", type=float, help="with --interpolate-with: the run's share, 0..1")
    parser.add_argument(
        "--continues",
        metavar="NAME",
        help="the run continues these shipped weights (its init): count steps, recipes and wall time over "
        "the whole chain",
    )
    args = parser.parse_args(argv)
    if (args.interpolate_with is None) != (args.gan_weight is None):
        parser.error("--interpolate-with and --gan-weight go together")
    config = json.loads((args.run_dir / "config.json").read_text())
    previous = continued_weights(args.continues, config.get("init")) if args.continues else None

    generator, step = generator_from_run(args.run_dir, args.checkpoint)
    interpolation = None
    if args.interpolate_with is not None:
        generator = interpolate_generators(args.interpolate_with, generator, args.gan_weight)
        interpolation = {
            "psnr_weights": args.interpolate_with,
            "sha256": weights_sha256(args.interpolate_with),
            "gan_weight": args.gan_weight,
        }
    generator.phase_equalize = args.phase_equalize  # saved in the weights' config
    extra = {
        "name": args.name,
        "stage": config["stage"],
        "content_loss": config["content_loss"],
        "steps": step,
        "planned_steps": config["steps"],
        "trained_on": [Path(d).name for d in config["data"]],
        "validated_on": [Path(d).name for d in config.get("val_data", [])],
        "recipe": f"keras-srgan train --config {args.recipe} --out runs/{args.run_dir.name}",
        "mixed_precision": config["mixed_precision"],
        "batch_size": config["batch_size"],
        "patch_size": config["patch_size"],
        "train_wall_seconds": round(wall_seconds(args.run_dir, step)),
        "machine": "2-core x86_64 CPU (AVX-512 with bf16), no GPU",
        "note": args.note,
    }
    if config.get("init"):
        # A GAN stage or a continuation names the generator it started from and pins the exact file.
        init = config["init"]
        try:
            extra["initialised_from"] = {"weights": init, "sha256": weights_sha256(init)}
        except WeightsError as exc:
            raise SystemExit(
                f"{exc}: cannot pin the run's init; run from the folder the run started in"
            ) from None
    if previous is not None:
        extra["steps"] += previous["steps"]
        extra["planned_steps"] += previous["planned_steps"]
        extra["recipe"] = f"{previous['recipe']}, then {extra['recipe']}"
        extra["train_wall_seconds"] += previous["train_wall_seconds"]
        extra["initialised_from"]["weights"] = f"{args.continues} as shipped ({previous['steps']} steps)"
    if interpolation:
        extra["interpolation"] = interpolation
    folder = write_preset(generator, args.out_dir / args.name, extra=extra)
    size = (folder / "model.weights.h5").stat().st_size
    print(
        f"shipped {args.name}: step {step} -> {folder} (a preset: config.json, model.weights.h5, metadata.json; {size} bytes)"
    )
    print(json.dumps(json.loads((folder / "metadata.json").read_text()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

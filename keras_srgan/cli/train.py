"""``keras-srgan train``: parse flags into a TrainConfig and call ``keras_srgan.fit``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from keras_srgan.defaults import CONTENT_LOSSES, PRECISION_ALIASES, TRAINING_PRECISIONS

HELP = "train SRResNet (--stage pretrain) or SRGAN (--stage gan); paper defaults"


# fit() sets up logical CPU devices / multi-worker collectives before TensorFlow initialises its devices.
CONFIGURES_DEVICES = True


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help=HELP, description=HELP)
    # Every flag defaults to None so that a recipe (--config) or a resumed run's saved config fills the rest.
    p.add_argument("--config", help="a JSON/YAML recipe (training/configs/); flags given here override it")
    p.add_argument("--data", nargs="+", metavar="DIR", help="folders of HR training images")
    p.add_argument(
        "--lr-data",
        nargs="+",
        metavar="DIR",
        help="paired LR folders, one per --data folder, matched by file name; LR must be exactly HR / scale",
    )
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (checkpoints, logs, final weights)")
    p.add_argument("--stage", choices=["pretrain", "gan"])
    p.add_argument("--steps", type=int, help="optimizer steps (paper: 1e6 pretrain, 2e5 gan)")
    p.add_argument(
        "--init", metavar="WEIGHTS", help="start G from these weights (a pretrain run folder, file or name)"
    )
    p.add_argument("--content-loss", choices=CONTENT_LOSSES)
    p.add_argument("--vgg-weights", metavar="{imagenet,random,PATH}")
    p.add_argument("--adv-weight", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patch-size", type=int, help="HR crop size (96)")
    p.add_argument("--scale", type=int, choices=[2, 4, 8])
    p.add_argument("--lr", type=float)
    p.add_argument(
        "--lr-drop-steps", type=int, nargs="*", metavar="STEP", help="steps where lr is multiplied by 0.1"
    )
    gan = p.add_argument_group("GAN stage (paper defaults; each switch is measured in docs/)")
    gan.add_argument(
        "--gan-update",
        choices=["alternating", "simultaneous"],
        help="alternating (paper, default): D step, then G against the updated D; simultaneous: one pass",
    )
    gan.add_argument("--adversarial", choices=["standard", "relativistic"], help="D/G adversarial loss")
    gan.add_argument("--d-norm", choices=["batch", "spectral"], help="normalisation in D (batch)")
    gan.add_argument(
        "--d-downsample", choices=["stride", "blur"], help="D's downsampling: stride-2 convs (paper) or blur"
    )
    gan.add_argument("--d-lr", type=float, help="D's learning rate (default: --lr)")
    gan.add_argument("--d-warmup-steps", type=int, help="first steps of the stage train D alone (0)")
    gan.add_argument("--fm-weight", type=float, help="weight of D-feature matching (0: off)")
    gan.add_argument(
        "--phase-weight",
        type=float,
        help="extra weight of the per-phase mean error, the periodic grid (0: off)",
    )
    gan.add_argument("--ema-decay", type=float, help="moving average of G's weights (0: off; e.g. 0.999)")
    p.add_argument(
        "--arch",
        choices=["srresnet", "compact"],
        help="generator: srresnet (default) or compact (plain 3x3 convs at LR resolution, CompactSR)",
    )
    p.add_argument(
        "--upsampler",
        choices=["shuffle_residual", "shuffle_blur", "nearest_conv"],
        help="compact's upsampler (shuffle_residual)",
    )
    p.add_argument("--num-blocks", type=int, help="srresnet: residual blocks (16); compact: body convs")
    p.add_argument("--filters", type=int)
    p.add_argument(
        "--degradation",
        choices=["bicubic", "gaussian", "real"],
        help="HR -> LR in the step: bicubic (default), gaussian blur, or real (blur, resize, noise, JPEG)",
    )
    p.add_argument(
        "--degradation-option",
        nargs="+",
        metavar="KNOB=VALUE",
        help="set knobs of --degradation real, e.g. noise_sigma=[0,0.04] jpeg_prob2=0 (docs/training.md)",
    )
    p.add_argument("--blur-sigma", type=float)
    p.add_argument("--noise-sigma", type=float, help="max std of additive LR noise on [0, 1] (0: off)")
    p.add_argument("--val-data", nargs="+", metavar="DIR")
    p.add_argument("--val-every", type=int)
    p.add_argument("--log-every", type=int)
    p.add_argument("--image-every", type=int)
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument(
        "--mixed-precision",
        choices=[*TRAINING_PRECISIONS, *PRECISION_ALIASES],
        metavar="{" + ",".join(TRAINING_PRECISIONS) + "}",
        help="auto (default): bf16 on CPUs with native bf16 and no GPU, else fp32 (off, the older name of fp32, "
        "is still accepted)",
    )
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--max-bad-steps",
        type=int,
        help="stop after this many consecutive steps with a NaN/Inf loss or gradient (20); each is skipped",
    )
    p.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        help="tf.distribute strategy: one device, all local GPUs (or logical CPUs), or TF_CONFIG workers",
    )
    p.add_argument(
        "--cpu-replicas", type=int, help="logical CPU devices for --strategy mirrored without GPUs (2)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="continue the run in --out from its last checkpoint",
    )
    return p


def _overrides(args) -> dict:
    keys = [
        "data", "out", "stage", "steps", "init", "content_loss", "vgg_weights", "adv_weight", "batch_size",
        "patch_size", "scale", "lr", "lr_drop_steps", "arch", "upsampler", "num_blocks", "filters", "degradation", "blur_sigma",
        "noise_sigma", "val_data", "val_every", "log_every", "image_every", "checkpoint_every",
        "mixed_precision", "jit_compile", "seed", "resume", "max_bad_steps", "strategy", "cpu_replicas",
        "gan_update", "adversarial", "d_norm", "d_downsample", "d_lr", "d_warmup_steps", "fm_weight", "phase_weight", "ema_decay", "lr_data",
    ]  # fmt: skip
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    if args.degradation_option:
        overrides["degradation_options"] = parse_options(args.degradation_option)
    return overrides


def parse_options(items: list[str]) -> dict:
    """``KNOB=VALUE`` strings -> dict; values are YAML (numbers, [low, high] lists)."""
    import yaml

    from keras_srgan.errors import UserError

    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"--degradation-option {item!r}: expected KNOB=VALUE, e.g. noise_sigma=[0,0.04]")
        try:
            options[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UserError(
                f"--degradation-option {item!r}: {text!r} is not a number or a [low, high] list"
            ) from None
    return options


def run(args) -> int:
    from keras_srgan.errors import UserError
    from keras_srgan.train.config import TrainConfig
    from keras_srgan.train.trainer import fit

    overrides = _overrides(args)
    saved = Path(args.out) / "config.json" if args.out else None
    if args.resume and saved is not None and saved.is_file():
        if args.config:
            raise UserError(
                f"--resume continues {saved} as it was saved; --config {args.config} would be ignored, so it "
                f"is refused: drop --config (change single settings with their flags, e.g. --steps)"
            )
        base = json.loads(saved.read_text())
        base.update(overrides)
        config = TrainConfig(**base)
    elif args.config:
        config = TrainConfig.from_file(args.config, **overrides)
    else:
        if "out" not in overrides:
            raise UserError("--out RUN_DIR is required")
        config = TrainConfig(**overrides)
    result = fit(config)
    if result.generator_weights is None:  # a non-chief worker of a multi-worker run writes nothing
        print(f"done: step {result.final_step}; worker finished (the chief wrote the run's files)")
    else:
        print(f"done: step {result.final_step}; generator weights: {result.generator_weights}")
    print(f"generator fingerprint: {result.fingerprint}")
    if result.seconds_per_step == result.seconds_per_step:  # not NaN
        print(f"speed: {result.seconds_per_step:.3f} s/step (after the first logged interval)")
    return 0

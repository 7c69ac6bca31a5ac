"""``keras-srgan demo [--out demo] [--weights W]``: upscale built-in sample photos and compare with bicubic."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="upscale sample photos, print PSNR/SSIM against bicubic, write a comparison picture",
        description=(
            "Takes sample photos bundled with scikit-image, makes x4 bicubic LR versions, upscales them with "
            "bicubic and with the generator, prints PSNR/SSIM (Y channel, 4-pixel border) and writes the LR, "
            "bicubic and SR images plus comparison.png."
        ),
    )
    parser.add_argument("--out", default="demo", metavar="DIR", help="output folder (default: demo)")
    parser.add_argument(
        "--weights",
        default=None,
        help="shipped name, .weights.h5, .keras or training run folder (default: srresnet)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from keras_srgan.demo import run_demo

    run_demo(args.out, args.weights)
    return 0

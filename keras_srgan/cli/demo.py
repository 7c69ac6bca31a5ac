"""``keras-srgan demo [--out demo] [--weights W ...]``: upscale built-in sample photos, compare with bicubic."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="upscale sample photos with bicubic, srresnet and the GAN model; PSNR/SSIM/NIQE and a picture",
        description=(
            "Takes four public-domain photos bundled with the package, makes x4 bicubic LR versions, upscales them with "
            "bicubic and with each model, prints PSNR/SSIM (Y channel, 4-pixel border) and NIQE (lower = more "
            "natural) and writes the LR, bicubic and SR images plus comparison.png "
            "(bicubic | models | HR, PSNR and NIQE under each crop)."
        ),
    )
    parser.add_argument("--out", default="demo", metavar="DIR", help="output folder (default: demo)")
    parser.add_argument(
        "--weights",
        nargs="+",
        default=None,
        help="one or more shipped names, .weights.h5, .keras files or training run folders "
        "(default: srresnet and the shipped GAN model, srgan or else srgan-mse)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from keras_srgan.demo import run_demo

    run_demo(args.out, args.weights)
    return 0

"""``keras-srgan evaluate``: PSNR/SSIM, NIQE and grid score on benchmark folders, under the printed protocol."""

from __future__ import annotations

import argparse

from keras_srgan.cli import add_phase_equalize_argument
from keras_srgan.defaults import PHASE_EQUALIZE


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="PSNR/SSIM, NIQE and grid score of a generator (or bicubic) on folders of HR images",
        description=(
            "Measure x4 super-resolution on folders of HR images (one folder = one set, e.g. Set5). "
            "LR images are made from the HR with antialiased bicubic; PSNR/SSIM are on Y with a "
            "`scale`-pixel border removed, as in SR papers. --bicubic reproduces the published bicubic "
            "baselines (Set5 28.43 dB), which checks the pipeline. Beside them, two no-reference scores "
            "of the SR output judge what PSNR cannot: NIQE (naturalness, lower is better) and grid "
            "(periodic pixel-shuffle artifacts at 2 and 4 px, about 0 for photographs); --hr gives "
            "their values for the HR images themselves."
        ),
    )
    parser.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of HR images")
    parser.add_argument(
        "--lr-data",
        nargs="+",
        metavar="DIR",
        help="LR inputs instead of bicubic downsampling: one folder per --data folder, images of the same "
        "names, exactly HR / scale (e.g. a degraded set)",
    )
    method = parser.add_mutually_exclusive_group(required=True)
    method.add_argument("--weights", metavar="W", help="shipped name, .weights.h5, .keras or run folder")
    method.add_argument("--bicubic", action="store_true", help="measure bicubic upsampling (the baseline)")
    method.add_argument(
        "--hr", action="store_true", help="measure the HR images themselves (NIQE and grid; no PSNR/SSIM)"
    )
    parser.add_argument("--scale", type=int, default=4, help="upscaling factor (default 4)")
    add_phase_equalize_argument(parser)
    parser.add_argument("--json", metavar="FILE", help="also write all results (per image) to this JSON file")
    parser.add_argument("--save-images", metavar="DIR", help="save SR images as DIR/<set>/<name>.png")
    parser.add_argument("--per-image", action="store_true", help="print a row per image")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def run(args: argparse.Namespace) -> int:
    from keras_srgan.errors import UserError

    if args.scale < 2:
        raise UserError(f"--scale must be at least 2, got {args.scale}")

    from keras_srgan.evaluation import evaluate, format_table

    report = evaluate(
        args.data,
        weights=args.weights,
        bicubic=args.bicubic,
        hr=args.hr,
        phase_equalize=PHASE_EQUALIZE[args.phase_equalize],
        scale=args.scale,
        json_path=args.json,
        save_images=args.save_images,
        progress=not args.no_progress,
        lr_dirs=args.lr_data,
    )
    print(format_table(report, per_image=args.per_image))
    if args.json:
        print(f"results written to {args.json}")
    return 0

"""``keras-srgan upscale INPUT [INPUT ...] -o OUT_DIR``: super-resolve image and video files (x4, or any
output size with ``--outscale`` / ``--width`` / ``--height``)."""

from __future__ import annotations

import argparse
import sys

from keras_srgan.cli import add_phase_equalize_argument
from keras_srgan.defaults import DEFAULT_WEIGHTS, ENGINES, MAX_PIXELS, PHASE_EQUALIZE, PRECISIONS

GAN_WEIGHTS = "srgan"  # what --gan-weight mixes when --weights is not given

# TensorFlow only when the model must be built: a weights file whose OpenVINO IR is cached runs without it.
IMPORTS_TENSORFLOW = False


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _quality(text: str) -> int:
    value = _non_negative(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected 1-100, got {value}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value:g}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    # Choices and defaults come from the import-free keras_srgan.defaults (the library reads the same
    # names), so building the parser stays free of TF/numpy imports.
    parser = subparsers.add_parser(
        "upscale",
        help="upscale image and video files x4 (or to any size)",
        description=(
            "Upscale images and videos x4. Inputs are files, folders (their image and video files) or glob "
            "patterns. Each result is written to OUT_DIR with the input's name and format (formats that cannot "
            "hold it become PNG; videos become H.264 with the source's frame rate and audio, which needs the "
            "video extra: pip install 'keras-srgan[video]'). 16-bit PNG/TIFF stay 16-bit."
        ),
    )
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="image or video file, folder or glob pattern"
    )
    parser.add_argument(
        "-o", "--out", required=True, metavar="OUT_DIR", help="output folder (created if missing)"
    )
    parser.add_argument(
        "--weights",
        default=None,
        help=f"shipped name, .weights.h5, .keras or training run folder (default: {DEFAULT_WEIGHTS})",
    )
    parser.add_argument(
        "--gan-weight",
        type=_share,
        default=None,
        metavar="W",
        help=f"network interpolation: W x --weights (a GAN model; default here: {GAN_WEIGHTS}) + (1 - W) x "
        "--mix-with; lower W invents less texture and keeps closer to the input (1 = the GAN model as it is)",
    )
    parser.add_argument(
        "--mix-with",
        default=DEFAULT_WEIGHTS,
        metavar="WEIGHTS",
        help=f"with --gan-weight: a PSNR model of the same architecture (default: {DEFAULT_WEIGHTS})",
    )
    parser.add_argument(
        "--tile",
        type=_non_negative,
        default=None,
        metavar="N",
        help="LR tile size per model call; 0 = untiled (default: from the engine and precision)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto (default; or $KERAS_SRGAN_ENGINE): OpenVINO on a CPU, TensorFlow on a GPU or when "
        "OpenVINO is missing (one line says why)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (default; or $KERAS_SRGAN_PRECISION): bf16 where the engine runs it fastest (OpenVINO: "
        "AMX; TensorFlow: AVX512_BF16 or AMX), else fp32; "
        "fp32 is the exact opt-out",
    )
    parser.add_argument(
        "--tile-overlap",
        type=_non_negative,
        default=None,
        metavar="N",
        help="LR context pixels around each tile (default: the model's receptive radius, seam-free; "
        "40 for the 16-block SRResNet)",
    )
    add_phase_equalize_argument(parser)
    size = parser.add_argument_group(
        "output size",
        "the model always runs x4; any other size is its result resized (antialiased Lanczos). "
        "Videos round each side down to an even number.",
    )
    size.add_argument(
        "--outscale",
        default=None,
        metavar="S",
        help="output scale, any number > 0 (e.g. 2, 3.5, 8; default: 4, the model's own, never resized)",
    )
    size.add_argument(
        "--width",
        default=None,
        metavar="W",
        help="output width in pixels; the height follows the aspect ratio",
    )
    size.add_argument(
        "--height",
        default=None,
        metavar="H",
        help="output height in pixels; the width follows the aspect ratio. With --width too: the largest "
        "size that fits inside W x H, aspect ratio kept",
    )
    parser.add_argument(
        "--ext",
        choices=["auto", "png", "jpg", "webp"],
        default="auto",
        help="output image format: auto (default) = the input's (formats that cannot hold the result: PNG)",
    )
    parser.add_argument(
        "--jpeg-quality",
        type=_quality,
        default=95,
        metavar="Q",
        help="quality of JPEG and WebP output, 1-100 (default 95; lower: smaller files, more blocks)",
    )
    parser.add_argument(
        "--max-pixels",
        type=_non_negative,
        default=MAX_PIXELS,
        metavar="N",
        help=f"refuse inputs with more pixels than this (decompression-bomb guard; 0 = no limit; default {MAX_PIXELS})",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from keras_srgan.cli import quiet_tensorflow_import
    from keras_srgan.inference.batch import upscale_files
    from keras_srgan.inference.image_io import OUTPUT_EXTS
    from keras_srgan.inference.resample import check_output_size
    from keras_srgan.inference.upscale import Upscaler

    # checked before any input is read or model loaded: one "error: ..." line, exit code 2
    outscale, width, height = check_output_size(args.outscale, args.width, args.height)

    def factory() -> Upscaler:
        weights = args.weights
        if args.gan_weight is not None:
            quiet_tensorflow_import()
            from keras_srgan.weights import interpolate_generators

            weights = interpolate_generators(args.mix_with, args.weights or GAN_WEIGHTS, args.gan_weight)
        return Upscaler.from_weights(
            weights,
            tile=args.tile,
            tile_overlap=args.tile_overlap,
            precision=args.precision,
            engine=args.engine,
            outscale=outscale,
            width=width,
            height=height,
            phase_equalize=PHASE_EQUALIZE[args.phase_equalize],
            before_build=quiet_tensorflow_import,  # TF's C++ start-up lines stay muted when it is needed
        )

    fmt = None if args.ext == "auto" else OUTPUT_EXTS[args.ext]
    written, errors, notes = upscale_files(
        args.inputs, args.out, factory, max_pixels=args.max_pixels or None, fmt=fmt, quality=args.jpeg_quality
    )
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    total = len(written) + len(errors)
    print(f"wrote {len(written)} of {total} file(s) to {args.out}")
    return 1 if errors else 0

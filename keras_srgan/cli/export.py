"""``keras-srgan export``: SavedModel / TFLite / ONNX / OpenVINO files, each checked against Keras, plus a manifest."""

from __future__ import annotations

import argparse

from keras_srgan.defaults import (
    CALIBRATION_SAMPLES,
    DEFAULT_WEIGHTS,
    EXPORT_FORMATS,
    SERVING_MAX_PIXELS,
    TFLITE_QUANTIZATIONS,
)

FORMAT_CHOICES = (*EXPORT_FORMATS, "all")
QUANTIZE_CHOICES = (*TFLITE_QUANTIZATIONS, "all")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export the generator to SavedModel (TF Serving), TFLite/LiteRT, ONNX and/or OpenVINO IR",
        description=(
            "Export the generator. Every file is run in its own runtime and compared with Keras on a "
            "fixed test image; a file below the parity threshold is deleted and the command fails. "
            "OUT_DIR/manifest.json lists each file with its interface, SHA-256 and parity figures."
        ),
    )
    parser.add_argument(
        "--weights",
        default=None,
        help=f"shipped name, .weights.h5, .keras or run folder (default: {DEFAULT_WEIGHTS})",
    )
    parser.add_argument(
        "--format", default="all", choices=FORMAT_CHOICES, help="what to export (default: all)"
    )
    parser.add_argument(
        "-o", "--out", "--out-dir", dest="out_dir", required=True, metavar="OUT_DIR", help="output folder"
    )
    parser.add_argument(
        "--quantize",
        nargs="+",
        default=["none"],
        choices=QUANTIZE_CHOICES,
        help="TFLite variants: none (float32), float16, dynamic (int8 weights), int8 (full, calibrated), "
        "int16x8 (int16 activations, int8 weights; slow on CPU); several allowed",
    )
    parser.add_argument(
        "--input-size",
        default=None,
        metavar="HxW",
        help="fix the TFLite/ONNX/OpenVINO input to [1, H, W, 3] (the SavedModel stays dynamic)",
    )
    parser.add_argument(
        "--phone-size",
        default=None,
        metavar="HxW",
        help="also write fixed-size TFLite files with uint8 RGB in and out (e.g. 128x128 -> 512x512), "
        "one per --quantize mode except dynamic (docs/mobile.md)",
    )
    parser.add_argument(
        "--calibration-data",
        nargs="+",
        default=None,
        metavar="DIR",
        help="folders of HR training images whose bicubic /4 crops calibrate int8/int16x8 "
        "(default: T91 and BSDS200 under KERAS_SRGAN_DATA when present, else the bundled samples)",
    )
    parser.add_argument(
        "--calibration-samples",
        type=int,
        default=CALIBRATION_SAMPLES,
        help="LR crops used to calibrate --quantize int8",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=SERVING_MAX_PIXELS,
        help=f"largest input (pixels) the SavedModel serves; larger requests get INVALID_ARGUMENT (default: {SERVING_MAX_PIXELS})",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from keras_srgan.exporters import export, parse_input_size

    size = parse_input_size(args.input_size)  # validate before loading TensorFlow-heavy pieces
    phone = parse_input_size(args.phone_size, "--phone-size")
    entries = export(
        args.weights,
        args.format,
        args.out_dir,
        quantize=args.quantize,
        input_size=size,
        calibration_samples=args.calibration_samples,
        max_pixels=args.max_pixels,
        progress=print,
        phone_size=phone,
        calibration_data=args.calibration_data,
    )
    print(f"wrote {len(entries)} artifact(s); manifest: {args.out_dir}/manifest.json")
    return 0

"""Export a generator to every format and quantization (thin wrapper over ``keras_srgan.exporters``).

python export/export_all.py --weights srresnet --out exported/
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="shipped name, .weights.h5, .keras or run folder")
    parser.add_argument("--out", default="exported", help="output folder (default: exported)")
    parser.add_argument("--input-size", default=None, metavar="HxW", help="also fix TFLite/ONNX to this size")
    args = parser.parse_args(argv)

    from keras_srgan.errors import UserError
    from keras_srgan.exporters import export

    try:
        export(args.weights, "all", args.out, quantize="all", progress=print)
        if args.input_size:
            export(
                args.weights,
                ["tflite", "onnx"],
                args.out,
                quantize="all",
                input_size=args.input_size,
                progress=print,
            )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

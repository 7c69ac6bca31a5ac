"""Export a generator in every format and measure parity/size/latency on Set5 (fills docs/export.md).

python export/benchmark.py --random-weights --out /tmp/srgan-bench     # full-size, random weights
python export/benchmark.py --weights path/to/generator.weights.h5 --out /tmp/srgan-bench
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", help="weights spec (shipped name, .weights.h5, .keras, run folder)")
    source.add_argument(
        "--random-weights", action="store_true", help="full-size generator with seeded random weights"
    )
    parser.add_argument("--out", required=True, help="export folder (artifacts + manifest.json)")
    parser.add_argument(
        "--images", default=str(REPO.parent / "shared" / "data" / "Set5"), help="HR image folder"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per artifact (median is reported)")
    parser.add_argument(
        "--tail-gain",
        type=float,
        default=1.0,
        help="with --random-weights: scale the last conv so the output spreads like a trained model's (~0.2 std)",
    )
    parser.add_argument("--threads", type=int, default=None, help="TFLite/ONNX Runtime threads")
    args = parser.parse_args(argv)

    import keras

    from keras_srgan.errors import UserError
    from keras_srgan.exporters import export
    from keras_srgan.exporters.benchmark import load_lr_images, markdown_table, measure
    from keras_srgan.weights import load_generator, write_generator

    try:
        weights = args.weights
        out = Path(args.out)
        if args.random_weights:
            from keras_srgan.models import build_generator

            keras.utils.set_random_seed(0)
            out.mkdir(parents=True, exist_ok=True)
            model = build_generator(scale=4, num_blocks=16, filters=64)
            if args.tail_gain != 1.0:
                model.tail.set_weights([w * args.tail_gain for w in model.tail.get_weights()])
            weights, _ = write_generator(model, out / "random_generator")
        export(weights, "all", out, quantize="all", progress=print)
        rows = measure(
            out,
            load_generator(weights),
            load_lr_images(args.images),
            repeats=args.repeats,
            num_threads=args.threads,
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (out / "benchmark.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

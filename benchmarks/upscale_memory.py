"""Peak host memory and speed of tiled upscaling with the full-size SRResNet (random weights).

Default: a 1600x1200 input (6400x4800 output) with the library's defaults (engine, precision, tile).
Each configuration should run in its own process, because peak RSS (``resource.getrusage``) only
ever grows:

    python benchmarks/upscale_memory.py                      # the documented figure
    python benchmarks/upscale_memory.py --engine tensorflow  # the TensorFlow engine's default windows
    python benchmarks/upscale_memory.py --size 512x512 --tile 128   # one row of the tile-size table

TensorFlow is imported in every case (the random generator is a Keras model), like ``keras-srgan
upscale`` imports it at start-up; the OpenVINO IR is converted in this process (a cold cache) unless
the cache folder ($KERAS_SRGAN_CACHE_DIR) already holds it.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    from keras_srgan.inference import tiling
    from keras_srgan.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE_BATCH

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1600x1200", help="input WIDTHxHEIGHT (default 1600x1200)")
    parser.add_argument(
        "--tile", type=int, default=None, help="default: the library's choice for the precision"
    )
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    parser.add_argument("--engine", choices=["auto", "openvino", "tensorflow"], default="auto")
    parser.add_argument(
        "--overlap",
        type=int,
        default=None,
        help=f"default: the model's receptive radius ({DEFAULT_OVERLAP}); with --tile unset too, large "
        "images take the two-stage tiler",
    )
    parser.add_argument("--batch", type=int, default=DEFAULT_TILE_BATCH)
    parser.add_argument(
        "--windows",
        metavar="BODYxTAIL",
        help=f"two-stage window sides in LR px (default {math.isqrt(tiling.BODY_WINDOW_PIXELS)}x"
        f"{math.isqrt(tiling.TAIL_WINDOW_PIXELS)})",
    )
    args = parser.parse_args(argv)
    if args.windows:
        body, tail = (int(v) for v in args.windows.lower().split("x"))
        tiling.BODY_WINDOW_PIXELS, tiling.TAIL_WINDOW_PIXELS = body * body, tail * tail
    width, height = (int(v) for v in args.size.lower().split("x"))

    import keras
    import numpy as np

    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.models import build_generator

    keras.utils.set_random_seed(0)  # the same random weights in every run: a second run finds its IR cached
    rng = np.random.default_rng(0)
    # Smooth-ish content (a random walk), not that it matters for speed or memory.
    image = np.clip(128 + np.cumsum(rng.integers(-3, 4, size=(height, width, 3)), axis=1), 0, 255).astype(
        np.uint8
    )
    upscaler = Upscaler(
        build_generator(),
        tile=args.tile,
        tile_overlap=args.overlap,
        tile_batch=args.batch,
        precision=args.precision,
        engine=args.engine,
    )
    args.tile = upscaler.tile
    upscaler.upscale_array(image[:16, :16])  # trace the model once; not part of the timing
    base = peak_rss_mb()
    windows = []
    start = time.perf_counter()
    out = upscaler.upscale_array(image, progress=windows.append)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    mpix = out.shape[0] * out.shape[1] / 1e6
    print(
        f"input {width}x{height} -> output {out.shape[1]}x{out.shape[0]} ({mpix:.1f} MP), "
        f"engine {upscaler.runner.name}, precision {upscaler.runner.precision}, tile {args.tile}, "
        f"overlap {upscaler.tile_overlap}{' (two-stage)' if upscaler.two_stage else ''}"
        f"{f' windows {args.windows}' if args.windows else ''}, batch {args.batch}, windows {sum(windows)}: wall {seconds:.1f} s, "
        f"{mpix / seconds:.3f} output MP/s, peak RSS {peak:.0f} MB (after model build+trace {base:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

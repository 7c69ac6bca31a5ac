"""Export a generator in every format and measure parity/size/latency on Set5 (fills docs/export.md).

python export/benchmark.py --random-weights --out /tmp/srgan-bench     # full-size, random weights
python export/benchmark.py --weights path/to/generator.weights.h5 --out /tmp/srgan-bench

Parity here is on Set5 LR inputs (HR bicubic-downsampled by 4), a harder and more varied check than the
single export-time image. A dev tool: it lives outside the installed package.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from keras_srgan.errors import UserError  # noqa: E402
from keras_srgan.exporters import export, parity  # noqa: E402
from keras_srgan.exporters import manifest as manifest_mod  # noqa: E402
from keras_srgan.files import TF_IMAGE_SUFFIXES, is_image_file  # noqa: E402
from keras_srgan.inference.engines import Predictor  # noqa: E402
from keras_srgan.pixels import to_unit  # noqa: E402
from keras_srgan.weights import load_generator, write_generator  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load_lr_images(folder: str | Path, scale: int = 4) -> list[tuple[str, np.ndarray]]:
    """(name, LR float32 [1, h, w, 3]) per image: HR cropped to a multiple of ``scale``, bicubic-downsampled."""
    out = []
    for path in sorted(Path(folder).iterdir()):
        if not is_image_file(path, TF_IMAGE_SUFFIXES):
            continue
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.width - im.width % scale, im.height - im.height % scale
            lr = im.crop((0, 0, w, h)).resize((w // scale, h // scale), Image.BICUBIC)
        out.append((path.stem, to_unit(np.asarray(lr))[None]))
    return out


def _latency(fn, x: np.ndarray, repeats: int) -> float:
    fn(x)  # warm-up: tracing, allocation, delegate setup
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(
    out_dir: str | Path,
    model,
    images: list[tuple[str, np.ndarray]],
    latency_size: tuple[int, int] = (256, 256),
    repeats: int = 3,
    num_threads: int | None = None,
) -> list[dict]:
    """One row per dynamic-shape artifact in the manifest, plus a Keras row for the latency baseline."""
    out_dir = Path(out_dir)
    predictor = Predictor(model)
    references = [predictor(lr) for _, lr in images]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (1, *latency_size, 3)).astype(np.float32)
    signal_std = float(np.mean([ref.std() for ref in references]))
    rows = [
        {
            "artifact": "keras (reference)",
            "quantization": "-",
            "size_bytes": None,
            "latency_s": _latency(predictor, x, repeats),
            "signal_std": signal_std,
        }
    ]
    entries = manifest_mod.read_manifest(out_dir)["artifacts"]
    latest_sm = max((e["version"] for e in entries if e["format"] == "savedmodel"), default=None)
    for entry in entries:
        if entry.get("input_size") is not None:
            continue
        if entry["format"] == "savedmodel" and entry["version"] != latest_sm:
            continue
        run = parity.load_runner(entry["format"], out_dir / entry["path"], num_threads=num_threads)
        per_image = [parity.compare(run(lr), ref) for (_, lr), ref in zip(images, references, strict=True)]
        psnrs = [r["psnr_db"] for r in per_image]
        diffs = [r["max_abs_diff"] if r["max_abs_diff"] is not None else float("nan") for r in per_image]
        rows.append(
            {
                "artifact": entry["path"],
                "format": entry["format"],
                "quantization": entry["quantization"],
                "size_bytes": entry["size_bytes"],
                "export_psnr_db": entry["parity"]["psnr_db"],
                "threshold_db": entry["parity"]["threshold_db"],
                "psnr_mean_db": float(np.mean(psnrs)),
                "psnr_min_db": float(np.min(psnrs)),
                "max_abs_diff": float(np.max(diffs)),
                "latency_s": _latency(run, x, repeats),
            }
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| artifact | quantization | size (MB) | PSNR vs Keras, Set5 mean / min (dB) | max abs diff | export-time PSNR (dB) | threshold (dB) | CPU latency 256x256 (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        size = "-" if r.get("size_bytes") is None else f"{r['size_bytes'] / 1e6:.2f}"
        if "psnr_mean_db" in r:
            figures = (
                f"{r['psnr_mean_db']:.1f} / {r['psnr_min_db']:.1f} | {r['max_abs_diff']:.1e} | "
                f"{r['export_psnr_db']:.1f} | {r['threshold_db']:.0f}"
            )
        else:
            figures = "- | - | - | -"
        lines.append(f"| {r['artifact']} | {r['quantization']} | {size} | {figures} | {r['latency_s']:.2f} |")
    return "\n".join(lines)


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

    try:
        weights = args.weights
        out = Path(args.out)
        if args.random_weights:
            from keras_srgan.models import build_generator

            keras.utils.set_random_seed(0)
            out.mkdir(parents=True, exist_ok=True)
            model = build_generator(scale=4, num_blocks=16, filters=64)
            if args.tail_gain != 1.0:
                tail = model.get_layer("tail_conv")
                tail.set_weights([w * args.tail_gain for w in tail.get_weights()])
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

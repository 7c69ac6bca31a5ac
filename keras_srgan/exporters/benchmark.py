"""Measure exported artifacts on real images: parity against Keras, file size and CPU latency.

Used to fill the table in docs/export.md (``python export/benchmark.py``). Parity here is on Set5
LR inputs (HR bicubic-downsampled by 4), a harder and more varied check than the single export-time image.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from keras_srgan.exporters import manifest as manifest_mod
from keras_srgan.exporters import parity
from keras_srgan.files import TF_IMAGE_SUFFIXES, is_image_file


def load_lr_images(folder: str | Path, scale: int = 4) -> list[tuple[str, np.ndarray]]:
    """(name, LR float32 [1, h, w, 3]) per image: HR cropped to a multiple of ``scale``, bicubic-downsampled."""
    from PIL import Image

    out = []
    for path in sorted(Path(folder).iterdir()):
        if not is_image_file(path, TF_IMAGE_SUFFIXES):
            continue
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.width - im.width % scale, im.height - im.height % scale
            lr = im.crop((0, 0, w, h)).resize((w // scale, h // scale), Image.BICUBIC)
        out.append((path.stem, (np.asarray(lr, dtype=np.float32) / 255.0)[None]))
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
    from keras_srgan.inference.predict import Predictor

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

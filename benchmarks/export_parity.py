"""Exported artifacts against the CLI, image by image: does each runtime give the CLI's picture?

    keras-srgan export --weights srgan --format all -o /tmp/exp
    python benchmarks/export_parity.py /tmp/exp --weights srgan --data ../shared/data/Set14

Each HR image of ``--data`` is cropped to a multiple of 4 and bicubic-downsampled (the protocol's LR) and
upscaled by ``keras-srgan upscale`` (the Python API with the CLI's defaults: engine, precision, tiling and
the weights' post-processing). The same LR goes through every whole-image artifact of the export folder
that is there: the SavedModel's ``serving_default`` (PNG bytes in and out), the dynamic ONNX file, the
OpenVINO IR (fp32) and the float32 LiteRT file (float in, rounded to uint8 as the CLI rounds). Per image and artifact: PSNR against
the CLI's output and the grid score (``metrics.grid_score``; photographs sit near 0, a pixel-shuffle grid
well above 0.15). Table to stdout, JSON beside it.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import DATA, RESULTS, describe_machine, machine, table, write_json  # noqa: E402
from PIL import Image  # noqa: E402

ARTIFACTS = {
    "savedmodel": "savedmodel",
    "onnx": "onnx/srgan.onnx",
    "openvino": "openvino/srgan.xml",
    "litert": "tflite/srgan_float32.tflite",
}


def _runners(export_dir: Path) -> dict:
    """name -> uint8 LR [H, W, 3] -> uint8 SR, for each artifact present in the export folder."""
    from keras_srgan.exporters.parity import (
        onnx_runner,
        openvino_runner,
        run_savedmodel_bytes,
        tflite_runner,
    )
    from keras_srgan.pixels import to_uint8

    runners = {}
    versions = sorted((export_dir / "savedmodel").glob("[0-9]*"), key=lambda p: int(p.name))
    if versions:
        import tensorflow as tf

        loaded = tf.saved_model.load(str(versions[-1]))

        def served(lr):
            buffer = io.BytesIO()
            Image.fromarray(lr).save(buffer, format="PNG")
            return run_savedmodel_bytes(loaded, [buffer.getvalue()])[0]

        runners["savedmodel"] = served
    for name, make in (("onnx", onnx_runner), ("openvino", openvino_runner), ("litert", tflite_runner)):
        path = export_dir / ARTIFACTS[name]
        if path.exists():
            run = make(path)
            runners[name] = lambda lr, run=run: to_uint8(run(lr[None].astype(np.float32) / 255.0)[0])
    return runners


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export_dir", type=Path, help="an export folder (keras-srgan export -o)")
    parser.add_argument("--weights", default="srgan", help="what the CLI runs (the exported weights)")
    parser.add_argument("--data", type=Path, default=DATA / "Set14", help="HR images")
    parser.add_argument("--json", type=Path, default=RESULTS / "export_parity.json")
    args = parser.parse_args(argv)

    from keras_srgan.evaluation import list_images
    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.metrics import grid_score

    runners = _runners(args.export_dir)
    if not runners:
        sys.exit(f"error: {args.export_dir}: none of {', '.join(ARTIFACTS.values())}")
    cli = Upscaler.from_weights(args.weights)
    results = {}
    for path in list_images(args.data):
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.width - im.width % 4, im.height - im.height % 4
            lr = np.asarray(im.crop((0, 0, w, h)).resize((w // 4, h // 4), Image.Resampling.BICUBIC))
        ours = cli.upscale_array(lr)
        results[path.stem] = {"grid_cli": grid_score(ours)}
        for name, run in runners.items():
            out = run(lr)
            mse = np.mean((out.astype(np.float64) - ours) ** 2)
            results[path.stem][name] = {
                "psnr_db": float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse)),
                "grid": grid_score(out),
            }
    mean = {"grid_cli": float(np.mean([r["grid_cli"] for r in results.values()]))}
    for name in runners:
        mean[name] = {k: float(np.mean([r[name][k] for r in results.values()])) for k in ("psnr_db", "grid")}
    headers = ["image", "grid (CLI)"] + [f"{n}: dB vs CLI, grid" for n in runners]
    rows = [
        [stem, f"{r['grid_cli']:.3f}"] + [f"{r[n]['psnr_db']:.2f}, {r[n]['grid']:.3f}" for n in runners]
        for stem, r in [*results.items(), ("mean", mean)]
    ]
    info = machine()
    print(describe_machine(info))
    print(
        f"CLI: engine {cli.runner.name}, precision {cli.runner.precision}, phase equalisation {cli.phase_equalize}"
    )
    print(table(headers, rows))
    payload = {
        "machine": info,
        "export_dir": str(args.export_dir),
        "weights": args.weights,
        "cli": {
            "engine": cli.runner.name,
            "precision": cli.runner.precision,
            "phase_equalize": cli.phase_equalize,
        },
        "images": results,
        "mean": mean,
    }
    print(f"wrote {write_json(args.json, payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

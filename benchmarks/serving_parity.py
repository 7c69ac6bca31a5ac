"""The exported TF Serving SavedModel against the CLI, image by image: does the endpoint give the CLI's picture?

    keras-srgan export --weights srgan --format savedmodel -o /tmp/exp
    python benchmarks/serving_parity.py /tmp/exp/savedmodel/1 --weights srgan --data ../shared/data/Set14

Each HR image of ``--data`` is cropped to a multiple of 4 and bicubic-downsampled (the protocol's LR),
saved as PNG, sent as bytes through ``serving_default``, and upscaled by ``keras-srgan upscale`` (the
Python API with the CLI's defaults: engine, precision, tiling and the weights' post-processing). Per
image: PSNR of the endpoint's PNG against the CLI's, and the grid score of both (``metrics.grid_score``;
photographs sit near 0, a pixel-shuffle grid well above 0.15). Table to stdout, JSON beside it.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("savedmodel", type=Path, help="an exported version folder (.../savedmodel/N)")
    parser.add_argument("--weights", default="srgan", help="what the CLI runs (the exported weights)")
    parser.add_argument("--data", type=Path, default=DATA / "Set14", help="HR images")
    parser.add_argument("--json", type=Path, default=RESULTS / "serving_parity.json")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from keras_srgan.evaluation import list_images
    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.metrics import grid_score

    serve = tf.saved_model.load(str(args.savedmodel)).signatures["serving_default"]
    cli = Upscaler.from_weights(args.weights)
    rows, results = [], {}
    for path in list_images(args.data):
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.width - im.width % 4, im.height - im.height % 4
            lr = im.crop((0, 0, w, h)).resize((w // 4, h // 4), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        lr.save(buffer, format="PNG")
        served = tf.io.decode_png(
            serve(image_bytes=tf.constant([buffer.getvalue()]))["sr_png_bytes"][0]
        ).numpy()
        ours = cli.upscale_array(np.asarray(lr))
        mse = np.mean((served.astype(np.float64) - ours) ** 2)
        psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
        results[path.stem] = {
            "psnr_db": psnr,
            "grid_served": grid_score(served),
            "grid_cli": grid_score(ours),
        }
        r = results[path.stem]
        rows.append([path.stem, f"{psnr:.2f}", f"{r['grid_served']:.3f}", f"{r['grid_cli']:.3f}"])
    mean = {
        k: float(np.mean([r[k] for r in results.values()])) for k in ("psnr_db", "grid_served", "grid_cli")
    }
    rows.append(["mean", f"{mean['psnr_db']:.2f}", f"{mean['grid_served']:.3f}", f"{mean['grid_cli']:.3f}"])
    info = machine()
    print(describe_machine(info))
    print(
        f"CLI path: engine {cli.runner.name}, precision {cli.runner.precision}, phase equalisation {cli.phase_equalize}"
    )
    print(table(["image", "PSNR vs CLI (dB)", "grid (endpoint)", "grid (CLI)"], rows))
    payload = {
        "machine": info,
        "savedmodel": str(args.savedmodel),
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

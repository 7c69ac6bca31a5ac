"""Evaluation speed: wall time of ``keras_srgan.evaluate`` on Set5 + Set14 + BSD100 for one model, and what
the one-trace ``Predictor`` saves over Keras ``predict`` (which retraces for every new input shape).

    python benchmarks/evaluation_speed.py --weights W [--pause PID]

Phase 1 times ``evaluate`` itself on the three sets (Predictor, fp32 Keras model, traced once). Phase 2
runs the Set5 + Set14 LR images (all different sizes) through ``generator.predict`` and through the
Predictor, counting traces, so the retracing cost is measured rather than assumed. Phase 3 (optional,
``--fast``) runs the same evaluation with the default upscale path's folded bf16 model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import DATA, RESULTS, Timer, describe_machine, machine, pause_arg, table, write_json  # noqa: E402

SETS = ("Set5", "Set14", "BSD100")


def lr_images(folders: list[Path], scale: int) -> list[np.ndarray]:
    """LR float32 [1, h, w, 3] exactly as the evaluation makes them (crop, antialiased bicubic, uint8)."""
    from keras_srgan.evaluation import ProtocolUpscaler, as_rgb, crop_to_scale, list_images, load_hr

    up = ProtocolUpscaler(scale)
    out = []
    for folder in folders:
        for path in list_images(folder):
            lr = up.degrade(as_rgb(crop_to_scale(load_hr(path), scale)))
            out.append(lr.astype(np.float32)[None] / 255.0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", help="generator weights (default: randomly initialised full SRResNet)")
    parser.add_argument(
        "--pause",
        nargs="*",
        help="PIDs or pgrep -f patterns to SIGSTOP while timing (resumed after each window)",
    )
    parser.add_argument(
        "--fast", action="store_true", help="also evaluate with the default upscale path (bf16)"
    )
    parser.add_argument("--json", default=str(RESULTS / "evaluation_speed.json"))
    args = parser.parse_args(argv)

    import tensorflow as tf

    import keras_srgan.inference.engines as engines
    from keras_srgan.evaluation import evaluate
    from keras_srgan.weights import load_generator

    info = machine()
    print(describe_machine(info))
    timer = Timer(*pause_arg(args.pause))
    if args.weights:
        generator = load_generator(args.weights)
    else:
        from keras_srgan.models import build_generator

        generator = build_generator()
    folders = [DATA / s for s in SETS]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        print(f"missing data folders: {', '.join(missing)}")
        return 1
    lr = lr_images(folders, generator.scale)
    lr_pixels = sum(x.shape[1] * x.shape[2] for x in lr)
    shapes = {x.shape for x in lr}
    print(f"{len(lr)} images, {len(shapes)} distinct LR shapes, {lr_pixels / 1e6:.2f} M LR pixels")
    payload: dict = {"machine": info, "weights": str(args.weights), "images": len(lr), "shapes": len(shapes)}

    with timer.window():
        start = time.perf_counter()
        report = evaluate(folders, weights=generator, progress=False)
        payload["evaluate_s"] = time.perf_counter() - start
    payload["psnr"] = {k: v["psnr"] for k, v in report["sets"].items()}
    print(f"evaluate(Set5+Set14+BSD100): {payload['evaluate_s']:.1f} s; PSNR {payload['psnr']}")

    # Phase 2: retracing. Set5 + Set14 only (19 images, 19 shapes) keeps this window short.
    few = lr_images(folders[:2], generator.scale)
    traces = {"n": 0}
    original_call = generator.call

    def counting_call(*a, **k):  # runs only while TensorFlow traces, never per executed step
        traces["n"] += 1
        return original_call(*a, **k)

    generator.call = counting_call
    try:
        predictor = engines.Predictor(generator)
        with timer.window():
            start = time.perf_counter()
            for x in few:
                predictor(x)
            t_predictor = time.perf_counter() - start
        n_predictor = traces["n"]
        traces["n"] = 0
        with timer.window():
            start = time.perf_counter()
            for x in few:
                generator.predict(x, verbose=0)
            t_predict = time.perf_counter() - start
        n_predict = traces["n"]
    finally:
        del generator.call
    payload["retracing"] = {
        "images": len(few),
        "shapes": len({x.shape for x in few}),
        "predictor_s": t_predictor,
        "predictor_traces": n_predictor,
        "keras_predict_s": t_predict,
        "keras_predict_traces": n_predict,
        "saved_s": t_predict - t_predictor,
    }
    print(
        f"Set5+Set14 ({len(few)} images): Predictor {t_predictor:.1f} s ({n_predictor} trace(s)) vs "
        f"keras predict {t_predict:.1f} s ({n_predict} traces): saves {t_predict - t_predictor:.1f} s"
    )

    if args.fast:
        saved = engines.Predictor

        def fast_engine(model, **kwargs):
            """The default upscale path's engine (TensorFlow, precision auto), where evaluate builds its Predictor."""
            return engines.load_engine(model, "tensorflow", "auto", quiet=True)

        engines.Predictor = fast_engine
        try:
            with timer.window():
                start = time.perf_counter()
                fast = evaluate(folders, weights=generator, progress=False)
                payload["evaluate_fast_s"] = time.perf_counter() - start
        finally:
            engines.Predictor = saved
        payload["psnr_fast"] = {k: v["psnr"] for k, v in fast["sets"].items()}
        print(
            f"evaluate with the default upscale path: {payload['evaluate_fast_s']:.1f} s; PSNR {payload['psnr_fast']}"
        )

    payload["load"] = timer.summary()
    rows = [["evaluate (fp32 Keras, one trace)", f"{payload['evaluate_s']:.1f}"]]
    if "evaluate_fast_s" in payload:
        rows.append(["evaluate with default upscale path", f"{payload['evaluate_fast_s']:.1f}"])
    rows.append([f"Set5+Set14 via Predictor ({n_predictor} trace)", f"{t_predictor:.1f}"])
    rows.append([f"Set5+Set14 via keras predict ({n_predict} traces)", f"{t_predict:.1f}"])
    print()
    print(table(["what", "wall (s)"], rows))
    print(f"other processes' CPU while timing: max {payload['load']['others_cpu_pct_max']}%")
    print(f"TF {tf.__version__}; wrote {write_json(args.json, payload)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Upscaling throughput (output megapixels/s) and fidelity per runtime, side by side, on this machine.

    python benchmarks/upscale_throughput.py --weights /path/to/generator.weights.h5 [--pause PID]

Rows: plain fp32 Keras ``generator.predict`` (the baseline anyone would write), the package's default
``keras_srgan.upscale`` path, its fp32 opt-out, Keras mixed bf16, the SavedModel, TFLite float32 /
float16 / dynamic-range int8 (XNNPACK, all cores) and ONNX Runtime. Every row also gives its PSNR
against the fp32 Keras output on the same image, so speed and fidelity are read together; the default
path is also checked on Set5 under the evaluation protocol. Also measures this machine's matmul
GFLOP/s (fp32, bf16) and reports achieved GFLOP/s of each row from the generator's analytic FLOP count.
Trained weights matter: a randomly initialised generator gives a near-flat output on which every
runtime looks perfect.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    DATA,
    REPO,
    RESULTS,
    Timer,
    describe_machine,
    machine,
    matmul_gflops,
    pause_arg,
    save_figure,
    table,
    write_json,
)

BASELINE = "keras predict fp32 (baseline)"
DEFAULT = "keras_srgan.upscale default"


def flops_per_lr_pixel(generator) -> dict:
    """Multiply-adds x 2 of every conv per LR input pixel, by stage (convs only; elementwise ops are <1%)."""
    f = generator.filters
    s = 1.0  # resolution factor (area) relative to the LR image
    parts = {"head 9x9 3->f": 2 * 81 * 3 * f}
    parts["residual blocks"] = generator.num_blocks * 2 * (2 * 9 * f * f)
    parts["body 3x3"] = 2 * 9 * f * f
    up = 0.0
    for _ in range(generator.num_upsample):
        up += s * 2 * 9 * f * 4 * f
        s *= 4.0
    parts["upsampling convs"] = up
    parts["tail 9x9 f->3"] = s * 2 * 81 * f * 3
    return {k: float(v) for k, v in parts.items()}


def test_image(size: int) -> np.ndarray:
    """A real photo, LR float32 [size, size, 3] in [0, 1]: skimage's astronaut (512^2) resized by bicubic."""
    from PIL import Image
    from skimage import data

    img = Image.fromarray(data.astronaut()).resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 200.0 if mse == 0 else float(10 * np.log10(1.0 / mse))


def keras_bf16_generator(generator):
    """The same generator rebuilt under Keras' mixed_bfloat16 policy (what ``--mixed-precision bf16`` trains)."""
    import keras

    from keras_srgan.models import build_generator
    from keras_srgan.weights import generator_config

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_generator(**generator_config(generator))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model.set_weights(generator.get_weights())
    return model


def build_runtimes(generator, work: Path, threads: int, skip: set[str]) -> dict:
    """name -> (LR float32 [1, h, w, 3] -> SR [1, 4h, 4w, 3] in [0, 1], or None for the default path)."""
    import tensorflow as tf

    from keras_srgan.exporters import onnx as onnx_exp
    from keras_srgan.exporters import parity, savedmodel, tflite
    from keras_srgan.inference.predict import Predictor

    def keras_predict(model):
        return lambda lr: np.clip((model.predict(lr, verbose=0).astype(np.float32) + 1) * 0.5, 0, 1)

    runtimes: dict = {BASELINE: keras_predict(generator), DEFAULT: None}
    runtimes["upscale precision='fp32' (opt-out: folded BN, fp32)"] = Predictor(
        generator, fold_batchnorm=True
    )
    if "keras-bf16" not in skip:
        runtimes["keras predict mixed_bfloat16"] = keras_predict(keras_bf16_generator(generator))
    if "savedmodel" not in skip:
        path = work / "savedmodel"
        savedmodel.write(generator, path)
        runtimes["SavedModel (tf.saved_model.load)"] = parity.savedmodel_runner(
            tf.saved_model.load(str(path))
        )
    for quant, label in (("none", "fp32"), ("float16", "fp16 weights"), ("dynamic", "int8 dynamic-range")):
        if f"tflite-{quant}" in skip or "tflite" in skip:
            continue
        path = work / tflite.artifact_name(quant)
        path.write_bytes(tflite.convert(generator, quant))
        runtimes[f"TFLite {label} (XNNPACK, {threads} threads)"] = parity.tflite_runner(path, threads)
    if "onnx" not in skip:
        path = work / onnx_exp.artifact_name()
        onnx_exp.convert(generator, path)
        runtimes[f"ONNX Runtime CPU ({threads} threads)"] = parity.onnx_runner(path, threads)
    return runtimes


def protocol_psnr(generator, folder: Path, predictor) -> float:
    """Mean protocol PSNR (Y, ``scale`` border, uint8) of ``folder`` with ``predictor`` running the model."""
    from keras_srgan.evaluation import ProtocolUpscaler, _super_resolve, list_images
    from keras_srgan.metrics import Protocol

    protocol = Protocol(scale=generator.scale)
    upscaler = ProtocolUpscaler(generator.scale, generator)
    upscaler._predictor = predictor  # the evaluation's own degradation, rounding and measurement
    values = [protocol.measure(*_super_resolve(p, upscaler, protocol))["psnr"] for p in list_images(folder)]
    return float(np.mean(values))


def set5_check(generator, precision: str, runtimes: dict) -> dict:
    """Set5 protocol PSNR of fp32 Keras, of the default path and of every runtime (same images, protocol)."""
    from keras_srgan.inference.predict import Predictor

    folder = DATA / "Set5"
    if not folder.is_dir():
        return {"error": f"{folder} not found"}
    ref = protocol_psnr(generator, folder, Predictor(generator))
    fast = protocol_psnr(generator, folder, Predictor(generator, precision=precision, fold_batchnorm=True))
    per_runtime = {}
    for name, run in runtimes.items():
        if run is None:
            continue

        def one(lr, run=run):
            return run(lr[None])[0] if lr.ndim == 3 else run(lr)

        per_runtime[name] = protocol_psnr(generator, folder, one) - ref
    return {
        "fp32_keras_psnr": ref,
        "default_path_psnr": fast,
        "delta_db": fast - ref,
        "runtime_delta_db": per_runtime,
    }


def set5_delta(set5: dict, runtime: str) -> str:
    """The runtime's Set5 protocol-PSNR difference from fp32 Keras, formatted (0 for the baseline itself)."""
    if runtime == BASELINE:
        return "0 (reference)"
    value = set5.get("delta_db") if runtime == DEFAULT else set5.get("runtime_delta_db", {}).get(runtime)
    return "-" if value is None else f"{value:+.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", help="generator weights (.weights.h5, run folder or shipped name)")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[64, 128, 256], help="square LR sizes, untiled"
    )
    parser.add_argument("--large", type=int, default=1024, help="square LR size run tiled (0 = skip)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per small size (median kept)")
    parser.add_argument(
        "--large-runtimes",
        nargs="*",
        default=["upscale precision"],
        help="runtimes (name prefixes, or 'all') also run on --large besides the baseline and the default path",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], help="keras-bf16 savedmodel tflite tflite-float16 onnx"
    )
    parser.add_argument(
        "--pause",
        nargs="*",
        help="PIDs or pgrep -f patterns to SIGSTOP while timing (resumed after each window)",
    )
    parser.add_argument("--json", default=str(RESULTS / "upscale_throughput.json"))
    parser.add_argument("--plot", default=str(REPO / "docs" / "images" / "perf_upscale_throughput.png"))
    args = parser.parse_args(argv)

    import tensorflow as tf

    from keras_srgan.inference.predict import cpu_has_bf16, resolve_precision
    from keras_srgan.inference.tiling import (
        DEFAULT_OVERLAP,
        DEFAULT_TILE,
        auto_tile,
        plan_tiles,
        upscale_tiled,
    )
    from keras_srgan.inference.upscale import upscale
    from keras_srgan.weights import load_generator

    info = machine()
    print(describe_machine(info))
    threads = os.cpu_count() or 1
    timer = Timer(*pause_arg(args.pause))
    if args.weights:
        generator = load_generator(args.weights)
        weights_label = str(args.weights)
    else:
        from keras_srgan.models import build_generator

        generator = build_generator()
        weights_label = "random initialisation (fidelity figures are not meaningful)"
    print(f"weights: {weights_label}")
    default_precision = resolve_precision("auto")
    default_tile = auto_tile(2 if default_precision == "bf16" else 4)
    print(f"default path precision on this machine: {default_precision} (CPU bf16: {cpu_has_bf16()})")

    per_pixel = flops_per_lr_pixel(generator)
    flops_out_px = sum(per_pixel.values()) / generator.scale**2
    print(
        f"generator FLOPs per output pixel: {flops_out_px / 1e3:.1f} k ({sum(per_pixel.values()) / 1e6:.2f} M per LR pixel)"
    )
    peak = matmul_gflops(timer)
    print(f"matmul peak (2048^2, TF/oneDNN): fp32 {peak['fp32']} GFLOP/s, bf16 {peak['bf16']} GFLOP/s")

    with tempfile.TemporaryDirectory(prefix="keras-srgan-bench-") as tmp:
        t0 = time.perf_counter()
        runtimes = build_runtimes(generator, Path(tmp), threads, set(args.skip))
        print(f"built {len(runtimes)} runtimes in {time.perf_counter() - t0:.0f} s")
        results = []

        def default_call(img: np.ndarray):
            return lambda: upscale(img, generator=generator)

        def runtime_call(run, lr: np.ndarray):
            return lambda: run(lr)[0]

        def tiled_call(run, img: np.ndarray):
            return lambda: upscale_tiled(img, run, generator.scale, DEFAULT_TILE, DEFAULT_OVERLAP)

        def record(name: str, size: int, tiled: bool, fn, repeats: int, reference, first=None) -> np.ndarray:
            median, times, out = timer.time(fn, repeats)
            value = psnr(out, reference) if reference is not None else 200.0
            results.append(
                {
                    "runtime": name,
                    "lr_size": size,
                    "tiled": tiled,
                    "seconds": median,
                    "times": times,
                    "first_call_s": first,
                    "out_mp_s": (size * generator.scale) ** 2 / median / 1e6,
                    "psnr_vs_fp32_db": value,
                    "others_cpu_pct": timer.others[-1] if timer.others else None,
                }
            )
            kind = " tiled" if tiled else ""
            print(
                f"  {size}^2{kind} {name}: {median:.3f} s, {results[-1]['out_mp_s']:.3f} MP/s, "
                f"PSNR {value:.1f} dB" + (f" (first call {first:.2f} s)" if first is not None else ""),
                flush=True,
            )
            return out

        for size in args.sizes:
            img = test_image(size)
            reference = None
            for name, run in runtimes.items():
                fn = default_call(img) if run is None else runtime_call(run, img[None])
                t = time.perf_counter()
                fn()  # warm-up: tracing, allocation, delegate set-up, retracing for a new shape
                first = time.perf_counter() - t
                tiled = run is None and len(plan_tiles(size, size, default_tile, DEFAULT_OVERLAP)) > 1
                out = record(name, size, tiled, fn, args.repeats, reference, first)
                reference = out if reference is None else reference
        if args.large:
            from keras_srgan.inference.upscale import Upscaler

            img = test_image(args.large)
            window = test_image(DEFAULT_TILE + 2 * DEFAULT_OVERLAP)[None]
            reference = None
            wanted = args.large_runtimes
            for name, run in runtimes.items():
                if name not in (BASELINE, DEFAULT) and "all" not in wanted:
                    if not any(name.lower().startswith(w.lower()) for w in wanted):
                        continue
                if run is None:
                    upscaler = Upscaler(generator)  # what upscale() uses, with its model calls timed
                    upscaler.predictor(test_image(upscaler.tile + 2 * DEFAULT_OVERLAP)[None])  # warm-up
                    calls = timer.per_call(upscaler.predictor)
                    upscaler.predictor = calls
                    job = lambda upscaler=upscaler: upscaler.upscale_array(img)  # noqa: E731
                    tiles = len(plan_tiles(args.large, args.large, upscaler.tile, DEFAULT_OVERLAP))
                else:
                    run(window)  # warm-up at the window shape (Keras predict retraces per new shape)
                    calls = timer.per_call(run)
                    job = lambda calls=calls: upscale_tiled(  # noqa: E731
                        img, calls, generator.scale, DEFAULT_TILE, DEFAULT_OVERLAP
                    )
                    tiles = len(plan_tiles(args.large, args.large, DEFAULT_TILE, DEFAULT_OVERLAP))
                start = time.perf_counter()
                out = job()
                wall = time.perf_counter() - start
                seconds = calls.compute_s + (wall - calls.window_s)  # model calls + host-side tiling work
                value = psnr(out, reference) if reference is not None else 200.0
                results.append(
                    {
                        "runtime": name,
                        "lr_size": args.large,
                        "tiled": True,
                        "windows": tiles,
                        "seconds": seconds,
                        "model_call_s": calls.compute_s,
                        "out_mp_s": (args.large * generator.scale) ** 2 / seconds / 1e6,
                        "psnr_vs_fp32_db": value,
                        "others_cpu_pct": max(timer.others[-calls.calls :]) if calls.calls else None,
                    }
                )
                print(
                    f"  {args.large}^2 tiled ({tiles} windows) {name}: {seconds:.1f} s, "
                    f"{results[-1]['out_mp_s']:.3f} MP/s, PSNR {value:.1f} dB",
                    flush=True,
                )
                reference = out if reference is None else reference
                del out
        set5 = set5_check(generator, default_precision, runtimes)

    baseline = {r["lr_size"]: r["out_mp_s"] for r in results if r["runtime"] == BASELINE}
    for r in results:
        r["speedup_vs_baseline"] = r["out_mp_s"] / baseline[r["lr_size"]]
        r["achieved_gflops"] = r["out_mp_s"] * 1e6 * flops_out_px / 1e9
        bf16 = (
            "bf16" in r["runtime"]
            or "bfloat16" in r["runtime"]
            or (r["runtime"] == DEFAULT and default_precision == "bf16")
        )
        r["peak_precision"] = "bf16" if bf16 else "fp32"
        r["fraction_of_matmul_peak"] = r["achieved_gflops"] / peak[r["peak_precision"]]
    rows = [
        [
            r["runtime"],
            f"{r['lr_size']}^2" + (" tiled" if r["tiled"] else ""),
            f"{r['out_mp_s']:.3f}",
            f"{r['speedup_vs_baseline']:.2f}x",
            "-" if r["psnr_vs_fp32_db"] is None else f"{r['psnr_vs_fp32_db']:.1f}",
            set5_delta(set5, r["runtime"]),
            f"{r['achieved_gflops']:.0f}",
            f"{100 * r['fraction_of_matmul_peak']:.0f}% ({r['peak_precision']})",
        ]
        for r in results
    ]
    print()
    print(
        table(
            [
                "runtime",
                "LR input",
                "output MP/s",
                "vs baseline",
                "PSNR vs fp32 (dB)",
                "Set5 protocol PSNR delta (dB)",
                "GFLOP/s",
                "of matmul peak (precision)",
            ],
            rows,
        )
    )
    print(
        f"\nSet5 protocol PSNR: fp32 Keras {set5.get('fp32_keras_psnr')}, default path {set5.get('default_path_psnr')}, "
        f"delta {set5.get('delta_db')}"
    )
    summary = timer.summary()
    print(
        f"other processes' CPU use while timing: max {summary['others_cpu_pct_max']}%, mean {summary['others_cpu_pct_mean']}%"
        f" (paused: {summary['paused_pids'] or 'none'})"
    )
    payload = {
        "machine": info,
        "weights": weights_label,
        "default_precision": default_precision,
        "flops_per_lr_pixel": per_pixel,
        "flops_per_output_pixel": flops_out_px,
        "matmul_gflops": peak,
        "threads": threads,
        "baseline_tile": DEFAULT_TILE,
        "default_tile": default_tile,
        "overlap": DEFAULT_OVERLAP,
        "results": results,
        "set5": set5,
        "load": summary,
        "tensorflow_threads": {
            "intra": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter": tf.config.threading.get_inter_op_parallelism_threads(),
        },
    }
    print(f"wrote {write_json(args.json, payload)}")
    plot(results, args.plot, info)
    print(f"wrote {args.plot}")
    return 0


def plot(results: list[dict], path: str, info: dict) -> None:
    """Two panels: MP/s per runtime and input size; PSNR vs fp32 Keras (same colours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["runtime"] for r in results))
    labels = sorted({r["lr_size"] for r in results})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs, ys = [], []
        for j, size in enumerate(labels):
            row = next((r for r in results if r["runtime"] == name and r["lr_size"] == size), None)
            if row is not None:
                xs.append(j + i * width)
                ys.append(row["out_mp_s"])
        ax1.bar(xs, ys, width, label=name)
    ax1.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))])
    ax1.set_xticklabels([f"{s}^2" + (" (tiled)" if s >= 512 else "") for s in labels])
    ax1.set_ylabel("output megapixels / s")
    ax1.set_title(f"SRResNet x4 throughput, {info['cpu']}, {info['logical_cpus']} CPUs")
    ax1.legend(fontsize=7)
    mid = labels[min(len(labels) - 1, 2)]
    pts = [
        (r["runtime"], r["psnr_vs_fp32_db"])
        for r in results
        if r["lr_size"] == mid and r["psnr_vs_fp32_db"] is not None
    ]
    ax2.barh(
        [p[0][:28] for p in pts],
        [min(p[1], 100.0) for p in pts],
        color=[f"C{names.index(p[0])}" for p in pts],
    )
    ax2.axvline(45, color="k", ls="--", lw=1)
    ax2.set_xlabel(f"PSNR vs fp32 Keras at {mid}^2 (dB, capped at 100)")
    ax2.tick_params(axis="y", labelsize=7)
    save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())

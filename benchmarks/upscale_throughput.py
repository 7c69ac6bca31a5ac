"""Upscaling throughput (output megapixels/s) and fidelity per runtime, side by side, on this machine.

    python benchmarks/upscale_throughput.py --weights srresnet --pause "keras-srgan train"

Rows (one process, every runtime timed in rounds that alternate between runtimes, A B C A B C ...,
each call in its own pause window; the median of the rounds is kept): plain fp32 Keras
``generator.predict`` (the baseline anyone would write), the package's default ``keras_srgan.upscale``
(and which engine and precision it picked), its fp32 opt-out, both engines at both precisions on the
transformed model, ONNX Runtime and OpenVINO fp32/bf16 on the plain (untransformed) ONNX export, and
optionally the SavedModel, Keras mixed bf16 and TFLite. Every row gives its PSNR against the fp32
Keras output on the same image, so speed and fidelity are read together; the default path is also
checked on Set5 under the evaluation protocol. The matmul peak is the best of OpenVINO's and
TensorFlow's dense matmul (both measured in the run) and each row's share of it comes from the
generator's analytic FLOP count. A tiled large input (``--large``) is run twice by the default path
(the first compiles its window shapes; two-stage tiling when the engine offers it) to compare its
rate with the 256x256 one. Trained weights matter: a random generator gives a near-flat output on which every runtime
looks perfect.
"""

from __future__ import annotations

import argparse
import os
import statistics
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
    openvino_matmul_gflops,
    pause_arg,
    save_figure,
    table,
    write_json,
)

BASELINE = "keras predict fp32 (baseline)"
DEFAULT = "keras_srgan.upscale default"
OPT_OUT = "upscale precision='fp32' (opt-out)"
OV_PLAIN_BF16 = "OpenVINO bf16 on the plain ONNX export"


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


class TimedEngine:
    """The default engine with every model call (whole model, body or tail) in its own pause window."""

    def __init__(self, timer: Timer, runner):
        self.runner = runner
        self.calls = timer.per_call(lambda fn, x: fn(x))
        self.scale, self.name, self.precision = runner.scale, runner.name, runner.precision
        self.staged = False

    def __call__(self, lr):
        return self.calls(self.runner, lr)

    def __getattr__(self, name):  # radius, stage_radii, ...: the engine's own
        return getattr(self.runner, name)

    def stages(self):
        stages = self.runner.stages() if hasattr(self.runner, "stages") else None
        if stages is None:
            return None
        self.staged = True
        body, tail = stages
        return (lambda x: self.calls(body, x)), (lambda x: self.calls(tail, x))


def build_runtimes(
    generator,
    work: Path,
    threads: int,
    skip: set[str],
    want: set[str] = frozenset(),
) -> dict:
    """name -> callable on LR float32 [1, h, w, 3] -> SR [1, 4h, 4w, 3] in [0, 1]; None = the default upscale."""
    import tensorflow as tf

    from keras_srgan.exporters import onnx as onnx_exp
    from keras_srgan.exporters import parity, savedmodel, tflite
    from keras_srgan.inference import engines, openvino_engine

    def keras_predict(model):
        return lambda lr: np.clip(model.predict(lr, verbose=0).astype(np.float32), 0, 1)

    runtimes: dict = {BASELINE: keras_predict(generator), DEFAULT: None, OPT_OUT: "fp32"}
    for precision in ("fp32", "bf16"):
        if "openvino" not in skip:
            runtimes[f"OpenVINO engine {precision} (transformed model)"] = openvino_engine.OpenVINOEngine(
                generator, precision, cache=work / "cache"
            )
        if "tensorflow" not in skip:
            runtimes[f"TensorFlow engine {precision} (transformed model)"] = engines.TensorFlowEngine(
                generator, precision
            )
    if "onnx" not in skip:
        path = work / onnx_exp.artifact_name()
        onnx_exp.convert(generator, path)  # the plain generator: no transforms, what users export
        runtimes[f"ONNX Runtime fp32 on the plain ONNX export ({threads} threads)"] = parity.onnx_runner(
            path, threads
        )
        if "openvino" not in skip:
            import openvino as ov

            core = ov.Core()
            for precision, hint in (("fp32", "f32"), ("bf16", "bf16")):
                compiled = {}

                def run(lr, hint=hint, compiled=compiled):
                    if lr.shape not in compiled:
                        model = core.read_model(str(path))
                        model.reshape(list(lr.shape))
                        compiled[lr.shape] = core.compile_model(
                            model, "CPU", {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
                        ).create_infer_request()
                    request = compiled[lr.shape]
                    request.infer({0: np.ascontiguousarray(lr, np.float32)})
                    return np.array(request.get_output_tensor(0).data)

                runtimes[f"OpenVINO {precision} on the plain ONNX export"] = run
    if "int8" in want:
        runtimes["OpenVINO int8 (NNCF post-training, transformed model)"] = int8_engine(generator, work)
    if "keras-bf16" not in skip:
        runtimes["keras predict mixed_bfloat16"] = keras_predict(keras_bf16_generator(generator))
    if "savedmodel" not in skip:
        path = work / "savedmodel"
        savedmodel.write(generator, path, generator.scale, 10**9)
        runtimes["SavedModel (tf.saved_model.load)"] = parity.savedmodel_runner(
            tf.saved_model.load(str(path))
        )
    for quant, label in (("none", "fp32"), ("float16", "fp16 weights"), ("dynamic", "int8 dynamic-range")):
        if f"tflite-{quant}" in skip or "tflite" in skip:
            continue
        path = work / tflite.artifact_name(quant)
        path.write_bytes(tflite.convert(generator, quant))
        runtimes[f"TFLite {label} (XNNPACK, {threads} threads)"] = parity.tflite_runner(path, threads)
    return runtimes


def transforms_ab(generator, timer: Timer, work: Path, rounds: int, size: int = 256) -> dict:
    """OpenVINO bf16 on the plain ONNX export vs the BN-folded vs the fully transformed model, paired.

    Why a separate, long comparison: on a shared machine a call that meets another job takes twice as
    long, so a handful of rounds cannot resolve a 20% difference; many alternating rounds and the
    median of the per-round ratios (each round's three calls run back to back) can.
    """
    import openvino as ov

    from keras_srgan.exporters import onnx as onnx_exp
    from keras_srgan.inference import transforms

    path = work / "ab-plain.onnx"
    onnx_exp.convert(generator, path)
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"}
    plain = core.read_model(str(path))
    plain.reshape([1, size, size, 3])
    import tensorflow as tf

    def compiled(model):
        fn = tf.function(lambda lr: model(lr, training=False), autograph=False)
        concrete = fn.get_concrete_function(tf.TensorSpec([1, size, size, 3], tf.float32))
        return core.compile_model(ov.convert_model(concrete), "CPU", config).create_infer_request()

    variants = {
        "plain ONNX export": core.compile_model(plain, "CPU", config).create_infer_request(),
        "fold_batchnorm only": compiled(transforms.with_clip(transforms.fold_batchnorm(generator))),
        "fold_batchnorm + subpixel_output (shipped)": compiled(transforms.inference_model(generator)),
    }
    x = test_image(size)[None]
    for request in variants.values():
        request.infer({0: x})
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, request in variants.items():
            _, one, _ = timer.time(lambda request=request: request.infer({0: x}), 1)
            times[name].append(one[0])
    base = times["plain ONNX export"]
    out = {}
    for name, values in times.items():
        ratios = [b / a for a, b in zip(values, base, strict=True)]
        out[name] = {
            "median_s": statistics.median(values),
            "out_mp_s": (size * generator.scale) ** 2 / statistics.median(values) / 1e6,
            "speedup_vs_plain_paired_median": statistics.median(ratios),
            "times": values,
        }
        print(
            f"  A/B {name}: {out[name]['out_mp_s']:.2f} MP/s (median of {rounds}), "
            f"paired speed-up vs plain {out[name]['speedup_vs_plain_paired_median']:.3f}x",
            flush=True,
        )
    return out


def int8_engine(generator, work: Path, samples: int = 32):
    """OpenVINO post-training int8 (NNCF, calibrated on bundled photos) of the transformed model, bf16 elsewhere.

    Measured only (``--int8``, needs ``pip install nncf``): the package does not offer int8 unless it
    passes the fidelity bar on the shipped weights (docs/performance.md has the figures).
    """
    import nncf
    import openvino as ov

    from keras_srgan.exporters.tflite import calibration_crops
    from keras_srgan.inference import openvino_engine

    fp = openvino_engine.OpenVINOEngine(generator, "fp32", cache=work / "cache")
    crops = calibration_crops(samples, (64, 64))  # skimage photos, bicubic /4; never the test image
    quantized = nncf.quantize(fp.ov_model, nncf.Dataset(crops), subset_size=samples)
    path = work / "int8" / "srgan_int8.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(path), compress_to_fp16=False)
    return openvino_engine.OpenVINOEngine(ir=path, precision="bf16", cache=False, scale=generator.scale)


def protocol_psnr(generator, folder: Path, predictor) -> float:
    """Mean protocol PSNR (Y, ``scale`` border, uint8) of ``folder`` with ``predictor`` running the model."""
    from keras_srgan.evaluation import ProtocolUpscaler, list_images, super_resolve
    from keras_srgan.metrics import Protocol

    protocol = Protocol(scale=generator.scale)
    # the evaluation's own degradation, rounding and measurement, with ``predictor`` running the model
    upscaler = ProtocolUpscaler(generator.scale, runner=predictor)
    values = [protocol.measure(*super_resolve(p, upscaler, protocol))["psnr"] for p in list_images(folder)]
    return float(np.mean(values))


def set5_check(generator, default_runner, runtimes: dict) -> dict:
    """Set5 protocol PSNR of fp32 Keras, of the default path and of every runtime (same images, protocol)."""
    from keras_srgan.inference.engines import Predictor

    folder = DATA / "Set5"
    if not folder.is_dir():
        return {"error": f"{folder} not found"}
    ref = protocol_psnr(generator, folder, Predictor(generator))
    fast = protocol_psnr(generator, folder, default_runner)
    per_runtime = {}
    for name, run in runtimes.items():
        if not callable(run):
            continue

        def one(lr, run=run):
            return run(lr[None])[0] if lr.ndim == 3 else run(lr)

        one.scale = generator.scale  # what an engine tells ``Upscaler``
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


def startup(timer: Timer, weights: str | None, work: Path) -> dict:
    """Wall time of whole ``keras-srgan upscale`` processes on a 256x256 PNG: cold cache, then warm (twice).

    Cold = an empty cache folder (the IR is converted and compiled); warm = the next processes, which
    find the IR and OpenVINO's compiled blob (and, since the CLI imports TensorFlow only when it must
    build the model, never import it). Also the library call, ``Upscaler.from_weights`` + one upscale,
    in a fresh process with the warm cache.
    """
    import subprocess

    from PIL import Image

    src = work / "startup.png"
    Image.fromarray((test_image(256) * 255).round().astype(np.uint8)).save(src)
    env = {**os.environ, "KERAS_SRGAN_CACHE_DIR": str(work / "startup-cache")}
    cli = [sys.executable, "-m", "keras_srgan", "upscale", str(src), "-o", str(work / "startup-out")]
    if weights:
        cli += ["--weights", weights]
    api = (
        "import sys, time; t = time.perf_counter()\n"
        "from keras_srgan.inference.upscale import Upscaler\n"
        "import numpy as np\n"
        f"up = Upscaler.from_weights({weights!r})\n"
        "up.upscale_array(np.zeros((256, 256, 3), np.uint8))\n"
        "print('tensorflow' in sys.modules, time.perf_counter() - t)\n"
    )
    out = {}
    for label, cmd in (
        ("cli_cold", cli),
        ("cli_warm", cli),
        ("cli_warm_2", cli),
        ("api_warm", [sys.executable, "-c", api]),
    ):
        with timer.window():
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
            out[label] = round(time.perf_counter() - start, 2)
        if proc.returncode != 0:
            out[label + "_error"] = proc.stderr.strip().splitlines()[-1:]
        if label == "api_warm" and proc.returncode == 0:
            out["api_warm_imported_tensorflow"] = proc.stdout.split()[0] == "True"
    return out


def _windows_label(windows: str | None) -> str:
    return DEFAULT if windows is None else f"{DEFAULT}, two-stage windows {windows}"


def large_runs(args, default, timer: Timer, results: list[dict], scale: int) -> dict[str, list[float]]:
    """The tiled ``--large`` image through the default path, per window setting (``--windows``), paired.

    Each setting runs once to compile its window shapes, then ``--large-rounds`` times in rotating
    order, every run followed by a 256x256-class call of the default (the first ``--sizes``) so that each
    round gives a large/small ratio measured under the same load (the machine's load drifts over the
    minutes a large image takes). Rows: the median seconds per setting; returns setting -> the per-round
    ratios.
    """
    from keras_srgan.inference import tiling

    img = test_image(args.large)
    small = test_image(args.sizes[0])
    runner = default.runner
    library = (tiling.BODY_WINDOW_PIXELS, tiling.TAIL_WINDOW_PIXELS)
    settings = args.windows or [None]

    def run(windows: str | None) -> dict:
        if windows is not None:
            body, tail = (int(v) for v in windows.lower().split("x"))
            tiling.BODY_WINDOW_PIXELS, tiling.TAIL_WINDOW_PIXELS = body * body, tail * tail
        timed = TimedEngine(timer, runner)
        default.runner = timed
        try:
            start = time.perf_counter()
            default.upscale_array(img)
            wall = time.perf_counter() - start
        finally:
            default.runner = runner
            tiling.BODY_WINDOW_PIXELS, tiling.TAIL_WINDOW_PIXELS = library
        calls = timed.calls
        return {
            "seconds": calls.compute_s + (wall - calls.window_s),  # model calls + host-side tiling work
            "model_call_s": calls.compute_s,
            "windows": calls.calls,
            "two_stage": timed.staged,
            "others": max(timer.others[-calls.calls :]) if calls.calls else None,
        }

    def row(label: str, runs: list[dict]) -> dict:
        seconds = statistics.median(r["seconds"] for r in runs)
        return {
            "runtime": label,
            "lr_size": args.large,
            "tiled": True,
            "two_stage": runs[0]["two_stage"],
            "windows": runs[0]["windows"],
            "seconds": seconds,
            "times": [r["seconds"] for r in runs],
            "model_call_s": statistics.median(r["model_call_s"] for r in runs),
            "out_mp_s": (args.large * scale) ** 2 / seconds / 1e6,
            "psnr_vs_fp32_db": None,
            "others_cpu_pct": max((r["others"] for r in runs if r["others"] is not None), default=None),
        }

    for windows in settings:  # the first run of each setting compiles its window shapes
        first = run(windows)
        results.append(row(f"{_windows_label(windows)} (first call: compiles)", [first]))
        print(f"  {args.large}^2 {results[-1]['runtime']}: {first['seconds']:.1f} s", flush=True)
    runs: dict[str, list[dict]] = {w or "": [] for w in settings}
    ratios: dict[str, list[float]] = {w or "": [] for w in settings}
    for k in range(args.large_rounds):
        for windows in settings[k % len(settings) :] + settings[: k % len(settings)]:
            large = run(windows)
            _, one, _ = timer.time(lambda: default.upscale_array(small), 1)
            runs[windows or ""].append(large)
            ratios[windows or ""].append((one[0] / small.shape[0] ** 2) / (large["seconds"] / args.large**2))
            print(
                f"  {args.large}^2 {_windows_label(windows)}: {large['seconds']:.1f} s "
                f"({large['windows']} model calls), {args.sizes[0]}^2 {one[0]:.3f} s: "
                f"large/small rate {ratios[windows or ''][-1]:.3f}",
                flush=True,
            )
    for windows in settings:
        results.append(row(_windows_label(windows), runs[windows or ""]))
        results[-1]["large_vs_small_paired"] = ratios[windows or ""]
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", help="generator weights (.weights.h5, run folder or shipped name)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256], help="square LR sizes, untiled")
    parser.add_argument(
        "--large", type=int, default=2048, help="square LR size run tiled by the default (0 = skip)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per size (median kept)")
    parser.add_argument(
        "--windows",
        nargs="*",
        metavar="BODYxTAIL",
        help="two-stage window sides (LR px) to compare on --large, e.g. 480x160 600x200 (default: the library's)",
    )
    parser.add_argument(
        "--large-rounds",
        type=int,
        default=1,
        help="timed runs of --large per window setting (after one to compile)",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=["keras-bf16", "savedmodel", "tflite"],
        help="runtimes to leave out: keras-bf16 savedmodel tflite tflite-float16 onnx openvino tensorflow",
    )
    parser.add_argument(
        "--pause",
        nargs="*",
        help="PIDs or pgrep -f patterns to SIGSTOP while timing (resumed after each window)",
    )
    parser.add_argument(
        "--ab-rounds",
        type=int,
        default=31,
        help="paired rounds of OpenVINO bf16: plain ONNX vs folded vs transformed (0 = skip)",
    )
    parser.add_argument("--int8", action="store_true", help="also measure OpenVINO int8 (needs nncf)")
    parser.add_argument("--no-set5", dest="set5", action="store_false", help="skip the Set5 fidelity check")
    parser.add_argument(
        "--no-startup", dest="startup", action="store_false", help="skip the cold/warm start-up processes"
    )
    parser.add_argument("--json", default=str(RESULTS / "upscale_throughput.json"))
    parser.add_argument("--plot", default=str(REPO / "docs" / "images" / "perf_upscale_throughput.png"))
    args = parser.parse_args(argv)

    import tensorflow as tf

    from keras_srgan.inference import engines
    from keras_srgan.inference.tiling import DEFAULT_OVERLAP, plan_tiles
    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.models.generator import macs_per_output_pixel
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

    flops_out_px = 2 * macs_per_output_pixel(generator)  # TensorFlow's profiler count (every op)
    print(f"generator FLOPs per output pixel: {flops_out_px / 1e3:.1f} k")
    peak_tf = matmul_gflops(timer)
    peak_ov = openvino_matmul_gflops(timer)
    # the peak is the best any engine reaches (OpenVINO's AMX kernels usually; TensorFlow's is kept too)
    peak = {k: max(peak_ov[k], peak_tf[k]) for k in peak_ov}
    print(f"matmul GFLOP/s: OpenVINO 4096^2 {peak_ov}, TensorFlow 2048^2 {peak_tf}; peak used: {peak}")

    with tempfile.TemporaryDirectory(prefix="keras-srgan-bench-") as tmp:
        os.environ[engines.CACHE_ENV] = str(Path(tmp) / "cache")  # a cold cache: no stale IR
        t0 = time.perf_counter()
        default = Upscaler(generator)
        default_build_s = time.perf_counter() - t0
        opt_out = Upscaler(generator, precision="fp32")
        picked = {"engine": default.runner.name, "precision": default.runner.precision, "tile": default.tile}
        print(f"default path on this machine: {picked} (built in {default_build_s:.1f} s, cold cache)")
        runtimes = build_runtimes(
            generator, Path(tmp), threads, set(args.skip), {"int8"} if args.int8 else set()
        )

        print(f"built {len(runtimes)} runtimes in {time.perf_counter() - t0:.0f} s")
        results = []

        for size in args.sizes:
            img = test_image(size)
            calls = {}
            for name, run in runtimes.items():
                if run is None:
                    calls[name] = lambda img=img: default.upscale_array(img)
                elif run == "fp32":
                    calls[name] = lambda img=img: opt_out.upscale_array(img)
                else:
                    calls[name] = lambda run=run, lr=img[None]: run(lr)[0]
            first, outputs = {}, {}
            for name, fn in calls.items():
                t = time.perf_counter()
                outputs[name] = fn()  # warm-up: tracing, compiling, allocation
                first[name] = time.perf_counter() - t
            times: dict[str, list[float]] = {name: [] for name in calls}
            others: dict[str, list[float]] = {name: [] for name in calls}
            names = list(calls)
            for k in range(args.rounds):  # A B C, B C A, C A B ...: drift, load and order hit every row alike
                for name in names[k % len(names) :] + names[: k % len(names)]:
                    fn = calls[name]
                    _, one, _ = timer.time(fn, 1)
                    times[name].append(one[0])
                    others[name].append(timer.others[-1] if timer.others else None)
            reference = outputs[BASELINE]
            for name in calls:
                median = statistics.median(times[name])
                windows = len(plan_tiles(size, size, default.tile, DEFAULT_OVERLAP)) if name == DEFAULT else 1
                results.append(
                    {
                        "runtime": name,
                        "lr_size": size,
                        "tiled": windows > 1,
                        "windows": windows,
                        "seconds": median,
                        "times": times[name],
                        "first_call_s": first[name],
                        "out_mp_s": (size * generator.scale) ** 2 / median / 1e6,
                        "psnr_vs_fp32_db": psnr(outputs[name], reference),
                        "others_cpu_pct": max((o for o in others[name] if o is not None), default=None),
                    }
                )
                r = results[-1]
                print(
                    f"  {size}^2 {name}: {median:.3f} s, {r['out_mp_s']:.3f} MP/s, PSNR {r['psnr_vs_fp32_db']:.1f} dB"
                    f" (first call {first[name]:.2f} s)",
                    flush=True,
                )
        paired_large: dict[str, list[float]] = {}
        if args.large:
            paired_large = large_runs(args, default, timer, results, generator.scale)
        set5 = (
            set5_check(generator, default.runner, {k: v for k, v in runtimes.items() if callable(v)})
            if args.set5
            else {"skipped": True}
        )
        ab = transforms_ab(generator, timer, Path(tmp), args.ab_rounds) if args.ab_rounds else {}
        start_times = startup(timer, args.weights, Path(tmp)) if args.startup else {}
        print(f"start-up (s): {start_times}")

    baseline = {r["lr_size"]: r["out_mp_s"] for r in results if r["runtime"] == BASELINE}
    default_rate = {r["lr_size"]: r["out_mp_s"] for r in results if r["runtime"] == DEFAULT}
    plain_ov = {r["lr_size"]: r["out_mp_s"] for r in results if r["runtime"] == OV_PLAIN_BF16}
    for r in results:
        r["speedup_vs_baseline"] = (
            r["out_mp_s"] / baseline[r["lr_size"]] if r["lr_size"] in baseline else None
        )
        r["achieved_gflops"] = r["out_mp_s"] * 1e6 * flops_out_px / 1e9
        bf16 = any(
            word in r["runtime"] for word in ("bf16", "bfloat16", "int8")
        )  # int8: against the bf16 peak
        bf16 = bf16 or (r["runtime"].startswith(DEFAULT) and picked["precision"] == "bf16")
        r["peak_precision"] = "bf16" if bf16 else "fp32"
        r["fraction_of_matmul_peak"] = r["achieved_gflops"] / peak[r["peak_precision"]]
    small = min(args.sizes, key=lambda s: abs(s - 256))
    summary = {
        "default_vs_plain_openvino_bf16": (
            default_rate[small] / plain_ov[small] if small in plain_ov and small in default_rate else None
        ),
        "large_vs_small_default_rate": (
            default_rate[args.large] / default_rate[small]
            if args.large and args.large in default_rate
            else None
        ),
        "large_vs_small_paired_median": {
            windows or "library default": statistics.median(values)
            for windows, values in paired_large.items()
        },
        "limit_mp_s_at_bf16_peak": peak["bf16"] * 1e9 / flops_out_px / 1e6,
    }
    rows = [
        [
            r["runtime"],
            f"{r['lr_size']}^2" + (f" tiled ({r['windows']} windows)" if r["tiled"] else ""),
            f"{r['out_mp_s']:.2f}",
            "-" if r["speedup_vs_baseline"] is None else f"{r['speedup_vs_baseline']:.2f}x",
            "-" if r["psnr_vs_fp32_db"] is None else f"{r['psnr_vs_fp32_db']:.1f}",
            set5_delta(set5, r["runtime"]) if r["lr_size"] == small else "-",
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
                "PSNR vs fp32 Keras (dB)",
                "Set5 protocol PSNR delta (dB)",
                "GFLOP/s",
                "of matmul peak (precision)",
            ],
            rows,
        )
    )
    print(
        f"\ndefault picked {picked}; default / OpenVINO bf16 on the plain ONNX = {summary['default_vs_plain_openvino_bf16']}; "
        f"tiled {args.large}^2 / {small}^2 rate = {summary['large_vs_small_default_rate']}; "
        f"bf16 peak limit {summary['limit_mp_s_at_bf16_peak']:.1f} MP/s"
    )
    print(
        f"Set5 protocol PSNR: fp32 Keras {set5.get('fp32_keras_psnr')}, default path {set5.get('default_path_psnr')}, "
        f"delta {set5.get('delta_db')}"
    )
    load = timer.summary()
    print(
        f"other processes' CPU use while timing: max {load['others_cpu_pct_max']}%, mean {load['others_cpu_pct_mean']}%"
        f" (paused: {load['paused_pids'] or 'none'})"
    )
    payload = {
        "machine": info,
        "weights": weights_label,
        "default": picked,
        "default_build_s_cold": default_build_s,
        "flops_per_output_pixel": flops_out_px,
        "matmul_gflops_openvino": peak_ov,
        "matmul_gflops_peak": peak,
        "matmul_gflops_tensorflow": peak_tf,
        "summary": summary,
        "startup_s": start_times,
        "transforms_ab_openvino_bf16": ab,
        "threads": threads,
        "overlap": DEFAULT_OVERLAP,
        "rounds": args.rounds,
        "results": results,
        "set5": set5,
        "load": load,
        "tensorflow_threads": {
            "intra": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter": tf.config.threading.get_inter_op_parallelism_threads(),
        },
    }
    print(f"wrote {write_json(args.json, payload)}")
    plot(results, args.plot, info, peak, flops_out_px)
    print(f"wrote {args.plot}")
    return 0


def plot(results: list[dict], path: str, info: dict, peak: dict, flops_out_px: float) -> None:
    """Two panels: output MP/s per runtime (with the bf16 matmul-peak limit); PSNR vs fp32 Keras."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(results, key=lambda r: (r["lr_size"], r["out_mp_s"]))
    labels = [f"{r['runtime']} @ {r['lr_size']}^2" + (" tiled" if r["tiled"] else "") for r in rows]
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(14, 0.45 * len(rows) + 2), gridspec_kw={"width_ratios": [3, 1.3]}
    )
    colours = ["C3" if r["runtime"] == DEFAULT else "C0" for r in rows]
    ax1.barh(labels, [r["out_mp_s"] for r in rows], color=colours)
    limit = peak["bf16"] * 1e9 / flops_out_px / 1e6
    ax1.axvline(limit, color="k", ls="--", lw=1)
    ax1.text(limit, -0.6, f" bf16 matmul peak limit {limit:.1f}", fontsize=7, va="top")
    ax1.set_xlabel("output megapixels / s")
    ax1.set_title(f"SRResNet x4 throughput, {info['cpu']}, {info['logical_cpus']} CPUs", fontsize=9)
    ax1.tick_params(axis="y", labelsize=7)
    pts = [r for r in rows if r["psnr_vs_fp32_db"] is not None]
    ax2.barh(
        [f"{r['runtime'][:30]} @ {r['lr_size']}" for r in pts],
        [min(r["psnr_vs_fp32_db"], 100.0) for r in pts],
        color=["C3" if r["runtime"] == DEFAULT else "C0" for r in pts],
    )
    ax2.axvline(45, color="k", ls="--", lw=1)
    ax2.set_xlabel("PSNR vs fp32 Keras (dB, capped at 100)")
    ax2.tick_params(axis="y", labelsize=7)
    save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())

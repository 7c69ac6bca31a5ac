"""OpenVINO compile settings for the upscaler, A/B on one image size: which properties and tensor types win here.

    python benchmarks/openvino_settings.py --weights srresnet --pause "keras-srgan [t]rain"

Every variant is the same transformed model (``transforms.inference_model``, as the engine caches it)
compiled for one static input shape with the engine's properties and one of them changed or added (CPU
properties, PrePostProcessor element types), plus OpenVINO bf16 on the plain ONNX export as the issue's
reference (with OpenVINO's defaults, and with the engine's extra CPU properties). The variants are
timed in rounds whose order rotates (A B C, B C A, ...), one call per pause window, and read as the
median of the per-round ratios against the shipped settings (the shared machine makes single medians
noisy; a round's calls run within a few seconds of each other). Each variant's output is compared with
fp32 Keras (PSNR), so no setting is kept that changes the result beyond the bar.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import RESULTS, Timer, describe_machine, machine, pause_arg, table, write_json  # noqa: E402

SHIPPED = "shipped (the engine's config)"
PLAIN = "plain ONNX export, bf16 LATENCY"
PLAIN_AUTO = "plain ONNX export, bf16 LATENCY, TBB AUTO"


def variants(ov) -> dict:
    """name -> (extra compile properties, output element type or None, input element type or None)."""
    cpu = ov.properties.intel_cpu
    return {
        SHIPPED: ({}, None, None),
        "THROUGHPUT hint": ({"PERFORMANCE_HINT": "THROUGHPUT"}, None, None),
        "CPU pinning off": ({"ENABLE_CPU_PINNING": False}, None, None),
        "TBB partitioner STATIC (OpenVINO's own choice here)": (
            {cpu.tbb_partitioner: cpu.TbbPartitioner.STATIC},
            None,
            None,
        ),
        "TBB partitioner AUTO": ({cpu.tbb_partitioner: cpu.TbbPartitioner.AUTO}, None, None),
        "denormals optimisation on": ({"CPU_DENORMALS_OPTIMIZATION": True}, None, None),
        "INFERENCE_NUM_THREADS 1": ({"INFERENCE_NUM_THREADS": 1}, None, None),
        "output f16 (PrePostProcessor)": ({}, "f16", None),
        "input f16 + output f16": ({}, "f16", "f16"),
        "dynamic shape (one compile)": ({"dynamic": True}, None, None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="srresnet")
    parser.add_argument("--size", type=int, default=256, help="square LR size")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--only", nargs="*", help="variant names to keep (besides the shipped and plain ones)"
    )
    parser.add_argument("--pause", nargs="*", help="PIDs or pgrep -f patterns to SIGSTOP while timing")
    parser.add_argument("--json", default=str(RESULTS / "openvino_settings.json"))
    args = parser.parse_args(argv)

    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    from keras_srgan.exporters import onnx as onnx_exp
    from keras_srgan.inference.openvino_engine import CPU_PROPERTIES, convert_parts
    from keras_srgan.weights import load_generator

    info = machine()
    print(describe_machine(info))
    timer = Timer(*pause_arg(args.pause))
    generator = load_generator(args.weights)
    shape = [1, args.size, args.size, 3]
    from upscale_throughput import psnr, test_image

    x = test_image(args.size)[None]
    reference = np.clip(generator.predict(x, verbose=0), 0, 1).astype(np.float32)
    core = ov.Core()
    base = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"}
    shipped = {**base, **CPU_PROPERTIES}
    transformed = convert_parts(generator)["full"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plain.onnx"
        onnx_exp.convert(generator, path)
        plain = core.read_model(str(path))
    plain.reshape(shape)

    def request_for(props: dict, out_type, in_type):
        model = transformed.clone()
        props = dict(props)
        if not props.pop("dynamic", False):
            model.reshape({model.inputs[0]: ov.PartialShape(shape)})
        if out_type or in_type:
            ppp = PrePostProcessor(model)
            if in_type:
                ppp.input().tensor().set_element_type(getattr(ov.Type, in_type))
            if out_type:
                ppp.output().tensor().set_element_type(getattr(ov.Type, out_type))
            model = ppp.build()
        return core.compile_model(model, "CPU", {**shipped, **props}).create_infer_request(), in_type

    requests = {
        PLAIN: (core.compile_model(plain, "CPU", base).create_infer_request(), None),
        PLAIN_AUTO: (
            core.compile_model(plain, "CPU", {**base, **CPU_PROPERTIES}).create_infer_request(),
            None,
        ),
    }
    for name, (props, out_type, in_type) in variants(ov).items():
        if args.only and name != SHIPPED and name not in args.only:
            continue
        requests[name] = request_for(props, out_type, in_type)

    def call(entry):
        request, in_type = entry
        request.infer({0: x.astype(np.float16) if in_type == "f16" else x})
        return np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    fidelity = {name: psnr(call(entry), reference) for name, entry in requests.items()}
    names = list(requests)
    times: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    for k in range(args.rounds):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            _, one, _ = timer.time(lambda entry=requests[name]: call(entry), 1)
            times[name].append(one[0])
    print(f"{args.rounds} rounds of {len(names)} variants in {time.perf_counter() - start:.0f} s")
    mp = (args.size * generator.scale) ** 2 / 1e6
    results = {}
    for name in names:
        results[name] = {
            "median_s": statistics.median(times[name]),
            "out_mp_s": mp / statistics.median(times[name]),
            "fastest_mp_s": mp / min(times[name]),
            "vs_shipped_paired": statistics.median(
                [s / t for s, t in zip(times[SHIPPED], times[name], strict=True)]
            ),
            "vs_plain_paired": statistics.median(
                [p / t for p, t in zip(times[PLAIN], times[name], strict=True)]
            ),
            "psnr_vs_fp32_db": fidelity[name],
            "times": times[name],
        }
    rows = [
        [
            name,
            f"{r['out_mp_s']:.2f}",
            f"{r['fastest_mp_s']:.2f}",
            f"{r['vs_shipped_paired']:.3f}x",
            f"{r['vs_plain_paired']:.3f}x",
            f"{r['psnr_vs_fp32_db']:.1f}",
        ]
        for name, r in results.items()
    ]
    print(
        table(
            [
                "variant",
                "MP/s median",
                "fastest",
                "vs shipped (paired median)",
                "vs plain (paired median)",
                "PSNR vs fp32 Keras",
            ],
            rows,
        )
    )
    load = timer.summary()
    print(
        f"other processes' CPU while timing: max {load['others_cpu_pct_max']}%, mean {load['others_cpu_pct_mean']}%"
    )
    payload = {"machine": info, "size": args.size, "rounds": args.rounds, "results": results, "load": load}
    print(f"wrote {write_json(args.json, payload)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""LiteRT (TFLite) latency on CPU through XNNPACK, per exported file, beside srresnet's, with Set5 PSNR.

    python benchmarks/litert_latency.py --compact /work/runs/compact --pause '[k]eras-srgan train'

For each weights spec (default: the shipped ``srresnet``, plus ``--compact SPEC``) the files are written
by the package's own exporter (``keras_srgan.export``, parity-checked): per quantization the dynamic
float file (float32 [0, 1] in and out) and the fixed-size phone file (uint8 RGB in and out, ``--size``).
Each file runs in ``ai_edge_litert``'s interpreter (XNNPACK, the default CPU engine) at 1 and 2 threads:

* ``128x128``: one ``--size`` LR input (512x512 out), for the dynamic file and the phone file;
* ``1080p frame``: one 1920x1080 output frame (480x270 LR) tiled with the phone file: windows of
  ``--size`` lying inside the frame, each seam in the middle of an overlap of at least twice the
  model's receptive radius, so the stitched frame equals an untiled run (``tile_spans``).

Medians over ``--repeats`` runs, measured in rounds that alternate between every case (A B C A B C ...),
each run in its own pause window (``--pause``). Set5 PSNR-Y (the package's ``Protocol``: border 4,
uint8) of each file: the dynamic file on the whole LR image, the phone file tiled (images smaller than
a window are edge-padded to it, so their borders differ slightly from an untiled run).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
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
    pause_arg,
    save_figure,
    table,
    write_json,
)

LABELS = {"none": "float32", "float16": "float16", "int8": "int8", "int16x8": "int16x8"}
FRAME_HR = (1080, 1920)  # output frame (H, W)


# -------------------------------------------------------------------------------------------- tiling


def tile_spans(length: int, window: int, context: int) -> list[tuple[int, int, int]]:
    """(window start, keep start, keep end) along one axis of ``length`` LR pixels, for a fixed ``window``.

    Windows lie inside ``[0, length)`` (the last one is shifted back, never padded), their starts are
    spread evenly, and the seam between two neighbours sits in the middle of their overlap, which is at
    least ``2 * context``: every kept pixel has ``context`` pixels of its window on each side, or is at
    the image border, where the window's border is the image's. A ``length`` below ``window`` gives one
    window at 0 (the caller pads).
    """
    if length <= window:
        return [(0, 0, length)]
    if window <= 2 * context:
        raise ValueError(f"window {window} leaves no core with {context} pixels of context on each side")
    n = max(2, math.ceil((length - 2 * context) / (window - 2 * context)))
    starts = [round(k * (length - window) / (n - 1)) for k in range(n)]
    spans, keep = [], 0
    for k, start in enumerate(starts):
        end = length if k + 1 == n else (starts[k + 1] + start + window) // 2
        spans.append((start, keep, end))
        keep = end
    return spans


def upscale_tiled(
    run: Callable[[np.ndarray], np.ndarray],
    lr: np.ndarray,
    window: tuple[int, int],
    context: int,
    scale: int = 4,
) -> np.ndarray:
    """uint8 LR ``[H, W, 3]`` -> uint8 SR ``[sH, sW, 3]`` through a fixed-size uint8 model ``run``
    (``[1, wh, ww, 3]`` -> ``[1, s*wh, s*ww, 3]``); a side below the window is edge-padded to it."""
    h, w = lr.shape[:2]
    wh, ww = window
    padded = np.pad(lr, ((0, max(0, wh - h)), (0, max(0, ww - w)), (0, 0)), mode="edge")
    out = np.empty((scale * h, scale * w, 3), np.uint8)
    for r0, rk0, rk1 in tile_spans(h, wh, context):
        for c0, ck0, ck1 in tile_spans(w, ww, context):
            sr = run(padded[None, r0 : r0 + wh, c0 : c0 + ww])[0]
            out[scale * rk0 : scale * rk1, scale * ck0 : scale * ck1] = sr[
                scale * (rk0 - r0) : scale * (rk1 - r0), scale * (ck0 - c0) : scale * (ck1 - c0)
            ]
    return out


def receptive_radius(model) -> int:
    """LR pixels of context a tile needs on each side for exact seams (the model's receptive radius)."""
    radius = getattr(model, "receptive_radius", None)
    if radius is not None:
        return int(radius)
    from keras_srgan.inference.tiling import model_overlap

    return int(model_overlap(model))


# ------------------------------------------------------------------------------------------ runners


def interpreter_runner(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """One LiteRT interpreter (XNNPACK) for ``path``; resizes a dynamic input when the shape changes."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]["index"]
    state = {"shape": None}

    def run(x: np.ndarray) -> np.ndarray:
        if x.shape != state["shape"]:
            if -1 in inp["shape_signature"]:
                interpreter.resize_tensor_input(inp["index"], list(x.shape), strict=True)
            interpreter.allocate_tensors()
            state["shape"] = x.shape
        interpreter.set_tensor(inp["index"], np.asarray(x, inp["dtype"]))
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return run


def set5_psnr(folder: Path, sr_of: Callable[[np.ndarray], np.ndarray]) -> float:
    """Mean Set5 PSNR-Y under the package's protocol; ``sr_of``: uint8 LR [h, w, 3] -> uint8 SR."""
    from keras_srgan.evaluation import ProtocolUpscaler, list_images, super_resolve
    from keras_srgan.metrics import Protocol

    protocol = Protocol(scale=4)

    class Upscaler(ProtocolUpscaler):
        def upscale(self, lr_rgb):
            return sr_of(lr_rgb)

    upscaler = Upscaler(4)  # the protocol's LR; upscale is the file's
    return float(np.mean([protocol.psnr(*super_resolve(p, upscaler, protocol)) for p in list_images(folder)]))


# ------------------------------------------------------------------------------------------ the run


def export_files(spec: str, name: str, quants: list[str], size: tuple[int, int], work: Path) -> dict:
    """{quant: {"dynamic": entry, "phone": entry}} of the files the package's exporter wrote (reused
    when ``work/name/manifest.json`` already lists them for the same weights)."""
    import json

    from keras_srgan import export

    out = work / name
    manifest = out / "manifest.json"
    entries = json.loads(manifest.read_text())["artifacts"] if manifest.is_file() else []
    wanted = {(q, p) for q in quants for p in ("float", "uint8")}
    have = {(e["quantization"], e.get("pixels", "float")) for e in entries if (out / e["path"]).is_file()}
    if not wanted <= have:
        entries = export(spec, "tflite", out, quantize=quants, phone_size=size, progress=print)
    files: dict = {}
    for e in entries:
        kind = "phone" if e.get("pixels") == "uint8" else "dynamic"
        if e["quantization"] in quants and (kind == "dynamic") == (e["input_size"] is None):
            files.setdefault(e["quantization"], {})[kind] = {**e, "file": out / e["path"]}
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--weights",
        nargs="*",
        default=["srresnet"],
        help="weights specs (default srresnet; none: only --compact)",
    )
    parser.add_argument("--compact", default=None, help="weights spec of a compact generator to add")
    parser.add_argument("--quantize", nargs="+", default=["none", "float16", "int8", "int16x8"])
    parser.add_argument(
        "--frame-quantize",
        nargs="+",
        default=["none", "float16", "int8"],
        help="files that also get the tiled 1080p frame (int16x8 runs on reference kernels: minutes)",
    )
    parser.add_argument("--size", default="128x128", help="phone file input HxW (default 128x128)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds (median kept)")
    parser.add_argument("--no-frame", dest="frame", action="store_false", help="skip the 1080p frame")
    parser.add_argument("--no-set5", dest="set5", action="store_false", help="skip the Set5 PSNR")
    parser.add_argument("--pause", action="append", help="PID or pgrep -f pattern to SIGSTOP while timing")
    parser.add_argument("--work", default=str(RESULTS / "litert"), help="where the exported files go")
    parser.add_argument("--json", default=str(RESULTS / "litert_latency.json"))
    parser.add_argument("--plot", default=str(REPO / "docs" / "images" / "litert_latency.png"))
    args = parser.parse_args(argv)

    from keras_srgan.exporters import parse_input_size
    from keras_srgan.weights import load_generator

    size = parse_input_size(args.size)
    info = machine()
    print(describe_machine(info))
    pids, patterns = pause_arg(args.pause)
    timer = Timer(pids, patterns)
    specs = [(s, Path(s).name or s) for s in args.weights]
    if args.compact:
        specs.append((args.compact, "compact"))
    work = Path(args.work)

    rows: list[dict] = []
    for spec, name in specs:
        model = load_generator(spec)
        context = receptive_radius(model)
        files = export_files(spec, name, args.quantize, size, work)
        reference = None
        if args.set5 and (DATA / "Set5").is_dir():
            from keras_srgan.inference.engines import Predictor
            from keras_srgan.pixels import to_uint8, to_unit

            predictor = Predictor(model)
            reference = set5_psnr(DATA / "Set5", lambda lr, p=predictor: to_uint8(p(to_unit(lr)[None])[0]))
        for quant in args.quantize:
            pair = files[quant]
            row = {
                "model": name,
                "weights": spec,
                "quantization": quant,
                "label": LABELS[quant],
                "dynamic_file": str(pair["dynamic"]["file"]),
                "phone_file": str(pair["phone"]["file"]),
                "size_mb": round(pair["phone"]["size_bytes"] / 1e6, 2),
                "parity_db": {k: pair[k]["parity"]["psnr_db"] for k in pair},
                "calibration": pair["dynamic"].get("calibration"),
                "overlap_lr_px": context,
                "keras_set5_psnr": reference,
                "times_ms": {},
            }
            if reference is not None:
                from keras_srgan.pixels import to_uint8, to_unit

                dyn = interpreter_runner(pair["dynamic"]["file"], 2)
                phone = interpreter_runner(pair["phone"]["file"], 2)
                row["set5_psnr_dynamic"] = set5_psnr(
                    DATA / "Set5", lambda lr, run=dyn: to_uint8(run(to_unit(lr)[None])[0])
                )
                row["set5_psnr_phone"] = set5_psnr(
                    DATA / "Set5", lambda lr, run=phone, c=context: upscale_tiled(run, lr, size, c)
                )
            rows.append(row)
            print(
                f"{name} {LABELS[quant]}: Set5 {row.get('set5_psnr_dynamic')} / {row.get('set5_psnr_phone')}"
            )

    # latency cases: (row, case name, threads, callable)
    rng = np.random.default_rng(0)
    lr_u8 = rng.integers(0, 256, (1, *size, 3), dtype=np.uint8)
    lr_f = lr_u8.astype(np.float32) / 255.0
    frame = rng.integers(0, 256, (FRAME_HR[0] // 4, FRAME_HR[1] // 4, 3), dtype=np.uint8)
    cases = []
    for row in rows:
        for threads in args.threads:
            dyn = interpreter_runner(Path(row["dynamic_file"]), threads)
            phone = interpreter_runner(Path(row["phone_file"]), threads)
            cases.append((row, f"dynamic_{size[0]}x{size[1]}_t{threads}", lambda d=dyn: d(lr_f)))
            cases.append((row, f"phone_{size[0]}x{size[1]}_t{threads}", lambda p=phone: p(lr_u8)))
            if args.frame and row["quantization"] in args.frame_quantize:
                row["frame_tiles"] = len(tile_spans(frame.shape[0], size[0], row["overlap_lr_px"])) * len(
                    tile_spans(frame.shape[1], size[1], row["overlap_lr_px"])
                )
                cases.append(
                    (
                        row,
                        f"frame_t{threads}",
                        lambda p=phone, c=row["overlap_lr_px"]: upscale_tiled(p, frame, size, c),
                    )
                )
    for _, _, fn in cases:  # warm-up: allocation, XNNPACK weight packing
        fn()
    for round_ in range(args.repeats):
        for row, case, fn in cases:
            with timer.window(settle=0.1):
                start = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - start
            row["times_ms"].setdefault(case, []).append(round(elapsed * 1000.0, 2))
        print(f"round {round_ + 1}/{args.repeats} done", flush=True)
    for row in rows:
        row["median_ms"] = {k: statistics.median(v) for k, v in row["times_ms"].items()}

    headers = ["model", "file", "MB", "Set5 PSNR-Y dyn / phone (dB)", "vs float32 (dB)"]
    tag = f"{size[0]}x{size[1]}"
    for t in args.threads:
        headers += [f"{tag} dyn ms {t}t", f"{tag} uint8 ms {t}t", f"1080p ms {t}t"]
    lines = []
    for row in rows:
        base = next((r for r in rows if r["model"] == row["model"] and r["quantization"] == "none"), None)
        ps = row.get("set5_psnr_dynamic"), row.get("set5_psnr_phone")
        delta = "-"
        if base is not None and ps[0] is not None:
            delta = f"{ps[0] - base['set5_psnr_dynamic']:+.2f} / {ps[1] - base['set5_psnr_phone']:+.2f}"
        cells = [
            row["model"],
            row["label"],
            row["size_mb"],
            "-" if ps[0] is None else f"{ps[0]:.2f} / {ps[1]:.2f}",
            delta,
        ]
        for t in args.threads:
            m = row["median_ms"]
            cells += [
                f"{m[f'dynamic_{tag}_t{t}']:.1f}",
                f"{m[f'phone_{tag}_t{t}']:.1f}",
                f"{m[f'frame_t{t}']:.0f}" if f"frame_t{t}" in m else "-",
            ]
        lines.append(cells)
    summary = timer.summary()
    print()
    print(describe_machine(info))
    print(
        f"XNNPACK (ai_edge_litert interpreter defaults); median of {args.repeats} alternating rounds; "
        f"paused: {summary['paused_pids'] or 'nothing'}; other processes' CPU while timing: max "
        f"{summary['others_cpu_pct_max']}%, mean {summary['others_cpu_pct_mean']}%"
    )
    print(table(headers, lines))
    payload = {
        "machine": info,
        "timer": summary,
        "size": list(size),
        "frame_hr": list(FRAME_HR),
        "repeats": args.repeats,
        "threads": args.threads,
        "rows": rows,
    }
    print(f"wrote {write_json(args.json, payload)}")
    if args.plot:
        print(f"wrote {plot(rows, args.threads, tag, args.plot, info, summary)}")
    return 0


def plot(rows: list[dict], threads: list[int], tag: str, path: str, info: dict, summary: dict) -> Path:
    """Median ms per file (log scale): 128x128 uint8 and the 1080p frame, per thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    names = [f"{r['model']}\n{r['label']}" for r in rows]
    x = np.arange(len(rows))
    width = 0.8 / max(1, len(threads))
    for ax, (case, title) in zip(
        axes, [(f"phone_{tag}", f"{tag} LR, uint8 file"), ("frame", "1080p frame, tiled")], strict=True
    ):
        for i, t in enumerate(threads):
            vals = [r["median_ms"].get(f"{case}_t{t}", np.nan) for r in rows]
            ax.bar(x + i * width, vals, width, label=f"{t} thread{'s' if t > 1 else ''}")
        ax.set_yscale("log")
        ax.set_xticks(x + width * (len(threads) - 1) / 2, names, fontsize=7)
        ax.set_ylabel("median ms (log)")
        ax.set_title(title)
        ax.legend()
    fig.suptitle(
        f"LiteRT XNNPACK on {info['cpu']} ({info['logical_cpus']} logical CPUs, "
        f"{' '.join(f for f in info['isa'] if f.startswith(('avx512f', 'amx')))}); other processes' CPU "
        f"while timing: mean {summary['others_cpu_pct_mean']}%",
        fontsize=9,
    )
    return save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())

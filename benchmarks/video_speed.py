"""Video upscaling throughput in frames/s: ``keras_srgan.upscale_video`` on a synthetic clip (default 30
frames of 320x240 at 30 fps with a sine-tone audio track), with the default engine, precision and tile.

    python benchmarks/video_speed.py                       # the documented figure (shipped srresnet weights)
    python benchmarks/video_speed.py --size 640x360 --frames 10 --outscale 2
    python benchmarks/video_speed.py --size 480x270 --weights compact srresnet --rounds 3   # 1080p out

Reports end-to-end frames/s (decode + model + H.264 encode + audio mux, the Upscaler built beforehand, as
``keras-srgan upscale`` builds it once per batch) and the model-only frames/s (``Upscaler.upscale_array`` on
the decoded frames), and how much CPU other processes took meanwhile (``others_cpu_pct``): on a shared
machine that slows every figure. Needs the video extra (imageio-ffmpeg).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import (  # noqa: E402
    RESULTS,
    Timer,
    describe_machine,
    machine,
    pause_arg,
    save_figure,
    table,
    write_json,
)


def make_clip(exe: str, path: Path, width: int, height: int, frames: int, fps: int) -> None:
    """A test-pattern H.264 clip with an AAC sine tone, from ffmpeg's own synthetic sources."""
    subprocess.run(
        [exe, "-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}",
         "-f", "lavfi", "-i", "sine=frequency=440", "-frames:v", str(frames), "-t", str(frames / fps),
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x240", help="input WIDTHxHEIGHT (default 320x240)")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument(
        "--weights",
        nargs="+",
        default=[None],
        help="one or more, timed in alternating rounds (default: srresnet)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds (medians kept)")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--outscale", type=float, default=None)
    parser.add_argument("--pause", nargs="*", help="PIDs or pgrep -f patterns to SIGSTOP while timing")
    parser.add_argument("--out", default=str(RESULTS / "video_speed.json"))
    parser.add_argument("--plot", default=None, help="PNG of frames/s per weights (default: none)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    import imageio_ffmpeg
    import numpy as np

    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.inference.video import upscale_video

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    timer = Timer(*pause_arg(args.pause))
    names = [w or "srresnet" for w in args.weights]
    rows = {name: {"model_s": [], "video_s": [], "others_pct": []} for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(exe, clip, width, height, args.frames, args.fps)
        reader = imageio_ffmpeg.read_frames(str(clip))
        next(reader)
        frames = [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
        upscalers = {}
        for name in names:
            start = time.perf_counter()
            upscalers[name] = Upscaler.from_weights(
                name, engine=args.engine, precision=args.precision, outscale=args.outscale
            )
            rows[name]["build_s"] = round(time.perf_counter() - start, 2)
            upscalers[name].upscale_array(frames[0])  # the first call compiles the window shape: not timed
        for _ in range(args.rounds):
            for name, upscaler in upscalers.items():
                with timer.window() as model_window:
                    start = time.perf_counter()
                    for frame in frames:
                        upscaler.upscale_array(frame)
                    rows[name]["model_s"].append(time.perf_counter() - start)
                with timer.window() as video_window:
                    start = time.perf_counter()
                    dest = upscale_video(clip, Path(tmp) / name, upscaler, show_progress=False)
                    rows[name]["video_s"].append(time.perf_counter() - start)
                rows[name]["others_pct"] += [model_window.others_cpu_pct, video_window.others_cpu_pct]
        output = "x".join(map(str, next(imageio_ffmpeg.read_frames(str(dest)))["size"]))
    info = machine()
    results = []
    for name, upscaler in upscalers.items():
        r = rows[name]
        results.append({
            "weights": name,
            "engine": upscaler.runner.name,
            "precision": upscaler.runner.precision,
            "tile": upscaler.tile,
            "build_s": r["build_s"],
            "model_only_fps": round(len(frames) / statistics.median(r["model_s"]), 3),
            "end_to_end_fps": round(len(frames) / statistics.median(r["video_s"]), 3),
            "model_s_rounds": [round(s, 3) for s in r["model_s"]],
            "video_s_rounds": [round(s, 3) for s in r["video_s"]],
            "others_cpu_pct_max": max(r["others_pct"]),
        })  # fmt: skip
    payload = {
        "input": f"{width}x{height}",
        "output": output,
        "frames": len(frames),
        "rounds": args.rounds,
        "results": results,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "machine": info,
    }
    print(describe_machine(info))
    print(
        f"{payload['input']} -> {output}, {len(frames)} frames, median of {args.rounds} alternating round(s)"
    )
    print(table(
        ["weights", "engine", "tile", "end to end frames/s", "model only frames/s", "others' CPU % (max)"],
        [[r["weights"], f"{r['engine']} {r['precision']}", r["tile"], r["end_to_end_fps"], r["model_only_fps"],
          r["others_cpu_pct_max"]] for r in results],
    ))  # fmt: skip
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.2))
        x = np.arange(len(results))
        for offset, key, label in (
            (-0.2, "end_to_end_fps", "end to end"),
            (0.2, "model_only_fps", "model only"),
        ):
            ax.bar(x + offset, [r[key] for r in results], 0.4, label=label)
        ax.set_xticks(x, [r["weights"] for r in results])
        ax.set_ylabel("frames/s")
        ax.set_title(f"{payload['input']} -> {output} video; {info['cpu']}, {info['isa'][-1]}", fontsize=9)
        ax.legend()
        print(f"wrote {save_figure(fig, args.plot)}")
    print(f"wrote {write_json(args.out, payload)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

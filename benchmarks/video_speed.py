"""Video upscaling throughput in frames/s: ``keras_srgan.upscale_video`` on a synthetic clip (default 30
frames of 320x240 at 30 fps with a sine-tone audio track), with the default engine, precision and tile.

    python benchmarks/video_speed.py                       # the documented figure (shipped srresnet weights)
    python benchmarks/video_speed.py --size 640x360 --frames 10 --outscale 2

Reports end-to-end frames/s (decode + model + H.264 encode + audio mux, the Upscaler built beforehand, as
``keras-srgan upscale`` builds it once per batch) and the model-only frames/s (``Upscaler.upscale_array`` on
the decoded frames), and how much CPU other processes took meanwhile (``others_cpu_pct``): on a shared
machine that slows every figure. Needs the video extra (imageio-ffmpeg).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import RESULTS, Timer, describe_machine, machine, write_json  # noqa: E402


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
    parser.add_argument("--weights", default=None, help="default: the shipped srresnet")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--outscale", type=float, default=None)
    parser.add_argument("--out", default=str(RESULTS / "video_speed.json"))
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    import imageio_ffmpeg
    import numpy as np

    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.inference.video import upscale_video

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    timer = Timer([])
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(exe, clip, width, height, args.frames, args.fps)
        start = time.perf_counter()
        upscaler = Upscaler.from_weights(
            args.weights, engine=args.engine, precision=args.precision, outscale=args.outscale
        )
        build = time.perf_counter() - start
        reader = imageio_ffmpeg.read_frames(str(clip))
        next(reader)
        frames = [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
        upscaler.upscale_array(frames[0])  # first call compiles the window shape: not part of the rate
        with timer.window() as model_window:
            start = time.perf_counter()
            for frame in frames:
                upscaler.upscale_array(frame)
            model_s = time.perf_counter() - start
        with timer.window() as video_window:
            start = time.perf_counter()
            dest = upscale_video(clip, Path(tmp) / "out", upscaler, show_progress=False)
            video_s = time.perf_counter() - start
        out_meta = next(imageio_ffmpeg.read_frames(str(dest)))
    info = machine()
    payload = {
        "input": f"{width}x{height}",
        "output": "x".join(map(str, out_meta["size"])),
        "frames": len(frames),
        "engine": upscaler.runner.name,
        "precision": upscaler.runner.precision,
        "tile": upscaler.tile,
        "build_s": round(build, 2),
        "model_only_fps": round(len(frames) / model_s, 3),
        "end_to_end_fps": round(len(frames) / video_s, 3),
        "others_cpu_pct_model": model_window.others_cpu_pct,
        "others_cpu_pct_video": video_window.others_cpu_pct,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "machine": info,
    }
    print(describe_machine(info))
    print(
        f"{payload['input']} -> {payload['output']}, {payload['frames']} frames, {payload['engine']} "
        f"{payload['precision']}, tile {payload['tile']}: end to end {payload['end_to_end_fps']} frames/s "
        f"(model only {payload['model_only_fps']} frames/s); other processes used "
        f"{payload['others_cpu_pct_video']}% of the CPUs meanwhile"
    )
    print(f"wrote {write_json(args.out, payload)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

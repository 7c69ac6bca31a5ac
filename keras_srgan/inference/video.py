"""Upscale a video frame by frame, keeping its frame rate and audio (``keras-srgan upscale clip.mp4 -o out/``).

ffmpeg comes from ``imageio-ffmpeg`` (the ``video`` extra). One ``Upscaler`` takes every frame; they are
encoded to H.264 in a hidden temporary file, then a stream-copying pass muxes in the source's audio under
``files.atomic_path``'s temporary name, so a failed run leaves no half video.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.files import atomic_path, temporary_name
from keras_srgan.inference import image_io
from keras_srgan.progress import Progress

VIDEO_EXTRA = "pip install 'keras-srgan[video]'"
VIDEO_EXTENSIONS = set(".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .wmv .flv .ts .mts .m2ts .3gp .ogv".split())
# Containers that hold H.264 and keep their name; any other input container is written as .mp4.
H264_CONTAINERS = {".mp4", ".m4v", ".mov", ".mkv"}
CRF = 18  # x264 constant quality: visually near-lossless, so the encode does not hide the model's detail


def is_video(path: str | os.PathLike) -> bool:
    """A video file, judged by its extension (how folders and globs pick files too)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def output_name(source: str | os.PathLike) -> str:
    """A bare file name for the result: the input's stem, its extension if it holds H.264, else ``.mp4``."""
    stem = os.path.splitext(image_io.output_name(source, "PNG"))[0]  # the same name sanitising as images
    suffix = Path(os.fspath(source)).suffix.lower()
    return stem + (suffix if suffix in H264_CONTAINERS else ".mp4")


def frame_rate(fps: float) -> Fraction:
    """The exact rate behind ffmpeg's printed one: 29.97 -> 30000/1001 (NTSC family), 12.0 -> 12."""
    for base in (24, 30, 48, 60, 120, 240):
        if abs(fps - base * 1000 / 1001) < 0.006:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def _ffmpeg_reason(exc: BaseException) -> str:
    """The most telling line of an imageio-ffmpeg error (ffmpeg's own complaint when it printed one)."""
    for line in reversed([line.strip() for line in str(exc).splitlines()]):
        low = line.lower()
        if any(word in low for word in ("invalid", "moov", "error", "corrupt", "no such", "not found")):
            return line
    return error_reason(exc)


def _mux(exe: str, video: Path, source: Path, dest: Path, container: str) -> None:
    """``video``'s picture + ``source``'s audio -> ``dest``; copies the audio, AAC if the container refuses it."""
    extra = ["-movflags", "+faststart"] if container in (".mp4", ".m4v", ".mov") else []
    base = [exe, "-y", "-v", "error", "-i", str(video), "-i", str(source), "-map", "0:v:0", "-map", "1:a?"]
    last = ""
    for audio in (["-c:a", "copy"], ["-c:a", "aac", "-b:a", "192k"]):
        cmd = [*base, "-c:v", "copy", *audio, "-map_metadata", "1", *extra, str(dest)]
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
        if proc.returncode == 0:
            return
        last = (proc.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
    raise UserError(f"{source}: cannot write the upscaled video ({last})")


def upscale_video(
    source: str | os.PathLike,
    dest: str | os.PathLike,
    upscaler=None,
    *,
    weights: str | os.PathLike | None = None,
    max_pixels: int | None = image_io.DEFAULT_MAX_PIXELS,
    show_progress: bool | None = None,
    **settings,
) -> Path:
    """Upscale every frame of ``source`` into ``dest`` (a video file, or a folder: existing, ending in a
    separator or without extension); returns the written path. ``upscaler``: one to reuse, else built from
    ``weights`` and ``settings`` (``Upscaler``'s). Each output side is rounded down to even (4:2:0 video).
    """
    source = Path(source)
    name = str(source)
    image_io.check_file(source, "a video")
    try:
        import imageio_ffmpeg as ffmpeg
    except ImportError:
        raise UserError(f"{name}: upscaling video needs the video extra ({VIDEO_EXTRA})") from None
    dest = Path(dest)
    if dest.is_dir() or os.fspath(dest).endswith(("/", os.sep)) or not dest.suffix:  # a folder
        dest.mkdir(parents=True, exist_ok=True)
        dest = image_io.contained_path(dest, output_name(source))
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and os.path.samefile(dest, source):
        raise UserError(f"{name}: output would overwrite the input; choose another output folder")
    container = dest.suffix.lower()
    if container not in H264_CONTAINERS:
        raise UserError(f"{dest}: write the video as one of {', '.join(sorted(H264_CONTAINERS))}")

    reader = ffmpeg.read_frames(str(source))
    frames_tmp = temporary_name(dest.with_name(f"{dest.stem}.frames{container}"))
    writer = None
    try:
        try:
            meta = next(reader)
        except (OSError, RuntimeError, StopIteration) as exc:
            raise UserError(
                f"{name}: cannot read the video: truncated, corrupt or not a video ({_ffmpeg_reason(exc)})"
            ) from None
        width, height = meta["size"]
        image_io.check_pixels(name, width, height, max_pixels)
        if upscaler is None:
            from keras_srgan.inference.upscale import Upscaler

            upscaler = Upscaler.from_weights(weights, **settings)
        size = tuple(max(2, side - side % 2) for side in upscaler.output_size(width, height))
        rate = frame_rate(float(meta["fps"]))
        expected = round(float(meta.get("duration") or 0) * rate) or None
        writer = ffmpeg.write_frames(
            str(frames_tmp),
            size,
            fps=rate,
            codec="libx264",
            quality=None,
            macro_block_size=1,  # the size is even already; no padding to multiples of 16
            ffmpeg_log_level="error",
            output_params=["-crf", str(CRF), "-preset", "medium"],
        )
        writer.send(None)
        count = 0
        with Progress(expected, "frame", desc=source.name, enabled=show_progress is not False) as progress:
            for frame in _frames(reader, name, width, height):
                writer.send(np.ascontiguousarray(upscaler.upscale_array(frame, size=size)))
                count += 1
                progress.update()
        if count == 0:
            raise UserError(f"{name}: truncated or corrupt video (no frame could be decoded)")
        if expected and count < 0.9 * expected - 1:  # e.g. a cut file whose index sits at the front
            warnings.warn(
                f"{name}: decoded {count} frames where its duration promises about {expected}; the file may be "
                f"truncated (the result has the {count})",
                image_io.ImageReadWarning,
                stacklevel=2,
            )
        writer.close()  # a generator: closing it again below does nothing
        with atomic_path(dest) as final_tmp:
            _mux(ffmpeg.get_ffmpeg_exe(), frames_tmp, source, final_tmp, container)
    finally:
        if writer is not None:
            with contextlib.suppress(Exception):  # ffmpeg may be gone; the temp file is removed below anyway
                writer.close()
        reader.close()
        frames_tmp.unlink(missing_ok=True)
    return dest


def _frames(reader, name: str, width: int, height: int):
    """[H, W, 3] uint8 frames from an imageio-ffmpeg reader; a decoding failure is one ``UserError`` line."""
    try:
        for raw in reader:
            yield np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
    except (OSError, RuntimeError) as exc:
        raise UserError(f"{name}: truncated or corrupt video ({_ffmpeg_reason(exc)})") from None

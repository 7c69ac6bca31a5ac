"""Video (issue 14, item 3): frames upscaled through the same Upscaler, the frame count, rate and audio kept,
a truncated file is one error line and never leaves a half file under the final name."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import run_cli, smooth_image
from PIL import Image

from keras_srgan.errors import UserError
from keras_srgan.inference import image_io, video
from keras_srgan.inference.upscale import Upscaler

ffmpeg = pytest.importorskip(
    "imageio_ffmpeg", reason="the video extra is not installed (pip install '.[video]')"
)
FFMPEG = ffmpeg.get_ffmpeg_exe()


def make_clip(path, size=(64, 48), frames: int = 8, fps: int = 12, faststart: bool = False) -> None:
    """An H.264 mp4 from ffmpeg's synthetic sources: a test pattern and a 440 Hz sine tone of the same length."""
    duration = frames / fps
    subprocess.run(
        [FFMPEG, "-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate={fps}",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050", "-frames:v", str(frames),
         "-t", f"{duration}", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
         *(["-movflags", "+faststart"] if faststart else []), str(path)],
        check=True,
    )  # fmt: skip


def audio_seconds(path) -> float:
    """Length of a file's first audio stream, from its decoded samples (8 kHz mono s16)."""
    proc = subprocess.run(
        [
            FFMPEG,
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            "8000",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    return len(proc.stdout) / 2 / 8000


def video_facts(path) -> tuple[dict, list[np.ndarray]]:
    reader = ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]
    return meta, frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_clip(path)
    return path


@pytest.fixture(scope="module")
def upscaler(tiny_generator):
    return Upscaler(tiny_generator, tile=0, precision="fp32", engine="tensorflow")


def leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_mp4_with_audio_comes_out_4x_with_same_frames_rate_and_audio(capsys, tmp_path, clip, tiny_weights):
    out = tmp_path / "out"
    rc, stdout, err = run_cli(capsys, "upscale", clip, "-o", out, "--weights", tiny_weights)
    assert rc == 0 and err == "" and "wrote 1 of 1" in stdout, err
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4"]
    src_meta, src_frames = video_facts(clip)
    meta, frames = video_facts(out / "clip.mp4")
    assert meta["size"] == (256, 192) and len(frames) == len(src_frames) == 8
    assert meta["fps"] == src_meta["fps"] == 12
    assert meta["audio_codec"] == "aac"
    assert abs(audio_seconds(out / "clip.mp4") - audio_seconds(clip)) < 1e-3  # the stream was copied as is
    # the frames are the model's: compare one with the same frame upscaled as an image (H.264 loss aside)
    expected = Upscaler.from_weights(tiny_weights, tile=0).upscale_array(src_frames[3])
    assert np.abs(frames[3].astype(int) - expected).mean() < 4


@pytest.mark.parametrize("outscale, size", [(1.5, (96, 72)), (3.1, (198, 148))])  # 148.8 -> 149 -> even 148
def test_outscale_applies_to_video_with_even_sides(tmp_path, clip, upscaler, outscale, size):
    upscaler.outscale = outscale
    try:
        dest = video.upscale_video(clip, tmp_path, upscaler, show_progress=False)
    finally:
        upscaler.outscale = None
    meta, frames = video_facts(dest)
    assert meta["size"] == size and len(frames) == 8 and meta["fps"] == 12
    assert dest == (tmp_path / "clip.mp4").resolve() and leftovers(tmp_path) == []


def test_python_api_and_a_named_destination(tmp_path, clip, tiny_weights):
    import keras_srgan

    dest = keras_srgan.upscale_video(clip, tmp_path / "big.mkv", weights=tiny_weights, width=100, tile=0)
    meta, frames = video_facts(dest)
    assert dest.name == "big.mkv" and meta["size"] == (100, 74) and len(frames) == 8  # 75 -> even 74


def test_truncated_video_is_one_line_and_leaves_nothing(capsys, tmp_path, clip, tiny_weights):
    data = clip.read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, "upscale", bad, "-o", out, "--weights", tiny_weights)
    lines = err.strip().splitlines()
    assert rc != 0 and len(lines) == 1 and lines[0].startswith(f"error: {bad}: "), err
    assert "Traceback" not in err
    assert not (out / "cut.mp4").exists() and (not out.exists() or leftovers(out) == [])


def test_cut_video_with_its_index_in_front_warns(tmp_path, upscaler):
    """A cut "faststart" mp4 still decodes up to the cut: the shorter result is written with a warning line."""
    src = tmp_path / "fast.mp4"
    make_clip(src, frames=24, faststart=True)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    with pytest.warns(image_io.ImageReadWarning, match="may be truncated"):
        dest = video.upscale_video(src, tmp_path / "out", upscaler, show_progress=False)
    assert 0 < len(video_facts(dest)[1]) < 24


def test_batch_with_images_and_a_bad_video_goes_on(capsys, tmp_path, clip, tiny_weights):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(smooth_image(6, 7)).save(folder / "a.png")
    (folder / "broken.mov").write_bytes(b"\0\0\0\x20ftypqt  " + b"garbage" * 50)
    (folder / "good.mp4").write_bytes(clip.read_bytes())
    Image.fromarray(smooth_image(5, 5)).save(folder / "z.png")
    out = tmp_path / "out"
    rc, stdout, err = run_cli(capsys, "upscale", folder, "-o", out, "--weights", tiny_weights)
    assert rc == 1 and "wrote 3 of 4" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "good.mp4", "z.png"]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {folder / 'broken.mov'}: "), err


def test_interrupt_removes_the_temporary_files(tmp_path, clip, upscaler, monkeypatch):
    calls = []

    def interrupted(image, progress=None, size=None):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return np.zeros((size[1], size[0], 3), np.uint8)

    monkeypatch.setattr(upscaler, "upscale_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        video.upscale_video(clip, tmp_path, upscaler, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_extra_names_it(tmp_path, clip, upscaler, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(
        UserError, match=r"clip.mp4: upscaling video needs the video extra .*keras-srgan\[video\]"
    ):
        video.upscale_video(clip, tmp_path, upscaler)


def test_frame_rate_recovers_ntsc_rates():
    from fractions import Fraction

    assert video.frame_rate(29.97) == Fraction(30000, 1001)
    assert video.frame_rate(23.98) == Fraction(24000, 1001)
    assert video.frame_rate(12.0) == 12 and video.frame_rate(25) == 25

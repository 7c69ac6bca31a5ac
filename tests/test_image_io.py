"""Real-world image files: modes, EXIF, animation, and every class of bad input -> one error line."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from conftest import nearest_model, run_cli, smooth_image
from PIL import Image

from keras_srgan.errors import UserError
from keras_srgan.inference import image_io
from keras_srgan.inference.upscale import Upscaler


@pytest.fixture(scope="module")
def upscaler(tiny_generator):
    return Upscaler(tiny_generator, tile=16, tile_overlap=8)


@pytest.fixture(scope="module")
def nearest():
    return Upscaler(nearest_model(), tile=16, tile_overlap=8)


def _roundtrip(upscaler, tmp_path, img: Image.Image, name: str, **save) -> Image.Image:
    src = tmp_path / name
    img.save(src, **save)
    out = upscaler.upscale_file(src, tmp_path / "out")
    with Image.open(out) as result:
        result.load()
        return result


@pytest.mark.parametrize(
    "mode, expected",
    [("L", "L"), ("LA", "LA"), ("RGBA", "RGBA"), ("RGB", "RGB"), ("1", "L"), ("P", "RGB")],
)
def test_modes_round_trip(upscaler, tmp_path, mode, expected):
    rgb = Image.fromarray(smooth_image(9, 7, seed=2))
    img = rgb.convert(mode) if mode != "LA" else rgb.convert("L").convert("LA")
    if mode in ("RGBA", "LA"):
        alpha = Image.fromarray(np.tile(np.linspace(0, 255, 7).astype(np.uint8), (9, 1)))
        img.putalpha(alpha)
    result = _roundtrip(upscaler, tmp_path, img, f"in_{mode}.png")
    assert result.mode == expected and result.size == (28, 36)
    if mode in ("RGBA", "LA"):  # alpha went through bicubic: still a left-to-right ramp
        alpha = np.asarray(result.getchannel("A")).astype(int)
        assert alpha[:, 0].mean() < 30 and alpha[:, -1].mean() > 225


def test_palette_with_transparency_keeps_alpha(upscaler, tmp_path):
    img = Image.fromarray(smooth_image(8, 8)).convert("P")
    img.info["transparency"] = 0
    result = _roundtrip(upscaler, tmp_path, img, "pal.png", transparency=0)
    assert result.mode == "RGBA" and result.size == (32, 32)


def test_cmyk_jpeg_becomes_rgb_jpeg(upscaler, tmp_path):
    result = _roundtrip(upscaler, tmp_path, Image.fromarray(smooth_image(12, 10)).convert("CMYK"), "c.jpg")
    assert result.format == "JPEG" and result.mode == "RGB" and result.size == (40, 48)


def test_16bit_png_stays_16bit(upscaler, tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 11).astype(np.uint16), (6, 1))
    result = _roundtrip(upscaler, tmp_path, Image.fromarray(ramp), "deep.png")
    arr = np.asarray(result)
    assert result.mode.startswith("I") and result.size == (44, 24)
    assert arr.max() > 255  # genuinely 16-bit values, not 8-bit data in a 16-bit file


def test_exif_orientation_is_applied(nearest, tmp_path):
    arr = np.zeros((6, 10, 3), np.uint8)
    arr[:, :5] = 255  # left half white, stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": displayed portrait 6 wide, 10 tall, white on top
    src = tmp_path / "rot.jpg"
    Image.fromarray(arr).save(src, exif=exif, quality=100)
    out = nearest.upscale_file(src, tmp_path / "out")
    with Image.open(out) as result:
        assert result.size == (24, 40)
        data = np.asarray(result.convert("L")).astype(int)
    assert data[:16].mean() > data[-16:].mean() + 50


def test_animated_gif_uses_first_frame_with_warning(nearest, tmp_path):
    frames = [Image.fromarray(np.full((5, 6, 3), v, np.uint8)) for v in (40, 200)]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.warns(image_io.ImageReadWarning, match="first frame"):
        out = nearest.upscale_file(src, tmp_path / "out")
    assert out.name == "anim.png"  # GIF would quantise to 256 colours: written as PNG
    with Image.open(out) as result:
        assert result.size == (24, 20) and np.asarray(result.convert("L")).mean() < 120


def test_one_pixel_image(upscaler, tmp_path):
    result = _roundtrip(upscaler, tmp_path, Image.new("RGB", (1, 1), (10, 200, 30)), "dot.png")
    assert result.size == (4, 4)


def test_output_name_is_always_a_bare_name(tmp_path):
    for weird in ["../../etc/passwd.png", "/abs/x.png", "..png", "..", "a\\..\\b.png", ".png", "x.png/"]:
        name = image_io.output_name(weird, "PNG")
        assert "/" not in name and "\\" not in name and name not in (".", "..")
        assert image_io.contained_path(tmp_path, name).parent == tmp_path.resolve()
    with pytest.raises(UserError):
        image_io.contained_path(tmp_path, "../escape.png")


def _bad_inputs(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    buf = io.BytesIO()
    Image.fromarray(smooth_image(64, 64)).save(buf, "PNG")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 10000)).save(bomb)  # 200 Mpixel: beyond Pillow's own hard bomb limit too
    folder = tmp_path / "folder.png"
    folder.mkdir()
    return {
        empty: "empty file",
        text: "not an image",
        truncated: "truncated",
        bomb: "above the limit",
        folder: "folder",
    }


def test_each_bad_input_gives_one_error_line(capsys, tmp_path, tiny_weights):
    out = tmp_path / "out"
    for path, reason in _bad_inputs(tmp_path).items():
        rc, _, err = run_cli(capsys, "upscale", path, "-o", out, "--weights", tiny_weights)
        lines = err.strip().splitlines()
        assert rc != 0 and len(lines) == 1, err
        assert lines[0].startswith(f"error: {path}: ") and reason in lines[0], lines[0]
        assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_max_pixels_is_overridable(capsys, tmp_path, tiny_weights):
    src = tmp_path / "big.png"
    Image.fromarray(smooth_image(20, 30)).save(src)
    rc, _, err = run_cli(
        capsys, "upscale", src, "-o", tmp_path / "o", "--weights", tiny_weights, "--max-pixels", "500"
    )
    assert rc != 0 and "600 pixels is above the limit of 500" in err
    rc, _, err = run_cli(
        capsys, "upscale", src, "-o", tmp_path / "o", "--weights", tiny_weights, "--max-pixels", "600"
    )
    assert rc == 0 and (tmp_path / "o" / "big.png").is_file()


def test_pillow_bomb_warning_never_escapes(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 10000)).save(bomb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserError, match="decompression bomb"):
            image_io.read_image(bomb)
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's global limit restored


def test_ext_and_jpeg_quality_choose_the_output_format(capsys, tmp_path, tiny_weights):
    """``--ext`` picks PNG / JPEG / WebP; ``--jpeg-quality`` is Pillow's quality (checked against Pillow
    saving the lossless result itself); a format that cannot hold the image falls back to PNG, said."""
    import png

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth_image(20, 24, seed=2)).save(src / "photo.png")
    deep = (np.arange(20 * 24 * 3).reshape(20, 24, 3) * 40 % 65536).astype(np.uint16)
    png.Writer(24, 20, bitdepth=16, greyscale=False).write(
        open(src / "deep.png", "wb"), deep.reshape(20, -1).tolist()
    )
    common = ["--weights", tiny_weights, "--precision", "fp32", "--engine", "tensorflow"]
    assert run_cli(capsys, "upscale", str(src / "photo.png"), "-o", str(tmp_path / "png"), *common)[0] == 0
    lossless = Image.open(tmp_path / "png" / "photo.png")
    for quality in (30, 95):
        out = tmp_path / f"q{quality}"
        rc, _, err = run_cli(
            capsys,
            "upscale",
            str(src),
            "-o",
            str(out),
            "--ext",
            "jpg",
            "--jpeg-quality",
            str(quality),
            *common,
        )
        assert rc == 0 and "deep.png: JPEG cannot hold this image (rgb16); wrote PNG" in err, err
        expected = io.BytesIO()
        lossless.save(expected, format="JPEG", quality=quality, subsampling=0)
        assert (out / "photo.jpg").read_bytes() == expected.getvalue()
        assert Image.open(out / "deep.png").format == "PNG"
    assert (tmp_path / "q30" / "photo.jpg").stat().st_size < (tmp_path / "q95" / "photo.jpg").stat().st_size
    rc, _, _ = run_cli(
        capsys, "upscale", str(src / "photo.png"), "-o", str(tmp_path / "w"), "--ext", "webp", *common
    )
    assert rc == 0 and Image.open(tmp_path / "w" / "photo.webp").format == "WEBP"
    with pytest.raises(SystemExit) as info:  # argparse's own usage error
        run_cli(capsys, "upscale", str(src), "-o", str(tmp_path / "x"), "--jpeg-quality", "0", *common)
    assert info.value.code == 2 and "expected 1-100, got 0" in capsys.readouterr().err

"""16-bit stays 16-bit (issue 14, item 2): colour and gray + alpha PNG/TIFF read, upscaled and written at
16 bits, no 8-bit rounding on the way; bad 16-bit files are one error line."""

from __future__ import annotations

import io

import numpy as np
import png
import pytest
import tifffile
from conftest import nearest_model, run_cli
from PIL import Image, ImageOps

from keras_srgan.errors import UserError
from keras_srgan.inference import image_io
from keras_srgan.inference.upscale import Upscaler


@pytest.fixture(scope="module")
def nearest():
    return Upscaler(nearest_model(), tile=0, precision="fp32", engine="tensorflow")


def gradient(height: int = 6, width: int = 300, channels: int = 3) -> np.ndarray:
    """A 16-bit image whose every row ramps through ~all 65536 values (thousands of distinct levels)."""
    ramp = np.linspace(0, 65535, width)
    planes = [ramp, ramp[::-1], 0.25 * 65535 + 0.5 * ramp, np.linspace(65535, 1000, width)][:channels]
    return np.rint(np.stack([np.tile(p, (height, 1)) for p in planes], axis=-1)).astype(np.uint16)


def write_png16(path, array: np.ndarray) -> None:
    """An independent 16-bit PNG writer (pypng directly, with its default filters)."""
    h, w, c = array.shape
    png.Writer(w, h, greyscale=c < 3, alpha=c in (2, 4), bitdepth=16).write(
        path.open("wb"), array.reshape(h, -1)
    )


def read_png16(path) -> np.ndarray:
    w, h, rows, meta = png.Reader(filename=str(path)).asDirect()
    assert meta["bitdepth"] == 16
    return np.array([np.asarray(r) for r in rows], np.uint16).reshape(h, w, meta["planes"])


def write_tiff16(path, array: np.ndarray, **kw) -> None:
    c = array.shape[2]
    tifffile.imwrite(
        path,
        array,
        photometric="rgb" if c >= 3 else "minisblack",
        extrasamples=("unassalpha",) if c in (2, 4) else None,
        **kw,
    )


def repeat4(array: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(array, 4, axis=0), 4, axis=1)


@pytest.mark.parametrize(
    "suffix, channels, kind",
    [(".png", 3, "rgb16"), (".png", 4, "rgba16"), (".png", 2, "graya16"), (".tif", 3, "rgb16"),
     (".tif", 4, "rgba16"), (".tif", 2, "graya16")],
)  # fmt: skip
def test_16bit_files_keep_every_level_through_the_model(nearest, tmp_path, suffix, channels, kind):
    """With the 4x4-repeat stand-in, the output must equal the repeated 16-bit input (+-1 for float32
    rounding): any 8-bit step on the way would be up to 128 levels off."""
    source = gradient(channels=channels)
    src = tmp_path / f"in{suffix}"
    (write_png16 if suffix == ".png" else write_tiff16)(src, source)
    assert image_io.read_image(src).kind == kind
    out = nearest.upscale_file(src, tmp_path / "out")
    assert out.suffix == suffix
    result = read_png16(out) if suffix == ".png" else tifffile.imread(out)
    assert result.dtype == np.uint16 and result.shape == (24, 1200, channels)
    colour = 3 if channels >= 3 else 1
    assert np.abs(result[..., :colour].astype(np.int64) - repeat4(source[..., :colour])).max() <= 1
    if channels in (2, 4):  # alpha: bicubic, which reproduces a linear ramp (the border pixels are clamped)
        centres = (np.arange(1200) + 0.5) / 4 - 0.5
        line = np.interp(centres, np.arange(300), source[0, :, -1].astype(float))
        assert np.abs(result[:, 8:-8, -1] - line[8:-8]).max() <= 2
    for c in range(channels):  # colour and alpha alike
        assert len(np.unique(result[:, :, c])) > 256


def test_16bit_rgb_png_and_gray_tiff_through_the_cli(capsys, tmp_path, tiny_weights):
    """The acceptance files with the real generator code (tiny model): 16-bit out with more than 256 levels,
    and within 1/255 of what the 8-bit path makes of the same picture rounded to 8 bits."""
    rgb, gray = gradient(), gradient(channels=1)
    write_png16(tmp_path / "rgb.png", rgb)
    write_tiff16(tmp_path / "gray.tif", gray)
    write_tiff16(tmp_path / "graya.tif", gradient(channels=2))
    Image.fromarray(np.rint(rgb / 257).astype(np.uint8)).save(tmp_path / "rgb8.png")
    out = tmp_path / "out"
    files = [tmp_path / n for n in ("rgb.png", "gray.tif", "graya.tif", "rgb8.png")]
    rc, _, err = run_cli(
        capsys, "upscale", *files, "-o", out, "--weights", tiny_weights, "--precision", "fp32"
    )
    assert rc == 0 and err == "", err
    deep = read_png16(out / "rgb.png")
    eight = np.asarray(Image.open(out / "rgb8.png"))
    assert (
        deep.shape == (24, 1200, 3) and [len(np.unique(deep[..., c])) > 256 for c in range(3)] == [True] * 3
    )
    assert np.abs(deep / 65535 - eight / 255).max() < 1 / 255  # measured 0.51/255 (the 8-bit input rounding)
    gray_out = tifffile.imread(out / "gray.tif")
    assert gray_out.dtype == np.uint16 and gray_out.shape == (24, 1200) and len(np.unique(gray_out)) > 256
    graya = tifffile.imread(out / "graya.tif")
    assert graya.dtype == np.uint16 and graya.shape == (24, 1200, 2) and len(np.unique(graya[..., 1])) > 256


def test_icc_profile_and_orientation_are_kept(nearest, tmp_path):
    profile = b"\0" * 128 + b"a fake but opaque ICC profile"
    source = gradient(height=3, width=5)
    write_tiff16(tmp_path / "rot.tif", source, iccprofile=profile, extratags=[(274, "H", 1, 6, True)])
    pixels = image_io.read_image(tmp_path / "rot.tif")
    assert pixels.array.shape == (5, 3, 3) and pixels.info["icc_profile"] == profile
    out = nearest.upscale_file(tmp_path / "rot.tif", tmp_path / "out")
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].tags[34675].value == profile
    out_png = image_io.write_atomic(
        image_io.to_image(pixels.array, "rgb16"), tmp_path / "p.png", "PNG", icc_profile=profile
    )
    assert Image.open(out_png).info["icc_profile"] == profile  # Pillow reads our iCCP chunk


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_matches_pillows_exif_transpose(orientation):
    array = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", exif=exif)
    buf.seek(0)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(buf)))
    np.testing.assert_array_equal(image_io.orient(array, orientation), expected)


def test_bad_16bit_files_are_one_error_line(capsys, tmp_path, tiny_weights):
    write_png16(tmp_path / "a.png", gradient())
    write_tiff16(tmp_path / "b.tif", gradient(channels=4))
    for name in ("a.png", "b.tif"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut-{name}").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    cut = [tmp_path / "cut-a.png", tmp_path / "cut-b.tif"]
    rc, _, err = run_cli(capsys, "upscale", *cut, "-o", out, "--weights", tiny_weights)
    lines = err.strip().splitlines()
    assert rc == 1 and len(lines) == 2 and "Traceback" not in err
    for path, line in zip(cut, lines, strict=True):
        assert line.startswith(f"error: {path}: truncated or corrupt image"), line
    assert not out.exists() or not any(out.iterdir())
    for name in ("a.png", "b.tif"):  # the size guard reads the header before decoding
        with pytest.raises(UserError, match="1,800 pixels is above the limit of 1,000"):
            image_io.read_image(tmp_path / name, max_pixels=1000)


def test_compressed_tiff_without_imagecodecs_falls_back_to_8_bit_with_a_warning(
    nearest, tmp_path, monkeypatch
):
    write_tiff16(tmp_path / "z.tif", gradient(), compression="zlib")  # deflate: tifffile decodes it alone
    assert image_io.read_image(tmp_path / "z.tif").kind == "rgb16"

    def needs_codec(self, *args, **kwargs):
        raise KeyError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", needs_codec)
    with pytest.warns(image_io.ImageReadWarning, match=r"needs imagecodecs .*keras-srgan\[tiff16\].*8-bit"):
        pixels = image_io.read_image(tmp_path / "z.tif")
    assert pixels.kind == "rgb" and pixels.array.dtype == np.uint8


def test_lzw_tiff_with_imagecodecs_stays_16_bit(tmp_path):
    pytest.importorskip("imagecodecs", reason="the tiff16 extra (imagecodecs) is not installed")
    write_tiff16(tmp_path / "lzw.tif", gradient(), compression="lzw")
    pixels = image_io.read_image(tmp_path / "lzw.tif")
    assert pixels.kind == "rgb16" and np.array_equal(pixels.array, gradient())

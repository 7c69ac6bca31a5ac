"""Any output size (issue 14, item 1): ``--outscale`` / ``--width`` / ``--height`` and their API twins."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import nearest_model, run_cli, smooth_image
from PIL import Image
from test_bad_inputs import make_corpus

from keras_srgan.errors import UserError
from keras_srgan.inference import resample
from keras_srgan.inference.upscale import Upscaler, upscale


@pytest.fixture(scope="module")
def nearest():
    return Upscaler(nearest_model(), tile=0, precision="fp32")


# (input w, h, request) -> expected (w, h), worked out by hand
SIZES = [
    ((7, 5, {}), (28, 20)),
    ((7, 5, {"outscale": 2}), (14, 10)),
    ((7, 5, {"outscale": 3.5}), (25, 18)),  # 24.5 -> 25, 17.5 -> 18: halves round up
    ((1, 1, {"outscale": 0.2}), (1, 1)),  # never below one pixel
    ((40, 48, {"width": 1000}), (1000, 1200)),
    ((7, 5, {"width": 10}), (10, 7)),  # 5 * 10 / 7 = 7.14
    ((7, 5, {"height": 3}), (4, 3)),  # 7 * 3 / 5 = 4.2
    ((100, 50, {"width": 300, "height": 300}), (300, 150)),  # fit inside: width is the tight side
    ((50, 100, {"width": 300, "height": 300}), (150, 300)),
    ((7, 5, {"width": 28, "height": 20}), (28, 20)),
]


@pytest.mark.parametrize("case, expected", SIZES)
def test_target_size(case, expected):
    w, h, request = case
    assert (
        resample.target_size(w, h, 4, request.get("outscale"), request.get("width"), request.get("height"))
        == expected
    )


@pytest.mark.parametrize(
    "request_, message",
    [
        ({"outscale": 0}, "outscale must be a number > 0"),
        ({"outscale": -2}, "outscale must be a number > 0"),
        ({"outscale": "abc"}, "outscale must be a number > 0"),
        ({"outscale": float("nan")}, "outscale must be a number > 0"),
        ({"width": 0}, "width must be a whole number of pixels > 0"),
        ({"height": -5}, "height must be a whole number of pixels > 0"),
        ({"width": 2.5}, "width must be a whole number"),
        ({"outscale": 2, "width": 10}, "either outscale or width/height"),
    ],
)
def test_bad_requests_are_one_clear_error(request_, message, tiny_generator):
    with pytest.raises(UserError, match=message):
        resample.check_output_size(**request_)
    with pytest.raises(UserError, match=message):
        upscale(np.zeros((4, 4, 3), np.uint8), weights=tiny_generator, **request_)


def test_outscale_4_is_bit_identical_and_not_resized(tiny_generator, monkeypatch):
    image = np.concatenate([smooth_image(9, 11), smooth_image(9, 11, seed=3)[:, :, :1]], axis=2)  # RGBA
    upscaler = Upscaler(tiny_generator, tile=0)
    plain = upscaler.upscale_array(image)
    monkeypatch.setattr(Image.Image, "resize", None)  # any call to Pillow's resize would now fail...
    monkeypatch.setattr(Upscaler, "_alpha", lambda self, a, size: plain[:, :, 3])  # ...except the x4 alpha
    for outscale, width, height in ((4, None, None), (None, 44, None), (None, None, 36), (None, 44, 36)):
        upscaler.outscale, upscaler.width, upscaler.height = outscale, width, height
        np.testing.assert_array_equal(upscaler.upscale_array(image), plain)


def test_downscale_is_antialiased(nearest):
    """A 1-pixel checkerboard at outscale 0.5: every output pixel averages 2x2 input pixels -> mid grey.
    Point sampling would give pure black or white."""
    board = (np.indices((16, 16)).sum(axis=0) % 2 * 255).astype(np.uint8)
    nearest.outscale = 0.5
    try:
        out = nearest.upscale_array(np.repeat(board[:, :, None], 3, axis=2))
    finally:
        nearest.outscale = None
    assert out.shape == (8, 8, 3)
    inner = out[1:-1, 1:-1].astype(int)  # the borders see Lanczos' edge handling
    assert np.abs(inner - 127.5).max() <= 3, inner[:, :, 0]


def test_resize_keeps_16_bit_precision():
    """A smooth 16-bit ramp resized keeps thousands of levels and stays within 2 levels of the exact line
    (the filter reproduces linear ramps); an 8-bit intermediate would be 128 levels off."""
    ramp = np.tile(np.linspace(0, 65535, 400), (4, 1))
    out = resample.resize(np.rint(ramp).astype(np.uint16), (200, 4))
    assert out.dtype == np.uint16 and len(np.unique(out)) > 190
    exact = np.linspace(0, 65535, 400).reshape(200, 2).mean(axis=1)  # area average of each pair of pixels
    assert np.abs(out[1, 4:-4].astype(float) - exact[4:-4]).max() < 2


def test_alpha_is_resized_to_the_same_size(tiny_generator):
    rgba = np.concatenate(
        [smooth_image(10, 12), np.tile(np.linspace(0, 255, 12), (10, 1))[:, :, None]], axis=2
    )
    out = upscale(rgba.astype(np.uint8), weights=tiny_generator, outscale=1.5)
    assert out.shape == (15, 18, 4)
    assert out[:, 0, 3].mean() < 40 and out[:, -1, 3].mean() > 215  # still the left-to-right ramp


def _mode_files(folder):
    """Odd sizes in every mode the upscaler keeps, beside the bad-input corpus's good files."""
    rgb = Image.fromarray(smooth_image(13, 7, seed=4))
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 7).astype(np.uint8), (13, 1))))
    rgb.convert("L").convert("LA").save(folder / "la.png")
    rgba.save(folder / "rgba.png")
    rgb.convert("P").save(folder / "pal.gif")
    rgb.convert("L").save(folder / "gray.png")
    return {"la.png": "LA", "rgba.png": "RGBA", "pal.png": "RGB", "gray.png": "L"}


@pytest.mark.parametrize("request_", [["--outscale", "2"], ["--outscale", "3.5"], ["--width", "1000"]])
def test_cli_sizes_on_the_odd_corpus_keep_alpha_and_modes(capsys, tmp_path, tiny_weights, request_):
    folder = tmp_path / "corpus"
    _, good = make_corpus(folder)
    modes = _mode_files(folder)
    out = tmp_path / "out"
    inputs = [folder / name for name in good] + [
        folder / n for n in ("la.png", "rgba.png", "pal.gif", "gray.png")
    ]
    rc, stdout, err = run_cli(capsys, "upscale", *inputs, "-o", out, "--weights", tiny_weights, *request_)
    assert rc == 0 and err == "", err
    flag, value = request_[0], float(request_[1])
    for path in inputs:
        with Image.open(path) as src:
            w, h = src.size
            src_mode = src.mode
        name = path.name if path.suffix != ".gif" else path.stem + ".png"
        with Image.open(out / name) as result:
            if flag == "--outscale":
                expected = (int(w * value + 0.5), int(h * value + 0.5))
            else:
                expected = (int(value), int(h * value / w + 0.5))
            assert result.size == expected, (name, result.size, expected)
            if name in modes:
                assert result.mode == modes[name], name
            if src_mode == "I;16":
                assert result.mode.startswith("I") and np.asarray(result).max() > 255
    assert f"wrote {len(inputs)} of {len(inputs)}" in stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--outscale", "0"], "outscale must be a number > 0, got 0"),
        (["--outscale", "-1.5"], "outscale must be a number > 0"),
        (["--outscale", "big"], "outscale must be a number > 0"),
        (["--width", "0"], "width must be a whole number of pixels > 0"),
        (["--height", "x"], "height must be a whole number"),
        (["--outscale", "2", "--width", "100"], "either outscale or width/height"),
    ],
)
def test_cli_bad_size_options_are_one_line(capsys, tmp_path, argv, message):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(4, 4)).save(src)
    rc, _, err = run_cli(capsys, "upscale", src, "-o", tmp_path / "out", *argv)
    assert rc == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_api_accepts_every_engine_name(tiny_generator):
    from keras_srgan.inference.engines import ENGINES

    image = smooth_image(5, 6)
    for engine in ENGINES:
        out = upscale(image, weights=tiny_generator, engine=engine, precision="fp32", width=30)
        assert out.shape == (25, 30, 3)

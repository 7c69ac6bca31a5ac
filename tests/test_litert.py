"""LiteRT phone files: the uint8 fixed-size interface, what XNNPACK runs, calibration data, frame tiling.

Tiny generators (1 conv, 8 filters) with per-channel PReLU slopes spread over [-0.2, 0.9] and a tail
scaled so the learned residual is large: what these tests check (op rewrites, rounding, seams) does not
depend on the model's size, and a near-identity model would hide quantization errors.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import REPO, shared_data, smooth_image

sys.path.insert(0, str(REPO / "benchmarks"))

PHONE = (16, 16)


def _spread(model, seed: int = 0):
    """Per-channel PReLU slopes in [-0.2, 0.9] and a tail x8 (a realistic residual), seeded."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.PReLU):
            layer.alpha.assign(rng.uniform(-0.2, 0.9, layer.alpha.shape).astype(np.float32))
    model.tail.kernel.assign(model.tail.kernel.numpy() * 8.0)
    return model


@pytest.fixture(scope="module")
def tiny_compact():
    import keras

    from keras_srgan.models import build_generator

    keras.utils.set_random_seed(1)
    return _spread(build_generator(arch="compact", num_convs=1, filters=8, upsampler="shuffle_blur"))


@pytest.fixture(scope="module")
def phone_files(tmp_path_factory, tiny_compact):
    """float32 and int8 phone files (uint8 RGB in/out, 16x16 -> 64x64) of the tiny compact generator."""
    from keras_srgan.exporters import tflite

    root = tmp_path_factory.mktemp("litert")
    files = {}
    for quant in ("none", "int8"):
        path = root / tflite.artifact_name(quant, PHONE, "uint8")
        path.write_bytes(tflite.convert(tiny_compact, quant, PHONE, calibration_samples=8, pixels="uint8"))
        files[quant] = path
    return files


def _keras_levels(model, lr_u8: np.ndarray) -> np.ndarray:
    """Keras' SR of a uint8 LR image as rounded uint8 levels (int32): what a phone file must return."""
    from keras_srgan.exporters.parity import keras_reference, to_uint8_levels
    from keras_srgan.pixels import to_unit

    return to_uint8_levels(keras_reference(model, to_unit(lr_u8)[None]))[0]


def _run(path, lr_u8: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner("predict_uint8")
    return runner(lr=lr_u8[None])["sr"][0]


# ------------------------------------------------------------------------------------- the phone file


def test_phone_signature_is_uint8_rgb_fixed_size(phone_files):
    from ai_edge_litert.interpreter import Interpreter

    for path in phone_files.values():
        interpreter = Interpreter(model_path=str(path))
        assert interpreter.get_signature_list() == {"predict_uint8": {"inputs": ["lr"], "outputs": ["sr"]}}
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        assert inp["dtype"] == np.uint8 and list(inp["shape_signature"]) == [1, 16, 16, 3]
        assert out["dtype"] == np.uint8 and list(out["shape_signature"]) == [1, 64, 64, 3]
        # the bytes are the pixels themselves: no quantization (float32), or [0, 1] in 255 steps (int8)
        for d in (inp, out):
            scale, zero = d["quantization"]
            assert zero == 0 and scale in (0.0, np.float32(1 / 255))


def test_phone_float32_file_matches_keras_rounded(phone_files, tiny_compact):
    # measured: identical (0 of 12288 values differ); 1 level allowed for a value within float
    # rounding of a .5 boundary on another CPU
    lr = smooth_image(*PHONE, seed=3)
    levels = np.abs(_run(phone_files["none"], lr).astype(np.int32) - _keras_levels(tiny_compact, lr))
    assert levels.max() <= 1
    assert np.mean(levels > 0) < 0.001


def test_phone_int8_file_matches_keras_within_quantization(phone_files, tiny_compact):
    # measured on this image: 47.27 dB against Keras rounded, max 5 levels
    from keras_srgan.exporters.parity import psnr

    lr = smooth_image(*PHONE, seed=3)
    sr = _run(phone_files["int8"], lr).astype(np.int32)
    ref = _keras_levels(tiny_compact, lr)
    assert psnr(sr / 255.0, ref / 255.0) >= 47.0
    assert np.abs(sr - ref).max() <= 6


def test_int8_phone_file_runs_whole_in_xnnpack(phone_files):
    """No op falls back to LiteRT's single-threaded kernels (the plain graph had PRELU, TILE,
    MIRROR_PAD, MINIMUM and RELU there) except the two uint8 <-> int8 requantizations at the ends."""
    from keras_srgan.exporters.tflite import delegation

    found = delegation(phone_files["int8"])
    assert found["partitions"] == 1
    assert set(found["fallback"]) <= {"QUANTIZE(uint8)", "QUANTIZE(int8)"}
    assert not {"PRELU(int8)", "TILE(int8)", "MIRROR_PAD(int8)", "MINIMUM(int8)"} & set(found["ops"])


def test_uint8_pixels_need_a_fixed_size(tiny_compact):
    from keras_srgan.errors import UserError
    from keras_srgan.exporters import tflite

    with pytest.raises(UserError, match="fixed input size"):
        tflite.convert(tiny_compact, "none", None, pixels="uint8")
    with pytest.raises(UserError, match="not dynamic"):
        tflite.convert(tiny_compact, "dynamic", PHONE, pixels="uint8")


# ---------------------------------------------------------------------------------------- calibration


def test_calibration_reads_the_training_images_when_present():
    t91, bsds = shared_data("T91"), shared_data("BSDS200")
    from keras_srgan.exporters import tflite

    source = tflite.calibration_source()
    assert source["source"] == "training images"
    assert source["folders"] == [str(t91), str(bsds)]
    assert all(p.parent in (t91, bsds) for p in source["files"])
    crops = tflite.calibration_crops(4, (24, 32), source=source)
    assert all(c.shape == (1, 24, 32, 3) and 0.0 <= c.min() and c.max() <= 1.0 for c in crops)


def test_calibration_crops_are_cut_from_the_lr_of_the_given_images(tmp_path):
    from PIL import Image

    from keras_srgan.exporters import tflite

    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(96, 128, seed=10 + i)).save(folder / f"{i}.png")
    source = tflite.calibration_source([folder])
    assert source["source"] == "training images" and len(source["files"]) == 2
    crops = tflite.calibration_crops(4, (8, 8), source=source)
    # each crop is a window of one image's bicubic /4 LR (computed here with Pillow directly)
    lrs = []
    for i in range(2):
        with Image.open(folder / f"{i}.png") as im:
            lrs.append(np.asarray(im.resize((32, 24), Image.BICUBIC), np.float32) / 255.0)
    for crop in crops:
        windows = [
            np.abs(lr[y : y + 8, x : x + 8] - crop[0]).max()
            for lr in lrs
            for y in range(24 - 7)
            for x in range(32 - 7)
        ]
        assert min(windows) < 1e-6


def test_calibration_falls_back_to_the_bundled_samples(tmp_path, monkeypatch):
    from keras_srgan.exporters import tflite

    monkeypatch.setenv("KERAS_SRGAN_DATA", str(tmp_path / "nothing-here"))
    source = tflite.calibration_source()
    assert source["source"] == "bundled samples"
    assert len(source["files"]) == len(tflite.CALIBRATION_IMAGES)


def test_calibration_folder_errors_are_one_line(tmp_path):
    from keras_srgan.errors import UserError
    from keras_srgan.exporters import tflite

    with pytest.raises(UserError, match="not found"):
        tflite.calibration_source([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        tflite.calibration_source([tmp_path / "empty"])


def test_export_records_the_calibration_source_in_the_manifest(tmp_path, tiny_compact):
    import json

    from PIL import Image

    from keras_srgan.exporters import export

    folder = tmp_path / "train"
    folder.mkdir()
    Image.fromarray(smooth_image(96, 128, seed=5)).save(folder / "a.png")
    out = tmp_path / "out"
    export(
        tiny_compact,
        "tflite",
        out,
        quantize=["int8"],
        phone_size=PHONE,
        calibration_samples=4,
        calibration_data=[folder],
    )
    listed = {e["path"]: e for e in json.loads((out / "manifest.json").read_text())["artifacts"]}
    assert set(listed) == {"tflite/srgan_int8.tflite", "tflite/srgan_int8_16x16_uint8.tflite"}
    for entry in listed.values():
        assert entry["calibration"]["source"] == "training images"
        assert entry["calibration"]["folders"] == [str(folder)]
        assert entry["calibration"]["crops"] == 4
    phone = listed["tflite/srgan_int8_16x16_uint8.tflite"]
    assert phone["pixels"] == "uint8"
    assert phone["inputs"][0]["dtype"] == "uint8" and phone["outputs"][0]["shape"] == [1, 64, 64, 3]
    assert phone["parity"]["max_abs_diff_levels"] is not None


# ---------------------------------------------------------------------------------------- frame tiling


@pytest.mark.parametrize("length", [16, 17, 40, 101])
def test_tile_spans_cover_the_axis_with_context(length):
    from litert_latency import tile_spans

    window, context = 16, 4
    spans = tile_spans(length, window, context)
    assert spans[0][1] == 0 and spans[-1][2] == length
    for (_, _, e0), (_, k1, _) in zip(spans, spans[1:], strict=False):
        assert e0 == k1  # kept parts are contiguous
    for start, keep0, keep1 in spans:
        assert 0 <= start and start + window <= max(length, window)
        assert keep0 == 0 or keep0 - start >= context
        assert keep1 == length or start + window - keep1 >= context


def test_tiled_frame_equals_an_untiled_keras_run(phone_files, tiny_compact):
    """The benchmark's tiling with the phone file vs Keras on the whole frame (independent computation).

    Overlap = the model's receptive radius (4 LR px here). Measured: 1 value of 63360 differs, by 1
    level (float rounding at a .5 boundary); with no overlap the seams differ by up to 126 levels.
    """
    from litert_latency import receptive_radius, upscale_tiled

    frame = smooth_image(30, 44, seed=7)  # 3 x 4 windows of 16x16
    tiled = upscale_tiled(
        lambda x: _run_batch(phone_files["none"], x), frame, PHONE, receptive_radius(tiny_compact)
    )
    levels = np.abs(tiled.astype(np.int32) - _keras_levels(tiny_compact, frame))
    assert tiled.shape == (120, 176, 3)
    assert levels.max() <= 1
    assert np.mean(levels > 0) < 1e-4


def test_tiling_with_too_little_overlap_shows_seams(phone_files, tiny_compact):
    """The check above can fail: without context the seams differ from the untiled run."""
    from litert_latency import upscale_tiled

    frame = smooth_image(30, 44, seed=7)
    tiled = upscale_tiled(lambda x: _run_batch(phone_files["none"], x), frame, PHONE, 0)
    assert np.abs(tiled.astype(np.int32) - _keras_levels(tiny_compact, frame)).max() > 10


_INTERPRETERS: dict = {}


def _run_batch(path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    if path not in _INTERPRETERS:
        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
        _INTERPRETERS[path] = interpreter
    interpreter = _INTERPRETERS[path]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_the_mobile_doc_example_runs_and_matches_keras(phone_files, tiny_compact):
    """docs/mobile.md's example, as written there (only the file name and context replaced), on a
    frame of 3 x 4 windows: the same bound as the benchmark's tiling (measured: 1 value off by 1)."""
    import re

    text = (REPO / "docs" / "mobile.md").read_text()
    code = re.search(r"## Example.*?```python\n(.*?)```", text, re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 20
    line = 'MODEL, CONTEXT, S = "srgan_int8_128x128_uint8.tflite", 15, 4'
    assert line in code
    code = code.replace(line, f"MODEL, CONTEXT, S = {str(phone_files['none'])!r}, 4, 4")
    namespace: dict = {}
    exec(compile(code, "docs/mobile.md", "exec"), namespace)  # noqa: S102 (our own doc's code)
    frame = smooth_image(30, 44, seed=7)
    levels = np.abs(namespace["upscale"](frame).astype(np.int32) - _keras_levels(tiny_compact, frame))
    assert levels.max() <= 1
    assert np.mean(levels > 0) < 1e-4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "tflite", "--phone-size", "12by3"], "--phone-size '12by3': expected HxW"),
        (["--format", "onnx", "--phone-size", "16x16"], "--phone-size applies to TFLite only"),
        (
            ["--format", "tflite", "--quantize", "int8", "--calibration-data", "no/such"],
            "calibration image folder not found",
        ),
    ],
)
def test_cli_phone_and_calibration_errors_are_one_line(tmp_path, capsys, tiny_weights, argv, message):
    from conftest import run_cli

    rc, _, err = run_cli(capsys, "export", "--weights", tiny_weights, "-o", tmp_path / "out", *argv)
    assert rc != 0
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

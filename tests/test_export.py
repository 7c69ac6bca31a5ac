"""Exports proven against Keras: SavedModel (TF Serving), TFLite/LiteRT, ONNX, OpenVINO IR, manifest, CLI.

One tiny-generator export of every format is shared by the whole module (conversion is the slow part).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import smooth_image

FIXED = (16, 20)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_generator):
    """Every format and quantization once, plus fixed-size TFLite/ONNX, from the tiny generator."""
    from keras_srgan.exporters import export
    from keras_srgan.weights import write_generator

    root = tmp_path_factory.mktemp("export")
    weights, _ = write_generator(tiny_generator, root / "generator")
    out = root / "out"
    entries = export(weights, "all", out, quantize="all", calibration_samples=8)
    entries += export(
        weights, ["tflite", "onnx"], out, quantize=["none", "int8"], input_size=FIXED, calibration_samples=8
    )
    return {"out": out, "weights": weights, "entries": entries}


def keras_sr(model, lr: np.ndarray) -> np.ndarray:
    from keras_srgan.exporters.parity import keras_reference

    return keras_reference(model, lr)


def lr_batch(h: int, w: int, n: int = 1, seed: int = 0) -> np.ndarray:
    return np.stack([smooth_image(h, w, seed=seed + i) for i in range(n)]).astype(np.float32) / 255.0


def by_path(exported) -> dict:
    return {e["path"]: e for e in exported["entries"]}


# --------------------------------------------------------------------------------------------- manifest


def test_manifest_lists_every_artifact_with_hash_and_parity(exported):
    from keras_srgan.exporters.manifest import sha256_file, sha256_tree
    from keras_srgan.exporters.parity import THRESHOLDS_DB

    out = exported["out"]
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {e["path"]: e for e in manifest["artifacts"]}
    assert set(listed) == {
        "savedmodel/1",
        "tflite/srgan_float32.tflite",
        "tflite/srgan_float16.tflite",
        "tflite/srgan_dynamic.tflite",
        "tflite/srgan_int8.tflite",
        "tflite/srgan_int16x8.tflite",
        "onnx/srgan.onnx",
        "openvino/srgan.xml",
        "tflite/srgan_float32_16x20.tflite",
        "tflite/srgan_int8_16x20.tflite",
        "onnx/srgan_16x20.onnx",
    }
    for path, entry in listed.items():
        target = out / path
        digest = sha256_tree(target) if target.is_dir() else sha256_file(target)
        assert entry["sha256"] == digest, path
        assert entry["size_bytes"] > 0
        assert entry["parity"]["psnr_db"] >= THRESHOLDS_DB[entry["quantization"]], path
        assert entry["parity"]["max_abs_diff"] is not None and entry["parity"]["max_abs_diff"] < 0.1
        assert entry["inputs"] and entry["outputs"]
        for tensor in entry["inputs"] + entry["outputs"]:
            assert {"name", "shape", "dtype"} <= set(tensor)
        assert entry["source"]["weights_sha256"]
        assert entry["transforms"] == ["fold_batchnorm", "subpixel_output"]
    assert listed["tflite/srgan_int8.tflite"]["quantization"] == "int8"
    assert listed["savedmodel/1"]["inputs"][0]["shape"] == [-1, -1, -1, 3]
    assert listed["onnx/srgan.onnx"]["inputs"][0]["shape"] == [-1, -1, -1, 3]
    assert listed["tflite/srgan_float32_16x20.tflite"]["inputs"][0]["shape"] == [1, 16, 20, 3]
    assert listed["savedmodel/1"]["parity"]["serving_default_png"]["max_abs_diff_levels"] <= 1
    # no temporary files left behind
    assert not [p for p in out.rglob(".tmp-*")]


def test_float32_artifacts_match_keras_at_50_db(exported):
    for entry in exported["entries"]:
        if entry["quantization"] == "none":
            assert entry["parity"]["psnr_db"] >= 50.0, entry["path"]


# ------------------------------------------------------------------------------------------- savedmodel


def test_saved_model_cli_lists_both_signatures_with_dynamic_dims(exported):
    result = subprocess.run(
        ["saved_model_cli", "show", "--all", "--dir", str(exported["out"] / "savedmodel" / "1")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert "signature_def['serving_default']" in text
    assert "signature_def['predict_float']" in text
    assert "shape: (-1, -1, -1, 3)" in text  # predict_float in and out
    assert "shape: (-1)" in text  # serving_default string in and out
    assert "sr_png_bytes" in text and "image_bytes" in text


LOAD_WITHOUT_PACKAGE = textwrap.dedent(
    """
    import io, json, sys
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    lr = np.load(sys.argv[2])
    results = {}
    for h, w in [(8, 12), (11, 7)]:
        out = loaded.signatures["predict_float"](lr=tf.constant(lr[:, :h, :w]))["sr"].numpy()
        np.save(sys.argv[3] + f"_{h}x{w}.npy", out)
        results[f"{h}x{w}"] = list(out.shape)
    png = tf.io.encode_png(tf.constant((lr[0, :8, :12] * 255).round().astype("uint8"))).numpy()
    sr_png = loaded.signatures["serving_default"](image_bytes=tf.constant([png]))["sr_png_bytes"].numpy()[0]
    results["png_shape"] = list(tf.io.decode_png(sr_png).shape)
    results["keras_srgan_imported"] = any(m.startswith("keras_srgan") for m in sys.modules)
    print(json.dumps(results))
    """
)


def test_savedmodel_runs_with_tensorflow_alone(exported, tiny_generator, tmp_path):
    lr = lr_batch(11, 12, n=2)
    np.save(tmp_path / "lr.npy", lr)
    script = tmp_path / "load.py"
    script.write_text(LOAD_WITHOUT_PACKAGE)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            str(exported["out"] / "savedmodel" / "1"),
            str(tmp_path / "lr.npy"),
            str(tmp_path / "sr"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["keras_srgan_imported"] is False
    assert report["8x12"] == [2, 32, 48, 3] and report["11x7"] == [2, 44, 28, 3]
    assert report["png_shape"] == [32, 48, 3]
    for h, w in [(8, 12), (11, 7)]:
        got = np.load(tmp_path / f"sr_{h}x{w}.npy")
        np.testing.assert_allclose(got, keras_sr(tiny_generator, lr[:, :h, :w]), atol=1e-5)


def test_rest_payload_through_serving_signature(exported, tiny_generator):
    """The exact REST body the helper builds, decoded as TF Serving would, through serving_default."""
    import io

    import tensorflow as tf
    from PIL import Image

    from keras_srgan.pixels import to_uint8
    from keras_srgan.serving import decode_rest_response, rest_payload

    png_img, jpg_img = smooth_image(9, 13, seed=3), smooth_image(12, 10, seed=4)
    buffers = []
    for img, fmt in ((png_img, "PNG"), (jpg_img, "JPEG")):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format=fmt)
        buffers.append(buf.getvalue())
    body = json.dumps(rest_payload(buffers))
    request = json.loads(body)
    assert request["signature_name"] == "serving_default"
    assert list(request["instances"][0]) == ["b64"]
    # What TF Serving does with {"instances": [{"b64": ...}]}: base64-decode into a string tensor [N].
    import base64

    strings = tf.constant([base64.b64decode(item["b64"]) for item in request["instances"]])
    loaded = tf.saved_model.load(str(exported["out"] / "savedmodel" / "1"))
    out = loaded.signatures["serving_default"](image_bytes=strings)["sr_png_bytes"].numpy()
    # ... and how it answers: outputs named *_bytes come back as {"b64": ...}.
    response = {"predictions": [{"b64": base64.b64encode(item).decode()} for item in out]}
    pngs = decode_rest_response(json.loads(json.dumps(response)))
    assert len(pngs) == 2
    sr_png = np.asarray(Image.open(io.BytesIO(pngs[0])))
    expected = to_uint8(keras_sr(tiny_generator, png_img[None].astype(np.float32) / 255.0)[0])
    assert sr_png.shape == (36, 52, 3)
    assert np.abs(sr_png.astype(int) - expected.astype(int)).max() <= 1
    sr_jpg = np.asarray(Image.open(io.BytesIO(pngs[1])))
    jpg_decoded = tf.io.decode_jpeg(buffers[1], channels=3).numpy()
    expected = to_uint8(keras_sr(tiny_generator, jpg_decoded[None].astype(np.float32) / 255.0)[0])
    assert sr_jpg.shape == (48, 40, 3)
    assert np.abs(sr_jpg.astype(int) - expected.astype(int)).max() <= 1


def test_new_export_gets_next_version_and_keeps_old(tmp_path, tiny_generator):
    from keras_srgan.exporters import export
    from keras_srgan.exporters.manifest import sha256_tree

    out = tmp_path / "out"
    first = export(tiny_generator, "savedmodel", out)
    digest_v1 = sha256_tree(out / "savedmodel" / "1")
    second = export(tiny_generator, "savedmodel", out)
    assert [first[0]["path"], second[0]["path"]] == ["savedmodel/1", "savedmodel/2"]
    assert second[0]["version"] == 2
    assert sha256_tree(out / "savedmodel" / "1") == digest_v1
    paths = [e["path"] for e in json.loads((out / "manifest.json").read_text())["artifacts"]]
    assert paths == ["savedmodel/1", "savedmodel/2"]


# ----------------------------------------------------------------------------------------------- tflite


@pytest.mark.parametrize("quant", ["float32", "float16", "dynamic", "int8"])
def test_tflite_dynamic_shapes_match_keras(exported, tiny_generator, quant):
    from ai_edge_litert.interpreter import Interpreter

    from keras_srgan.exporters.parity import THRESHOLDS_DB, psnr

    interpreter = Interpreter(model_path=str(exported["out"] / "tflite" / f"srgan_{quant}.tflite"))
    inp = interpreter.get_input_details()[0]
    assert list(inp["shape_signature"]) == [-1, -1, -1, 3]
    for h, w in [(10, 14), (17, 9)]:
        lr = lr_batch(h, w)
        interpreter.resize_tensor_input(inp["index"], list(lr.shape), strict=True)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], lr)
        interpreter.invoke()
        sr = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        assert sr.shape == (1, 4 * h, 4 * w, 3)
        assert np.isfinite(sr).all()
        key = "none" if quant == "float32" else quant
        assert psnr(sr, keras_sr(tiny_generator, lr)) >= THRESHOLDS_DB[key]


def test_tflite_quantized_files_really_are_quantized(exported):
    from ai_edge_litert.interpreter import Interpreter

    def dtypes(name):
        interpreter = Interpreter(model_path=str(exported["out"] / "tflite" / name))
        return {np.dtype(d["dtype"]).name for d in interpreter.get_tensor_details()}

    assert "float16" in dtypes("srgan_float16.tflite")
    assert "int8" in dtypes("srgan_dynamic.tflite")
    assert "int8" in dtypes("srgan_int8.tflite")
    assert "int16" in dtypes("srgan_int16x8.tflite")
    assert not {"int8", "float16"} & dtypes("srgan_float32.tflite")
    sizes = {
        q: (exported["out"] / "tflite" / f"srgan_{q}.tflite").stat().st_size for q in ("float32", "int8")
    }
    assert sizes["int8"] < sizes["float32"]


def test_tflite_fixed_input_size(exported, tiny_generator):
    from keras_srgan.errors import UserError
    from keras_srgan.exporters.parity import load_runner, psnr

    path = exported["out"] / "tflite" / "srgan_int8_16x20.tflite"
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(path)).get_input_details()[0]
    assert list(details["shape_signature"]) == [1, 16, 20, 3]
    run = load_runner("tflite", path)
    lr = lr_batch(*FIXED)
    sr = run(lr)
    assert sr.shape == (1, 64, 80, 3)
    assert psnr(sr, keras_sr(tiny_generator, lr)) >= 20
    with pytest.raises(UserError, match="fixed input shape"):
        run(lr_batch(8, 8))


def test_calibration_crops_are_lr_photo_crops():
    from keras_srgan.exporters.tflite import calibration_crops

    crops = calibration_crops(6, (24, 32))
    assert len(crops) == 6
    assert all(c.shape == (1, 24, 32, 3) and c.dtype == np.float32 for c in crops)
    assert all(0.0 <= c.min() and c.max() <= 1.0 for c in crops)
    assert np.std([c.mean() for c in crops]) > 0.01  # different images, not one crop repeated
    np.testing.assert_array_equal(crops[0], calibration_crops(6, (24, 32))[0])


# ------------------------------------------------------------------------------------------------- onnx


def test_onnx_runs_at_two_sizes_with_dynamic_dims(exported, tiny_generator):
    import onnx
    import onnxruntime as ort

    path = exported["out"] / "onnx" / "srgan.onnx"
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", "height", "width", 3]
    for n, h, w in [(1, 10, 14), (2, 13, 6)]:
        lr = lr_batch(h, w, n=n)
        sr = session.run(None, {session.get_inputs()[0].name: lr})[0]
        assert sr.shape == (n, 4 * h, 4 * w, 3)
        np.testing.assert_allclose(sr, keras_sr(tiny_generator, lr), atol=1e-5)


def test_exports_carry_the_transforms(exported):
    """Every artifact runs the transformed graph: no BatchNormalization left in the ONNX file."""
    import onnx

    ops = {node.op_type for node in onnx.load(str(exported["out"] / "onnx" / "srgan.onnx")).graph.node}
    assert "BatchNormalization" not in ops and "DepthToSpace" in ops


# --------------------------------------------------------------------------------------------- openvino


def test_openvino_ir_runs_at_two_sizes_in_openvino(exported, tiny_generator):
    import openvino as ov

    from keras_srgan.exporters.manifest import sha256_file

    xml = exported["out"] / "openvino" / "srgan.xml"
    entry = by_path(exported)["openvino/srgan.xml"]
    assert (
        entry["weights_sha256"] == sha256_file(xml.with_suffix(".bin"))
        and entry["weights_file"] == "srgan.bin"
    )
    assert entry["inputs"][0]["name"] == "lr" and entry["inputs"][0]["shape"] == [-1, -1, -1, 3]
    assert entry["outputs"][0]["name"] == "sr" and entry["outputs"][0]["dtype"] == "float32"
    assert entry["parity"]["bf16"]["psnr_db"] >= 40.0  # the CPU default's precision, informational
    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for n, h, w in [(1, 10, 14), (2, 13, 6)]:
        lr = lr_batch(h, w, n=n)
        sr = compiled({"lr": lr})["sr"]
        assert sr.shape == (n, 4 * h, 4 * w, 3)
        np.testing.assert_allclose(sr, keras_sr(tiny_generator, lr), atol=1e-5)


def test_openvino_fixed_size_and_cli(tmp_path, tiny_weights, capsys):
    from keras_srgan.cli import main

    out = tmp_path / "cli"
    assert (
        main(
            [
                "export",
                "--weights",
                str(tiny_weights),
                "--format",
                "openvino",
                "-o",
                str(out),
                "--input-size",
                "8x6",
            ]
        )
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    [entry] = manifest["artifacts"]
    assert entry["path"] == "openvino/srgan_8x6.xml" and entry["inputs"][0]["shape"] == [1, 8, 6, 3]
    assert sorted(p.name for p in (out / "openvino").iterdir()) == ["srgan_8x6.bin", "srgan_8x6.xml"]
    assert "dB vs Keras" in capsys.readouterr().out


# ------------------------------------------------------------------------------------- failure handling


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite", "openvino"])
def test_parity_failure_removes_the_artifact(exported, tmp_path, tiny_generator, monkeypatch, fmt):
    import shutil

    from keras_srgan.exporters import export, parity
    from keras_srgan.exporters.manifest import sha256_file

    out = tmp_path / "out"
    shutil.copytree(exported["out"], out)  # earlier good exports must survive untouched
    before = (out / "manifest.json").read_text()
    old_tflite = sha256_file(out / "tflite" / "srgan_float32.tflite")
    old_ir = [sha256_file(out / "openvino" / f"srgan.{ext}") for ext in ("xml", "bin")]
    monkeypatch.setattr(parity, "measure_artifact", lambda *a, **k: {"psnr_db": 12.5, "max_abs_diff": 0.4})
    with pytest.raises(parity.ParityError, match=r"12\.50 dB < 50 dB.*removed"):
        export(tiny_generator, fmt, out)
    assert sorted(p.name for p in (out / "savedmodel").iterdir()) == ["1"]
    assert sha256_file(out / "tflite" / "srgan_float32.tflite") == old_tflite
    assert [sha256_file(out / "openvino" / f"srgan.{ext}") for ext in ("xml", "bin")] == old_ir
    assert not list(out.rglob(".tmp-*"))
    assert (out / "manifest.json").read_text() == before


def test_broken_runtime_output_is_a_parity_failure(tmp_path, tiny_generator, monkeypatch):
    """A converter that 'succeeds' with a model that outputs NaN (the known TFLite trap) is rejected."""
    from keras_srgan.exporters import export, parity

    real = parity.load_runner

    def nan_runner(fmt, path, num_threads=None):
        run = real(fmt, path, num_threads)
        return lambda lr: run(lr) * np.nan

    monkeypatch.setattr(parity, "load_runner", nan_runner)
    with pytest.raises(parity.ParityError, match="0.00 dB"):
        export(tiny_generator, "tflite", tmp_path / "out")
    assert not list((tmp_path / "out" / "tflite").iterdir())


def test_missing_extra_names_the_pip_extra(tmp_path, tiny_generator, monkeypatch):
    from keras_srgan.errors import UserError
    from keras_srgan.exporters import export

    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(UserError, match=r"pip install keras-srgan\[onnx\]"):
        export(tiny_generator, "onnx", tmp_path / "out")
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(UserError, match=r"pip install keras-srgan\[litert\]"):
        export(tiny_generator, "tflite", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_psnr_edge_cases():
    from keras_srgan.exporters.parity import PSNR_CAP_DB, compare, psnr

    a = np.full((1, 4, 4, 3), 0.5, np.float32)
    assert psnr(a, a) == PSNR_CAP_DB
    assert psnr(a * np.nan, a) == 0.0
    assert abs(psnr(a + 0.01, a) - 40.0) < 1e-3
    assert compare(a[:, :2], a)["psnr_db"] == 0.0


# -------------------------------------------------------------------------------------------- CLI / API


def test_package_level_export_stays_callable():
    import keras_srgan
    import keras_srgan.exporters  # importing the export machinery must not shadow keras_srgan.export(...)

    assert callable(keras_srgan.export) and keras_srgan.export is keras_srgan.exporters.export


def test_cli_export_tflite(tmp_path, tiny_weights, capsys):
    from keras_srgan.cli import main

    out = tmp_path / "cli"
    code = main(
        [
            "export",
            "--weights",
            str(tiny_weights),
            "--format",
            "tflite",
            "-o",
            str(out),
            "--quantize",
            "dynamic",
        ]
    )
    assert code == 0
    assert (out / "tflite" / "srgan_dynamic.tflite").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["quantization"] for e in manifest["artifacts"]] == ["dynamic"]
    assert "dB vs Keras" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "tflite", "--input-size", "12by3"], "expected HxW"),
        (["--format", "savedmodel", "--quantize", "int8"], "TFLite only"),
        (["--format", "tflite", "--weights", "no/such.weights.h5"], "no such weights file"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, argv, message):
    from keras_srgan.cli import main

    code = main(["export", "-o", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not (tmp_path / "out" / "tflite").exists()


def test_parse_input_size():
    from keras_srgan.errors import UserError
    from keras_srgan.exporters import parse_input_size

    assert parse_input_size("128x96") == (128, 96)
    assert parse_input_size((5, 7)) == (5, 7)
    assert parse_input_size(None) is None
    with pytest.raises(UserError):
        parse_input_size("0x4")

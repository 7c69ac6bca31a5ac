"""The upscale API and the ``keras-srgan upscale`` command: sizes, kinds, batches, paths, atomic writes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, run_cli, smooth_image
from PIL import Image

from keras_srgan.errors import UserError
from keras_srgan.inference import openvino_engine
from keras_srgan.inference import upscale as upscale_module
from keras_srgan.inference.upscale import Upscaler, upscale


def leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".partial")]


@pytest.mark.parametrize(
    "shape", [(1, 1, 3), (7, 5, 3), (13, 1, 3), (9, 11), (5, 6, 1), (5, 6, 2), (6, 5, 4)]
)
def test_numpy_in_numpy_out_sizes(tiny_generator, shape):
    image = smooth_image(shape[0], shape[1], channels=3)
    image = image[:, :, 0] if len(shape) == 2 else np.concatenate([image] * 2, axis=2)[:, :, : shape[2]]
    out = upscale(image, weights=tiny_generator, tile=4, tile_overlap=4)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert out.shape == (shape[0] * 4, shape[1] * 4) + tuple(shape[2:])


def test_pil_in_pil_out_and_float_arrays(tiny_generator):
    img = Image.fromarray(smooth_image(10, 12)).convert("LA")
    out = upscale(img, weights=tiny_generator)
    assert isinstance(out, Image.Image) and out.mode == "LA" and out.size == (48, 40)
    floats = upscale(smooth_image(6, 7).astype(np.float32) / 255, weights=tiny_generator)
    assert (
        floats.dtype == np.float32 and floats.shape == (24, 28, 3) and 0 <= floats.min() <= floats.max() <= 1
    )


def test_api_rejects_bad_arguments(tiny_generator):
    with pytest.raises(UserError, match="expected"):
        upscale(np.zeros((4, 4, 5), np.uint8), weights=tiny_generator)


def test_repeated_calls_share_one_engine_and_never_change_it(tiny_generator, monkeypatch):
    from keras_srgan.inference import engines

    built = []
    real = engines.load_engine

    def counting(*args, **kwargs):
        built.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr(engines, "load_engine", counting)
    upscale_module._shared_upscaler.cache_clear()  # earlier tests may have made this one already
    image = smooth_image(9, 11)
    calls = [{"tile": 4, "tile_overlap": 4}, {"tile": 0}, {"outscale": 2.5}, {"tile": 4, "tile_overlap": 4}]
    outs = [upscale(image, tiny_generator, precision="fp32", engine="tensorflow", **c) for c in calls]
    assert len(built) == 1  # one model, one engine: only the tile and size differ per call
    # the keyword form is the same model, the same cached engine
    again = upscale(image, weights=tiny_generator, precision="fp32", engine="tensorflow")
    assert len(built) == 1
    upscale(image, tiny_generator, precision="bf16", engine="tensorflow")
    assert len(built) == 2
    for call, out in zip(calls, outs, strict=True):
        fresh = Upscaler(tiny_generator, precision="fp32", engine="tensorflow", **call).upscale_array(image)
        np.testing.assert_array_equal(out, fresh)
    assert outs[0].shape == (36, 44, 3) and outs[2].shape == (23, 28, 3)  # 22.5 rounds up
    np.testing.assert_array_equal(again, outs[1])


def test_from_weights_takes_weights_or_a_model(tiny_generator, tiny_weights):
    image = smooth_image(7, 6)
    by_model = Upscaler.from_weights(tiny_generator, tile=0, precision="fp32", engine="tensorflow")
    assert by_model.generator is tiny_generator
    by_file = Upscaler.from_weights(tiny_weights, tile=0, precision="fp32", engine="tensorflow")
    np.testing.assert_array_equal(by_model.upscale_array(image), by_file.upscale_array(image))


def test_hidden_files_in_folders_are_skipped(tmp_path):
    from keras_srgan.inference.batch import expand_inputs

    for name in ("a.png", ".tmp-1-b.png", ".c.png"):
        Image.fromarray(smooth_image(4, 4)).save(tmp_path / name, format="PNG")
    files, errors = expand_inputs([str(tmp_path), str(tmp_path / ".c.png")])
    assert [f.name for f in files] == ["a.png", ".c.png"] and errors == []  # named explicitly: attempted


def test_missing_default_weights_says_how_to_pass_them(capsys, tmp_path, monkeypatch):
    import keras_srgan.weights as weights

    empty = tmp_path / "no-shipped-weights"
    empty.mkdir()
    monkeypatch.setattr(weights, "WEIGHTS_DIR", empty)  # an install without the default weights file
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    rc, _, err = run_cli(capsys, "upscale", src, "-o", tmp_path / "out")
    assert rc == 2 and err.count("\n") == 1 and "--weights" in err and err.startswith("error: srresnet:")


def test_cli_parser_builds_without_numpy_or_tensorflow():
    # the defaults and choices it shows come from the import-free keras_srgan.defaults, not library imports
    code = (
        "import sys, keras_srgan.cli as c; h = c.build_parser().format_help(); "
        "print(sorted(m for m in ('numpy', 'tensorflow', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]


def test_mixed_batch_writes_good_files_and_fails(capsys, tmp_path, tiny_weights):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth_image(10, 12)).save(src / "good1.png")
    Image.fromarray(smooth_image(9, 7)).save(src / "good2.jpg")
    Image.fromarray(smooth_image(6, 6)).save(src / "good3.gif")
    (src / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (src / "readme.txt").write_text("not picked up from a folder")
    out = tmp_path / "out"
    rc, stdout, err = run_cli(capsys, "upscale", src, "-o", out, "--weights", tiny_weights, "--tile", "4")
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["good1.png", "good2.jpg", "good3.png"]
    with Image.open(out / "good2.jpg") as jpg:
        assert jpg.format == "JPEG" and jpg.size == (28, 36)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {src / 'bad.png'}: "), err
    assert "wrote 3 of 4" in stdout
    assert leftovers(out) == []


def test_globs_files_and_missing_inputs(capsys, tmp_path, tiny_weights):
    for i in range(3):
        Image.fromarray(smooth_image(5, 6, seed=i)).save(tmp_path / f"g{i}.png")
    out = tmp_path / "out"
    rc, _, err = run_cli(
        capsys,
        "upscale",
        tmp_path / "g*.png",
        tmp_path / "nope.png",
        tmp_path / "z*.png",
        "-o",
        out,
        "--weights",
        tiny_weights,
    )
    assert rc == 1 and sorted(p.name for p in out.iterdir()) == ["g0.png", "g1.png", "g2.png"]
    assert "nope.png: no such file" in err and "z*.png: no files match" in err and len(err.splitlines()) == 2


def test_outputs_stay_inside_out_dir(capsys, tmp_path, tiny_weights):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    Image.fromarray(smooth_image(5, 5)).save(deep / "..png", format="PNG")
    Image.fromarray(smooth_image(5, 5)).save(tmp_path / "a" / "x.png")
    out = tmp_path / "a" / "b" / "out"
    # "../x.png" relative to the working directory; "..png" has the stem "."
    cwd = os.getcwd()
    os.chdir(deep)
    try:
        rc, _, err = run_cli(capsys, "upscale", "../x.png", "..png", "-o", "out", "--weights", tiny_weights)
    finally:
        os.chdir(cwd)
    assert rc == 0, err
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 2 and "x.png" in written and all(name not in (".", "..") for name in written)
    assert all(p.resolve().parent == out.resolve() for p in out.iterdir())
    assert not (tmp_path / "a" / "x.png").read_bytes() == (out / "x.png").read_bytes()


def test_same_stems_do_not_overwrite_each_other(capsys, tmp_path, tiny_weights):
    for sub in ("p", "q"):
        (tmp_path / sub).mkdir()
        Image.fromarray(smooth_image(4, 4)).save(tmp_path / sub / "same.png")
    Image.fromarray(smooth_image(4, 4)).save(tmp_path / "p" / "same.gif")
    out = tmp_path / "out"
    rc, _, _ = run_cli(
        capsys, "upscale", tmp_path / "p", tmp_path / "q", "-o", out, "--weights", tiny_weights
    )
    assert rc == 0 and sorted(p.name for p in out.iterdir()) == ["same-2.png", "same-3.png", "same.png"]


def test_refuses_to_overwrite_its_input(capsys, tmp_path, tiny_weights):
    src = tmp_path / "self.png"
    Image.fromarray(smooth_image(4, 4)).save(src)
    before = src.read_bytes()
    rc, _, err = run_cli(capsys, "upscale", src, "-o", tmp_path, "--weights", tiny_weights)
    assert rc == 1 and "overwrite the input" in err and src.read_bytes() == before


def test_interrupted_write_leaves_no_file(tmp_path, tiny_generator, monkeypatch):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(6, 6)).save(src)
    out = tmp_path / "out"

    def boom(self, fp, format=None, **params):  # noqa: A002 - Pillow's own parameter name
        fp.write(b"half an image")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        Upscaler(tiny_generator).upscale_file(src, out)
    assert list(out.iterdir()) == []


def test_subprocess_bad_input_has_no_traceback(tmp_path, tiny_weights):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_srgan",
            "upscale",
            str(bad),
            "-o",
            str(tmp_path / "out"),
            "--weights",
            str(tiny_weights),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and errors[0].startswith(f"error: {bad}: ")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "broken.jpg").exists()


# ------------------------------------------------------------------------------------------ engines / start


WARM_START = """
import json, sys
import numpy as np
from keras_srgan.inference.upscale import Upscaler
up = Upscaler.from_weights(sys.argv[1], tile=0)
out = up.upscale_array(np.load(sys.argv[2]))
np.save(sys.argv[3], out)
print(json.dumps({"tensorflow": "tensorflow" in sys.modules, "engine": up.runner.name, "overlap": up.tile_overlap}))
"""


def test_second_process_runs_the_cached_ir_without_tensorflow(
    tmp_path, tiny_weights, tiny_generator, monkeypatch
):
    """A repeated upscale of the same weights file needs neither TensorFlow nor the Keras model."""
    import json

    pytest.importorskip("openvino")
    from keras_srgan.inference import engines

    if engines.has_gpu():
        pytest.skip("a GPU picks TensorFlow")
    cache = tmp_path / "cache"
    monkeypatch.setenv(engines.CACHE_ENV, str(cache))
    monkeypatch.delenv(engines.ENGINE_ENV, raising=False)
    image = smooth_image(14, 11)
    first = Upscaler.from_weights(tiny_weights, tile=0)  # this process: converts and records the IR
    assert first.runner.name == "openvino" and first.generator is not None
    expected = first.upscale_array(image)
    np.save(tmp_path / "in.npy", image)
    env = {**os.environ, engines.CACHE_ENV: str(cache)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            WARM_START,
            str(tiny_weights),
            str(tmp_path / "in.npy"),
            str(tmp_path / "out.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # the model's own receptive radius (2 blocks here, not the 16-block default) even without the Keras model
    expected_overlap = 4 + 2 * tiny_generator.num_blocks + 1 + 3
    assert first.tile_overlap == expected_overlap < 40
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "tensorflow": False,
        "engine": "openvino",
        "overlap": expected_overlap,
    }
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
    # changed weights (a new file content) never reuse the old IR
    from keras_srgan.weights import write_generator

    for v in first.generator.weights:
        if "gamma" in v.path:
            v.assign(v.numpy() * 1.5)
    write_generator(first.generator, tiny_weights.with_name("generator"))
    assert openvino_engine.openvino_from_file(tiny_weights) is None


def test_cli_engine_and_precision_options(capsys, tmp_path, tiny_weights, monkeypatch):
    from keras_srgan.inference import engines

    monkeypatch.setenv(engines.CACHE_ENV, str(tmp_path / "cache"))
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 9)).save(src)
    outs = {}
    for engine in ("tensorflow", "auto"):
        rc, stdout, err = run_cli(
            capsys,
            "upscale",
            src,
            "-o",
            tmp_path / engine,
            "--weights",
            tiny_weights,
            "--engine",
            engine,
            "--precision",
            "fp32",
        )
        assert rc == 0 and err == "" and "wrote 1 of 1" in stdout
        with Image.open(tmp_path / engine / "a.png") as im:
            outs[engine] = np.asarray(im).astype(np.int16)
    assert np.abs(outs["tensorflow"] - outs["auto"]).max() <= 1  # fp32 in both engines: rounding only
    monkeypatch.setenv(engines.ENGINE_ENV, "vulkan")
    rc, _, err = run_cli(capsys, "upscale", src, "-o", tmp_path / "bad", "--weights", tiny_weights)
    assert rc == 2 and err.count("\n") == 1 and "KERAS_SRGAN_ENGINE" in err


def test_upscaler_takes_weights_or_a_model_like_every_entry_point(tiny_generator, tiny_weights):
    image = smooth_image(9, 11)
    settings = {"precision": "fp32", "engine": "tensorflow", "tile": 0}
    from_file = Upscaler(str(tiny_weights), **settings)
    assert from_file.generator is not tiny_generator and from_file.generator.num_blocks == 2
    np.testing.assert_array_equal(
        from_file.upscale_array(image), Upscaler(tiny_generator, **settings).upscale_array(image)
    )
    with pytest.raises(UserError, match="no such weights file|unknown weights"):
        Upscaler("missing.weights.h5", **settings)

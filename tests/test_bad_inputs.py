"""Bad input everywhere (issue 6, items 6-7): a corpus of broken files made here, fed to train, evaluate,
upscale and the weights loader; and a property test of decode -> upscale -> encode.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import smooth_image
from PIL import Image

# ---------------------------------------------------------------- the corpus


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _huge_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A valid PNG header that declares a 3.6 gigapixel image, followed by a tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def make_corpus(folder: Path, size: tuple[int, int] = (40, 48)) -> tuple[dict[str, str], list[str]]:
    """Write bad files (name -> what is wrong) and usable ones (names) into ``folder``.

    Names are ``str`` (non-UTF-8 ones carry surrogate escapes, as ``os.listdir`` returns them).
    """
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    good_png = _png_bytes(smooth_image(h, w, seed=1))
    buf = io.BytesIO()
    Image.fromarray(smooth_image(h, w, seed=2)).save(buf, format="JPEG", quality=90)
    good_jpg = buf.getvalue()
    bad: dict[str, str] = {}

    def put(name: str, data: bytes, why: str | None) -> None:
        (folder / name).write_bytes(data)
        if why:
            bad[name] = why

    put("empty.png", b"", "empty")
    put("text.png", b"this is not an image\n" * 20, "non-image")
    put("truncated.png", good_png[: len(good_png) // 2], "truncated PNG")
    put("truncated.jpg", good_jpg[: len(good_jpg) // 2], "truncated JPEG")
    put("huge.png", _huge_png(), "huge declared size")
    buf = io.BytesIO()
    Image.fromarray(smooth_image(h, w, seed=3)).save(buf, format="TIFF")
    put(
        "tiff-named.png", buf.getvalue(), "TIFF data with a .png name (the training decoder cannot read TIFF)"
    )
    buf = io.BytesIO()
    Image.fromarray(smooth_image(h, w, seed=4)).convert("1").save(buf, format="BMP")
    put("onebit.bmp", buf.getvalue(), "1-bit BMP")
    os.symlink("loop.png", folder / "loop.png")
    bad["loop.png"] = "symlink loop"
    os.symlink("missing-target.png", folder / "dangling.png")
    bad["dangling.png"] = "dangling symlink"
    (folder / "folder.png").mkdir()
    bad["folder.png"] = "a folder named like an image"
    bad_name = os.fsdecode(b"broken-\xff\xfe.png")
    put(bad_name, b"\x89PNG\r\n\x1a\n" + b"\0" * 10, "non-UTF-8 name, corrupt data")
    if os.geteuid() != 0:
        put("unreadable.png", good_png, "unreadable (mode 000)")
        os.chmod(folder / "unreadable.png", 0)

    good = {
        "good.png": good_png,
        "good.jpg": good_jpg,
        "png-named.jpg": good_png,  # wrong extension, valid content: decoders sniff the format
        os.fsdecode(b"caf\xe9-latin1.png"): good_png,  # a non-UTF-8 (Latin-1) name
    }
    for name, data in good.items():
        (folder / name).write_bytes(data)
    sixteen = (smooth_image(h, w, seed=5, channels=1)[..., 0].astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(sixteen).save(folder / "gray16.png")
    return bad, [*good, "gray16.png"]


@pytest.fixture
def corpus(tmp_path):
    bad, good = make_corpus(tmp_path / "corpus")
    return tmp_path / "corpus", bad, good


# ---------------------------------------------------------------- train


def test_scan_skips_each_bad_file_with_one_warning(corpus):
    from keras_srgan.data.images import scan_images

    folder, bad, good = corpus
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = scan_images([folder], min_size=24)
    assert sorted(Path(r.path).name for r in records) == sorted(good)
    messages = [str(w.message) for w in caught]
    for name in bad:
        hits = [m for m in messages if m.startswith(f"skipping {folder / name}: ")]
        assert len(hits) == 1, (name, messages)
    assert len(messages) == len(bad), messages  # one each, nothing else (no Pillow bomb warning)


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: a mode-000 file is still readable")
def test_unreadable_file_is_skipped(corpus):
    from keras_srgan.data.images import scan_images

    folder, bad, _ = corpus
    assert "unreadable.png" in bad
    with pytest.warns(UserWarning, match="unreadable.png"):
        scan_images([folder], min_size=24)


def test_every_accepted_file_decodes_in_the_training_pipeline(corpus):
    import tensorflow as tf

    from keras_srgan.data.images import scan_images
    from keras_srgan.data.pipeline import _path_bytes, decode_rgb, train_dataset

    folder, _, good = corpus
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = scan_images([folder], min_size=24)
    for path in _path_bytes(records):  # the exact decoder the pipeline maps over every file
        image = decode_rgb(tf.constant(path))
        assert image.shape[-1] == 3 and image.dtype == tf.uint8
    batch = next(iter(train_dataset([folder], patch_size=24, batch_size=len(good), records=records)))
    assert batch.shape == (len(good), 24, 24, 3)


def test_train_on_corpus_runs_and_all_bad_folder_fails_before_training(corpus, tmp_path):
    from keras_srgan.errors import UserError
    from keras_srgan.train.trainer import fit

    folder, bad, good = corpus
    tiny = dict(batch_size=2, patch_size=24, num_blocks=2, filters=8, image_every=1000, log_every=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(data=[str(folder)], out=str(tmp_path / "run"), steps=2, **tiny)
    assert result.final_step == 2 and result.generator_weights.exists()
    assert sum("skipping" in str(w.message) for w in caught) == len(bad)

    only_bad = tmp_path / "only-bad"
    make_corpus(only_bad)
    for name in good:
        (only_bad / name).unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserError, match="no usable training images"):
            fit(data=[str(only_bad)], out=str(tmp_path / "run2"), steps=2, **tiny)
    assert not (tmp_path / "run2").exists()  # stopped before anything was created


# ---------------------------------------------------------------- evaluate


def test_evaluate_reports_and_excludes_bad_files(corpus, tmp_path):
    from keras_srgan.evaluation import evaluate

    folder, bad, good = corpus
    report = evaluate([folder], bicubic=True, json_path=tmp_path / "report.json", progress=False)
    result = json.loads((tmp_path / "report.json").read_text())["sets"]["corpus"]
    # a link loop, a dangling link and a folder named like an image are reported too; Pillow measures the
    # TIFF and the 1-bit BMP; evaluate supports 8-bit images only, so the 16-bit PNG is reported as well
    unreadable = [n for n in bad if n not in ("tiff-named.png", "onebit.bmp")]
    expected_failed = [*unreadable, "gray16.png"]
    reasons = list(result["failed"].values())
    for name in expected_failed:
        assert sum(r.startswith(f"{folder / name}: ") for r in reasons) == 1, (name, reasons)
    assert len(reasons) == len(expected_failed)
    assert result["count"] == len(result["images"]) == len(good) - 1 + 2
    psnrs = [v["psnr"] for v in report["sets"]["corpus"]["images"].values()]
    assert report["sets"]["corpus"]["psnr"] == pytest.approx(float(np.mean(psnrs)))


# ---------------------------------------------------------------- upscale


def test_upscale_reports_each_bad_file_and_writes_nothing_partial(corpus, tmp_path, tiny_generator):
    from keras_srgan.inference.batch import upscale_files
    from keras_srgan.inference.upscale import Upscaler

    folder, bad, good = corpus
    out = tmp_path / "out"
    inputs = [str(folder / name) for name in [*bad, *good]]
    written, errors, _ = upscale_files(inputs, out, lambda: Upscaler(tiny_generator), show_progress=False)
    assert len(written) + len(errors) == len(inputs), errors
    assert len(written) >= len(good)
    for name in (
        "empty.png",
        "text.png",
        "truncated.png",
        "truncated.jpg",
        "huge.png",
        "dangling.png",
        "folder.png",
    ):
        assert sum(line.startswith(f"{folder / name}: ") for line in errors) == 1, (name, errors)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary/partial files
    for path in written:
        with Image.open(path) as img:
            img.load()


def test_upscale_symlink_loop_is_an_error_line(corpus, tmp_path, tiny_generator):
    from keras_srgan.inference.batch import upscale_files
    from keras_srgan.inference.upscale import Upscaler

    folder, _, _ = corpus
    written, errors, _ = upscale_files(
        [str(folder / "loop.png"), str(folder / "good.png")],
        tmp_path / "out",
        lambda: Upscaler(tiny_generator),
    )
    assert len(written) == 1 and len(errors) == 1 and "loop.png" in errors[0]


# ---------------------------------------------------------------- weights


def _write_tiny(tmp_path, tiny_generator, stem: str = "gen") -> Path:
    from keras_srgan.weights import write_generator

    weights, _ = write_generator(tiny_generator, tmp_path / stem)
    return weights


@pytest.mark.parametrize("damage", ["text", "truncated", "empty"])
def test_broken_weights_file_is_a_clear_error(tmp_path, tiny_generator, damage):
    from keras_srgan.weights import WeightsError, load_generator

    path = _write_tiny(tmp_path, tiny_generator)
    raw = path.read_bytes()
    path.write_bytes({"text": b"not hdf5 at all\n", "truncated": raw[: len(raw) // 2], "empty": b""}[damage])
    with pytest.raises(WeightsError) as info:
        load_generator(path)
    assert str(path) in str(info.value) and "cannot load" in str(info.value)


def test_weights_for_another_architecture_is_a_clear_error(tmp_path, tiny_generator):
    from keras_srgan.weights import WeightsError, load_generator

    path = _write_tiny(tmp_path, tiny_generator)
    meta = path.with_name("gen.json")
    config = json.loads(meta.read_text())
    config["config"]["num_blocks"] = 3  # the file holds 2 blocks
    meta.write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="gen.weights.h5: cannot load"):
        load_generator(path)


def test_tampered_shipped_weights_fail_the_sha256_check(tmp_path, tiny_generator, monkeypatch):
    from keras_srgan import weights as weights_module

    path = weights_module.write_preset(tiny_generator, tmp_path / "fakeship") / "model.weights.h5"
    meta = json.loads(path.with_name("metadata.json").read_text())
    assert meta["sha256"] == weights_module.sha256_of(path)
    monkeypatch.setattr(weights_module, "WEIGHTS_DIR", tmp_path)
    assert "fakeship" in weights_module.shipped_weights()
    assert weights_module.load_generator("fakeship").count_params() == tiny_generator.count_params()

    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one flipped bit
    path.write_bytes(bytes(raw))
    with pytest.raises(weights_module.WeightsError, match="SHA-256 mismatch") as info:
        weights_module.load_generator("fakeship")
    assert str(path) in str(info.value)
    path.write_bytes(bytes(raw[:-100]))  # truncated: also a mismatch, caught before h5py reads it
    with pytest.raises(weights_module.WeightsError, match="SHA-256 mismatch"):
        weights_module.load_generator("fakeship")


def test_keras_files_load_with_safe_mode(tmp_path, tiny_generator):
    """A ``.keras`` archive with a Python lambda (arbitrary code) is refused; a plain one loads."""
    import keras

    from keras_srgan.weights import WeightsError, load_generator

    good = tmp_path / "gen.keras"
    tiny_generator.save(good)
    assert load_generator(good).count_params() == tiny_generator.count_params()

    inputs = keras.Input((None, None, 3))
    evil = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    evil_path = tmp_path / "evil.keras"
    evil.save(evil_path)
    with pytest.raises(WeightsError, match="evil.keras: cannot load .keras model"):
        load_generator(evil_path)
    (tmp_path / "junk.keras").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(WeightsError, match="junk.keras"):
        load_generator(tmp_path / "junk.keras")


def test_nothing_in_the_package_unpickles():
    """No pickle, no ``allow_pickle=True``, no ``safe_mode=False`` anywhere in the package source."""
    package = Path(__file__).resolve().parents[1] / "keras_srgan"
    offenders = []
    for source in package.rglob("*.py"):
        text = source.read_text()
        for needle in (
            "import pickle",
            "pickle.load",
            "allow_pickle=True",
            "safe_mode=False",
            "torch.load",
            "dill",
        ):
            if needle in text:
                offenders.append(f"{source.relative_to(package)}: {needle}")
    assert not offenders


# ---------------------------------------------------------------- property test: decode -> upscale -> encode

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MODES = ["RGB", "RGBA", "L", "LA", "P", "1", "I;16", "CMYK"]
FORMATS = {
    "PNG": ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"],
    "JPEG": ["RGB", "L", "CMYK"],
    "BMP": ["RGB", "L", "P", "1"],
}


@st.composite
def encoded_images(draw):
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**16))
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    if mode == "I;16":
        img = Image.fromarray((np.asarray(img.convert("L")).astype(np.uint16) * 257).astype(np.uint16))
    elif mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    elif mode != "RGB":
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return fmt, mode, (width, height), buf.getvalue()


@pytest.fixture(scope="module")
def tiny_upscaler():
    from keras_srgan.inference.upscale import Upscaler
    from keras_srgan.models import build_generator

    return Upscaler(build_generator(scale=4, num_blocks=1, filters=4), tile=16, tile_overlap=4)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(encoded_images())
def test_decode_upscale_encode_never_crashes_and_scales_by_4(tmp_path_factory, tiny_upscaler, case):
    fmt, mode, (width, height), data = case
    folder = tmp_path_factory.mktemp("prop")
    source = folder / f"in.{fmt.lower()}"
    source.write_bytes(data)
    out = tiny_upscaler.upscale_file(source, folder / "out")
    with Image.open(out) as result:
        result.load()
        assert result.size == (4 * width, 4 * height), (fmt, mode)

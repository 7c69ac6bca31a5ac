"""evaluate(): protocol pipeline, JSON report, bad files, grayscale rule, CLI; bicubic Set5 vs the papers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import shared_data, smooth_image
from PIL import Image

from keras_srgan.errors import UserError
from keras_srgan.evaluation import evaluate
from keras_srgan.metrics import grid_groups, niqe, psnr, ssim

METRICS = {"psnr", "ssim", "niqe", "grid", "grid_period2", "grid_period4", "blockiness"}


def _independent_bicubic_lr(hr: np.ndarray, scale: int = 4) -> np.ndarray:
    """LR in [0, 1] as the protocol makes it, written out without the evaluation module."""
    import tensorflow as tf

    h, w = hr.shape[:2]
    hr = hr[: h - h % scale, : w - w % scale].astype(np.float32) / 255
    lr = tf.image.resize(hr[None], (hr.shape[0] // scale, hr.shape[1] // scale), "bicubic", antialias=True)
    return (np.clip(np.round(lr.numpy()[0] * 255), 0, 255) / 255).astype(np.float32)


def _independent_bicubic(hr: np.ndarray, scale: int = 4) -> np.ndarray:
    """Bicubic SR (uint8) under the protocol, written out step by step."""
    import tensorflow as tf

    lr = _independent_bicubic_lr(hr, scale)
    size = (lr.shape[0] * scale, lr.shape[1] * scale)
    sr = tf.image.resize(lr[None], size, "bicubic").numpy()[0]
    return np.clip(np.round(sr * 255), 0, 255).astype(np.uint8)


def _check_schema(report: dict) -> None:
    assert set(report) >= {"protocol", "method", "sets"}
    assert report["protocol"]["scale"] == 4 and report["protocol"]["crop_border"] == 4
    assert isinstance(report["protocol"]["statement"], str)
    assert "NIQE" in report["protocol"]["perceptual"] and "grid" in report["protocol"]["perceptual"]
    for result in report["sets"].values():
        assert set(result) >= METRICS | {"count", "images", "failed"}
        assert result["count"] == len(result["images"])
        for values in result["images"].values():
            assert set(values) == METRICS
        for key in METRICS:  # a set's value: the mean over its images that have one
            defined = [v[key] for v in result["images"].values() if v[key] is not None]
            assert result[key] == (pytest.approx(np.mean(defined)) if defined else None)


def test_bicubic_matches_the_protocol_written_out(image_folder, tmp_path):
    json_path = tmp_path / "out" / "results.json"
    report = evaluate([image_folder], bicubic=True, json_path=json_path, progress=False)
    _check_schema(report)
    result = report["sets"]["images"]
    assert report["method"] == "bicubic" and result["count"] == 5 and result["failed"] == {}
    hr = np.asarray(Image.open(image_folder / "img2.png"))
    sr = _independent_bicubic(hr)
    assert result["images"]["img2"]["psnr"] == pytest.approx(psnr(sr, hr, 4), abs=1e-9)
    assert result["images"]["img2"]["ssim"] == pytest.approx(ssim(sr, hr, 4), abs=1e-9)
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(report))
    assert [p.name for p in json_path.parent.iterdir()] == ["results.json"]  # no temp file left behind


def test_generator_from_weights_file_and_saved_images(image_folder, tiny_weights, tiny_generator, tmp_path):
    report = evaluate(image_folder, weights=tiny_weights, save_images=tmp_path / "sr", progress=False)
    _check_schema(report)
    result = report["sets"]["images"]
    assert result["count"] == 5 and all(math.isfinite(v["psnr"]) for v in result["images"].values())
    saved = sorted((tmp_path / "sr" / "images").glob("*.png"))
    assert [p.stem for p in saved] == [f"img{i}" for i in range(5)]
    assert Image.open(saved[0]).size == (80, 64)
    # A built model gives the same numbers as its weights file.
    again = evaluate(image_folder, weights=tiny_generator, progress=False)
    assert again["sets"]["images"]["psnr"] == pytest.approx(result["psnr"], abs=1e-6)


def test_bad_and_too_small_files_are_listed_and_excluded(image_folder):
    (image_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    data = (image_folder / "img0.png").read_bytes()
    (image_folder / "truncated.png").write_bytes(data[: len(data) // 2])
    Image.fromarray(smooth_image(12, 40)).save(image_folder / "tiny.png")
    (image_folder / "notes.txt").write_text("not an image, ignored")
    report = evaluate(image_folder, bicubic=True, progress=False)
    result = report["sets"]["images"]
    assert sorted(result["failed"]) == ["broken", "tiny", "truncated"]
    assert "broken.png" in result["failed"]["broken"] and "too small" in result["failed"]["tiny"]
    assert result["count"] == 5 and sorted(result["images"]) == [f"img{i}" for i in range(5)]
    _check_schema(report)


def test_gray_image_measured_as_gray(tmp_path, tiny_generator):
    folder = tmp_path / "gray"
    folder.mkdir()
    gray = smooth_image(66, 70, seed=4, channels=1)[..., 0]  # 66x70 -> cropped to 64x68
    Image.fromarray(gray, mode="L").save(folder / "g.png")
    report = evaluate(folder, bicubic=True, progress=False)
    hr = gray[:64, :68]
    sr = _independent_bicubic(np.repeat(gray[..., None], 3, -1))[..., 0]
    assert report["sets"]["gray"]["images"]["g"]["psnr"] == pytest.approx(psnr(sr, hr, 4), abs=1e-9)
    # Model path: gray HR in as R = G = B, RGB output back to gray with BT.601 luma, then gray PSNR.
    from keras_srgan.inference.engines import Predictor
    from keras_srgan.metrics import rgb_to_gray
    from keras_srgan.pixels import to_uint8

    lr = _independent_bicubic_lr(np.repeat(gray[..., None], 3, -1))
    model_sr = rgb_to_gray(to_uint8(Predictor(tiny_generator)(lr)))
    model_report = evaluate(folder, weights=tiny_generator, progress=False)
    assert model_report["sets"]["gray"]["images"]["g"]["psnr"] == pytest.approx(
        psnr(model_sr, hr, 4), abs=1e-9
    )


def test_niqe_and_grid_of_the_sr_output(tmp_path, image_folder, capsys):
    from keras_srgan.cli import main

    folder = tmp_path / "big"
    folder.mkdir()
    big = smooth_image(122, 130, seed=5)  # cropped to 120x128: 112x120 after the border, one NIQE block
    Image.fromarray(big).save(folder / "big.png")
    report = evaluate([folder, image_folder], bicubic=True, json_path=tmp_path / "r.json", progress=False)
    _check_schema(report)
    sr = _independent_bicubic(big)
    values = report["sets"]["big"]["images"]["big"]
    assert values["niqe"] == niqe(sr, 4)
    groups = grid_groups(sr, 4)
    assert values["grid"] == groups["grid"]
    assert (values["grid_period2"], values["grid_period4"]) == (groups["period2"], groups["period4"])
    # 64x80 images leave 56x72 after the border: no 96x96 NIQE block, but a grid score.
    small = report["sets"]["images"]
    assert small["niqe"] is None and all(v["niqe"] is None for v in small["images"].values())
    assert small["grid"] == pytest.approx(np.mean([v["grid"] for v in small["images"].values()]))
    saved = json.loads((tmp_path / "r.json").read_text())["sets"]
    assert saved["big"]["niqe"] == values["niqe"] and saved["images"]["niqe"] is None

    assert main(["evaluate", "--bicubic", "--data", str(folder), str(image_folder), "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("perceptual: no-reference")
    header = next(line for line in out if line.startswith("set "))
    assert header.split()[-3:] == ["NIQE", "grid", "blocks"]
    row = next(line for line in out if line.startswith("big "))
    assert row.split()[-3:] == [
        f"{values['niqe']:.2f}",
        f"{values['grid']:.2f}",
        f"{values['blockiness']:.2f}",
    ]
    assert "images: NIQE not defined for 5 of 5 image(s)" in "\n".join(out)


def test_hr_measures_the_ground_truth_itself(tmp_path, capsys):
    from keras_srgan.cli import main

    folder = tmp_path / "hr"
    folder.mkdir()
    image = smooth_image(111, 105, seed=6)  # cropped to 108x104
    Image.fromarray(image).save(folder / "a.png")
    report = evaluate(folder, hr=True, progress=False)
    _check_schema(report)
    values = report["sets"]["hr"]["images"]["a"]
    assert values["psnr"] is None and values["ssim"] is None
    hr = image[:108, :104]
    assert values["niqe"] == niqe(hr, 4) and values["grid"] == grid_groups(hr, 4)["grid"]
    assert report["method"].startswith("HR")
    with pytest.raises(UserError, match="without weights or bicubic"):
        evaluate(folder, hr=True, bicubic=True)
    assert main(["evaluate", "--hr", "--data", str(folder), "--no-progress"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("hr "))
    assert row.split()[1:4] == ["1", "-", "-"]
    with pytest.raises(SystemExit):  # argparse: --hr and --bicubic are exclusive
        main(["evaluate", "--hr", "--bicubic", "--data", str(folder)])
    assert "not allowed with argument --hr" in capsys.readouterr().err


def test_identical_images_inf_psnr_written_as_string(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    Image.fromarray(np.full((40, 40, 3), 77, np.uint8)).save(folder / "flat.png")
    report = evaluate(folder, bicubic=True, json_path=tmp_path / "r.json", progress=False)
    assert report["sets"]["flat"]["images"]["flat"]["psnr"] == math.inf
    assert json.loads((tmp_path / "r.json").read_text())["sets"]["flat"]["psnr"] == "inf"


def test_user_errors(tmp_path, image_folder, tiny_generator):
    with pytest.raises(UserError, match="no such folder"):
        evaluate(tmp_path / "missing", bicubic=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no image files"):
        evaluate(tmp_path / "empty", bicubic=True)
    with pytest.raises(UserError, match="not both"):
        evaluate(image_folder, weights="x.weights.h5", bicubic=True)
    with pytest.raises(UserError, match="x4"):
        evaluate(image_folder, weights=tiny_generator, scale=2, progress=False)
    with pytest.raises(UserError, match="nothing.weights.h5"):
        evaluate(image_folder, weights=str(tmp_path / "nothing.weights.h5"), progress=False)


def test_cli_evaluate_and_list_weights(image_folder, tmp_path, capsys):
    from keras_srgan.cli import main

    json_path = tmp_path / "r.json"
    code = main(
        ["evaluate", "--bicubic", "--data", str(image_folder), "--json", str(json_path), "--no-progress"]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith("protocol: x4")
    row = next(line for line in out if line.startswith("images "))
    report = json.loads(json_path.read_text())
    assert f"{report['sets']['images']['psnr']:.2f}" in row.split()
    assert main(["evaluate", "--bicubic", "--data", str(image_folder), "--per-image", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert all(f"  img{i} " in out for i in range(5))
    assert main(["evaluate", "--bicubic", "--data", str(tmp_path / "nope")]) == 2
    assert "error:" in capsys.readouterr().err
    from keras_srgan.weights import shipped_weights

    assert main(["list-weights"]) == 0
    out = capsys.readouterr().out
    shipped = shipped_weights()
    if not shipped:
        assert "No weights are shipped" in out
    for name, meta in shipped.items():
        assert name in out and meta["sha256"][:12] in out


def test_list_weights_shows_provenance_and_load_checks_the_hash(
    tmp_path, monkeypatch, capsys, tiny_generator
):
    import keras_srgan.weights as weights
    from keras_srgan.cli import main

    weights_path = weights.write_preset(
        tiny_generator, tmp_path / "tiny", extra={"stage": "pretrain", "content_loss": "mse",
                                                  "trained_on": ["T91", "BSDS200"], "steps": 7, "note": "a test",
                                                  "initialised_from": {"weights": "base", "sha256": "ab" * 32},
                                                  "interpolation": {"psnr_weights": "base", "sha256": "cd" * 32,
                                                                    "gan_weight": 0.75}}
    ) / "model.weights.h5"  # fmt: skip
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    assert main(["list-weights"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "pretrain (mse)" in out and "T91 + BSDS200" in out and "tiny: a test" in out
    assert "tiny: initialised from base (sha256 abababababab)" in out
    assert "tiny: network interpolation, 0.75 x its GAN run + 0.25 x base (sha256 cdcdcdcdcdcd)" in out
    assert weights.load_generator("tiny").count_params() == tiny_generator.count_params()
    data = bytearray(weights_path.read_bytes())
    data[-100] ^= 0xFF
    weights_path.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match="SHA-256 mismatch"):
        weights.load_generator("tiny")


def test_name_clashes_keep_every_set_and_image(tmp_path):
    dirs = [tmp_path / "a" / "Set", tmp_path / "b" / "Set"]
    for d in dirs:
        d.mkdir(parents=True)
        Image.fromarray(smooth_image(32, 32)).save(d / "x.png")
    Image.fromarray(smooth_image(32, 32, seed=1)).save(dirs[0] / "x.bmp")
    report = evaluate(dirs, bicubic=True, progress=False)
    assert sorted(report["sets"]) == sorted(str(d) for d in dirs)
    assert sorted(report["sets"][str(dirs[0])]["images"]) == ["x.bmp", "x.png"]
    assert list(report["sets"][str(dirs[1])]["images"]) == ["x"]


@pytest.mark.data
def test_bicubic_set5_matches_published_baseline():
    report = evaluate(shared_data("Set5"), bicubic=True, progress=False)
    result = report["sets"]["Set5"]
    assert result["count"] == 5 and result["failed"] == {}
    assert result["psnr"] == pytest.approx(28.43, abs=0.02)
    assert result["ssim"] == pytest.approx(0.811, abs=0.005)


@pytest.mark.data
def test_set14_bridge_is_gray_and_the_rule_matters(tmp_path):
    source = shared_data("Set14", "bridge.png")
    assert Image.open(source).mode == "L"
    folder = tmp_path / "Set14"
    folder.mkdir()
    (folder / "bridge.png").write_bytes(source.read_bytes())
    gray = evaluate(folder, bicubic=True, progress=False)["sets"]["Set14"]["images"]["bridge"]["psnr"]
    hr = np.asarray(Image.open(source))
    sr = _independent_bicubic(np.repeat(hr[..., None], 3, -1))
    through_y = psnr(sr, np.repeat(hr[..., None], 3, -1), 4)
    assert through_y - gray == pytest.approx(20 * math.log10(255 / 219), abs=1e-6)


def test_cli_phase_equalize_follows_the_weights_unless_told(image_folder, tmp_path, capsys):
    """--phase-equalize auto takes the weights' config; on/off override; the method line says which."""
    from keras_srgan.cli import main
    from keras_srgan.models import build_generator
    from keras_srgan.weights import write_generator

    flagged = build_generator(scale=4, num_blocks=2, filters=8, phase_equalize=True)
    weights, _ = write_generator(flagged, tmp_path / "flagged")
    reports = {}
    for mode in ("auto", "off", "on"):
        path = tmp_path / f"{mode}.json"
        args = ["evaluate", "--weights", str(weights), "--data", str(image_folder), "--no-progress"]
        assert main([*args, "--phase-equalize", mode, "--json", str(path)]) == 0
        reports[mode] = json.loads(path.read_text())
    capsys.readouterr()
    assert reports["auto"]["method"].endswith("(phase-equalised)")
    assert not reports["off"]["method"].endswith("(phase-equalised)")
    assert reports["auto"]["sets"] == reports["on"]["sets"]
    assert reports["off"]["sets"]["images"]["grid"] != reports["on"]["sets"]["images"]["grid"]
    assert main(["evaluate", "--bicubic", "--phase-equalize", "on", "--data", str(image_folder)]) == 2
    assert "bicubic has none" in capsys.readouterr().err


def test_paired_lr_folders_replace_the_bicubic_degradation(image_folder, tmp_path):
    """LR files written out as the protocol makes them give the protocol's numbers; other LR, others."""
    lr_dir, noisy_dir = tmp_path / "lr", tmp_path / "noisy"
    lr_dir.mkdir(), noisy_dir.mkdir()
    rng = np.random.default_rng(0)
    for path in sorted(image_folder.glob("*.png"))[:3]:
        lr = np.round(_independent_bicubic_lr(np.asarray(Image.open(path))) * 255).astype(np.uint8)
        Image.fromarray(lr).save(lr_dir / path.name)
        noisy = np.clip(lr + rng.normal(0, 8, lr.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(noisy_dir / f"{path.stem}.png")
    Image.fromarray(np.zeros((7, 7, 3), np.uint8)).save(lr_dir / "img3.png")  # not HR / 4: refused
    plain = evaluate([image_folder], bicubic=True, progress=False)["sets"]["images"]["images"]
    paired = evaluate([image_folder], bicubic=True, lr_dirs=[lr_dir], progress=False)
    _check_schema(paired)
    result = paired["sets"]["images"]
    assert "LR inputs from" in paired["method"] and result["count"] == 3
    for name in ("img0", "img1", "img2"):
        assert result["images"][name] == plain[name]
    assert "is 7x7, not the cropped HR / 4 (20x16)" in result["failed"]["img3"]
    assert f"no LR image named img4.* in {lr_dir}" in result["failed"]["img4"]
    noisy = evaluate([image_folder], bicubic=True, lr_dirs=[noisy_dir], progress=False)["sets"]["images"]
    # measured: 0.92-0.96 dB lower with noise of sigma 8 on the LR
    assert all(noisy["images"][n]["psnr"] < plain[n]["psnr"] - 0.5 for n in noisy["images"]), noisy
    with pytest.raises(UserError, match="one LR folder per data folder"):
        evaluate([image_folder], bicubic=True, lr_dirs=[lr_dir, noisy_dir], progress=False)

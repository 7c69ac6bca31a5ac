"""``keras-srgan demo`` end to end with tiny weights, and its message when the default weights are missing."""

from __future__ import annotations

import numpy as np
from PIL import Image

from keras_srgan.cli import main
from keras_srgan.demo import DEGRADED_SAMPLE, SAMPLES, degraded_lr, model_label, sample_images
from keras_srgan.evaluation import ProtocolUpscaler


def test_samples_load_offline_and_are_multiples_of_four():
    images = sample_images()
    assert len(images) == len(SAMPLES) >= 3
    for img in images.values():
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert img.shape[0] % 4 == 0 and img.shape[1] % 4 == 0
    lr = ProtocolUpscaler(4).degrade(images["astronaut"])  # the demo's LR
    assert lr.dtype == np.uint8 and lr.shape == (128, 128, 3)


def test_demo_end_to_end(capsys, tmp_path, tiny_weights):
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--weights", str(tiny_weights)])
    stdout = capsys.readouterr().out
    assert rc == 0
    names = [n for n, _ in SAMPLES] + ["-".join(map(str, DEGRADED_SAMPLE[:2]))]
    kinds = ("lr", "bicubic", f"sr-{model_label(tiny_weights)}")
    expected = {f"{n}_{k}.png" for n in names for k in kinds} | {"comparison.png"}
    assert {p.name for p in out.iterdir()} == expected
    with Image.open(out / "comparison.png") as pic:
        assert pic.mode == "RGB" and pic.width > 600 and pic.height > 200 * len(names)
    with (
        Image.open(out / f"astronaut_sr-{model_label(tiny_weights)}.png") as sr,
        Image.open(out / "astronaut_lr.png") as lr,
    ):
        assert sr.size == (512, 512) and lr.size == (128, 128)
    lines = {line.split()[0]: line for line in stdout.splitlines() if line.strip()}
    assert all(n in lines for n in names) and "mean" in lines
    # bicubic x4 on these photos, Y channel, border 4: plausible PSNR range
    bicubic_psnr, bicubic_ssim, bicubic_niqe = map(float, lines["astronaut"].split("|")[1].split())
    assert 20 < bicubic_psnr < 40 and 0 < bicubic_ssim < 1
    hr_niqe = float(lines["astronaut"].split("|")[-1].split()[-1])
    assert bicubic_niqe > hr_niqe  # bicubic x4 is blurrier, so less natural, than the photo itself


def test_the_degraded_sample_is_a_blocky_noisy_lr_and_the_same_every_time():
    from keras_srgan.metrics import blockiness

    name, level, seed = DEGRADED_SAMPLE
    hr = sample_images([name])[name]
    clean = ProtocolUpscaler(4).degrade(hr)
    lr = degraded_lr(hr, level, seed)
    assert lr.dtype == np.uint8 and lr.shape == clean.shape
    np.testing.assert_array_equal(lr, degraded_lr(hr, level, seed))
    # JPEG's 8x8 blocks on the LR itself, against the clean LR's (measured 1.34 against 1.02), and noise
    assert blockiness(lr, period=8) > blockiness(clean, period=8) + 0.2
    assert np.abs(lr.astype(int) - clean).mean() > 4  # measured 6.7 grey levels


def test_demo_without_default_weights_gives_one_line(capsys, tmp_path, monkeypatch):
    import keras_srgan.weights as weights

    empty = tmp_path / "no-shipped-weights"
    empty.mkdir()
    monkeypatch.setattr(weights, "WEIGHTS_DIR", empty)  # an install without the default weights file
    rc = main(["demo", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "--weights" in err and "not shipped" in err
    assert not (tmp_path / "d").exists()

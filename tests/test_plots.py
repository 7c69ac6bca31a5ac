"""Training-curve and sharpness PNGs (training/plots.py, a dev tool outside the installed package)."""

from __future__ import annotations

import sys

import pytest
from conftest import REPO
from PIL import Image

pytest.importorskip("matplotlib", reason="the dev extra is not installed")
sys.path.insert(0, str(REPO / "training"))
from plots import plot_sharpness, plot_training_curves, read_metrics  # noqa: E402


def test_curves_png_from_csv_with_sparse_validation(tmp_path):
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text("step,g_loss,psnr,val_psnr\n10,0.5,20.0,\n20,0.3,22.5,21.0\n30,0.2,23.0,\n")
    series = read_metrics(csv_path)
    assert series["val_psnr"] == [(20, 21.0)] and len(series["g_loss"]) == 3
    out = plot_training_curves({"run": csv_path}, tmp_path / "curves.png", title="test")
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 600
    assert not list(tmp_path.glob(".tmp-*"))


def test_sharpness_bars_png(tmp_path):
    ratios = {"Set5": {"bicubic": 0.63, "srresnet": 0.76, "srgan-mse": 0.9}, "Set14": {"bicubic": 0.5}}
    out = plot_sharpness(ratios, tmp_path / "sharpness.png")
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 400
        # the bars are drawn in colour: the figure is not an empty white canvas
        assert len(img.convert("RGB").getcolors(maxcolors=1 << 20)) > 10
    assert not list(tmp_path.glob(".tmp-*"))

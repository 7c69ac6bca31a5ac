"""Checkpoint choice without the evaluation sets (training/select_checkpoint.py, a dev tool)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO

from keras_srgan.models.generator import build_generator

sys.path.insert(0, str(REPO / "training"))
from select_checkpoint import checkpoint_steps, choose, pooled  # noqa: E402
from ship_weights import generator_from_run  # noqa: E402


def test_checkpoint_steps_reads_only_ckpt_n_prefixes(tmp_path):
    for name in [
        "ckpt-250.index",
        "ckpt-1000.index",
        "ckpt-1000.data-00000-of-00001",
        "ckpt-x.index",
        "other.index",
    ]:
        (tmp_path / name).write_text("")
    assert checkpoint_steps(tmp_path) == {250: str(tmp_path / "ckpt-250"), 1000: str(tmp_path / "ckpt-1000")}


def test_pooled_means_weigh_every_image_not_every_set():
    small = {"a": {"psnr": 30.0, "ssim": 0.9, "niqe": 4.0, "grid": 0.1}}
    large = {f"b{i}": {"psnr": 20.0 + i, "ssim": 0.5, "niqe": None, "grid": 0.2} for i in range(3)}
    report = {"sets": {"one": {"images": small}, "two": {"images": large}}}
    result = pooled(report)
    assert result["images"] == 4
    assert np.isclose(result["psnr"], np.mean([30.0, 20.0, 21.0, 22.0]))
    assert np.isclose(result["grid"], np.mean([0.1, 0.2, 0.2, 0.2]))
    assert result["niqe"] == 4.0  # images without a NIQE are left out, as evaluate does


def test_choose_takes_the_lowest_niqe_above_the_psnr_floor():
    rows = {
        250: {"psnr": 26.0, "niqe": 4.5},
        500: {"psnr": 25.0, "niqe": 4.1},
        750: {"psnr": 26.5, "niqe": 4.3},
        1000: {"psnr": 27.0, "niqe": None},
    }
    assert choose(rows) == 500
    assert choose(rows, min_psnr=25.5) == 750
    assert choose(rows, min_psnr=28.0) is None
    assert choose(rows, min_step=600) == 750  # a recipe's minimum number of updates
    assert choose(rows, min_step=1000, min_psnr=25.5) is None


def test_choose_applies_every_limit_of_the_real_world_rule():
    rows = {
        10000: {"ssim": 0.60, "niqe": 3.9, "grid": 0.20, "blockiness": 1.05},  # grid too high
        10500: {"ssim": 0.60, "niqe": 4.0, "grid": 0.10, "blockiness": 1.20},  # too blocky
        11000: {"ssim": 0.57, "niqe": 4.1, "grid": 0.10, "blockiness": 1.05},  # below the SSIM floor
        11500: {"ssim": 0.59, "niqe": 4.4, "grid": 0.10, "blockiness": 1.05},
        12000: {"ssim": 0.59, "niqe": 4.2, "grid": 0.15, "blockiness": 1.10},  # limits are inclusive
        12500: {"ssim": 0.59, "niqe": 3.5, "grid": 0.10, "blockiness": None},  # unmeasured: not allowed
    }
    limits = {"min_ssim": 0.58, "max_grid": 0.15, "max_blocks": 1.10}
    assert choose(rows, **limits) == 12000
    assert choose(rows, **{**limits, "max_grid": 0.12}) == 11500
    assert choose(rows, min_ssim=0.61) is None


def test_ship_weights_takes_the_named_checkpoint_not_the_newest(tmp_path):
    config = {"scale": 4, "num_blocks": 1, "filters": 8, "icnr": True, "steps": 10}
    (tmp_path / "config.json").write_text(json.dumps(config))
    generator = build_generator(scale=4, num_blocks=1, filters=8, icnr=True)
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(step=step, generator=generator)
    manager = tf.train.CheckpointManager(
        checkpoint, tmp_path / "checkpoints", max_to_keep=5, checkpoint_name="ckpt"
    )
    saved = {}
    for n in (3, 7):
        step.assign(n)
        for v in generator.trainable_variables:
            v.assign(tf.random.normal(v.shape, seed=n))
        saved[n] = [v.numpy().copy() for v in generator.trainable_variables]
        manager.save(checkpoint_number=n)
    restored, restored_step = generator_from_run(tmp_path, str(tmp_path / "checkpoints" / "ckpt-3"))
    assert restored_step == 3
    for got, want in zip(restored.trainable_variables, saved[3], strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    assert generator_from_run(tmp_path)[1] == 7  # without a name: the newest
    with pytest.raises(SystemExit, match="ckpt-5: no such checkpoint"):
        generator_from_run(tmp_path, str(tmp_path / "checkpoints" / "ckpt-5"))

"""CompactSR: shapes, the [0, 1] contract, config round trips, receptive radius, MAC count, training wiring."""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_srgan.inference import transforms
from keras_srgan.models import CompactSR, SRResNet, build_generator
from keras_srgan.models.generator import UPSAMPLERS, macs_per_output_pixel
from keras_srgan.weights import generator_config, load_generator, write_generator

TINY = {"arch": "compact", "num_convs": 2, "filters": 8}


@pytest.mark.parametrize("upsampler", UPSAMPLERS)
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("size", [(7, 5), (16, 16), (1, 1)])
def test_compact_output_shape_and_range(upsampler, scale, size):
    model = build_generator(**TINY, scale=scale, upsampler=upsampler)
    x = np.random.default_rng(0).random((2, *size, 3), dtype=np.float32)
    y = model(x).numpy()
    assert y.shape == (2, size[0] * scale, size[1] * scale, 3)
    assert y.dtype == np.float32
    assert y.min() >= 0.0 and y.max() <= 1.0


@pytest.mark.parametrize("upsampler", UPSAMPLERS)
def test_compact_starts_near_nearest_upsampling_and_clips_only_outside_training(upsampler):
    model = build_generator(**TINY, upsampler=upsampler)
    x = np.random.default_rng(1).random((1, 8, 8, 3), dtype=np.float32) * 1.4 - 0.2  # beyond [0, 1]
    raw = model(x, training=True).numpy()
    np.testing.assert_array_equal(model(x).numpy(), np.clip(raw, 0.0, 1.0))
    assert raw.max() > 1.0 and raw.min() < 0.0  # the training output is not clipped
    if upsampler != "shuffle_blur":
        nearest = np.repeat(np.repeat(x, 4, axis=1), 4, axis=2)
        assert np.abs(raw - nearest).mean() < 0.05


def test_compact_under_mixed_precision_keeps_a_float32_residual():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_generator(**TINY)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    dtypes = {
        name: model.get_layer(name).compute_dtype
        for name in ("head_conv", "tail_conv", "base_nearest", "residual_add")
    }
    assert dtypes == {
        "head_conv": "bfloat16",
        "tail_conv": "float32",
        "base_nearest": "float32",
        "residual_add": "float32",
    }
    x = np.random.default_rng(2).random((1, 6, 6, 3), dtype=np.float32)
    y = model(x).numpy()
    assert y.dtype == np.float32 and y.min() >= 0.0 and y.max() <= 1.0


def test_compact_rejects_bad_config():
    with pytest.raises(ValueError, match="upsampler"):
        CompactSR(upsampler="bilinear")
    with pytest.raises(ValueError, match="power of two"):
        CompactSR(scale=3)
    with pytest.raises(ValueError, match="arch"):
        build_generator(arch="rrdb")


@pytest.mark.parametrize("upsampler", UPSAMPLERS)
def test_compact_config_round_trips_through_write_and_load(tmp_path, upsampler):
    model = build_generator(**TINY, upsampler=upsampler, phase_equalize=True)
    config = generator_config(model)
    assert config == {
        "arch": "compact", "scale": 4, "num_convs": 2, "filters": 8, "upsampler": upsampler,
        "phase_equalize": True,
    }  # fmt: skip
    write_generator(model, tmp_path / "generator")
    for spec in (tmp_path, tmp_path / "generator.weights.h5"):
        loaded = load_generator(spec)
        assert isinstance(loaded, CompactSR) and generator_config(loaded) == config
        x = np.random.default_rng(3).random((1, 9, 7, 3), dtype=np.float32)
        np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_compact_round_trips_through_keras_archive(tmp_path):
    model = build_generator(**TINY, upsampler="shuffle_blur")
    path = tmp_path / "g.keras"
    model.save(path)
    loaded = load_generator(path)
    x = np.random.default_rng(4).random((1, 5, 5, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_srresnet_config_is_unchanged():
    assert generator_config(build_generator(num_blocks=1, filters=8)) == {
        "scale": 4, "num_blocks": 1, "filters": 8, "icnr": True, "bn_momentum": 0.9, "phase_equalize": False,
    }  # fmt: skip
    assert isinstance(build_generator(num_blocks=1, filters=8), SRResNet)


@pytest.mark.parametrize("upsampler", UPSAMPLERS)
def test_one_lr_pixel_reaches_only_its_receptive_neighbourhood(upsampler):
    model = build_generator(arch="compact", num_convs=3, filters=8, upsampler=upsampler)
    r, s, i, j = transforms.receptive_radius(model), model.scale, 13, 11
    assert r == {"shuffle_residual": 5, "shuffle_blur": 6, "nearest_conv": 5}[upsampler]
    x = np.random.default_rng(5).random((1, 28, 26, 3), dtype=np.float32) * 0.6 + 0.2
    changed = x.copy()
    changed[0, i, j] += 0.3
    diff = np.abs(model(changed, training=True).numpy() - model(x, training=True).numpy()).max(axis=-1)[0]
    ys, xs = np.nonzero(diff)
    assert len(ys) > 0
    assert ys.min() >= s * (i - r) and ys.max() <= s * (i + r) + s - 1
    assert xs.min() >= s * (j - r) and xs.max() <= s * (j + r) + s - 1


def _hand_macs(upsampler: str, convs: int = 2, c: int = 8, s: int = 4) -> float:
    """Conv MACs per output pixel, counted by hand (3x3 kernels; the blur is a 5x5 depthwise conv on RGB)."""
    lr = 9 * 3 * c + convs * 9 * c * c  # head + body, per LR pixel
    if upsampler == "nearest_conv":
        return lr / s**2 + 9 * c * c / 4 + 9 * c * c + 9 * c * 3  # up0 at 2x, up1 and tail at 4x
    blur = 25 * 3 if upsampler == "shuffle_blur" else 0
    return (lr + 9 * c * 3 * s * s) / s**2 + blur


@pytest.mark.parametrize("upsampler", UPSAMPLERS)
def test_mac_count_matches_a_hand_count(upsampler):
    hand = _hand_macs(upsampler)
    assert hand == {"shuffle_residual": 301.5, "shuffle_blur": 376.5, "nearest_conv": 1021.5}[upsampler]
    # the profiler also counts bias adds, activations, the residual add, the blur and the clip (<= 5 %)
    macs = macs_per_output_pixel(build_generator(**TINY, upsampler=upsampler))
    assert hand <= macs <= 1.05 * hand


def test_srresnet_mac_count():
    assert 138_000 < macs_per_output_pixel(build_generator()) < 140_000


def test_train_config_and_cli_build_a_compact_generator(tmp_path):
    from keras_srgan import cli
    from keras_srgan.errors import UserError
    from keras_srgan.train.config import TrainConfig
    from keras_srgan.train.trainer import run_generator

    parser = argparse.ArgumentParser()
    cli.add_train(parser.add_subparsers())
    args = parser.parse_args(
        ["train", "--out", str(tmp_path), "--data", str(tmp_path), "--arch", "compact",
         "--upsampler", "nearest_conv", "--num-blocks", "3", "--filters", "16"]
    )  # fmt: skip
    overrides = cli.train_overrides(args)
    assert overrides["arch"] == "compact" and overrides["upsampler"] == "nearest_conv"
    model = run_generator(TrainConfig(**overrides))
    assert generator_config(model) == {
        "arch": "compact", "scale": 4, "num_convs": 3, "filters": 16, "upsampler": "nearest_conv",
        "phase_equalize": False,
    }  # fmt: skip
    write_generator(model, tmp_path / "g")
    again = run_generator(TrainConfig(data=[str(tmp_path)], init=str(tmp_path / "g.weights.h5")))
    assert isinstance(again, CompactSR) and again.upsampler == "nearest_conv"
    assert isinstance(run_generator(TrainConfig(data=[str(tmp_path)], num_blocks=1, filters=8)), SRResNet)
    with pytest.raises(UserError, match="upsampler"):
        TrainConfig(data=[str(tmp_path)], arch="compact", upsampler="bilinear")


def test_fixed_blur_removes_every_grid_frequency_and_keeps_constants():
    from keras_srgan.models.layers import FixedBlur

    yy, xx = np.mgrid[:32, :32]
    grid = np.cos(np.pi * xx / 2) + np.cos(np.pi * yy) + np.cos(np.pi * (xx + yy) / 2)  # periods 4 and 2
    x = np.stack([grid, np.full_like(grid, 0.5), grid], axis=-1)[None].astype(np.float32)
    y = FixedBlur()(x).numpy()[0]
    np.testing.assert_allclose(y[4:-4, 4:-4, 0], 0.0, atol=1e-5)
    np.testing.assert_allclose(y[..., 1], 0.5, atol=1e-6)


@pytest.mark.parametrize("name", ["srresnet", "compact_blur", "compact_nearest"])
def test_files_of_the_earlier_subclassed_layout_still_load(name, tmp_path):
    """tests/data/legacy: tiny generators written by the subclassed generators (before the functional one),
    with their outputs then; the functional generator loads them and gives the same outputs."""
    folder = Path(__file__).parent / "data" / "legacy"
    expected = np.load(folder / "outputs.npz")
    model = load_generator(folder / f"{name}.weights.h5")
    # The outputs were computed on an AMX CPU: identical there; with oneDNN held to AVX2 (other conv
    # kernels) up to 7.7e-6. One weight in a wrong place moves these [0, 1] outputs by about 0.1 or more.
    np.testing.assert_allclose(model(expected["lr"]).numpy(), expected[name], rtol=0, atol=2e-5)
    # and a file in the current layout round-trips bit for bit
    rewritten = write_generator(model, tmp_path / name)[0]
    np.testing.assert_array_equal(
        load_generator(rewritten)(expected["lr"]).numpy(), model(expected["lr"]).numpy()
    )


@pytest.mark.parametrize("arch,wrong", [("compact", "num_blocks"), ("srresnet", "num_convs")])
def test_a_keyword_of_the_other_architecture_is_refused_not_ignored(arch, wrong):
    """keras.Model takes unknown keywords silently: CompactSR(num_blocks=4) used to build 16 convs."""
    with pytest.raises(TypeError, match=wrong):
        build_generator(arch, **{wrong: 4})

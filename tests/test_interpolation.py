"""Network interpolation of two generators (keras_srgan.weights.interpolate_generators) and its chooser."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import REPO

from keras_srgan.models.generator import build_generator
from keras_srgan.weights import WeightsError, interpolate_generators

sys.path.insert(0, str(REPO / "training"))
from interpolation_frontier import choose  # noqa: E402


def tiny(seed: int, **config):
    """A small built generator with distinct random weights (BatchNorm statistics included)."""
    model = build_generator(scale=4, num_blocks=2, filters=8, **config)
    model(np.zeros((1, 8, 8, 3), "float32"))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


def initialised(seed: int):
    """A small generator with its own initialisers' weights (seeded), so its output is not clipped flat."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_generator(scale=4, num_blocks=2, filters=8)
    model(np.zeros((1, 8, 8, 3), "float32"))
    return model


def test_every_layer_is_the_weighted_mix_of_the_same_layer():
    psnr, gan = tiny(1), tiny(2, phase_equalize=True)
    mixed = interpolate_generators(psnr, gan, 0.25)
    assert mixed.phase_equalize  # the GAN side's config is kept
    walked = [_weighted_layers(m) for m in (psnr, gan, mixed)]
    assert len(walked[0]) > 10
    for a, b, m in zip(*walked, strict=True):
        assert a.name == b.name == m.name  # same place in the same architecture
        for wa, wb, wm in zip(a.get_weights(), b.get_weights(), m.get_weights(), strict=True):
            np.testing.assert_allclose(wm, 0.75 * wa + 0.25 * wb, rtol=1e-6)


def _weighted_layers(model) -> list:
    return [layer for layer in model._flatten_layers(include_self=False) if layer.get_weights()]


@pytest.mark.parametrize("gan_weight", [0.0, 1.0])
def test_the_ends_reproduce_each_generator(gan_weight):
    psnr, gan = initialised(3), initialised(4)
    x = np.random.default_rng(0).uniform(0, 1, (1, 12, 10, 3)).astype("float32")
    mixed = interpolate_generators(psnr, gan, gan_weight)
    want, other = (gan, psnr) if gan_weight else (psnr, gan)
    got = np.asarray(mixed(x, training=False))
    np.testing.assert_array_equal(got, np.asarray(want(x, training=False)))
    assert np.abs(got - np.asarray(other(x, training=False))).mean() > 1e-3  # the two ends differ


def test_different_architectures_and_bad_weights_are_one_line_errors():
    with pytest.raises(WeightsError, match="different architectures"):
        interpolate_generators(tiny(1), build_generator(scale=4, num_blocks=3, filters=8), 0.5)
    with pytest.raises(WeightsError, match="between 0 and 1"):
        interpolate_generators(tiny(1), tiny(2), 1.5)


def test_the_chooser_takes_the_highest_psnr_within_the_niqe_bound():
    rows = [
        {"gan_weight": w, "selection": {"psnr": p, "niqe": n}}
        for w, p, n in [(0.8, 26.8, 5.1), (0.9, 26.7, 4.6), (0.95, 26.6, 4.4), (1.0, 26.3, 4.3)]
    ]
    assert choose(rows, 4.48)["gan_weight"] == 0.95
    assert choose(rows, 5.2)["gan_weight"] == 0.8
    assert choose(rows, 4.0) is None


def test_ship_weights_ships_the_mix_with_its_provenance(tmp_path):
    import hashlib
    import json

    import tensorflow as tf
    from ship_weights import main as ship

    from keras_srgan.weights import load_generator, write_generator

    run = tmp_path / "run"
    config = {"scale": 4, "num_blocks": 2, "filters": 8, "icnr": True, "steps": 5, "stage": "gan",
              "content_loss": "mse", "data": ["T91"], "mixed_precision": "bf16", "batch_size": 2,
              "patch_size": 24}  # fmt: skip
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.csv").write_text("step,sec_per_step\n5,2.0\n")
    gan = tiny(5)
    step = tf.Variable(5, dtype=tf.int64)
    tf.train.Checkpoint(step=step, generator=gan).save(str(run / "checkpoints" / "ckpt"))
    psnr = tiny(6)
    psnr_path, _ = write_generator(psnr, tmp_path / "psnr")
    out = tmp_path / "out"
    argv = [str(run), "mixed", "--recipe", "r.yaml", "--out-dir", str(out), "--phase-equalize"]
    assert ship(argv + ["--interpolate-with", str(psnr_path), "--gan-weight", "0.3"]) == 0
    shipped = load_generator(out / "mixed")
    assert shipped.phase_equalize
    for a, b, m in zip(*(_weighted_layers(x) for x in (psnr, gan, shipped)), strict=True):
        for wa, wb, wm in zip(a.get_weights(), b.get_weights(), m.get_weights(), strict=True):
            np.testing.assert_allclose(wm, 0.7 * wa + 0.3 * wb, rtol=1e-6)
    meta = json.loads((out / "mixed" / "metadata.json").read_text())
    assert meta["steps"] == 5
    assert meta["interpolation"] == {
        "psnr_weights": str(psnr_path),
        "sha256": hashlib.sha256(psnr_path.read_bytes()).hexdigest(),
        "gan_weight": 0.3,
    }
    with pytest.raises(SystemExit):  # one without the other is a usage error
        ship(argv + ["--gan-weight", "0.3"])


def test_ship_weights_continues_a_shipped_model_over_the_whole_chain(tmp_path, monkeypatch):
    import hashlib
    import json
    import shutil

    import tensorflow as tf
    from ship_weights import main as ship

    import keras_srgan.weights as weights_module
    from keras_srgan.weights import write_generator, write_preset

    shipped_dir = tmp_path / "shipped"
    base_path = write_preset(tiny(3), shipped_dir / "base", extra={
        "steps": 7, "planned_steps": 7, "recipe": "first recipe", "train_wall_seconds": 100}) / "model.weights.h5"  # fmt: skip
    monkeypatch.setattr(weights_module, "WEIGHTS_DIR", shipped_dir)
    previous_run = tmp_path / "previous"  # the earlier run's folder, holding the same file as shipped
    previous_run.mkdir()
    shutil.copy(base_path, previous_run / "generator.weights.h5")
    meta = json.loads((shipped_dir / "base" / "metadata.json").read_text())
    (previous_run / "generator.json").write_text(
        json.dumps({"config": meta["config"], "sha256": meta["sha256"]})
    )
    run = tmp_path / "more"
    run.mkdir()
    config = {"scale": 4, "num_blocks": 2, "filters": 8, "icnr": True, "steps": 5, "stage": "pretrain",
              "content_loss": "mse", "data": ["T91"], "mixed_precision": "bf16", "batch_size": 2,
              "patch_size": 24, "init": str(previous_run)}  # fmt: skip
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.csv").write_text("step,sec_per_step\n5,2.0\n")
    tf.train.Checkpoint(step=tf.Variable(5, dtype=tf.int64), generator=tiny(4)).save(
        str(run / "checkpoints" / "ckpt")
    )
    out = tmp_path / "out"
    assert ship([str(run), "base", "--recipe", "r.yaml", "--out-dir", str(out), "--continues", "base"]) == 0
    meta = json.loads((out / "base" / "metadata.json").read_text())
    assert (meta["steps"], meta["planned_steps"], meta["train_wall_seconds"]) == (12, 12, 110)
    assert meta["recipe"] == "first recipe, then keras-srgan train --config r.yaml --out runs/more"
    assert meta["initialised_from"]["sha256"] == hashlib.sha256(base_path.read_bytes()).hexdigest()

    write_generator(tiny(5), previous_run / "generator")  # the run no longer starts from the shipped file
    with pytest.raises(SystemExit, match="is not the shipped base"):
        ship([str(run), "base", "--recipe", "r.yaml", "--out-dir", str(out), "--continues", "base"])
    (run / "config.json").write_text(json.dumps({**config, "init": str(tmp_path / "gone")}))
    with pytest.raises(
        SystemExit, match=r"gone: unknown weights .*: cannot rebuild the run's generator from its init"
    ):
        ship([str(run), "base", "--recipe", "r.yaml", "--out-dir", str(out)])


def test_upscale_cli_gan_weight_runs_the_mix(capsys, tmp_path, monkeypatch):
    from conftest import run_cli, smooth_image
    from PIL import Image

    from keras_srgan.inference import engines
    from keras_srgan.weights import write_generator

    monkeypatch.setenv(engines.CACHE_ENV, str(tmp_path / "cache"))
    psnr, gan, by_hand = (
        initialised(seed) for seed in (7, 8, 9)
    )  # outputs far from saturation  # the mix computed here, in get_weights order, not by the function under test
    by_hand.set_weights(
        [0.4 * a + 0.6 * b for a, b in zip(psnr.get_weights(), gan.get_weights(), strict=True)]
    )
    files = {name: write_generator(model, tmp_path / name)[0] for name, model in
             {"psnr": psnr, "gan": gan, "by_hand": by_hand}.items()}  # fmt: skip
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(10, 12)).save(src)
    common = ["--engine", "tensorflow", "--precision", "fp32"]
    rc, out, err = run_cli(capsys, "upscale", src, "-o", tmp_path / "mix", "--weights", files["gan"],
                           "--gan-weight", "0.6", "--mix-with", files["psnr"], *common)  # fmt: skip
    assert rc == 0 and "wrote 1 of 1" in out, err
    rc, out, err = run_cli(
        capsys, "upscale", src, "-o", tmp_path / "hand", "--weights", files["by_hand"], *common
    )
    assert rc == 0, err
    rc, out, err = run_cli(capsys, "upscale", src, "-o", tmp_path / "gan", "--weights", files["gan"], *common)
    assert rc == 0, err
    results = {}
    for name in ("mix", "hand", "gan"):
        with Image.open(tmp_path / name / "a.png") as im:
            results[name] = np.asarray(im).astype(np.int16)
    np.testing.assert_array_equal(results["mix"], results["hand"])
    assert np.abs(results["mix"] - results["gan"]).mean() > 1  # the mix is not the GAN weights alone
    rc, out, err = run_cli(capsys, "upscale", src, "-o", tmp_path / "bad", "--weights", files["gan"],
                           "--gan-weight", "0.5", "--mix-with", tmp_path / "missing.weights.h5")  # fmt: skip
    assert rc != 0 and err.count("\n") == 1 and "missing.weights.h5: no such weights file" in err

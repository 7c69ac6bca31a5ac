"""Training: the train_step learns, the GAN step moves both nets, data checks, checkpoints and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import smooth_image
from PIL import Image

from keras_srgan import fit
from keras_srgan.data.images import scan_images
from keras_srgan.data.pipeline import train_dataset
from keras_srgan.errors import UserError
from keras_srgan.train.config import TrainConfig
from keras_srgan.train.trainer import build_model

TINY = {
    "num_blocks": 2,
    "filters": 8,
    "batch_size": 2,
    "patch_size": 32,
    "log_every": 2,
    "checkpoint_every": 2,
}


def _fixed_batch(n=4, size=32):
    return tf.constant(np.stack([smooth_image(size, size, seed=i) for i in range(n)]))


def test_pretrain_steps_lower_mse_on_a_fixed_batch():
    cfg = TrainConfig(data=["unused"], num_blocks=2, filters=8, patch_size=32, lr=1e-3)
    model = build_model(cfg)
    batch = _fixed_batch()
    step = tf.function(model.train_step)
    first = float(step(batch)["g_loss"])
    for _ in range(30):
        logs = step(batch)
    model.trackers["g_loss"].reset_state()
    last = float(step(batch)["g_loss"])
    assert np.isfinite(last) and last < 0.7 * first, (first, last)
    assert int(model.g_optimizer.iterations) == 32 and "psnr" in logs


def test_gan_stage_uses_paper_defaults():
    cfg = TrainConfig(data=["x"], stage="gan")
    assert cfg.steps == 200_000 and cfg.lr_drop_steps == [100_000] and cfg.content_loss == "vgg54"
    assert cfg.adv_weight == 1e-3 and cfg.batch_size == 16 and cfg.patch_size == 96


def test_scan_skips_corrupt_and_undersized_images(tmp_path):
    Image.fromarray(smooth_image(40, 40)).save(tmp_path / "good.png")
    Image.fromarray(smooth_image(20, 60)).save(tmp_path / "small.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    with pytest.warns(UserWarning) as record:
        records = scan_images([tmp_path], min_size=32)
    messages = [str(w.message) for w in record]
    assert [Path(r.path).name for r in records] == ["good.png"]
    assert any("broken.jpg" in m for m in messages)
    assert any("small.png (60x20)" in m for m in messages)


def test_scan_of_folder_with_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    with (
        pytest.warns(UserWarning, match="empty file"),
        pytest.raises(UserError, match="no usable training images"),
    ):
        scan_images([tmp_path], min_size=32)


def test_pipeline_yields_uint8_crops_with_rgb_from_gray_and_rgba(tmp_path):
    Image.fromarray(smooth_image(40, 48)[..., 0]).save(tmp_path / "gray.png")
    rgba = np.dstack([smooth_image(40, 48), np.full((40, 48), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(smooth_image(40, 48)).save(tmp_path / "c.bmp")
    batch = next(iter(train_dataset([tmp_path], patch_size=32, batch_size=6)))
    assert batch.shape == (6, 32, 32, 3) and batch.dtype == tf.uint8


def test_fit_writes_weights_config_csv_and_tensorboard(tmp_path, image_folder):
    result = fit(data=[str(image_folder)], val_data=[str(image_folder)], out=str(tmp_path / "run"), steps=4,
                 val_crop=32, **TINY)  # fmt: skip
    assert result.final_step == 4 and result.generator_weights.is_file()
    meta = json.loads(result.generator_config.read_text())
    assert meta["config"]["num_blocks"] == 2 and meta["steps"] == 4
    rows = result.metrics_csv.read_text().splitlines()
    assert rows[0].startswith("step,g_loss,psnr") and len(rows) == 3
    assert "val_psnr" in rows[0] and result.history["step"] == [2, 4]
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads(result.config_path.read_text())["steps"] == 4

    from keras_srgan.weights import load_generator

    generator = load_generator(tmp_path / "run")
    assert generator(np.zeros((1, 5, 6, 3), np.float32)).shape == (1, 20, 24, 3)


def test_refuses_to_overwrite_a_run_and_resume_needs_checkpoints(tmp_path, image_folder):
    out = str(tmp_path / "run")
    fit(data=[str(image_folder)], out=out, steps=2, **TINY)
    with pytest.raises(UserError, match="already holds"):
        fit(data=[str(image_folder)], out=out, steps=2, **TINY)
    with pytest.raises(UserError, match="no checkpoint"):
        fit(data=[str(image_folder)], out=str(tmp_path / "fresh"), steps=2, resume=True, **TINY)


def test_gan_stage_from_pretrain_run_with_vgg_mechanics(tmp_path, image_folder):
    pre = str(tmp_path / "pre")
    fit(data=[str(image_folder)], out=pre, steps=2, **TINY)
    with pytest.warns(UserWarning, match="RANDOM"):
        result = fit(data=[str(image_folder)], out=str(tmp_path / "gan"), stage="gan", init=pre, steps=2,
                     content_loss="vgg22", vgg_weights="random", **TINY)  # fmt: skip
    assert np.isfinite(result.history["d_loss"][-1]) and result.history["lr"][-1] == pytest.approx(1e-5)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "keras_srgan", *args]


@pytest.mark.slow
def test_sigkill_then_resume_continues_from_last_checkpoint(tmp_path, image_folder):
    out = tmp_path / "run"
    args = ["train", "--data", str(image_folder), "--out", str(out), "--steps", "100000", "--num-blocks", "2",
            "--filters", "8", "--batch-size", "2", "--patch-size", "32", "--log-every", "5",
            "--checkpoint-every", "5"]  # fmt: skip
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)

    def newest_step() -> int:  # what --resume would take: the state file, written after the checkpoint's
        # files (waiting on ckpt-N.index alone raced: killed between the two, the state still said 5)
        state = (
            tf.train.get_checkpoint_state(str(out / "checkpoints"))
            if (out / "checkpoints").is_dir()
            else None
        )
        return int(state.model_checkpoint_path.rsplit("-", 1)[1]) if state else 0

    deadline = time.time() + 240
    while time.time() < deadline and newest_step() < 10 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = tf.train.get_checkpoint_state(str(out / "checkpoints"))
    saved_step = int(state.model_checkpoint_path.rsplit("-", 1)[1])
    assert saved_step >= 10

    # the restored optimizer has exactly as many iterations as the checkpoint's step
    cfg = TrainConfig(**json.loads((out / "config.json").read_text()))
    model = build_model(cfg)
    ckpt = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64), generator=model.generator,
                               g_optimizer=model.g_optimizer)  # fmt: skip
    ckpt.restore(state.model_checkpoint_path).expect_partial()
    assert int(ckpt.step) == saved_step == int(model.g_optimizer.iterations)

    done = subprocess.run(_cli("train", "--out", str(out), "--resume", "--steps", str(saved_step + 5)),
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [int(line.split(",")[0]) for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == saved_step + 5
    assert steps == list(range(5, saved_step + 6, 5))
    assert (out / "generator.weights.h5").is_file()
    keras.backend.clear_session()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_steps_update_both_networks(precision):
    """The fp16 loss scale must be applied inside the tape, or there are no gradients at all."""
    from keras_srgan.train.trainer import POLICIES

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    try:
        cfg = TrainConfig(data=["unused"], stage="gan", num_blocks=2, filters=8, patch_size=32,
                          content_loss="mse", mixed_precision=precision)  # fmt: skip
        model = build_model(cfg)
        g_before = [w.copy() for w in model.generator.trainable_weights[0].numpy()[None]]
        d_before = model.discriminator.trainable_weights[0].numpy().copy()
        step = tf.function(model.train_step)
        # fp16: dynamic loss scaling starts at 2**15 and skips updates whose scaled gradients overflow
        # while it halves the scale, so D may need a few steps before its first update.
        for steps in range(1, 13):  # noqa: B007 (read after the loop)
            logs = step(_fixed_batch())
            if not np.array_equal(d_before, model.discriminator.trainable_weights[0].numpy()):
                break
        # every step before the first update overflowed: skipped and counted, then the step goes through
        assert np.isfinite(float(logs["g_loss"])) and float(logs["skipped_steps"]) == steps - 1
        assert not np.array_equal(g_before[0], model.generator.trainable_weights[0].numpy())
        assert not np.array_equal(d_before, model.discriminator.trainable_weights[0].numpy())
        assert model.generator.get_layer("tail_conv").compute_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_mixed_precision_auto_resolves_by_hardware(monkeypatch):
    """Pinned hardware on both sides, so it holds on CPU-only and on GPU machines alike."""
    from keras_srgan import precision

    assert TrainConfig(data=["x"]).mixed_precision == "auto"
    assert precision.resolve_training("fp16") == "fp16" and precision.resolve_training("fp32") == "fp32"
    gpus: list = []
    monkeypatch.setattr(precision, "has_gpu", lambda: bool(gpus))
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert precision.resolve_training("auto") == "bf16"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert precision.resolve_training("auto") == "fp32"
    gpus.append("a GPU")
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert precision.resolve_training("auto") == "fp32"  # on a GPU the choice is the user's


def test_one_precision_vocabulary_and_off_still_means_fp32(monkeypatch, tmp_path):
    """Training and inference share auto | fp32 | bf16 (| fp16 for training); recipes and runs saying off resume."""
    from keras_srgan import defaults, precision
    from keras_srgan.train.trainer import POLICIES

    assert set(defaults.PRECISIONS) < set(defaults.TRAINING_PRECISIONS) == set(defaults.PRECISION_NAMES)
    assert TrainConfig(data=["x"], mixed_precision="off").mixed_precision == "fp32"
    assert POLICIES["off"] == POLICIES["fp32"] == "float32"
    saved = tmp_path / "config.json"
    saved.write_text('{"data": ["x"], "mixed_precision": "off"}')
    assert TrainConfig.from_file(saved).mixed_precision == "fp32"
    with pytest.raises(UserError, match="mixed_precision must be one of auto, fp32, bf16, fp16, got 'half'"):
        TrainConfig(data=["x"], mixed_precision="half")
    with pytest.raises(UserError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        precision.normalise("fp16", defaults.PRECISIONS)
    monkeypatch.setattr(precision, "has_gpu", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: False)
    assert (
        precision.resolve("auto", "tensorflow") == "bf16" and precision.resolve("auto", "openvino") == "fp32"
    )
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: True)
    assert (
        precision.resolve("auto", "openvino") == "bf16" and precision.resolve("off", "tensorflow") == "fp32"
    )


def test_resume_refuses_a_config_it_would_ignore(tmp_path, image_folder, capsys):
    from keras_srgan.cli import main

    run = tmp_path / "run"
    flags = ["--num-blocks", "2", "--filters", "8", "--batch-size", "2", "--patch-size", "32"]
    assert main(["train", "--data", str(image_folder), "--out", str(run), "--steps", "2", *flags]) == 0
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps: 4\n")
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --resume continues") and "--config" in err and len(err.splitlines()) == 1
    # flags do apply on resume
    assert main(["train", "--out", str(run), "--resume", "--steps", "3"]) == 0


def test_a_run_from_init_records_the_init_network_not_the_default_flags(tmp_path, image_folder):
    """config.json must describe the generator the run trains: its init's (here compact), whatever the flags."""
    pre = str(tmp_path / "pre")
    fit(data=[str(image_folder)], out=pre, steps=1, **{**TINY, "arch": "compact", "num_blocks": 3,
                                                        "filters": 8, "upsampler": "shuffle_blur"})  # fmt: skip
    fit(data=[str(image_folder)], out=str(tmp_path / "next"), init=pre, steps=1, **TINY)
    saved = json.loads((tmp_path / "next" / "config.json").read_text())
    assert (saved["arch"], saved["num_blocks"], saved["filters"], saved["upsampler"]) == (
        "compact", 3, 8, "shuffle_blur")  # fmt: skip

"""Faults during training: NaN/Inf steps, corrupt checkpoints, kills, Ctrl-C, a full disk (issue 6, items 1-5).

Tiny models (2 blocks, 8 filters, 24-pixel patches); subprocess tests run the real CLI.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

TINY = dict(batch_size=2, patch_size=24, num_blocks=2, filters=8, image_every=1000, seed=3)
TINY_FLAGS = [
    "--batch-size", "2", "--patch-size", "24", "--num-blocks", "2", "--filters", "8", "--image-every", "1000",
]  # fmt: skip


def _csv_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def _csv_column(run_dir: Path, name: str) -> list[float]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [float(row[name]) for row in csv.DictReader(f)]


def _tb_steps(run_dir: Path, tag: str = "g_loss") -> list[int]:
    import tensorflow as tf

    steps = []
    for path in sorted((run_dir / "tensorboard").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


def _ckpt_value(prefix: str, name: str):
    """A variable from a checkpoint by the start of its key (e.g. ``g_optimizer/_iterations``)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    keys = [k for k in reader.get_variable_to_shape_map() if k.startswith(name)]
    assert keys, f"{name} not in {prefix}"
    return reader.get_tensor(sorted(keys)[0])


def _ckpt_values(prefix: str, name: str) -> list:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    return [reader.get_tensor(k) for k in dtypes if k.startswith(name) and dtypes[k].is_floating]


def _ckpt_steps(run_dir: Path) -> list[int]:
    return sorted(int(p.name[5:-6]) for p in (run_dir / "checkpoints").glob("ckpt-*.index"))


@pytest.fixture
def poison(monkeypatch):
    """Make the content loss NaN (or its gradient NaN) on chosen training steps (1-based)."""
    import tensorflow as tf

    from keras_srgan.losses import content

    counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    state = {"steps": set(), "mode": "loss"}
    original = content.ContentLoss.__call__

    @tf.custom_gradient
    def nan_gradient(x):
        return tf.identity(x), lambda dy: dy * np.float32("nan")

    def patched(self, hr, sr):
        step = counter.assign_add(1)
        bad = tf.reduce_any(tf.equal(step, tf.constant(sorted(state["steps"]) or [-1], tf.int64)))
        if state["mode"] == "gradient":
            sr = tf.cond(bad, lambda: nan_gradient(sr), lambda: tf.identity(sr))
            return original(self, hr, sr)
        loss = original(self, hr, sr)
        return tf.where(bad, tf.constant(np.float32("nan")), loss)

    monkeypatch.setattr(content.ContentLoss, "__call__", patched)

    def set_bad(steps, mode="loss"):
        counter.assign(0)
        state["steps"], state["mode"] = set(steps), mode

    return set_bad


@pytest.mark.parametrize("mode", ["loss", "gradient"])
def test_non_finite_steps_are_skipped_and_counted(tmp_path, image_folder, poison, mode):
    from keras_srgan.train.trainer import fit

    poison({3, 4, 5}, mode)
    result = fit(
        data=[str(image_folder)], out=str(tmp_path / "run"), steps=8, log_every=4, checkpoint_every=4, **TINY
    )
    run = tmp_path / "run"
    assert result.skipped_steps == 3
    assert _csv_column(run, "skipped_steps") == [2.0, 1.0]  # per logged interval: steps 3-4, then 5
    # no update at all for a skipped step: Adam's iteration count is steps - skipped
    assert int(_ckpt_value(str(run / "checkpoints" / "ckpt-8"), "g_optimizer/_iterations")) == 5
    assert all(np.isfinite(w).all() for w in _ckpt_values(str(run / "checkpoints" / "ckpt-8"), ""))


def test_gan_step_skips_both_networks(tmp_path, image_folder, poison):
    from keras_srgan.train.trainer import fit

    poison({2})
    fit(
        data=[str(image_folder)],
        out=str(tmp_path / "run"),
        stage="gan",
        content_loss="mse",
        steps=3,
        log_every=3,
        **TINY,
    )
    prefix = str(tmp_path / "run" / "checkpoints" / "ckpt-3")
    assert int(_ckpt_value(prefix, "g_optimizer/_iterations")) == 2
    assert int(_ckpt_value(prefix, "d_optimizer/_iterations")) == 2
    assert _csv_column(tmp_path / "run", "skipped_steps") == [1.0]


def test_consecutive_bad_steps_stop_and_keep_last_good_checkpoint(tmp_path, image_folder, poison):
    from keras_srgan.errors import UserError
    from keras_srgan.train.trainer import fit

    run = tmp_path / "run"
    poison(set(range(5, 100)))
    with pytest.raises(UserError) as info:
        fit(
            data=[str(image_folder)],
            out=str(run),
            steps=30,
            log_every=2,
            checkpoint_every=2,
            max_bad_steps=4,
            **TINY,
        )
    message = str(info.value)
    assert "4 consecutive steps (5-8)" in message and "ckpt-4" in message and "--lr" in message
    assert _ckpt_steps(run) == [2, 4]  # nothing saved from step 5 on
    assert not (run / "generator.weights.h5").exists()
    assert all(np.isfinite(w).all() for w in _ckpt_values(str(run / "checkpoints" / "ckpt-4"), ""))
    # the kept checkpoint resumes once the cause is gone
    poison(set())
    result = fit(
        data=[str(image_folder)], out=str(run), steps=6, log_every=2, checkpoint_every=2, resume=True, **TINY
    )
    assert (result.start_step, result.final_step, result.skipped_steps) == (4, 6, 0)
    assert _csv_steps(run) == [2, 4, 6]


@pytest.mark.parametrize("stage", ["pretrain", "gan"])
def test_fp16_bad_steps_are_counted_and_stop_the_run(tmp_path, image_folder, poison, stage):
    """Under fp16 loss scaling a real NaN is counted like in fp32, and max_bad_steps stops the run."""
    from keras_srgan.errors import UserError
    from keras_srgan.train.trainer import fit

    poison(set(range(3, 100)))
    with pytest.raises(UserError, match="consecutive steps"):  # before: never counted under fp16
        fit(data=[str(image_folder)], out=str(tmp_path / "run"), stage=stage, content_loss="mse", steps=30,
            log_every=2, checkpoint_every=2, max_bad_steps=3, mixed_precision="fp16", **TINY)  # fmt: skip


def test_schedule_counts_training_steps_not_optimizer_updates(tmp_path, image_folder, poison):
    """Skipped steps do not delay the drop; D and G follow one schedule; the logged lr is the one used."""
    from keras_srgan.train.trainer import fit

    poison({2, 3})
    result = fit(data=[str(image_folder)], out=str(tmp_path / "run"), stage="gan", content_loss="mse",
                 steps=5, lr=1e-3, d_lr=2e-3, lr_drop_steps=[3], log_every=1, **TINY)  # fmt: skip
    assert result.history["lr"] == pytest.approx([1e-3, 1e-3, 1e-3, 1e-4, 1e-4])
    prefix = str(tmp_path / "run" / "checkpoints" / "ckpt-5")
    assert int(_ckpt_value(prefix, "g_optimizer/_iterations")) == 3  # two steps skipped
    assert float(_ckpt_value(prefix, "g_optimizer/_learning_rate")) == pytest.approx(1e-4)
    assert float(_ckpt_value(prefix, "d_optimizer/_learning_rate")) == pytest.approx(2e-4)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A finished 6-step tiny run with checkpoints at steps 2, 4 and 6."""
    from conftest import smooth_image
    from PIL import Image

    from keras_srgan.train.trainer import fit

    root = tmp_path_factory.mktemp("trained")
    images = root / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(40, 48, seed=i)).save(images / f"img{i}.png")
    fit(data=[str(images)], out=str(root / "run"), steps=6, log_every=2, checkpoint_every=2, **TINY)
    return root / "run", images


def _damage(prefix: Path, how: str) -> Path:
    data, index = Path(f"{prefix}.data-00000-of-00001"), Path(f"{prefix}.index")
    if how == "truncate-data":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
        return data
    if how == "truncate-index":
        index.write_bytes(index.read_bytes()[: index.stat().st_size // 3])
        return index
    if how == "flip-data":
        raw = bytearray(data.read_bytes())
        for i in range(len(raw) // 3, len(raw) // 3 + 64):
            raw[i] ^= 0xFF
        data.write_bytes(bytes(raw))
        return data
    if how == "empty-index":
        index.write_bytes(b"")
        return index
    if how == "missing-data":
        data.unlink()
        return data
    raise ValueError(how)


@pytest.mark.parametrize(
    "how", ["truncate-data", "truncate-index", "flip-data", "empty-index", "missing-data"]
)
def test_bad_latest_checkpoint_falls_back_with_warning(tmp_path, trained_run, how):
    from keras_srgan.train.checkpoints import RunCheckpoints
    from keras_srgan.train.config import TrainConfig
    from keras_srgan.train.trainer import build_model

    run_dir, images = trained_run
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    bad = _damage(run / "checkpoints" / "ckpt-6", how)
    model = build_model(TrainConfig(data=[str(images)], out=str(run), steps=6, **TINY))
    ckpt = RunCheckpoints(
        run,
        generator=model.generator,
        g_optimizer=model.g_optimizer,
        rng_state=model.seed_generator.state,
    )
    with pytest.warns(UserWarning) as caught:
        step = ckpt.restore_latest()
    assert step == 4
    messages = [str(w.message) for w in caught if "unusable" in str(w.message)]
    assert len(messages) == 1 and str(bad) in messages[0], messages
    expected = _ckpt_value(str(run / "checkpoints" / "ckpt-4"), "generator/")
    first = [v for v in model.generator.weights if tuple(v.shape) == expected.shape]
    assert any(np.array_equal(v.numpy(), expected) for v in first)


def test_garbled_state_file_still_finds_the_checkpoints(tmp_path, trained_run):
    """The small ``checkpoint`` index is replaced atomically, but if it is garbled the folder is scanned."""
    from keras_srgan.train.checkpoints import RunCheckpoints
    from keras_srgan.train.config import TrainConfig
    from keras_srgan.train.trainer import build_model

    run_dir, images = trained_run
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "checkpoints" / "checkpoint").write_text("model_checkpoint_path: {{{ garbage")
    model = build_model(TrainConfig(data=[str(images)], out=str(run), steps=6, **TINY))
    with pytest.warns(UserWarning, match="checkpoint is unreadable or empty"):
        assert RunCheckpoints.exist(run)
        ckpt = RunCheckpoints(
            run,
            generator=model.generator,
            g_optimizer=model.g_optimizer,
            rng_state=model.seed_generator.state,
        )
        assert ckpt.restore_latest() == 6
    assert (run / "checkpoints" / "checkpoint.unreadable").exists()  # kept for inspection
    assert 'model_checkpoint_path: "ckpt-6"' in (run / "checkpoints" / "checkpoint").read_text()


def test_truncated_latest_checkpoint_resume_end_to_end(tmp_path, trained_run):
    from keras_srgan.train.trainer import fit

    run_dir, images = trained_run
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    _damage(run / "checkpoints" / "ckpt-6", "truncate-data")
    with pytest.warns(UserWarning, match="ckpt-6.data-00000-of-00001"):
        result = fit(
            data=[str(images)], out=str(run), steps=8, log_every=2, checkpoint_every=2, resume=True, **TINY
        )
    assert (result.start_step, result.final_step) == (4, 8)
    assert _csv_steps(run) == [2, 4, 6, 8]
    assert _tb_steps(run) == [2, 4, 6, 8]


def test_all_checkpoints_bad_is_a_clear_error(tmp_path, trained_run):
    from keras_srgan.errors import UserError
    from keras_srgan.train.trainer import fit

    run_dir, images = trained_run
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    for step in (2, 4, 6):
        _damage(run / "checkpoints" / f"ckpt-{step}", "truncate-index")
    with warnings.catch_warnings(record=True), pytest.raises(UserError, match="every checkpoint is unusable"):
        fit(data=[str(images)], out=str(run), steps=8, resume=True, **TINY)


# ---------------------------------------------------------------- disk full / unwritable folder


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (needs root and mount); skipped with the reason when it cannot be mounted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) to create a small tmpfs")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` so that about ``leave`` bytes stay free."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_disk_full_during_checkpoint(small_disk, image_folder):
    from keras_srgan.errors import UserError
    from keras_srgan.train.checkpoints import RunCheckpoints
    from keras_srgan.train.trainer import fit

    run = small_disk / "run"
    fit(data=[str(image_folder)], out=str(run), steps=2, log_every=2, checkpoint_every=2, **TINY)
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir() if p.name != "checkpoint"}
    filler = _fill(small_disk, leave=24 * 1024)  # room for logs, not for a ~200 KB checkpoint
    with pytest.raises(UserError) as info:
        fit(
            data=[str(image_folder)],
            out=str(run),
            steps=4,
            log_every=2,
            checkpoint_every=2,
            resume=True,
            **TINY,
        )
    message = str(info.value)
    assert "cannot write the checkpoint for step 4" in message and "ckpt-2" in message, message
    after = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir() if p.name != "checkpoint"}
    assert after == before  # no partial ckpt-4 files or temp folders; ckpt-2 untouched
    assert 'model_checkpoint_path: "ckpt-2"' in (run / "checkpoints" / "checkpoint").read_text()
    filler.unlink()
    assert RunCheckpoints.exist(run)
    result = fit(
        data=[str(image_folder)], out=str(run), steps=4, log_every=2, checkpoint_every=2, resume=True, **TINY
    )
    assert (result.start_step, result.final_step) == (2, 4)
    assert _csv_steps(run) == [2, 4]


def test_disk_full_for_final_weights_leaves_no_temp_file(small_disk, image_folder, monkeypatch):
    from keras_srgan.errors import UserError
    from keras_srgan.train import checkpoints as ckpt_module
    from keras_srgan.train.trainer import fit

    run = small_disk / "run"
    original_save = ckpt_module.RunCheckpoints.save

    def save_then_fill(self, step):
        path = original_save(self, step)
        _fill(small_disk, leave=4 * 1024)  # the final generator file no longer fits
        return path

    monkeypatch.setattr(ckpt_module.RunCheckpoints, "save", save_then_fill)
    with pytest.raises(UserError, match="final generator weights.*--resume"):
        fit(data=[str(image_folder)], out=str(run), steps=2, log_every=2, checkpoint_every=2, **TINY)
    assert not list(run.glob(".tmp-*")) and not (run / "generator.weights.h5").exists()
    assert _ckpt_steps(run) == [2]


# ---------------------------------------------------------------- kills and Ctrl-C (subprocesses)

KILL_WRAPPER = """
import os, signal, sys
import tensorflow as tf
mode, at_save = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}
if mode == "orphan":
    # killed after the checkpoint files were renamed into place, before the state file was updated
    original = tf.train.CheckpointManager._sweep
    def hook(self):
        calls["n"] += 1
        if calls["n"] == at_save:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self)
    tf.train.CheckpointManager._sweep = hook
elif mode == "partial":
    # killed while the data file was being written: a half file in the temp folder TF writes to
    original = tf.train.Checkpoint._write  # what CheckpointManager.save calls
    def hook(self, file_prefix, options=None):
        calls["n"] += 1
        if calls["n"] == at_save:
            temp = file_prefix + "_temp"
            os.makedirs(temp, exist_ok=True)
            with open(os.path.join(temp, "part-00000-of-00001.data-00000-of-00001"), "wb") as f:
                f.write(os.urandom(1000))
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, file_prefix, options=options)
    tf.train.Checkpoint._write = hook
from keras_srgan.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _env() -> dict:
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    env.pop("TF_CONFIG", None)
    return env


def _wait_for(predicate, proc, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"process ended early (rc {proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_kills_lose_nothing(tmp_path, image_folder):
    """SIGKILL at a random moment and inside two phases of a checkpoint write; resume each time."""
    run = tmp_path / "run"
    total = 120
    train = [
        "train", "--data", str(image_folder), "--out", str(run), "--steps", str(total),
        "--log-every", "2", "--checkpoint-every", "4", *TINY_FLAGS,
    ]  # fmt: skip
    cli = [sys.executable, "-m", "keras_srgan"]
    wrapper = tmp_path / "kill_wrapper.py"
    wrapper.write_text(textwrap.dedent(KILL_WRAPPER))
    rng = random.Random(6)
    survived = 0

    # 1. SIGKILL at a random moment once training is under way
    proc = subprocess.Popen(
        [*cli, *train], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Kill soon after a random early checkpoint, not after a random time, so that steps are left for the
    # Ctrl-C phase below however fast the machine is.
    target = rng.choice((4, 8, 12))
    _wait_for(lambda: max(_ckpt_steps(run) or [0]) >= target, proc)
    proc.kill()
    proc.wait()
    killed_at = max(_ckpt_steps(run) or [0])
    survived += 1

    # 2./3. resume, and get killed in the middle of the next checkpoint write (two different phases)
    for mode in ("orphan", "partial"):
        done = subprocess.run(
            [sys.executable, str(wrapper), mode, "1", *train, "--resume"],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == -signal.SIGKILL, (mode, done.stdout[-1500:], done.stderr[-1500:])
        survived += 1
    assert list((run / "checkpoints").glob("*_temp*")), "the partial write should have left its temp folder"

    # 4. resume to the end (signals: test_signals_checkpoint_the_step_reached_and_resume_exactly)
    done = subprocess.run([*cli, *train, "--resume"], env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"done: step {total}" in done.stdout
    expected = list(range(2, total + 1, 2))
    assert _csv_steps(run) == expected  # no duplicated or missing rows
    assert _tb_steps(run) == expected  # TensorBoard too
    assert killed_at >= 4 and survived == 3


# ---------------------------------------------------------------- SIGTERM / SIGINT: preemption (issue 26)

# Sends the process a second SIGTERM from inside the checkpoint write, as an impatient scheduler would.
SECOND_SIGNAL_WRAPPER = """
import os, signal, sys
import tensorflow as tf
original = tf.train.Checkpoint._write
def hook(self, file_prefix, options=None):
    os.kill(os.getpid(), signal.SIGTERM)
    return original(self, file_prefix, options=options)
tf.train.Checkpoint._write = hook
from keras_srgan.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _signal_run(run: Path, image_folder: Path, steps: int) -> list[str]:
    # noise drawn from the run's RNG in every step, so the RNG stream must continue across a resume too
    return [
        "train", "--data", str(image_folder), "--out", str(run), "--steps", str(steps), "--log-every", "2",
        "--checkpoint-every", "100000", "--degradation", "gaussian", "--noise-sigma", "0.05", *TINY_FLAGS,
    ]  # fmt: skip


def _start(args: list[str], sigint) -> subprocess.Popen:
    """A training process whose SIGINT starts as ``sigint`` (SIG_IGN: as a shell's ``&`` job inherits it)."""
    return subprocess.Popen(
        args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )  # fmt: skip


def _stopped_at(err: str, run: Path) -> int:
    line = [x for x in err.splitlines() if x.startswith("error: interrupted at step ")]
    assert len(line) == 1 and line[0].endswith(f"continue with: keras-srgan train --out {run} --resume"), err[
        -2000:
    ]
    return int(line[0].split("interrupted at step ")[1].split(";")[0])


def _losses(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "sec_per_step"} for row in csv.DictReader(f)]


@pytest.mark.slow
def test_signals_checkpoint_the_step_reached_and_resume_exactly(tmp_path, image_folder):
    """SIGTERM (schedulers, spot VMs, docker stop) and SIGINT (Ctrl-C): the step reached is checkpointed, a
    second signal during that write changes nothing, an inherited SIG_IGN is respected, and the resumed
    run ends bit-identical to one that was never interrupted (weights, logged losses)."""
    run, reference = tmp_path / "run", tmp_path / "reference"
    cli = [sys.executable, "-m", "keras_srgan"]
    endless = 100_000
    wrapper = tmp_path / "second_signal.py"
    wrapper.write_text(textwrap.dedent(SECOND_SIGNAL_WRAPPER))

    # 1. SIGINT ignored by the parent stays ignored; SIGTERM stops the run (and a second one during the save)
    proc = _start([sys.executable, str(wrapper), *_signal_run(run, image_folder, endless)], signal.SIG_IGN)
    _wait_for(lambda: (run / "metrics.csv").exists() and len(_csv_steps(run)) >= 2, proc)
    proc.send_signal(signal.SIGINT)
    rows = len(_csv_steps(run))
    _wait_for(lambda: len(_csv_steps(run)) >= rows + 2, proc)  # still training
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "SIGTERM: already stopping" in err, err[-2000:]
    first = _stopped_at(err, run)
    assert _ckpt_steps(run) == [first] and not list((run / "checkpoints").glob("*_temp*"))
    assert max(_csv_steps(run)) <= first

    # 2. resumed, it says from where; SIGINT with its default action stops it the same way
    proc = _start([*cli, *_signal_run(run, image_folder, endless), "--resume"], signal.SIG_DFL)
    _wait_for(lambda: max(_csv_steps(run)) >= first + 4, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert (
        f"resuming {run} from step {first} ({run / 'checkpoints' / f'ckpt-{first}'}); settings as saved"
        in out
    )
    second = _stopped_at(err, run)
    assert second > first and second in _ckpt_steps(run)
    assert "\x1b" not in out and "\r" not in out  # plain lines when stdout is not a terminal

    # 3. resumed to the end: the same run as one never interrupted
    final = second + 5
    done = subprocess.run(
        [*cli, *_signal_run(run, image_folder, final), "--resume"], env=_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"changed from the saved run: steps: {endless} -> {final}" in done.stdout
    from keras_srgan.train.trainer import fit  # the uninterrupted run, in this process (same settings)

    straight = fit(
        data=[str(image_folder)], out=str(reference), steps=final, log_every=2, checkpoint_every=100_000,
        degradation="gaussian", noise_sigma=0.05, batch_size=2, patch_size=24, num_blocks=2, filters=8,
        image_every=1000,
    )  # fmt: skip
    assert done.stdout.split("generator fingerprint: ")[1].split()[0] == straight.fingerprint
    # A row is the mean over its log interval; one cut by a stop (odd step) covers fewer steps once resumed.
    partial = {stop + 1 for stop in (first, second) if stop % 2}
    ours, theirs = _losses(run), _losses(reference)
    assert [r["step"] for r in ours] == [r["step"] for r in theirs]
    assert [r for r in ours if int(r["step"]) not in partial] == [
        r for r in theirs if int(r["step"]) not in partial
    ]
    log = (run / "train.log").read_text()
    assert f"error: interrupted at step {first};" in log and f"resuming {run} from step {second}" in log


def test_fit_from_python_stops_on_sigterm_and_restores_the_handlers(tmp_path, image_folder, monkeypatch):
    """``fit()`` in a program: SIGTERM at step 4 ends the loop there, checkpointed, as the CLI does."""
    from keras_srgan.train import logs
    from keras_srgan.train.trainer import TrainingInterrupted, fit

    original = logs.MetricsCSV.write

    def write_then_signal(self, step, values):
        original(self, step, values)
        if step == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(logs.MetricsCSV, "write", write_then_signal)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as info:
        fit(data=[str(image_folder)], out=str(run), steps=50, log_every=2, checkpoint_every=100, **TINY)
    assert (info.value.step, info.value.exit_code) == (4, 143)
    assert _ckpt_steps(run) == [4] and _csv_steps(run) == [2, 4]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


# ---------------------------------------------------------------- disk full in upscale and export (others' code)


def test_disk_full_during_upscale_is_an_error_line_and_leaves_no_partial_file(
    small_disk, tiny_generator, tmp_path
):
    from conftest import smooth_image
    from PIL import Image

    from keras_srgan.inference.batch import upscale_files
    from keras_srgan.inference.upscale import Upscaler

    source = tmp_path / "in.png"
    Image.fromarray(smooth_image(48, 48, seed=1)).save(source)
    out = small_disk / "out"
    upscaler = Upscaler(tiny_generator)
    written, errors, _ = upscale_files([str(source)], out, lambda: upscaler, show_progress=False)
    assert len(written) == 1 and not errors
    first = written[0].read_bytes()
    _fill(small_disk, leave=2 * 1024)
    written, errors, _ = upscale_files(
        [str(source)], small_disk / "out2", lambda: upscaler, show_progress=False
    )
    assert not written and len(errors) == 1 and str(source) in errors[0], errors
    assert not list((small_disk / "out2").iterdir())  # nothing half-written under any name
    assert (out / "in.png").read_bytes() == first  # the earlier output is intact


def _export_on_full_disk(disk: Path, generator, fmt: str):
    from keras_srgan.exporters import export

    _fill(disk, leave=8 * 1024)
    out = disk / "exported"
    try:
        export(generator, format=fmt, out_dir=out)
    except Exception as exc:  # noqa: BLE001 (the type is what is being checked)
        return exc, out
    raise AssertionError("export succeeded on a full disk")


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_disk_full_during_export(small_disk, tiny_generator, fmt):
    """No half-written file under a final name, and one clear error line."""
    from keras_srgan.errors import UserError

    error, out = _export_on_full_disk(small_disk, tiny_generator, fmt)
    files = [p.relative_to(out) for p in out.rglob("*") if p.is_file()] if out.exists() else []
    # temporary names start with "."; anything else would look like a finished export
    assert not [p for p in files if not any(part.startswith(".") for part in p.parts)], files
    assert not (out / "manifest.json").exists()
    assert isinstance(error, UserError), repr(error)
    assert str(out) in str(error) and "\n" not in str(error)

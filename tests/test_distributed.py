"""tf.distribute training (issue 6, items 8-9): mirrored over logical CPUs and two local workers.

Logical CPU devices and multi-worker collectives must be set up before TensorFlow initialises, so every
test here runs in fresh subprocesses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

TINY_FLAGS = [
    "--batch-size", "4", "--patch-size", "24", "--num-blocks", "2", "--filters", "8", "--image-every", "1000",
    "--log-every", "2", "--checkpoint-every", "2", "--seed", "5",
]  # fmt: skip


def _env(**extra) -> dict:
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _h5_weights(path: Path) -> dict[str, np.ndarray]:
    import h5py

    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
        )
    return found


def _tail(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(("I0000", "W0000", "E0000")))[
        -3000:
    ]


MIRRORED_SCRIPT = """
import json, sys
from keras_srgan.distribute import configure_cpu_replicas
configure_cpu_replicas(2)  # before anything initialises TensorFlow; /cpu:0 also serves the 1-device run
from keras_srgan.train.trainer import fit
data, out = sys.argv[1], sys.argv[2]
report = {}
for stage in ("pretrain", "gan"):
    common = dict(data=[data], stage=stage, content_loss="mse", mixed_precision="off", steps=4 if stage == "pretrain" else 2,
                  batch_size=4, patch_size=24,
                  num_blocks=2, filters=8, log_every=2, checkpoint_every=4, image_every=1000, seed=5)
    one = fit(out=f"{out}/{stage}-one", strategy="default", **common)
    two = fit(out=f"{out}/{stage}-two", strategy="mirrored", cpu_replicas=2, **common)
    report[stage] = {"replicas": [one.replicas, two.replicas], "one": one.history, "two": two.history}
print(json.dumps(report))
"""


@pytest.mark.slow
@pytest.mark.cpu_kind
def test_mirrored_two_cpus_matches_one_device(tmp_path, image_folder):
    """Same global batch, same seed: 2 replicas with synchronized BatchNorm train the same weights.

    Both stages (pretrain, and GAN where the discriminator's BatchNorm matters too) in one process.
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MIRRORED_SCRIPT), str(image_folder), str(tmp_path)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, _tail(done.stderr)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for stage, result in report.items():
        assert result["replicas"] == [1, 2]
        # logged metrics are global-batch values, not one replica's (those differ by 10% and more)
        for key in ("g_loss", "psnr"):
            np.testing.assert_allclose(
                result["two"][key], result["one"][key], rtol=1e-4, atol=1e-5, err_msg=key
            )
        # The GAN stage is chaotic at the float-noise level: G's [0, 1] output rounds to steps of 6e-8, so the
        # 1e-10 summation-order noise of 1 vs 2 replicas flips a few output values by one step, and Adam turns
        # gradients that are ~0 into steps of up to the learning rate (1e-4); BN's moving statistics follow.
        # Hence two GAN steps, and bounds from what was measured over seeds 5-8 (fp32, weights of G):
        #   AMX, AVX512 kernels: max 6.4e-6, no weight off;
        #   AVX2 kernels (ONEDNN_MAX_CPU_ISA=AVX2 on the AMX machine): seed 5 max 2.2e-4 (body BN's moving
        #   variance), 249 of 11,691 weights off (2.1%); seeds 6-8 as on AMX;
        #   the defect this guards against, unsynchronised BN (seed 5): max 4.3e-2, 2,648 off (22.6%).
        # Bounds: max 5e-4, 5% off. D's metrics agree to 1.3e-3 (relative) on AMX.
        for key in ["d_loss", "d_real"] if stage == "gan" else []:
            np.testing.assert_allclose(
                result["two"][key], result["one"][key], rtol=5e-3, atol=1e-5, err_msg=key
            )
        one = _h5_weights(tmp_path / f"{stage}-one" / "generator.weights.h5")
        two = _h5_weights(tmp_path / f"{stage}-two" / "generator.weights.h5")
        assert one.keys() == two.keys() and len(one) > 10
        off, total = 0, 0
        for name in one:  # BN moving statistics included: they come from the global batch on both
            if stage == "pretrain":
                np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-5, err_msg=name)
                continue
            off += int(np.sum(np.abs(two[name] - one[name]) > 1e-5 + 1e-4 * np.abs(one[name])))
            total += one[name].size
            assert np.max(np.abs(two[name] - one[name])) <= 5e-4, f"gan {name}"
        assert off <= 0.05 * total, f"gan: {off} of {total} weights differ"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_workers(args_for, count: int = 2) -> list[subprocess.Popen]:
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(count)]}
    procs = []
    for index in range(count):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "keras_srgan", *args_for(index)],
                env=_env(TF_CONFIG=tf_config),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def _run_workers(args_for, count: int = 2, timeout: float = 600) -> list[subprocess.CompletedProcess]:
    procs = _start_workers(args_for, count)
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _fingerprint(stdout: str) -> str:
    return stdout.split("generator fingerprint: ")[1].split()[0]


@pytest.mark.slow
def test_two_workers_pretrain_and_gan_then_resume_on_one_device(tmp_path, image_folder):
    outs = [tmp_path / "pre0", tmp_path / "pre1"]

    def pretrain(i):
        return [
            "train",
            "--data",
            str(image_folder),
            "--out",
            str(outs[i]),
            "--steps",
            "4",
            "--strategy",
            "multiworker",
            *TINY_FLAGS,
        ]

    results = _run_workers(pretrain)
    for r in results:
        assert r.returncode == 0, _tail(r.stderr)
    assert "worker finished (the chief wrote the run's files)" in results[1].stdout
    assert _fingerprint(results[0].stdout) == _fingerprint(results[1].stdout)  # bit-identical
    assert not outs[1].exists()  # the non-chief's checkpoints went to a scratch folder, now deleted
    assert sorted(p.name for p in (outs[0] / "checkpoints").glob("*.index")) == [
        "ckpt-2.index",
        "ckpt-4.index",
    ]
    assert [line.split(",")[0] for line in (outs[0] / "metrics.csv").read_text().splitlines()[1:]] == [
        "2",
        "4",
    ]

    gan = tmp_path / "gan"

    def gan_stage(i):
        out = gan if i == 0 else tmp_path / "gan-worker1"
        return [
            "train", "--stage", "gan", "--content-loss", "mse", "--init", str(outs[0]), "--data", str(image_folder),
            "--out", str(out), "--steps", "4", "--strategy", "multiworker", *TINY_FLAGS,
        ]  # fmt: skip

    results = _run_workers(gan_stage)
    for r in results:
        assert r.returncode == 0, _tail(r.stderr)
    assert _fingerprint(results[0].stdout) == _fingerprint(results[1].stdout)

    # the chief's 2-replica checkpoint resumes on one device (a different number of replicas)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_srgan",
            "train",
            "--out",
            str(gan),
            "--resume",
            "--strategy",
            "default",
            "--steps",
            "6",
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, _tail(done.stderr)
    assert "done: step 6" in done.stdout
    steps = [line.split(",")[0] for line in (gan / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["2", "4", "6"]
    assert json.loads((gan / "config.json").read_text())["strategy"] == "default"


def test_multiworker_without_tf_config_is_a_clear_error(monkeypatch):
    from keras_srgan.distribute import make_strategy
    from keras_srgan.errors import UserError

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="--strategy multiworker needs the TF_CONFIG environment variable"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UserError, match="TF_CONFIG is not valid JSON"):
        make_strategy("multiworker")
    with pytest.raises(UserError, match="strategy must be one of"):
        make_strategy("tpu")


def test_chief_selection():
    """The chief writes files: task 'chief', else worker 0; a local strategy is always the chief."""
    from types import SimpleNamespace

    from keras_srgan.distribute import is_chief

    def fake(task_type, task_id, cluster):
        spec = SimpleNamespace(as_dict=lambda: cluster)
        resolver = SimpleNamespace(task_type=task_type, task_id=task_id, cluster_spec=lambda: spec)
        return SimpleNamespace(cluster_resolver=resolver)

    workers = {"worker": ["a:1", "b:2"]}
    with_chief = {"chief": ["c:3"], **workers}
    assert is_chief(SimpleNamespace()) and is_chief(fake(None, None, {}))
    assert is_chief(fake("worker", 0, workers)) and not is_chief(fake("worker", 1, workers))
    assert is_chief(fake("chief", 0, with_chief)) and not is_chief(fake("worker", 0, with_chief))


def test_batch_norm_synchronized_in_every_nested_layer():
    """Public walk (no Keras private names): SRResNet has 2 BN per residual block + 1 after them, SRGAN's
    discriminator 7 (every conv block but the first)."""
    import keras

    from keras_srgan.distribute import synchronize_batch_norm
    from keras_srgan.models import build_generator
    from keras_srgan.models.discriminator import build_discriminator

    generator, discriminator = build_generator(scale=4, num_blocks=3, filters=8), build_discriminator()
    synchronize_batch_norm(generator, discriminator)
    for model, expected in ((generator, 2 * 3 + 1), (discriminator, 7)):
        norms = [
            layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)
        ]
        assert len(norms) == expected and all(layer.synchronized for layer in norms)


@pytest.mark.slow
def test_sigterm_on_one_worker_stops_every_worker_at_the_same_step(tmp_path, image_folder):
    """A preempted worker must not leave the others waiting in a collective: all stop after the same step,
    the chief checkpoints it, each says how to continue and exits 143."""
    import signal
    import time

    outs = [tmp_path / "chief", tmp_path / "worker1"]

    def endless(i):
        return [
            "train", "--data", str(image_folder), "--out", str(outs[i]), "--steps", "100000",
            "--strategy", "multiworker", *TINY_FLAGS, "--checkpoint-every", "100000",
        ]  # fmt: skip

    procs = _start_workers(endless)
    csv_path = outs[0] / "metrics.csv"
    deadline = time.monotonic() + 300
    while not (csv_path.exists() and len(csv_path.read_text().splitlines()) >= 3):  # two logged intervals
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "workers did not start"
        time.sleep(0.1)
    procs[1].send_signal(signal.SIGTERM)
    steps = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 143, _tail(err)
        line = [x for x in err.splitlines() if x.startswith("error: interrupted at step ")]
        assert len(line) == 1 and f"--out {outs[procs.index(proc)]} --resume" in line[0], _tail(err)
        steps.append(int(line[0].split("interrupted at step ")[1].split(";")[0]))
    assert steps[0] == steps[1]
    assert sorted(p.name for p in (outs[0] / "checkpoints").glob("*.index")) == [f"ckpt-{steps[0]}.index"]

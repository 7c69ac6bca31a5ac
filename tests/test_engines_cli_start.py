"""``keras-srgan upscale`` with a warm OpenVINO cache runs without importing TensorFlow (start-up)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import smooth_image

# the CLI in a fresh process; prints whether TensorFlow was imported
CLI = (
    "import sys\n"
    "from keras_srgan.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "print('tensorflow' in sys.modules)\n"
    "sys.exit(rc)\n"
)


def test_warm_cli_upscale_does_not_import_tensorflow(tmp_path, tiny_weights, monkeypatch):
    pytest.importorskip("openvino")
    from PIL import Image

    from keras_srgan.inference import engines

    if engines.has_gpu():
        pytest.skip("a GPU picks TensorFlow")
    Image.fromarray(smooth_image(20, 24)).save(tmp_path / "in.png")
    env = {**os.environ, engines.CACHE_ENV: str(tmp_path / "cache")}
    env.pop(engines.ENGINE_ENV, None)
    outputs = []
    for run in ("cold", "warm"):
        out = tmp_path / run
        args = ["upscale", str(tmp_path / "in.png"), "-o", str(out), "--weights", str(tiny_weights)]
        done = subprocess.run(
            [sys.executable, "-c", CLI, *args], capture_output=True, text=True, env=env, timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:]
        imported = done.stdout.strip().splitlines()[-1]
        assert imported == ("True" if run == "cold" else "False"), run  # cold: builds the model
        assert done.stderr == ""  # TensorFlow's C++ start-up lines stay muted when it is imported
        outputs.append(np.asarray(Image.open(out / "in.png")))
    np.testing.assert_array_equal(outputs[0], outputs[1])  # the same engine either way: identical output

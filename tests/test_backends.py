"""The generator on every Keras backend: ``load_generator`` under ``KERAS_BACKEND=jax`` (and torch where it
is installed) gives TensorFlow's outputs, without importing TensorFlow.

Keras reads the backend once per process, so each other backend runs in a child process; the parent
(TensorFlow, as conftest sets it) computes the reference outputs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

CHILD = r"""
import json, sys
import numpy as np
import keras
import keras_srgan

result = {"backend": keras.backend.backend()}
for i, spec in enumerate(sys.argv[2:]):
    generator = keras_srgan.load_generator(spec)
    x = np.load(sys.argv[1])
    np.save(f"{sys.argv[1]}.{i}.out.npy", keras.ops.convert_to_numpy(generator(x, training=False)))
result["tensorflow_imported"] = "tensorflow" in sys.modules
print(json.dumps(result))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_generator_on_another_backend_equals_tensorflow(backend, tmp_path, tiny_weights):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (jax is in the test extra; torch is optional)")
    import keras_srgan

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (1, 21, 26, 3)).astype(np.float32)  # odd, non-square
    path = tmp_path / "x.npy"
    np.save(path, x)
    specs = ["srresnet", str(tiny_weights)]  # a shipped name and a run-style .weights.h5 written by TF
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), *specs], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"backend": backend, "tensorflow_imported": False}  # built from keras.ops alone
    assert keras.backend.backend() == "tensorflow"
    for i, spec in enumerate(specs):
        expected = keras.ops.convert_to_numpy(keras_srgan.load_generator(spec)(x, training=False))
        out = np.load(f"{path}.{i}.out.npy")
        assert out.shape == expected.shape == (1, 84, 104, 3)
        # measured max |diff| under jax: 2.7e-6 srresnet, 7.8e-8 the tiny model (the issue asks for 1e-4)
        np.testing.assert_allclose(out, expected, rtol=0, atol=2e-5, err_msg=spec)

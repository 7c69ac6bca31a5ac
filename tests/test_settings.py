"""Settings users can see: every environment variable the package reads is in the table, the help and the docs;
the library never sets KERAS_BACKEND; what needs TensorFlow says so in one line under another backend."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from keras_srgan.settings import SETTINGS

REPO = Path(__file__).resolve().parents[1]
READ = re.compile(r"""(?:environ\.get|getenv|environ\[)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
NAMED = re.compile(r"""^[A-Z_]+_ENV\s*=\s*["']([A-Z][A-Z0-9_]+)["']""", re.M)


def _read_by_source() -> set[str]:
    names = set()
    for folder in ("keras_srgan", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            names |= set(READ.findall(text)) | set(NAMED.findall(text))
    return names


def test_every_variable_read_is_in_the_table_and_the_docs():
    listed = {s.name for s in SETTINGS}
    missing = _read_by_source() - listed
    assert not missing, f"read but not documented in keras_srgan/settings.py: {sorted(missing)}"
    docs = (REPO / "docs" / "settings.md").read_text()
    assert [name for name in listed if f"`{name}`" not in docs] == []


def test_help_lists_them_and_the_library_sets_no_backend():
    code = (
        "import os, keras_srgan, keras_srgan.cli as c; "
        "print('KERAS_BACKEND' in os.environ); print(c.build_parser().format_help())"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    first, help_text = out.stdout.split("\n", 1)
    assert first == "False"
    assert all(s.name in help_text for s in SETTINGS)


def test_tensorflow_commands_refuse_another_backend_in_one_line(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "-c", "import sys; from keras_srgan.cli import main; sys.exit(main())"]
    out = subprocess.run(
        [*cmd, "evaluate", "--bicubic", "--data", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: keras-srgan evaluate needs the TensorFlow Keras backend, but KERAS_BACKEND is 'jax': "
        "unset it or set KERAS_BACKEND=tensorflow (only load_generator runs on other backends)"
    ]

"""Every environment variable the package reads, in one table (shown by ``keras-srgan --help`` and
docs/settings.md), and the one check that TensorFlow is the active Keras backend where it is needed.

Import-free on purpose (the CLI builds its help from it before TensorFlow is imported). The package never
sets ``KERAS_BACKEND``: Keras' own default (TensorFlow, unless ``~/.keras/keras.json`` says otherwise)
applies, and what needs TensorFlow says so in one line when another backend is active.
"""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

from keras_srgan.errors import UserError


class Setting(NamedTuple):
    name: str
    default: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("KERAS_BACKEND", "tensorflow (Keras' default)", "Keras backend; read once when Keras is imported. "
            "Training, evaluation, upscaling and export need tensorflow; load_generator also runs on jax/torch"),
    Setting("KERAS_SRGAN_PRECISION", "auto", "inference precision when --precision is auto: fp32 | bf16"),
    Setting("KERAS_SRGAN_ENGINE", "auto", "inference engine when --engine is auto: openvino | tensorflow"),
    Setting("KERAS_SRGAN_CACHE_DIR", "$XDG_CACHE_HOME/keras-srgan or ~/.cache/keras-srgan",
            "where converted OpenVINO models are cached (empty: no cache)"),
    Setting("KERAS_SRGAN_CPU_REPLICAS", "2", "logical CPU devices of --strategy mirrored without GPUs"),
    Setting("KERAS_SRGAN_TF_LOGS", "unset", "1 keeps TensorFlow's C++ start-up lines on stderr (the CLI mutes them)"),
    Setting("TF_CPP_MIN_LOG_LEVEL", "2 (set by the CLI only when unset)", "TensorFlow's C++ log level"),
    Setting("TF_CONFIG", "unset", "the cluster of --strategy multiworker (TensorFlow's variable)"),
    Setting("XDG_CACHE_HOME", "~/.cache", "base of the default cache folder"),
    Setting("KERAS_SRGAN_DATA", "../shared/data", "benchmark images for the tests and benchmarks/ (Set5, ...)"),
    Setting("KERAS_SRGAN_BENCH_RESULTS", "<tmp>/keras-srgan-benchmarks", "where benchmarks/ write their JSON"),
    Setting("TF_ENABLE_ONEDNN_OPTS", "on", "TensorFlow's oneDNN switch (recorded by benchmarks/)"),
    Setting("ONEDNN_MAX_CPU_ISA", "not capped", "oneDNN's ISA cap (recorded by benchmarks/)"),
)  # fmt: skip


def help_epilog() -> str:
    """The settings table as plain text for ``keras-srgan --help``."""
    width = max(len(s.name) for s in SETTINGS)
    lines = ["environment variables (docs/settings.md):"]
    lines += [f"  {s.name:<{width}}  {s.meaning} [default: {s.default}]" for s in SETTINGS]
    return "\n".join(lines)


def require_tensorflow_backend(what: str) -> None:
    """One clear error line when ``what`` (training, export, ...) would run under another Keras backend."""
    keras = sys.modules.get("keras")  # Keras' own answer once imported, else what it will pick
    if keras is not None and hasattr(keras, "config"):
        backend = keras.config.backend()
    else:
        backend = os.environ.get("KERAS_BACKEND", "").strip() or "tensorflow"
    if backend != "tensorflow":
        raise UserError(
            f"{what} needs the TensorFlow Keras backend, but KERAS_BACKEND is {backend!r}: "
            f"unset it or set KERAS_BACKEND=tensorflow (only load_generator runs on other backends)"
        )

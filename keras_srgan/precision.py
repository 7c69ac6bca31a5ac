"""Precision: one vocabulary (``auto | fp32 | bf16 | fp16``; fp16 for training only), the one place that
reads the machine's features, and the resolver of ``auto`` for training and for each inference engine.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from keras_srgan.defaults import PRECISION_ALIASES, PRECISION_NAMES, TRAINING_PRECISIONS
from keras_srgan.errors import UserError

# The Keras dtype policy each training precision sets.
TRAINING_POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def normalise(value: str, allowed: tuple[str, ...] = PRECISION_NAMES, what: str = "precision") -> str:
    """``value`` in the one vocabulary; ``off``, training's older name of fp32, is read as fp32 so recipes
    and runs that say it resume unchanged. Else one error line."""
    name = PRECISION_ALIASES.get(value, value)
    if name not in allowed:
        raise UserError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return name


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, ...]:
    """/proc/cpuinfo's lines (Linux; empty elsewhere): the one place the package and benchmarks/ read it."""
    if sys.platform != "linux":
        return ()
    try:
        return tuple(Path("/proc/cpuinfo").read_text().splitlines())
    except OSError:
        return ()


def _cpuinfo_field(key: str) -> str | None:
    for line in _cpuinfo():
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return None


# oneDNN's ISA caps (``ONEDNN_MAX_CPU_ISA``) below which the CPU's bf16 (AVX512_BF16, AMX) is not used
_CAPS_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
_CAPS_WITHOUT_AMX = _CAPS_WITHOUT_BF16 | {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512"}


def cpu_flags() -> frozenset[str]:
    """The first CPU's ISA flags (``avx512_bf16``, ``amx_bf16``, ...); empty when unknown.

    ``ONEDNN_MAX_CPU_ISA`` (e.g. ``AVX2``) holds oneDNN, and so TensorFlow's kernels, below the CPU's
    best: the bf16 flags it rules out are left out here too, so the package chooses as on such a CPU.
    """
    flags = frozenset((_cpuinfo_field("flags") or "").split())
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if cap in _CAPS_WITHOUT_BF16:
        flags -= {"avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"}
    elif cap in _CAPS_WITHOUT_AMX:
        flags -= {"amx_bf16", "amx_tile", "amx_int8"}
    return flags


def cpu_model() -> str | None:
    """The CPU's model name as the kernel reports it (None when unknown): what benchmarks name."""
    return _cpuinfo_field("model name")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (AVX512_BF16 or AMX); bf16 is slower without them."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_has_amx() -> bool:
    """True when the CPU has AMX bf16 tiles: where OpenVINO's bf16 is faster than its fp32 (measured)."""
    return "amx_bf16" in cpu_flags()


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve(value: str, use: str = "training") -> str:
    """``auto`` -> what runs fastest here for ``use`` (training, or the tensorflow / openvino engine).

    Training and TensorFlow inference: bf16 on a CPU-only machine whose CPU has native bf16 (AVX512_BF16
    or AMX; measured 1.29x pretraining, 1.66x GAN, 1.8x inference), else fp32; on a GPU the choice is the
    user's. OpenVINO: bf16 with AMX, fp32 without (its bf16 ran at half its fp32 speed below AMX).
    """
    value = normalise(value)
    if value != "auto":
        return value
    if use == "openvino":
        return "bf16" if cpu_has_amx() else "fp32"
    if has_gpu():
        return "fp32"  # measured on CPUs only; a GPU has its own fast paths
    return "bf16" if cpu_has_bf16() else "fp32"


def resolve_training(value: str) -> str:
    """Training's ``--mixed-precision``: ``auto | fp32 | bf16 | fp16`` (``off`` = fp32) -> a concrete one."""
    return resolve(normalise(value, TRAINING_PRECISIONS, "mixed_precision"), "training")

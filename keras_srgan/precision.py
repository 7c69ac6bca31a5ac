"""Precision: the one place that reads the machine's features and resolves ``auto`` for training.

Inference (``inference.engines.resolve_precision``: fp32 | bf16 per engine) and training
(``resolve_training``: off | bf16 | fp16) both ask the CPU and GPU questions here.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

# Training's mixed-precision choices and the Keras dtype policy each one sets.
TRAINING_POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    if sys.platform != "linux":
        return frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (AVX512_BF16 or AMX); bf16 is slower without them."""
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_has_amx() -> bool:
    """True when the CPU has AMX bf16 tiles: where OpenVINO's bf16 is faster than its fp32 (measured)."""
    return "amx_bf16" in _cpu_flags()


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_training(value: str) -> str:
    """``auto`` -> ``bf16`` on a CPU-only machine whose CPU has native bf16, else ``off``.

    Measured on CPU only; on a GPU the choice is left to the user (``--mixed-precision bf16|fp16``).
    """
    if value != "auto":
        return value
    if has_gpu():
        return "off"
    return "bf16" if cpu_has_bf16() else "off"

"""Inference engines: one small interface, a callable on NHWC float32 batches in [0, 1] -> SR in [0, 1].

Every engine runs the same Keras model, ``transforms.inference_model(generator)`` (BatchNorm folded,
output conv before the last pixel shuffle), so they differ only in who executes it:

* ``openvino`` (the CPU default, ``openvino_engine``): the model converted once to OpenVINO IR, kept in
  the user cache folder keyed by the weights, compiled with the precision the CPU runs fast (bf16 with
  AMX, else fp32) and ``openvino_engine.CPU_PROPERTIES``, one compiled model per window shape, itself cached on disk by OpenVINO so a
  second process does not compile again.
* ``tensorflow`` (the GPU default and the fallback): the model in one ``tf.function`` traced once for
  any size; under bf16 the convs run in bfloat16 while the residual stream stays float32.

``engine="auto"`` picks OpenVINO on a CPU-only machine and falls back to TensorFlow with one line on
stderr saying why when OpenVINO is not installed or refuses the CPU. Engines that can run the model as
two halves (the LR body, then the upsampling tail: ``transforms.split_body_tail``) also offer
``stages()``, which the tiler uses for large images (``tiling.upscale_two_stage``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zlib
from pathlib import Path
from typing import Protocol

import numpy as np

from keras_srgan import defaults
from keras_srgan import precision as precision_policy
from keras_srgan.errors import UserError, reason
from keras_srgan.precision import cpu_has_amx, cpu_has_bf16, has_gpu  # noqa: F401 (re-exported)

ENGINES = defaults.ENGINES
PRECISIONS = defaults.PRECISIONS
ENGINE_ENV = "KERAS_SRGAN_ENGINE"
PRECISION_ENV = "KERAS_SRGAN_PRECISION"
CACHE_ENV = "KERAS_SRGAN_CACHE_DIR"
OPENVINO_EXTRA = "pip install openvino (or keras-srgan[openvino])"


class Engine(Protocol):
    """What the tiler and every caller needs: ``engine(lr [N, h, w, 3]) -> sr [N, s*h, s*w, 3]``, float32 [0, 1].

    ``radius``: LR context for exact tiles (``transforms.receptive_radius`` of the model it runs);
    ``stage_radii``: the same for its body and tail halves when ``stages()`` offers them.
    """

    name: str
    precision: str
    scale: int
    note: str | None
    radius: int
    stage_radii: list[int] | None

    def __call__(self, lr: np.ndarray) -> np.ndarray: ...

    def refresh(self) -> bool: ...

    def stages(self) -> tuple | None: ...


def cache_dir() -> Path:
    """``$KERAS_SRGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/keras-srgan``, else ``~/.cache/keras-srgan``."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "keras-srgan"


def env_choice(value: str, env: str, allowed: tuple[str, ...], what: str) -> str:
    """``value``, or the environment variable ``env`` when it is "auto"; checked against ``allowed``."""
    if value == "auto":
        value = os.environ.get(env, "auto").strip().lower() or "auto"
        source = f" (from ${env})"
    else:
        source = ""
    if value not in allowed:
        raise UserError(f"{what} must be one of {', '.join(allowed)}, got {value!r}{source}")
    return value


def resolve_precision(precision: str = "auto", engine: str = "openvino") -> str:
    """``auto`` -> ``$KERAS_SRGAN_PRECISION`` if set, else the precision this engine runs fastest here.

    OpenVINO: bf16 with AMX, fp32 without (with oneDNN capped below AMX, its bf16 ran at half its fp32
    speed, docs/performance.md). TensorFlow: bf16 with AVX512_BF16 or AMX (measured 1.8x its fp32 on an
    AVX512_BF16 CPU without AMX), fp32 without, and fp32 on a GPU.
    """
    return precision_policy.resolve(env_choice(precision, PRECISION_ENV, PRECISIONS, "precision"), engine)


def resolve_engine(engine: str = "auto") -> tuple[str, str | None]:
    """(``openvino`` or ``tensorflow``, why OpenVINO is not used or None); ``auto`` honours ``$KERAS_SRGAN_ENGINE``."""
    engine = env_choice(engine, ENGINE_ENV, ENGINES, "engine")
    if engine != "auto":
        return engine, None
    if has_gpu():
        return "tensorflow", "a GPU is visible (TensorFlow runs it)"
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "tensorflow", f"OpenVINO is not installed ({OPENVINO_EXTRA})"
    return "openvino", None


def weights_key(generator) -> str:
    """A hash of the architecture, every weight's bytes and the transform version (the IR cache key)."""
    from keras_srgan.inference.transforms import TRANSFORMS_VERSION

    digest = hashlib.blake2b(digest_size=16)
    config = generator.get_config() if hasattr(generator, "get_config") else {}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    digest.update(f"transforms-{TRANSFORMS_VERSION}".encode())
    for weight in generator.weights:
        digest.update(str(tuple(weight.shape)).encode())
        digest.update(np.ascontiguousarray(np.asarray(weight.numpy())).tobytes())
    return digest.hexdigest()


def generator_scale(generator) -> int:
    """The generator's upscaling factor (4 for models that do not say)."""
    return int(getattr(generator, "scale", 4))


def weights_snapshot(generator):
    """A traced function returning every weight of ``generator`` concatenated (float32, flat).

    Why: the upscaler asks "did the weights change?" before every image, and reading ~200 variables one
    eager op at a time costs 20-170 ms (measured, the latter with the CPU contended), up to half a
    256x256 upscale; one traced function that concatenates them all is read in a few ms. Each engine
    keeps its own, so two models used in turn never retrace.
    """
    import tensorflow as tf

    weights = list(generator.weights)

    @tf.function(autograph=False)
    def snapshot():
        flat = [tf.reshape(tf.cast(w.value, tf.float32), [-1]) for w in weights]
        return tf.concat(flat, 0) if flat else tf.zeros([0], tf.float32)  # a weightless model too

    return snapshot


def checksum_of(snapshot) -> int:
    """Adler-32 of one snapshot (``weights_snapshot``): cheap, and any changed weight changes it."""
    return zlib.adler32(snapshot().numpy().view(np.uint8))


class RefreshingEngine:
    """Rebuild when the generator's weights change (the engines hold copies, not the Keras variables)."""

    generator: object
    _key: str
    _checksum: int | None = None
    _snapshot = None

    def refresh(self) -> bool:
        """Rebuild if the generator's weights changed since this engine was built; returns whether it did."""
        if self._snapshot is None:
            self._snapshot = weights_snapshot(self.generator)
        checksum = checksum_of(self._snapshot)
        if checksum == self._checksum:  # None at first: that call compares the full key once
            return False
        self._checksum = checksum
        key = weights_key(self.generator)
        if key == self._key:
            return False
        self._key = key
        self._build()
        return True

    def _build(self) -> None:
        raise NotImplementedError


class TensorFlowEngine(RefreshingEngine):
    """The transformed model in one ``tf.function`` (``[None, None, None, 3]``: traced once for every size).

    ``bf16`` runs every conv and PReLU but the first and the body conv in bfloat16; the adds of the
    residual stream stay float32, so rounding does not accumulate over the 16 blocks.
    """

    name = "tensorflow"

    def __init__(self, generator, precision: str = "fp32", transform: bool = True, jit_compile: bool = False):
        if precision not in ("fp32", "bf16"):
            raise UserError(f"precision must be fp32 or bf16, got {precision!r}")
        self.generator = generator
        self.scale = generator_scale(generator)
        self.precision = precision
        self.transform = transform
        self.note: str | None = None
        self._jit = jit_compile
        self._key = weights_key(generator)
        self._build()

    def _build(self) -> None:
        from keras_srgan.inference import transforms

        model = transforms.inference_model(self.generator, fold=self.transform, subpixel=self.transform)
        if self.precision == "bf16":
            model = transforms.mixed_bfloat16(model)
        self.model = model
        found = transforms.parts(model)
        vars(self).update(transforms.radii(found))
        self._run = self._traced(model, 3)
        self._stages = None
        if "body" in found:
            channels = int(found["body"].outputs[0].shape[-1])
            self._stages = (self._traced(found["body"], 3), self._traced(found["tail"], channels))

    def _traced(self, model, channels: int):
        import tensorflow as tf

        @tf.function(
            input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32)], jit_compile=self._jit
        )
        def run(x):
            return tf.cast(model(x, training=False), tf.float32)

        return run

    def stages(self):
        """(body, tail) for ``tiling.upscale_two_stage`` (numpy in, numpy out), or None for other models."""
        if self._stages is None:
            return None
        import tensorflow as tf

        def numpy_call(run):
            return lambda x: run(tf.convert_to_tensor(np.asarray(x, np.float32))).numpy()

        return numpy_call(self._stages[0]), numpy_call(self._stages[1])

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        lr = np.asarray(lr, dtype=np.float32)
        if lr.ndim == 3:
            return self._run(tf.convert_to_tensor(lr[None])).numpy()[0]
        return self._run(tf.convert_to_tensor(lr)).numpy()


def load_engine(
    generator,
    engine: str = "auto",
    precision: str = "auto",
    cache: str | os.PathLike | None | bool = None,
    quiet: bool = False,
) -> Engine:
    """The engine for ``generator``: ``auto`` = OpenVINO on a CPU, TensorFlow on a GPU or as the fallback.

    A fallback prints one line on stderr saying why (unless ``quiet``) and is kept in ``engine.note``.
    An explicit ``engine="openvino"`` that cannot run is an error, not a fallback.
    """
    requested = env_choice(engine, ENGINE_ENV, ENGINES, "engine")
    chosen, why = resolve_engine(requested)
    if chosen == "openvino":
        from keras_srgan.inference.openvino_engine import OpenVINOEngine  # the optional engine's module

        prec = resolve_precision(precision, "openvino")
        try:
            runner = OpenVINOEngine(generator, prec, cache)
            runner.compiled((1, 16, 16, 3))  # a CPU OpenVINO refuses fails here, not in the first image
            return runner
        except UserError:
            raise
        except Exception as exc:  # OpenVINO refused the CPU or the model
            why = f"OpenVINO failed: {reason(exc)}"
            if requested == "openvino":
                raise UserError(f"the OpenVINO engine cannot run here ({why})") from None
    result = TensorFlowEngine(generator, resolve_precision(precision, "tensorflow"))
    if why and requested == "auto" and not why.startswith("a GPU"):
        result.note = f"keras-srgan: using the TensorFlow engine: {why}"
        if not quiet:
            print(result.note, file=sys.stderr)  # once per engine built: an Upscaler builds one
    return result

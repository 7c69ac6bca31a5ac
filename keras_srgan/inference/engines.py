"""Inference engines: callables on NHWC float32 batches in [0, 1] -> SR in [0, 1], one per executor.

Every engine runs ``transforms.inference_model(generator)``: ``openvino`` (the CPU default,
``openvino_engine``) as a cached IR, ``tensorflow`` (GPU default, fallback) in one ``tf.function``. Each
has ``name``, ``precision``, ``scale``, ``note`` (why a fallback happened), ``radius``, ``refresh()`` and
``stages()`` (body and tail for ``tiling.upscale_two_stage``, with ``stage_radii``, or None).
``Predictor`` runs the untransformed generator: the reference all are checked against.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import zlib
from pathlib import Path

import numpy as np

from keras_srgan import defaults
from keras_srgan import precision as precision_policy
from keras_srgan.errors import UserError, reason
from keras_srgan.inference import transforms
from keras_srgan.precision import cpu_has_amx, cpu_has_bf16, has_gpu  # noqa: F401 (re-exported)

ENGINES = defaults.ENGINES
PRECISIONS = defaults.PRECISIONS
ENGINE_ENV = "KERAS_SRGAN_ENGINE"
PRECISION_ENV = "KERAS_SRGAN_PRECISION"
CACHE_ENV = "KERAS_SRGAN_CACHE_DIR"
OPENVINO_EXTRA = "pip install openvino (or keras-srgan[openvino])"


def cache_dir() -> Path:
    """``$KERAS_SRGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/keras-srgan``, else ``~/.cache/keras-srgan``."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "keras-srgan"


def env_choice(value: str, env: str, allowed: tuple[str, ...], what: str) -> str:
    """``value``, or the environment variable ``env`` when it is "auto"; checked against ``allowed``."""
    source = ""
    if value == "auto":
        value = os.environ.get(env, "auto").strip().lower() or "auto"
        source = f" (from ${env})"
    if value not in allowed:
        raise UserError(f"{what} must be one of {', '.join(allowed)}, got {value!r}{source}")
    return value


def resolve_precision(precision: str = "auto", engine: str = "openvino") -> str:
    """``auto`` -> ``$KERAS_SRGAN_PRECISION`` if set, else what this engine runs fastest here
    (``precision.resolve``)."""
    return precision_policy.resolve(env_choice(precision, PRECISION_ENV, PRECISIONS, "precision"), engine)


def resolve_engine(engine: str = "auto") -> tuple[str, str | None]:
    """(``openvino`` or ``tensorflow``, why OpenVINO is not used or None)."""
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
    digest = hashlib.blake2b(digest_size=16)
    config = generator.get_config() if hasattr(generator, "get_config") else {}
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    digest.update(f"transforms-{transforms.TRANSFORMS_VERSION}".encode())
    for weight in generator.weights:
        digest.update(str(tuple(weight.shape)).encode())
        digest.update(np.ascontiguousarray(np.asarray(weight.numpy())).tobytes())
    return digest.hexdigest()


def traced(fn, channels: int = 3):
    """``fn`` in one ``tf.function`` traced once for every size (Keras ``predict`` retraces per shape)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32)], jit_compile=False)
    def run(x):
        return tf.cast(fn(x, training=False), tf.float32)

    return run


def numpy_call(run, lr: np.ndarray) -> np.ndarray:
    """``run`` (``traced``) on a numpy batch [N, h, w, C] or one image [h, w, C]."""
    import tensorflow as tf

    lr = np.asarray(lr, dtype=np.float32)
    if lr.ndim == 3:
        return run(tf.convert_to_tensor(lr[None])).numpy()[0]
    return run(tf.convert_to_tensor(lr)).numpy()


class RefreshingEngine:
    """What both engines share: checked precision, scale, and a rebuild when the generator's weights
    change (the engines hold copies, not the Keras variables)."""

    _checksum: int | None = None
    _snapshot = None

    def __init__(self, generator, precision: str, scale: int | None = None):
        if precision not in ("fp32", "bf16"):
            raise UserError(f"precision must be fp32 or bf16, got {precision!r}")
        self.generator = generator
        self.precision = precision
        self.scale = int(scale if scale is not None else getattr(generator, "scale", 4))
        self.note: str | None = None
        self._key = "" if generator is None else weights_key(generator)

    def refresh(self) -> bool:
        """Rebuild if the generator's weights changed since this engine was built; returns whether it did.
        A traced checksum first: reading ~200 variables eagerly before every image took 20-170 ms."""
        if self.generator is None:
            return False
        if self._snapshot is None:
            import tensorflow as tf

            weights = list(self.generator.weights)

            @tf.function(autograph=False)
            def snapshot():
                flat = [tf.reshape(tf.cast(w.value, tf.float32), [-1]) for w in weights]
                return tf.concat(flat, 0) if flat else tf.zeros([0], tf.float32)  # a weightless model too

            self._snapshot = snapshot
        checksum = zlib.adler32(self._snapshot().numpy().view(np.uint8))
        if checksum == self._checksum:  # None at first: that call compares the full key once
            return False
        self._checksum = checksum
        key = weights_key(self.generator)
        if key == self._key:
            return False
        self._key = key
        self._build()
        return True


class TensorFlowEngine(RefreshingEngine):
    """The transformed model in one ``tf.function`` (bf16: ``transforms.mixed_bfloat16``)."""

    name = "tensorflow"

    def __init__(self, generator, precision: str = "fp32"):
        super().__init__(generator, precision)
        self._build()

    def _build(self) -> None:
        model = transforms.inference_model(self.generator)
        if self.precision == "bf16":
            model = transforms.mixed_bfloat16(model)
        self.model = model
        found = transforms.parts(model)
        vars(self).update(transforms.radii(found))
        self._run = traced(model)
        self._stages = None
        if "body" in found:
            runs = traced(found["body"]), traced(found["tail"], int(found["body"].outputs[0].shape[-1]))
            self._stages = tuple(functools.partial(numpy_call, run) for run in runs)

    def stages(self):
        return self._stages

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        return numpy_call(self._run, lr)


class Predictor:
    """The reference: the Keras generator itself on numpy [N, H, W, 3] or [H, W, 3], its output clipped to
    [0, 1]. Every engine and every export is checked against it."""

    name = "keras"
    precision = "fp32"
    note = None

    def __init__(self, generator):
        import tensorflow as tf

        self.generator = generator
        self.scale = int(getattr(generator, "scale", 4))
        self._run = traced(lambda x, training: tf.clip_by_value(generator(x, training=training), 0.0, 1.0))

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        return numpy_call(self._run, lr)


def load_engine(generator, engine: str = "auto", precision: str = "auto", quiet: bool = False):
    """The engine for ``generator``: ``auto`` = OpenVINO on a CPU, TensorFlow on a GPU or as the fallback (one
    stderr line saying why unless ``quiet``, kept in ``note``); an explicit one that fails is an error."""
    requested = env_choice(engine, ENGINE_ENV, ENGINES, "engine")
    chosen, why = resolve_engine(requested)
    if chosen == "openvino":
        from keras_srgan.inference.openvino_engine import OpenVINOEngine  # the optional engine's module

        try:
            runner = OpenVINOEngine(generator, resolve_precision(precision, "openvino"))
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

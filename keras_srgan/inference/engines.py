"""Inference engines: one small interface, a callable on NHWC float32 batches in [0, 1] -> SR in [0, 1].

Every engine runs the same Keras model, ``transforms.inference_model(generator)`` (BatchNorm folded,
output conv before the last pixel shuffle), so they differ only in who executes it:

* ``openvino`` (the CPU default): the model converted once to OpenVINO IR, kept in the user cache
  folder keyed by the weights, compiled with the precision the CPU runs fast (bf16 where it is native:
  AMX or AVX512-BF16, else fp32) and one compiled model per window shape, itself cached on disk by
  OpenVINO so a second process does not compile again.
* ``tensorflow`` (the GPU default and the fallback): the model in one ``tf.function`` traced once for
  any size; under bf16 the convs run in bfloat16 while the residual stream stays float32.

``engine="auto"`` picks OpenVINO on a CPU-only machine and falls back to TensorFlow with one line on
stderr saying why when OpenVINO is not installed or refuses the CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np

from keras_srgan import defaults
from keras_srgan.errors import UserError
from keras_srgan.files import atomic_path, write_atomic_text
from keras_srgan.precision import cpu_has_amx, cpu_has_bf16, has_gpu  # noqa: F401 (re-exported)

ENGINES = defaults.ENGINES
PRECISIONS = defaults.PRECISIONS
ENGINE_ENV = "KERAS_SRGAN_ENGINE"
PRECISION_ENV = "KERAS_SRGAN_PRECISION"
CACHE_ENV = "KERAS_SRGAN_CACHE_DIR"
OPENVINO_EXTRA = "pip install openvino (or keras-srgan[openvino])"
# Compiled shapes kept per OpenVINO engine (a tiled image uses one; small images one each). Each holds
# its activation memory, so the kept shapes are also limited to this many LR pixels in total (the most
# recent one is always kept): about one default bf16 window plus a few small images.
MAX_COMPILED_SHAPES = 4
MAX_COMPILED_PIXELS = 300_000


class Engine(Protocol):
    """What the tiler and every caller needs: ``engine(lr [N, h, w, 3]) -> sr [N, s*h, s*w, 3]``, float32 [0, 1]."""

    name: str
    precision: str
    scale: int
    note: str | None

    def __call__(self, lr: np.ndarray) -> np.ndarray: ...

    def refresh(self) -> bool: ...


def cache_dir() -> Path:
    """``$KERAS_SRGAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/keras-srgan``, else ``~/.cache/keras-srgan``."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "keras-srgan"


def _env_choice(value: str, env: str, allowed: tuple[str, ...], what: str) -> str:
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
    precision = _env_choice(precision, PRECISION_ENV, PRECISIONS, "precision")
    if precision != "auto":
        return precision
    if engine == "openvino":
        return "bf16" if cpu_has_amx() else "fp32"
    if has_gpu():
        return "fp32"  # measured on CPUs only; a GPU has its own fast paths
    return "bf16" if cpu_has_bf16() else "fp32"


def resolve_engine(engine: str = "auto") -> tuple[str, str | None]:
    """(``openvino`` or ``tensorflow``, why OpenVINO is not used or None); ``auto`` honours ``$KERAS_SRGAN_ENGINE``."""
    engine = _env_choice(engine, ENGINE_ENV, ENGINES, "engine")
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


def _optimised(generator):
    """The transformed model, or the model itself (plus the clip to [0, 1]) when it is not an SRResNet."""
    from keras_srgan.inference import transforms

    if transforms.is_srresnet(generator):
        return transforms.inference_model(generator)
    return transforms.with_clip(generator)


def _scale(generator) -> int:
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


class _Refreshing:
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


class TensorFlowEngine(_Refreshing):
    """The transformed model in one ``tf.function`` (``[None, None, None, 3]``: traced once for every size).

    ``bf16`` runs every conv and PReLU but the first and the body conv in bfloat16; the adds of the
    residual stream stay float32, so rounding does not accumulate over the 16 blocks.
    """

    name = "tensorflow"

    def __init__(self, generator, precision: str = "fp32", transform: bool = True, jit_compile: bool = False):
        if precision not in ("fp32", "bf16"):
            raise UserError(f"precision must be fp32 or bf16, got {precision!r}")
        self.generator = generator
        self.scale = _scale(generator)
        self.precision = precision
        self.transform = transform
        self.note: str | None = None
        self._jit = jit_compile
        self._key = weights_key(generator)
        self._build()

    def _build(self) -> None:
        import tensorflow as tf

        from keras_srgan.inference import transforms

        model = _optimised(self.generator) if self.transform else transforms.with_clip(self.generator)
        if self.precision == "bf16":
            model = transforms.mixed_bfloat16(model)
        self.model = model

        @tf.function(
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)], jit_compile=self._jit
        )
        def run(lr):
            return tf.cast(model(lr, training=False), tf.float32)

        self._run = run

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        lr = np.asarray(lr, dtype=np.float32)
        if lr.ndim == 3:
            return self._run(tf.convert_to_tensor(lr[None])).numpy()[0]
        return self._run(tf.convert_to_tensor(lr)).numpy()


class OpenVINOEngine(_Refreshing):
    """The transformed model in OpenVINO on the CPU; one compiled model per input shape (LRU of a few).

    From a generator, the IR (``<cache>/openvino/srgan-<weights key>-ov<version>.xml``) is written once
    per weights; from ``ir=`` (an exported or cached ``.xml``) no TensorFlow is needed at all. OpenVINO's
    own ``CACHE_DIR`` keeps the compiled blobs, so a later process starts without converting or compiling.
    """

    name = "openvino"

    def __init__(
        self,
        generator=None,
        precision: str = "bf16",
        cache: str | os.PathLike | None | bool = None,
        ir: str | os.PathLike | None = None,
        scale: int | None = None,
    ):
        if precision not in ("fp32", "bf16"):
            raise UserError(f"precision must be fp32 or bf16, got {precision!r}")
        if (generator is None) == (ir is None):
            raise ValueError("pass a generator or an IR path, not both")
        ov = _import_openvino()
        self._ov = ov
        self.generator = generator
        self.scale = int(scale) if scale is not None else _scale(generator)
        self.precision = precision
        self.note: str | None = None
        self.cache = None if cache is False else Path(cache) if cache not in (None, True) else cache_dir()
        self.core = ov.Core()
        if "CPU" not in self.core.available_devices:
            raise RuntimeError(f"OpenVINO sees no CPU device (devices: {self.core.available_devices})")
        if self.cache is not None:
            try:
                (self.cache / "openvino" / "compiled").mkdir(parents=True, exist_ok=True)
                self.core.set_property({"CACHE_DIR": str(self.cache / "openvino" / "compiled")})
            except OSError:
                self.cache = None  # a read-only home: run without the disk cache
        self.config = {
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._lock = threading.Lock()
        if ir is not None:
            self._key = ""
            self.ir_path = Path(ir)
            self.ov_model = self.core.read_model(str(self.ir_path))
            self._compiled: OrderedDict = OrderedDict()
        else:
            self._key = weights_key(generator)
            self._build()

    def refresh(self) -> bool:
        return False if self.generator is None else super().refresh()

    def _build(self) -> None:
        self.ir_path = self._ir()
        self.ov_model = self.core.read_model(str(self.ir_path)) if self.ir_path else self._convert()
        self._compiled = OrderedDict()

    def _convert(self):
        import tensorflow as tf

        model = _optimised(self.generator)
        fn = tf.function(lambda lr: model(lr, training=False), autograph=False)
        concrete = fn.get_concrete_function(tf.TensorSpec([None, None, None, 3], tf.float32, name="lr"))
        return self._ov.convert_model(concrete)

    def _ir(self) -> Path | None:
        """The cached IR for these weights, written (atomically) if missing; None without a cache."""
        if self.cache is None:
            return None
        folder = self.cache / "openvino"
        version = self._ov.get_version().split("-")[0]
        xml = folder / f"srgan-{self._key}-ov{version}.xml"
        if xml.is_file() and xml.with_suffix(".bin").is_file():
            _touch(xml)
            return xml
        try:
            with atomic_path(xml, companions=(".bin",)) as tmp:
                self._ov.save_model(self._convert(), str(tmp), compress_to_fp16=False)
        except OSError:
            return None
        prune_cache(folder)
        return xml

    def compiled(self, shape: tuple[int, ...]):
        """The infer request compiled for ``shape`` (compiling, or loading OpenVINO's cached blob, once)."""
        request = self._compiled.get(shape)
        if request is not None:
            self._compiled.move_to_end(shape)
            return request
        model = self.ov_model.clone()
        model.reshape({model.inputs[0]: self._ov.PartialShape(list(shape))})
        request = self.core.compile_model(model, "CPU", self.config).create_infer_request()
        self._compiled[shape] = request

        def pixels() -> int:
            return sum(int(np.prod(s[:3])) for s in self._compiled)

        while len(self._compiled) > 1 and (
            len(self._compiled) > MAX_COMPILED_SHAPES or pixels() > MAX_COMPILED_PIXELS
        ):
            self._compiled.popitem(last=False)
        return request

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        lr = np.ascontiguousarray(lr, dtype=np.float32)
        single = lr.ndim == 3
        if single:
            lr = lr[None]
        if lr.ndim != 4 or lr.shape[-1] != 3:
            raise UserError(f"expected LR batches [N, H, W, 3], got shape {lr.shape}")
        with self._lock:  # one infer request per shape: calls from several threads take turns
            request = self.compiled(tuple(int(s) for s in lr.shape))
            request.infer({0: lr})
            out = np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)
        return out[0] if single else out


# Cache bounds: every new set of weights (each training checkpoint upscaled, each test model) adds an
# IR, and every window shape a compiled blob, so the oldest are removed beyond these counts.
MAX_CACHED_IRS = 8
MAX_CACHED_BLOBS = 32


def _touch(path: Path) -> None:
    try:
        os.utime(path)  # "recently used", for prune_cache
    except OSError:
        pass


def prune_cache(folder: Path, irs: int = MAX_CACHED_IRS, blobs: int = MAX_CACHED_BLOBS) -> None:
    """Keep the ``irs`` most recently used IRs (``.xml`` + ``.bin``) and ``blobs`` newest compiled blobs."""

    def newest_first(paths):
        def mtime(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:
                return 0.0

        return sorted(paths, key=mtime, reverse=True)

    try:
        for xml in newest_first(folder.glob("srgan-*.xml"))[irs:]:
            for p in (xml, xml.with_suffix(".bin")):
                p.unlink(missing_ok=True)
        compiled = folder / "compiled"
        if compiled.is_dir():
            for blob in newest_first(p for p in compiled.iterdir() if p.is_file())[blobs:]:
                blob.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned first, or a read-only folder: nothing is wrong


def _import_openvino():
    try:
        import openvino as ov
    except ImportError:
        raise UserError(f"the OpenVINO engine needs the 'openvino' package: {OPENVINO_EXTRA}") from None
    return ov


def weights_file(weights: str | os.PathLike | None) -> tuple[Path, dict] | None:
    """(file, generator config) behind a shipped name, ``.weights.h5`` or run folder; None if unsure.

    Resolves the way ``weights.load_generator`` does, without TensorFlow; anything it cannot resolve
    (a ``.keras`` file, a missing file) returns None and takes the normal path, with its errors.
    """
    from keras_srgan import weights as w

    spec = w.DEFAULT_WEIGHTS if weights is None else weights
    if isinstance(spec, str) and spec in w.shipped_weights():
        path, meta = w.WEIGHTS_DIR / f"{spec}.weights.h5", w.WEIGHTS_DIR / f"{spec}.json"
    else:
        path = Path(spec)
        if path.is_dir():
            path = path / f"{w.GENERATOR_STEM}.weights.h5"
        if not str(path).endswith(".weights.h5"):
            return None
        meta = w.sibling_meta(path)
    if not path.is_file():
        return None
    try:
        config = json.loads(meta.read_text()).get("config", {}) if meta.is_file() else {}
    except (OSError, ValueError):
        return None
    return path, config


def _file_alias(path: Path, config: dict, folder: Path) -> Path:
    """Where the IR name for a weights *file* is recorded: keyed by the file's SHA-256 and config."""
    from keras_srgan.inference.transforms import TRANSFORMS_VERSION
    from keras_srgan.weights import sha256_of

    key = hashlib.blake2b(digest_size=16)
    key.update(sha256_of(path).encode())
    key.update(json.dumps(config, sort_keys=True).encode())
    key.update(f"transforms-{TRANSFORMS_VERSION}".encode())
    return folder / "by-file" / f"{key.hexdigest()}.json"


def openvino_from_file(
    weights, precision: str = "auto", cache=None, engine: str = "auto"
) -> OpenVINOEngine | None:
    """An OpenVINO engine straight from the cached IR of a weights file: no TensorFlow, no Keras model.

    Why: importing TensorFlow and building the Keras model take seconds and hundreds of MB that a
    repeated ``keras-srgan upscale`` does not need once the IR of those exact weights is cached. Returns
    None (take the normal path) when the engine would not be OpenVINO or nothing is cached yet.
    """
    if cache is False:
        return None
    try:
        choice = _env_choice(engine, ENGINE_ENV, ENGINES, "engine")
        prec = _env_choice(precision, PRECISION_ENV, PRECISIONS, "precision")
    except UserError:
        return None  # the normal path reports it
    gpu = has_gpu() if "tensorflow" in sys.modules else _nvidia_gpu_present()
    if choice == "tensorflow" or (gpu and choice == "auto"):
        return None
    found = weights_file(weights)
    if found is None:
        return None
    folder = (Path(cache) if cache not in (None, True) else cache_dir()) / "openvino"
    try:
        alias = json.loads(_file_alias(*found, folder).read_text())
        xml = folder / alias["ir"]
    except (OSError, ValueError, KeyError):
        return None
    if not (xml.is_file() and xml.with_suffix(".bin").is_file()):
        return None
    _touch(xml)
    try:
        import openvino  # noqa: F401
    except ImportError:
        return None
    prec = prec if prec != "auto" else resolve_precision("auto", "openvino")
    engine = OpenVINOEngine(ir=xml, precision=prec, cache=cache, scale=int(alias.get("scale", 4)))
    engine.num_blocks = int(alias.get("num_blocks", 16))
    return engine


def remember_weights_file(weights, engine) -> None:
    """Record which cached IR belongs to a weights file, so the next process can skip TensorFlow."""
    ir = getattr(engine, "ir_path", None)
    found = weights_file(weights)
    if getattr(engine, "name", None) != "openvino" or ir is None or found is None or engine.generator is None:
        return
    alias = _file_alias(*found, ir.parent)
    record = {
        "ir": ir.name,
        "weights": str(found[0]),
        "scale": engine.scale,
        "num_blocks": int(getattr(engine.generator, "num_blocks", 16)),
    }
    try:
        alias.parent.mkdir(parents=True, exist_ok=True)
        write_atomic_text(alias, json.dumps(record) + "\n")
    except OSError:
        pass  # no cache this time; nothing is wrong


def _nvidia_gpu_present() -> bool:
    """A CUDA GPU's driver is loaded (then TensorFlow decides, as ``auto`` does)."""
    return Path("/proc/driver/nvidia/gpus").is_dir() and any(Path("/proc/driver/nvidia/gpus").iterdir())


_NOTED: set[str] = set()


def _say_once(line: str) -> None:
    if line not in _NOTED:
        _NOTED.add(line)
        print(line, file=sys.stderr)


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
    requested = _env_choice(engine, ENGINE_ENV, ENGINES, "engine")
    chosen, why = resolve_engine(requested)
    if chosen == "openvino":
        prec = resolve_precision(precision, "openvino")
        try:
            runner = OpenVINOEngine(generator, prec, cache)
            runner.compiled((1, 16, 16, 3))  # a CPU OpenVINO refuses fails here, not in the first image
            return runner
        except UserError:
            raise
        except Exception as exc:  # OpenVINO refused the CPU or the model
            text = str(exc).strip().splitlines()
            reason = f"OpenVINO failed: {text[0] if text else type(exc).__name__}"
            if requested == "openvino":
                raise UserError(f"the OpenVINO engine cannot run here ({reason})") from None
            why = reason
    result = TensorFlowEngine(generator, resolve_precision(precision, "tensorflow"))
    if why and requested == "auto" and not why.startswith("a GPU"):
        result.note = f"keras-srgan: using the TensorFlow engine: {why}"
        if not quiet:
            _say_once(result.note)
    return result

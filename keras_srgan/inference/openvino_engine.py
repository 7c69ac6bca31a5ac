"""The OpenVINO engine (the CPU default) and its disk cache under ``engines.cache_dir() / "openvino"``:
``srgan-<weights key>-ov<version>.xml`` (+ ``.bin``, ``-body``/``-tail`` halves, radii ``.json``);
``by-file/<hash>.json`` naming the IR of a weights file, so a later process skips TensorFlow
(``openvino_from_file``); ``compiled/``: OpenVINO's own blobs, one per compiled shape.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from keras_srgan.errors import UserError
from keras_srgan.files import atomic_path, write_atomic_text
from keras_srgan.inference import engines, transforms
from keras_srgan.weights import sha256_of, weights_file

PARTS = ("full", "body", "tail")

# Compiled shapes kept per model part, also limited in LR pixels (each holds its activation memory):
# about one default bf16 window plus a few small images. The most recent one is always kept.
MAX_COMPILED_SHAPES = 4
MAX_COMPILED_PIXELS = 300_000
# Least recently used IRs (one per set of weights) and compiled blobs beyond these counts are removed.
MAX_CACHED_IRS = 8
MAX_CACHED_BLOBS = 32

# AUTO lets an idle core take work from a busy one (OpenVINO picks STATIC for this model): measured
# 1.40-1.45x at 256x256 on 2 cores, same output (docs/performance.md).
CPU_PROPERTIES = {"TBB_PARTITIONER": "AUTO"}


def part_path(xml: Path, part: str) -> Path:
    """The IR file of one model part: the full model's own name, or ``<stem>-body.xml`` / ``-tail.xml``."""
    return xml if part == "full" else xml.with_name(f"{xml.stem}-{part}.xml")


def convert_parts(generator) -> tuple[dict, dict]:
    """(part -> ``ov.Model``, ``transforms.radii``) of ``transforms.parts`` of the inference model."""
    import openvino as ov
    import tensorflow as tf

    keras_parts = transforms.parts(transforms.inference_model(generator))
    out = {}
    for part, keras_model in keras_parts.items():
        channels = int(keras_model.inputs[0].shape[-1])
        fn = tf.function(lambda x, m=keras_model: m(x, training=False), autograph=False)
        spec = tf.TensorSpec([None, None, None, channels], tf.float32, name="lr")
        out[part] = ov.convert_model(fn.get_concrete_function(spec))
    return out, transforms.radii(keras_parts)


def cached_ir(xml: Path) -> bool:
    """Whether the whole set of ``xml`` is cached; if so it is marked recently used, for ``prune_cache``."""
    if not (xml.is_file() and xml.with_suffix(".bin").is_file() and xml.with_suffix(".json").is_file()):
        return False
    with contextlib.suppress(OSError):
        os.utime(xml)
    return True


def prune_cache(folder: Path, irs: int = MAX_CACHED_IRS, blobs: int = MAX_CACHED_BLOBS) -> None:
    """Keep the ``irs`` most recently used IRs (with their parts) and the ``blobs`` newest blobs."""

    def newest_first(paths) -> list[Path]:
        return sorted(paths, key=lambda p: p.stat().st_mtime, reverse=True)

    with contextlib.suppress(OSError):  # another process pruned first, or a read-only folder
        whole = (p for p in folder.glob("srgan-*.xml") if not p.stem.endswith(("-body", "-tail")))
        for xml in newest_first(whole)[irs:]:
            for part in PARTS:
                for p in (part_path(xml, part), part_path(xml, part).with_suffix(".bin")):
                    p.unlink(missing_ok=True)
        compiled = folder / "compiled"
        if compiled.is_dir():
            for blob in newest_first(p for p in compiled.iterdir() if p.is_file())[blobs:]:
                blob.unlink(missing_ok=True)


def file_alias(path: Path, config: dict, folder: Path) -> Path:
    """Where the IR name for a weights *file* is recorded: keyed by the file's SHA-256 and config."""
    key = hashlib.blake2b(digest_size=16)
    key.update(sha256_of(path).encode())
    key.update(json.dumps(config, sort_keys=True).encode())
    key.update(f"transforms-{transforms.TRANSFORMS_VERSION}".encode())
    return folder / "by-file" / f"{key.hexdigest()}.json"


def remember_weights_file(weights, engine) -> None:
    """Record which cached IR belongs to a weights file, so the next process can skip TensorFlow."""
    ir = getattr(engine, "ir_path", None)
    found = weights_file(weights)
    if getattr(engine, "name", None) != "openvino" or ir is None or found is None or engine.generator is None:
        return
    alias = file_alias(*found, ir.parent)
    record = {"ir": ir.name, "weights": str(found[0]), "scale": engine.scale}
    with contextlib.suppress(OSError):  # no cache this time; nothing is wrong
        alias.parent.mkdir(parents=True, exist_ok=True)
        write_atomic_text(alias, json.dumps(record) + "\n")


class OpenVINOEngine(engines.RefreshingEngine):
    """The transformed model in OpenVINO on the CPU; one compiled model per input shape (LRU of a few).

    From ``ir=`` (an exported or cached ``.xml``) no TensorFlow is needed; without ``-body``/``-tail`` files
    beside it there are no ``stages``. ``cache``: a folder, None / True (``engines.cache_dir()``) or False.
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
        if (generator is None) == (ir is None):
            raise ValueError("pass a generator or an IR path, not both")
        super().__init__(generator, precision, scale)
        self._ov = _import_openvino()
        if precision == "bf16" and not runs_bf16():
            # OpenVINO would run fp32 anyway; bf16 features between the tiling stages would then add a
            # rounding the whole model does not have
            self.precision = "fp32"
            self.note = "keras-srgan: OpenVINO has no bf16 on this CPU; running fp32"
        self.cache = engines.cache_dir() if cache in (None, True) else None if cache is False else Path(cache)
        self.core = self._ov.Core()
        if "CPU" not in self.core.available_devices:
            raise RuntimeError(f"OpenVINO sees no CPU device (devices: {self.core.available_devices})")
        if self.cache is not None:
            try:
                (self.cache / "openvino" / "compiled").mkdir(parents=True, exist_ok=True)
                self.core.set_property({"CACHE_DIR": str(self.cache / "openvino" / "compiled")})
            except OSError:
                self.cache = None  # a read-only home: run without the disk cache
        supported = set(self.core.get_property("CPU", "SUPPORTED_PROPERTIES"))
        self.config = {
            "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
            **{key: value for key, value in CPU_PROPERTIES.items() if key in supported},
        }
        self._lock = threading.Lock()
        self.ir_path = Path(ir) if ir is not None else None
        self._build()

    def _build(self) -> None:
        if self.generator is not None:
            self.ir_path = self._cached_ir()
        if self.ir_path is None:
            self._models, found = convert_parts(self.generator)
        else:
            # an IR of the cache has its radii beside it; an exported one (no sidecar) tiles with the default
            sidecar, found = self.ir_path.with_suffix(".json"), {"radius": None, "stage_radii": None}
            found = json.loads(sidecar.read_text()) if sidecar.is_file() else found
            paths = {part: part_path(self.ir_path, part) for part in PARTS}
            self._models = {
                part: self.core.read_model(str(path))
                for part, path in paths.items()
                if part == "full" or (path.is_file() and path.with_suffix(".bin").is_file())
            }
        vars(self).update(found)
        self._compiled: dict[str, OrderedDict] = {part: OrderedDict() for part in self._models}

    def _cached_ir(self) -> Path | None:
        """The cached IR for these weights (None without a cache); if missing, written atomically part by
        part, the whole model last: its file means the set is complete."""
        if self.cache is None:
            return None
        folder = self.cache / "openvino"
        xml = folder / f"srgan-{self._key}-ov{self._ov.get_version().split('-')[0]}.xml"
        if cached_ir(xml):
            return xml
        try:
            models, radii = convert_parts(self.generator)
            write_atomic_text(xml.with_suffix(".json"), json.dumps(radii) + "\n")
            for part in ("body", "tail", "full"):
                if part in models:
                    with atomic_path(part_path(xml, part), companions=(".bin",)) as tmp:
                        self._ov.save_model(models[part], str(tmp), compress_to_fp16=False)
        except OSError:
            return None
        finally:
            release_heap()
        prune_cache(folder)
        return xml

    def compiled(self, shape: tuple[int, ...], part: str = "full"):
        """The infer request compiled for ``shape`` (compiling, or loading OpenVINO's cached blob, once)."""
        cache = self._compiled[part]
        if shape in cache:
            cache.move_to_end(shape)
            return cache[shape][1]
        model = self._models[part].clone()
        model.reshape({model.inputs[0]: self._ov.PartialShape(list(shape))})
        if self.precision == "bf16" and part in ("body", "tail"):
            # bf16 features between the stages, as inside the whole model: float32 ones added a rounding
            # (up to 5e-3, measured) and twice the bytes; bf16 equals the whole model bit for bit.
            from openvino.preprocess import PrePostProcessor

            ppp = PrePostProcessor(model)
            (ppp.output() if part == "body" else ppp.input()).tensor().set_element_type(self._ov.Type.bf16)
            model = ppp.build()
        compiled = self.core.compile_model(model, "CPU", self.config)
        cache[shape] = (compiled, compiled.create_infer_request())

        def pixels() -> int:
            return sum(int(np.prod(s[:3])) for s in cache)

        while len(cache) > 1 and (len(cache) > MAX_COMPILED_SHAPES or pixels() > MAX_COMPILED_PIXELS):
            cache.popitem(last=False)
        return cache[shape][1]

    def _release(self, *parts: str) -> None:
        """Give back the activation memory of these parts' compiled models (reallocated on their next call)."""
        for part in parts:
            for compiled, _ in self._compiled.get(part, {}).values():
                compiled.release_memory()

    def _infer(self, x: np.ndarray, part: str) -> np.ndarray:
        """One call of a part; bfloat16 features (body out, tail in) travel as ``np.uint16`` bit patterns."""
        bf16 = x.dtype == np.uint16
        x = np.ascontiguousarray(x) if bf16 else np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise UserError(f"expected batches [N, H, W, C], got shape {x.shape}")
        request = self.compiled(tuple(int(s) for s in x.shape), part)
        request.infer({0: self._ov.Tensor(x, list(x.shape), self._ov.Type.bf16) if bf16 else x})
        out = request.get_output_tensor(0)
        if out.element_type == self._ov.Type.bf16:  # numpy has no bfloat16: keep the bits
            return np.array(out.data, copy=True).view(np.uint16)
        return np.array(out.data, dtype=np.float32, copy=True)

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        lr = np.asarray(lr, dtype=np.float32)
        if lr.ndim == 3:
            return self(lr[None])[0]
        if lr.ndim != 4 or lr.shape[-1] != 3:
            raise UserError(f"expected LR batches [N, H, W, 3], got shape {lr.shape}")
        with self._lock:  # one infer request per shape: calls from several threads take turns
            return self._infer(lr, "full")

    def stages(self):
        """(body, tail) for ``tiling.upscale_two_stage`` (None without the split IRs); one part holds
        activation memory at a time. bf16 features are bit patterns in ``np.uint16``: never compute."""
        if "body" not in self._models or "tail" not in self._models:
            return None

        def body(lr: np.ndarray) -> np.ndarray:
            with self._lock:
                self._release("tail", "full")
                features = self._infer(lr, "body")
                self._release("body")
            return features

        def tail(features: np.ndarray) -> np.ndarray:
            if self.precision == "bf16" and features.dtype != np.uint16:
                features = bf16_bits(features)
            with self._lock:
                return self._infer(features, "tail")

        return body, tail


def release_heap() -> None:
    """Collect the conversion's garbage and hand freed heap pages back to the OS (glibc keeps them): the
    first process for new weights carried ~40 MB more into its first upscale (docs/performance.md)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (``np.uint16``), rounded to nearest even as OpenVINO rounds."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16).astype(np.uint16)


@functools.cache
def runs_bf16() -> bool:
    """Whether OpenVINO's CPU plugin really infers in bf16 here (a 1-conv model reports what it chose)."""
    ov = _import_openvino()
    import openvino.opset13 as opset

    x = opset.parameter([1, 8, 4, 4], np.float32)
    kernel = opset.constant(np.ones((8, 8, 3, 3), np.float32))
    conv = opset.convolution(x, kernel, [1, 1], [1, 1], [1, 1], [1, 1])
    try:
        compiled = ov.Core().compile_model(ov.Model([conv], [x]), "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
        return str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("bf16", "<Type: 'bfloat16'>")
    except Exception:  # noqa: BLE001 (any refusal means no bf16: e.g. ONEDNN_MAX_CPU_ISA below the CPU's)
        return False


def _import_openvino():
    try:
        import openvino as ov
    except ImportError:
        raise UserError(
            f"the OpenVINO engine needs the 'openvino' package: {engines.OPENVINO_EXTRA}"
        ) from None
    return ov


def openvino_from_file(weights, precision: str = "auto", engine: str = "auto") -> OpenVINOEngine | None:
    """An OpenVINO engine straight from the cached IR of a weights file, without TensorFlow's seconds and
    hundreds of MB; None (the normal path) when the engine would not be OpenVINO or nothing is cached."""
    try:
        choice = engines.env_choice(engine, engines.ENGINE_ENV, engines.ENGINES, "engine")
        prec = engines.env_choice(precision, engines.PRECISION_ENV, engines.PRECISIONS, "precision")
    except UserError:
        return None  # the normal path reports it
    gpus = Path("/proc/driver/nvidia/gpus")  # a CUDA driver is loaded: TensorFlow decides, as ``auto`` does
    gpu = engines.has_gpu() if "tensorflow" in sys.modules else gpus.is_dir() and any(gpus.iterdir())
    if choice == "tensorflow" or (gpu and choice == "auto"):
        return None
    found = weights_file(weights)
    if found is None:
        return None
    folder = engines.cache_dir() / "openvino"
    try:
        alias = json.loads(file_alias(*found, folder).read_text())
        xml = folder / alias["ir"]
    except (OSError, ValueError, KeyError):
        return None
    if not cached_ir(xml):
        return None
    try:
        import openvino  # noqa: F401
    except ImportError:
        return None
    prec = prec if prec != "auto" else engines.resolve_precision("auto", "openvino")
    return OpenVINOEngine(ir=xml, precision=prec, scale=int(alias.get("scale", 4)))

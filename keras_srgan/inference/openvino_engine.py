"""The OpenVINO engine (the CPU default) and its disk cache: IRs per weights, compiled blobs per shape.

Layout under ``engines.cache_dir() / "openvino"``: ``srgan-<weights key>-ov<version>.xml`` (+ ``.bin``),
its ``-body`` / ``-tail`` halves (``transforms.split_body_tail``, for the two-stage tiler) and the radii
sidecar (``.json``); ``by-file/<hash>.json`` naming the IR of a weights *file* by its SHA-256, so a later
process runs straight from the cached IR without TensorFlow (``openvino_from_file``); ``compiled/``
(OpenVINO's own blobs, one per compiled shape, so a second process does not compile again).
"""

from __future__ import annotations

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

# Compiled shapes kept per model part (a tiled image uses one or two; small images one each). Each holds
# its activation memory, so the kept shapes are also limited to this many LR pixels in total (the most
# recent one is always kept): about one default bf16 window plus a few small images.
MAX_COMPILED_SHAPES = 4
MAX_COMPILED_PIXELS = 300_000
# Every new set of weights (each checkpoint upscaled, each test model) adds an IR, every window shape a
# compiled blob: the least recently used beyond these counts are removed.
MAX_CACHED_IRS = 8
MAX_CACHED_BLOBS = 32

# CPU properties every compiled part gets (where this OpenVINO knows them). TBB_PARTITIONER=AUTO: for
# this model OpenVINO picks STATIC, which splits each layer's work evenly across the cores up front;
# AUTO lets an idle core take work from a busy one. Measured 1.40-1.45x (paired median of the per-round
# ratios, 15 and 25 rounds, 256x256, Intel Xeon with AMX, 2 cores; docs/performance.md), same output.
CPU_PROPERTIES = {"TBB_PARTITIONER": "AUTO"}


def part_path(xml: Path, part: str) -> Path:
    """The IR file of one model part: the full model's own name, or ``<stem>-body.xml`` / ``-tail.xml``."""
    return xml if part == "full" else xml.with_name(f"{xml.stem}-{part}.xml")


def convert_parts(generator) -> tuple[dict, dict]:
    """(part -> ``ov.Model``, the radii): the transformed Keras model and, where it has them, its body
    and tail halves (``transforms.parts``), with the LR context each needs (``transforms.radii``)."""
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
    try:
        os.utime(xml)
    except OSError:
        pass
    return True


def prune_cache(folder: Path, irs: int = MAX_CACHED_IRS, blobs: int = MAX_CACHED_BLOBS) -> None:
    """Keep the ``irs`` most recently used IRs (``.xml`` + ``.bin``, with their parts) and ``blobs`` newest blobs."""

    def newest_first(paths) -> list[Path]:
        def mtime(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:
                return 0.0

        return sorted(paths, key=mtime, reverse=True)

    try:
        whole = (p for p in folder.glob("srgan-*.xml") if not p.stem.endswith(("-body", "-tail")))
        for xml in newest_first(whole)[irs:]:
            for part in PARTS:
                for p in (part_path(xml, part), part_path(xml, part).with_suffix(".bin")):
                    p.unlink(missing_ok=True)
        compiled = folder / "compiled"
        if compiled.is_dir():
            for blob in newest_first(p for p in compiled.iterdir() if p.is_file())[blobs:]:
                blob.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned first, or a read-only folder: nothing is wrong


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
    try:
        alias.parent.mkdir(parents=True, exist_ok=True)
        write_atomic_text(alias, json.dumps(record) + "\n")
    except OSError:
        pass  # no cache this time; nothing is wrong


class OpenVINOEngine(engines.RefreshingEngine):
    """The transformed model in OpenVINO on the CPU; one compiled model per input shape (LRU of a few).

    From ``ir=`` (an exported or cached ``.xml``) no TensorFlow is needed; without the ``-body``/``-tail``
    files beside it, the engine has no ``stages`` and large images are tiled with the whole model.
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
        self.cache = _cache_folder(cache)
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
            sidecar = self.ir_path.with_suffix(".json")
            found = {"radius": None, "stage_radii": None}
            if sidecar.is_file():
                found = json.loads(sidecar.read_text())
            paths = {part: part_path(self.ir_path, part) for part in PARTS}
            self._models = {
                part: self.core.read_model(str(path))
                for part, path in paths.items()
                if part == "full" or (path.is_file() and path.with_suffix(".bin").is_file())
            }
        vars(self).update(found)
        self._compiled: dict[str, OrderedDict] = {part: OrderedDict() for part in self._models}

    @property
    def ov_model(self):
        """The whole model's OpenVINO graph (``ov.Model``)."""
        return self._models["full"]

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
            # The whole model hands the body's features to the tail in bf16 inside OpenVINO; as float32
            # between the stages they added a rounding the untiled model does not have (up to 5e-3 on an
            # output pixel, measured) and twice the bytes. In bf16 the two-stage result equals the whole
            # model's bit for bit (measured, shipped srresnet).
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
        single = lr.ndim == 3
        if single:
            lr = lr[None]
        if lr.ndim != 4 or lr.shape[-1] != 3:
            raise UserError(f"expected LR batches [N, H, W, 3], got shape {lr.shape}")
        with self._lock:  # one infer request per shape: calls from several threads take turns
            out = self._infer(lr, "full")
        return out[0] if single else out

    def stages(self):
        """(body, tail) callables for ``tiling.upscale_two_stage``, or None without the split IRs.

        Only one part holds activation memory at a time: the body gives its memory back once its
        features are copied out, and the tail's is given back before the next body window runs. At bf16
        the features are bfloat16 bit patterns in ``np.uint16`` arrays: slice them, never do arithmetic.
        """
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
    """Collect the conversion's garbage (Keras copies, TF graphs) and hand freed heap pages back to the OS.

    Why: the first process for new weights converts three models and would otherwise carry ~40 MB more
    resident memory than a later process into its first upscale (1600x1200 peak 1364 against 1325 MB,
    measured); glibc keeps freed pages unless asked (``malloc_trim``). A no-op elsewhere.
    """
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to trim


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (``np.uint16``), rounded to nearest even as OpenVINO rounds."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return ((bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16).astype(np.uint16)


@functools.cache
def runs_bf16() -> bool:
    """Whether OpenVINO's CPU plugin really infers in bf16 here: a 1-conv model compiled with the bf16
    hint reports the precision it chose (f32 on CPUs without AVX512_BF16 or AMX, which ignore the hint).
    """
    ov = _import_openvino()
    import openvino.opset13 as opset

    x = opset.parameter([1, 8, 4, 4], np.float32)
    conv = opset.convolution(
        x, opset.constant(np.ones((8, 8, 3, 3), np.float32)), [1, 1], [1, 1], [1, 1], [1, 1]
    )
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


def _cache_folder(cache) -> Path | None:
    """``cache``: a folder, or None / True for ``engines.cache_dir()``, or False for no disk cache."""
    return None if cache is False else Path(cache) if cache not in (None, True) else engines.cache_dir()


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
    folder = _cache_folder(cache) / "openvino"
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
    return OpenVINOEngine(ir=xml, precision=prec, cache=cache, scale=int(alias.get("scale", 4)))

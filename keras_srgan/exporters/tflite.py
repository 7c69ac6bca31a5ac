"""TFLite / LiteRT conversion: float32, float16 weights, dynamic-range int8, full int8 and int16x8.

Keras ExportArchive -> SavedModel -> ``TFLiteConverter.from_saved_model``, builtin ops only (no Flex
delegate on device). ``pixels="float"``: float32 ``lr``/``sr`` in [0, 1], the quantized files quantize and
dequantize inside, so one client runs them all. ``pixels="uint8"`` (fixed shape, for phones): uint8 RGB in
and out, no float maths in the app; the int8 file is integer end to end (scale 1/255, zero point 0).

The graph is written for XNNPACK, LiteRT's CPU engine: an op it does not take runs on LiteRT's own
single-threaded kernels and splits the graph (measured in docs/mobile.md), so ``litert_function``
rebuilds those ops from ones it takes; ``delegation`` lists what still falls back.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from keras_srgan import samples
from keras_srgan.defaults import TFLITE_QUANTIZATIONS
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.pixels import to_unit

QUANTIZATIONS = TFLITE_QUANTIZATIONS
PIXELS = ("float", "uint8")
DEFAULT_CALIBRATION_CROP = (48, 48)
CALIBRATION_SEED = 0
# Bundled photos the int8 calibration falls back to without the training sets (under KERAS_SRGAN_DATA);
# never the parity image's (``parity.PARITY_SAMPLE``), so int8 is not calibrated on what it is judged on.
CALIBRATION_IMAGES = ("coffee", "chelsea", "rocket")
TRAINING_SETS = ("T91", "BSDS200")
# The LEAKY_RELU slope an int8 PReLU is rebuilt from (exact in float for any value in (0, 1); 1/32 and
# 1/8 measured the same on Set5).
INT8_LEAK = 0.125
CALIBRATED = ("int8", "int16x8")  # computed in integers, calibrated on LR crops
# also as a uint8-pixel phone file (a dynamic-range file computes in float: it would gain nothing)
UINT8_QUANTIZATIONS = ("none", "float16", "int8", "int16x8")


def artifact_name(quantization: str, input_size: tuple[int, int] | None = None, pixels: str = "float") -> str:
    label = "float32" if quantization == "none" else quantization
    fixed = "" if input_size is None else f"_{input_size[0]}x{input_size[1]}"
    suffix = "_uint8" if pixels == "uint8" else ""
    return f"srgan_{label}{fixed}{suffix}.tflite"


def calibration_source(folders: list[str | os.PathLike] | None = None) -> dict:
    """Which photos calibrate: the training images in ``folders`` (default: T91 and BSDS200 under
    ``KERAS_SRGAN_DATA``, else ``../shared/data`` beside the checkout) when any exist, else the bundled
    samples. Returned as the record the manifest keeps."""
    from keras_srgan.files import is_image_file

    if folders is None:
        default = Path(__file__).resolve().parents[3] / "shared" / "data"
        root = Path(os.environ.get("KERAS_SRGAN_DATA", default))
        found = [root / name for name in TRAINING_SETS if (root / name).is_dir()]
    else:
        found = [Path(f) for f in folders]
    files = []
    for folder in found:
        if not folder.is_dir():
            raise UserError(f"{folder}: calibration image folder not found")
        files += sorted(p for p in folder.iterdir() if is_image_file(p))
    if files:
        return {"source": "training images", "folders": [str(f) for f in found], "files": files}
    if folders:
        raise UserError(f"no images in the calibration folders {', '.join(map(str, folders))}")
    bundled = [samples.path(name) for name in CALIBRATION_IMAGES]
    return {"source": "bundled samples", "folders": [], "files": bundled}


def calibration_crops(
    count: int = 32, crop: tuple[int, int] = DEFAULT_CALIBRATION_CROP, source: dict | None = None
) -> list[np.ndarray]:
    """LR crops ``[1, H, W, 3]`` in [0, 1] for integer calibration, cut at seeded places from real photos
    (``calibration_source``: the training images when present, so the ranges fit what the model was
    trained on): each from a seeded random photo (no repeats until all were used), bicubic /4 like the
    training degradation."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    h, w = crop
    files = (source or calibration_source())["files"]
    order = [int(i) for i in rng.permutation(len(files))]
    crops = []
    for i in range(count):
        with Image.open(files[order[i % len(order)]]) as im:
            im = im.convert("RGB")
            src = im.resize((max(1, im.width // 4), max(1, im.height // 4)), Image.BICUBIC)
        if src.height < h or src.width < w:  # a crop larger than the LR photo: enlarge the photo first
            scale = max(h / src.height, w / src.width)
            src = src.resize((math.ceil(src.width * scale), math.ceil(src.height * scale)), Image.BICUBIC)
        y = int(rng.integers(0, src.height - h + 1))
        x = int(rng.integers(0, src.width - w + 1))
        crops.append(to_unit(np.asarray(src))[None, y : y + h, x : x + w])
    return crops


def litert_function(model, quantization: str, pixels: str, input_size, equalize_scale: int | None = None):
    """(tf-traceable LR -> {"sr": SR}, its input TensorSpec): the function a TFLite file is converted from:
    the model as transforms of the one graph (``inference.transforms``, exact in float) into ops XNNPACK
    runs whole. Every file: the nearest-neighbour residual (TILE) as a 1x1 conv + pixel shuffle (FixedBlur's
    border is already slices, not MIRROR_PAD). Integer files: PReLUs from LEAKY_RELU, depthwise gains and
    ADD (int8 PRELU's per-channel slopes take a slow broadcasting kernel), and no clip layer.
    Float pixels: float32 [0, 1] both ways, clipped. uint8 pixels: float files take uint8 (cast in the
    graph) and round to uint8. The int8 file's input and output ranges are pinned to [0, 1] by fake-quant
    ops: the converter then quantizes both with scale 1/255 and zero point 0, so the uint8 bytes in and out
    are exactly the pixel values, and the range clips (no int8 MINIMUM + RELU, which XNNPACK lacks).
    ``equalize_scale`` (float pixels, float32/float16 files): the whole-image phase equalisation follows.
    """
    import tensorflow as tf

    from keras_srgan.exporters.graph import equalized_batch
    from keras_srgan.inference import transforms
    from keras_srgan.serving import FLOAT_INPUT, FLOAT_OUTPUT

    integer = quantization in CALIBRATED  # int16x8 too: its converter has no 16-bit PRELU either
    int8 = quantization == "int8"
    if equalize_scale is not None and (integer or quantization == "dynamic" or pixels != "float"):
        raise UserError("the phase equalisation is carried by float-pixel float32/float16 files only")
    converted = transforms.nearest_as_shuffle(model)
    if integer:
        converted = transforms.without_clip(transforms.prelu_for_int8(converted, INT8_LEAK))

    def graph(x):
        return tf.cast(converted(x, training=False), tf.float32)

    def pinned(x):
        return tf.quantization.fake_quant_with_min_max_args(x, 0.0, 1.0, num_bits=8)

    def fn(lr):
        if int8:  # with uint8 pixels only the converter's I/O types change (and the input is pinned too)
            return {FLOAT_OUTPUT: pinned(graph(pinned(lr) if pixels == "uint8" else lr))}
        if pixels == "uint8":
            y = graph(tf.cast(lr, tf.float32) * (1.0 / 255.0)) * 255.0
            return {FLOAT_OUTPUT: tf.cast(tf.round(tf.clip_by_value(y, 0.0, 255.0)), tf.uint8)}
        y = tf.clip_by_value(graph(lr), 0.0, 1.0)
        return {FLOAT_OUTPUT: y if equalize_scale is None else equalized_batch(y, lr, equalize_scale)}

    shape = [None, None, None, 3] if input_size is None else [1, int(input_size[0]), int(input_size[1]), 3]
    dtype = tf.uint8 if pixels == "uint8" and not int8 else tf.float32
    return fn, tf.TensorSpec(shape, dtype, name=FLOAT_INPUT)


def convert(
    model,
    quantization: str = "none",
    input_size: tuple[int, int] | None = None,
    calibration_samples: int = 32,
    pixels: str = "float",
    calibration_data: list[str | os.PathLike] | None = None,
    info: dict | None = None,
    equalize_scale: int | None = None,
) -> bytes:
    """The .tflite flatbuffer for one quantization mode (``input_size`` fixes the shape to [1, H, W, 3]).
    ``pixels="uint8"`` (needs ``input_size``): the phone interface, uint8 RGB in and out.
    ``calibration_data``: folders of HR training images for int8/int16x8 (``calibration_source``).
    ``info``, when given, receives what the manifest should record (the calibration source).
    """
    import keras
    import tensorflow as tf

    from keras_srgan.serving import FLOAT_SIGNATURE, UINT8_SIGNATURE

    if quantization not in QUANTIZATIONS:
        raise UserError(f"unknown quantization {quantization!r} (choose from {', '.join(QUANTIZATIONS)})")
    if pixels not in PIXELS:
        raise UserError(f"unknown pixel type {pixels!r} (choose from {', '.join(PIXELS)})")
    if pixels == "uint8" and input_size is None:
        raise UserError("uint8 pixels need a fixed input size (e.g. 128x128)")
    if pixels == "uint8" and quantization not in UINT8_QUANTIZATIONS:
        raise UserError("uint8 pixels are for float32, float16, int8 and int16x8 files, not dynamic")
    if quantization in CALIBRATED:
        crop = input_size or DEFAULT_CALIBRATION_CROP
        source = calibration_source(calibration_data)
        crops = calibration_crops(calibration_samples, crop, source=source)
        if info is not None:
            info["calibration"] = {
                "source": source["source"],
                "folders": source["folders"],
                "photos": len(source["files"]),
                "crops": int(calibration_samples),
                "crop_lr": [int(crop[0]), int(crop[1])],
                "seed": CALIBRATION_SEED,
                "degradation": "bicubic /4 (Pillow), seeded random crops",
            }
    fn, spec = litert_function(model, quantization, pixels, input_size, equalize_scale)
    signature = FLOAT_SIGNATURE if pixels == "float" else UINT8_SIGNATURE
    with tempfile.TemporaryDirectory(prefix="keras-srgan-tflite-") as tmp:  # a SavedModel of the function
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(signature, fn, input_signature=[spec])
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[signature])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantization in CALIBRATED:
            as_uint8 = pixels == "uint8" and quantization != "int8"  # the int16x8 phone graph takes uint8

            def representative_dataset() -> Iterator[list[np.ndarray]]:
                for crop in crops:
                    yield [np.round(crop * 255.0).astype(np.uint8) if as_uint8 else crop]

            converter.representative_dataset = representative_dataset
            if quantization == "int8":
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                if pixels == "uint8":
                    converter.inference_input_type = tf.uint8
                    converter.inference_output_type = tf.uint8
            else:
                # ops without a 16x8 kernel (DEPTH_TO_SPACE; the uint8 cast and rounding) stay float
                converter.target_spec.supported_ops = [
                    tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                    tf.lite.OpsSet.TFLITE_BUILTINS,
                ]
        try:
            data = converter.convert()
        except Exception as exc:
            reason = error_reason(exc)
            raise UserError(f"TFLite converter failed for quantization {quantization!r}: {reason}") from None
    if pixels == "uint8":  # the phone file's input and output must be uint8 holding the pixel values: no
        # quantization (float files), or zero point 0 with scale 1/255 (int8: the [0, 1] range in 255 steps)
        interpreter = _interpreter("checking a TFLite model", model_content=data)
        for d in interpreter.get_input_details() + interpreter.get_output_details():
            scale, zero = d["quantization"]
            if d["dtype"] != np.uint8 or not (scale == 0.0 or abs(scale * 255.0 - 1.0) < 1e-6) or zero != 0:
                raise UserError(
                    f"TFLite {quantization} uint8 file: tensor {d['name']} is {np.dtype(d['dtype']).name} "
                    f"with scale {scale}, zero point {zero} (expected uint8 pixel values)"
                )
    return data


def _interpreter(purpose: str, **kwargs):
    from keras_srgan.exporters import require

    return require("ai_edge_litert.interpreter", purpose).Interpreter(**kwargs)


def describe(path: str | Path) -> dict:
    """Input/output names, shapes (-1 = dynamic) and dtypes as the LiteRT interpreter reports them."""
    interpreter = _interpreter("inspecting a TFLite model", model_path=str(path))

    def tensors(details):
        return [
            {
                "name": d["name"],
                "shape": [int(s) for s in d["shape_signature"]],
                "dtype": np.dtype(d["dtype"]).name,
            }
            for d in details
        ]

    signatures = interpreter.get_signature_list()
    return {
        "inputs": tensors(interpreter.get_input_details()),
        "outputs": tensors(interpreter.get_output_details()),
        "signatures": {k: {"inputs": v["inputs"], "outputs": v["outputs"]} for k, v in signatures.items()},
    }


def delegation(path: str | Path, num_threads: int = 1) -> dict:
    """Which ops of a .tflite file XNNPACK (the interpreter's default CPU delegate) takes, and which fall
    back to LiteRT's builtin kernels: ``{"ops": {label: n}, "fallback": {label: n}, "partitions": n}``.
    Why: a fallback op runs single-threaded on LiteRT's own kernel and cuts the graph into partitions;
    that, not the arithmetic, made the plain int8 files slow. The interpreter lists the original ops and
    one DELEGATE node per partition; an op belongs to a partition when it lies between the partition's
    inputs and outputs. Labels are ``OP(dtype of first input)``."""
    from collections import Counter

    interpreter = _interpreter("inspecting a TFLite model", model_path=str(path), num_threads=num_threads)
    interpreter.allocate_tensors()
    nodes = [interpreter._get_op_details(i) for i in range(len(interpreter._get_ops_details()))]
    ops = [n for n in nodes if n["op_name"] != "DELEGATE"]
    partitions = [n for n in nodes if n["op_name"] == "DELEGATE"]
    producer = {int(t): n["index"] for n in ops for t in n["outputs"]}
    delegated: set[int] = set()
    for part in partitions:
        stop = {int(t) for t in part["inputs"]}
        todo, seen = [int(t) for t in part["outputs"]], set()
        while todo:
            tensor = todo.pop()
            if tensor in stop or tensor in seen or tensor not in producer:
                continue
            seen.add(tensor)
            delegated.add(producer[tensor])
            todo += [int(t) for t in nodes[producer[tensor]]["inputs"] if t != -1]

    def label(node) -> str:
        types = node["operand_types"]
        return f"{node['op_name']}({np.dtype(types[0]).name if types else ''})"

    return {
        "ops": dict(Counter(label(n) for n in ops)),
        "fallback": dict(Counter(label(n) for n in ops if n["index"] not in delegated)),
        "partitions": len(partitions),
    }

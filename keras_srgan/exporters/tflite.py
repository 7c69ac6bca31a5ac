"""TFLite / LiteRT conversion: float32, float16 weights, dynamic-range int8, full int8 and int16x8.

Conversion goes Keras ExportArchive -> SavedModel -> ``TFLiteConverter.from_saved_model`` with only
builtin ops (no Flex delegate needed on device). Two interfaces:

* ``pixels="float"`` (every quantization, dynamic or fixed shape): float32 ``lr`` [0, 1] in, float32
  ``sr`` [0, 1] out; the quantized files quantize and dequantize inside, so one client runs them all.
* ``pixels="uint8"`` (fixed shape only, for phones): uint8 RGB ``lr`` [1, H, W, 3] in, uint8 RGB ``sr``
  [1, 4H, 4W, 3] out, so an app hands camera bytes in and gets bitmap bytes out with no float maths. The
  int8 file is integer end to end (input and output scale 1/255, zero point 0: the bytes are the pixels).

The graph the converter sees is written for XNNPACK, LiteRT's CPU engine, which runs only some ops in
int8 (tensorflow/lite/delegates/xnnpack/README.md); an op it does not take runs on LiteRT's own
single-threaded kernels and splits the graph. Measured on the plain graph (docs/mobile.md): int8 PRELU
(per-channel slopes go through a slow broadcasting kernel), the int8 clip (MINIMUM + RELU), and in
every mode the nearest-neighbour residual (TILE) and the blur's symmetric border (MIRROR_PAD). So
(``litert_model``: transforms of the one Keras graph, exact in float) for int8 a PReLU is rebuilt from
LEAKY_RELU, two 1x1 depthwise convs and ADD, the clip is the output's own quantization range, the
residual is a fixed 1x1 conv and a pixel shuffle, and the blur's border is made of slices; checked
against the Keras model like every export (``delegation`` lists what still falls back).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
# Bundled photos (``keras_srgan.samples``) the int8 calibration crops come from when the training images
# are not on this machine. The parity image's photo (``parity.PARITY_SAMPLE``, astronaut) is left out so
# int8 is not calibrated on what it is judged on.
CALIBRATION_IMAGES = ("coffee", "chelsea", "rocket")
# The training sets (under KERAS_SRGAN_DATA) the calibration crops are cut from when present.
TRAINING_SETS = ("T91", "BSDS200")
# The negative slope of the LEAKY_RELU an int8 PReLU is rebuilt from (any value in (0, 1) is exact in
# float and within XNNPACK's quantized LEAKY_RELU limits; 1/32 and 1/8 measured the same on Set5).
INT8_LEAK = 0.125
# quantizations whose files compute in integers (calibrated on LR crops)
CALIBRATED = ("int8", "int16x8")
# quantizations that also come as a uint8-pixel phone file (dynamic range files compute in float
# with weights dequantized on the fly: the phone file would gain nothing over float16)
UINT8_QUANTIZATIONS = ("none", "float16", "int8", "int16x8")


def artifact_name(quantization: str, input_size: tuple[int, int] | None = None, pixels: str = "float") -> str:
    label = "float32" if quantization == "none" else quantization
    fixed = "" if input_size is None else f"_{input_size[0]}x{input_size[1]}"
    suffix = "_uint8" if pixels == "uint8" else ""
    return f"srgan_{label}{fixed}{suffix}.tflite"


# ---------------------------------------------------------------------------------------- calibration


def data_root() -> Path:
    """Where the shared data sets live: ``KERAS_SRGAN_DATA``, else ``../shared/data`` beside the checkout."""
    return Path(os.environ.get("KERAS_SRGAN_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def training_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """The training image folders (T91, BSDS200) that exist under ``root`` (default ``data_root()``)."""
    base = Path(root) if root is not None else data_root()
    return [base / name for name in TRAINING_SETS if (base / name).is_dir()]


def _lr_photo(path: str | os.PathLike) -> Image.Image:
    """An HR photo as its LR image: bicubic /4, like the training degradation."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        return im.resize((max(1, im.width // 4), max(1, im.height // 4)), Image.BICUBIC)


def calibration_source(folders: list[str | os.PathLike] | None = None) -> dict:
    """Which photos calibrate: the training images in ``folders`` (default: ``training_folders()``)
    when any exist, else the bundled samples. Returned as the record the manifest keeps."""
    from keras_srgan.files import is_image_file

    found = training_folders() if folders is None else [Path(f) for f in folders]
    files = []
    for folder in found:
        if not folder.is_dir():
            raise UserError(f"{folder}: calibration image folder not found")
        files += sorted(p for p in folder.iterdir() if is_image_file(p))
    if files:
        return {"source": "training images", "folders": [str(f) for f in found], "files": files}
    if folders:
        raise UserError(f"no images in the calibration folders {', '.join(map(str, folders))}")
    return {
        "source": "bundled samples",
        "folders": [],
        "files": [samples.path(name) for name in CALIBRATION_IMAGES],
    }


def calibration_crops(
    count: int = 32,
    crop: tuple[int, int] = DEFAULT_CALIBRATION_CROP,
    seed: int = CALIBRATION_SEED,
    folders: list[str | os.PathLike] | None = None,
    source: dict | None = None,
) -> list[np.ndarray]:
    """LR crops ``[1, H, W, 3]`` in [0, 1] for integer calibration, cut at seeded places from real photos.

    The photos are the training images when present (``calibration_source``), so the quantization
    ranges fit what the model was trained on; each crop comes from a seeded random photo (without
    repeats until all were used), bicubic-downscaled by 4.
    """
    rng = np.random.default_rng(seed)
    h, w = crop
    files = (source or calibration_source(folders))["files"]
    order = [int(i) for i in rng.permutation(len(files))]
    crops = []
    for i in range(count):
        src = _lr_photo(files[order[i % len(order)]])
        if src.height < h or src.width < w:  # a crop larger than the LR photo: enlarge the photo first
            scale = max(h / src.height, w / src.width)
            src = src.resize(
                (int(np.ceil(src.width * scale)), int(np.ceil(src.height * scale))), Image.BICUBIC
            )
        y = int(rng.integers(0, src.height - h + 1))
        x = int(rng.integers(0, src.width - w + 1))
        crops.append(to_unit(np.asarray(src))[None, y : y + h, x : x + w])
    return crops


def calibration_record(source: dict, count: int, crop: tuple[int, int]) -> dict:
    """What the manifest says about an integer file's calibration (which photos, how many crops)."""
    return {
        "source": source["source"],
        "folders": source["folders"],
        "photos": len(source["files"]),
        "crops": int(count),
        "crop_lr": [int(crop[0]), int(crop[1])],
        "seed": CALIBRATION_SEED,
        "degradation": "bicubic /4 (Pillow), seeded random crops",
    }


# ------------------------------------------------------------------------------------------ the graph


def litert_model(model, integer: bool):
    """The model as the converter should see it: transforms of the one graph (``inference.transforms``)
    into ops XNNPACK runs whole. Every file: the nearest-neighbour residual as a 1x1 conv + pixel shuffle
    (``nearest_as_shuffle``; FixedBlur's border is already slices). Integer files: PReLUs from LEAKY_RELU,
    depthwise gains and ADD (``prelu_for_int8``), and no clip layer (the int8 output range clips)."""
    from keras_srgan.inference import transforms

    model = transforms.nearest_as_shuffle(model)
    return transforms.without_clip(transforms.prelu_for_int8(model, INT8_LEAK)) if integer else model


def _model_graph(model, integer: bool, in_unit: float, out_unit: float) -> Callable:
    """LR in ``in_unit`` -> SR in ``out_unit`` (unclipped for integer files): ``litert_model`` between scalings."""
    import tensorflow as tf

    converted = litert_model(model, integer)

    def graph(x):
        y = tf.cast(converted(x * in_unit if in_unit != 1.0 else x, training=False), tf.float32)
        return y * out_unit if out_unit != 1.0 else y

    return graph


def litert_function(
    model,
    quantization: str,
    pixels: str,
    input_size: tuple[int, int] | None,
    equalize_scale: int | None = None,
):
    """(tf-traceable LR -> {"sr": SR}, its input TensorSpec): the function a TFLite file is converted from.

    Float pixels: float32 [0, 1] both ways, clipped. uint8 pixels: float files take uint8 (cast in the
    graph) and round to uint8. The int8 file's graph is the float-pixel one with its input and output
    ranges pinned to [0, 1] by fake-quant ops: the converter then quantizes both with scale 1/255 and
    zero point 0, so the uint8 bytes in and out are exactly the pixel values (and the range clips).
    ``equalize_scale`` (float pixels, float32/float16 files): the whole-image phase equalisation follows.
    """
    import tensorflow as tf

    from keras_srgan.exporters.graph import equalized_batch
    from keras_srgan.exporters.signatures import FLOAT_INPUT, FLOAT_OUTPUT

    integer = quantization in CALIBRATED  # int16x8 too: its converter has no 16-bit PRELU either
    int8 = quantization == "int8"
    shape = [None, None, None, 3] if input_size is None else [1, int(input_size[0]), int(input_size[1]), 3]
    if equalize_scale is not None and (integer or quantization == "dynamic" or pixels != "float"):
        raise UserError("the phase equalisation is carried by float-pixel float32/float16 files only")
    if pixels == "float":
        graph = _model_graph(model, integer, 1.0, 1.0)

        def fn(lr):
            y = graph(lr)
            if int8:  # the quantized output range [0, 1] clips; no int8 MINIMUM/RELU that XNNPACK lacks
                return {FLOAT_OUTPUT: tf.quantization.fake_quant_with_min_max_args(y, 0.0, 1.0, num_bits=8)}
            y = tf.clip_by_value(y, 0.0, 1.0)
            return {FLOAT_OUTPUT: y if equalize_scale is None else equalized_batch(y, lr, equalize_scale)}

        return fn, tf.TensorSpec(shape, tf.float32, name=FLOAT_INPUT)
    if int8:  # the same graph as the float-pixel file; only the converter's I/O types change
        graph = _model_graph(model, integer, 1.0, 1.0)

        def fn_int(lr):
            x = tf.quantization.fake_quant_with_min_max_args(lr, 0.0, 1.0, num_bits=8)
            y = tf.quantization.fake_quant_with_min_max_args(graph(x), 0.0, 1.0, num_bits=8)
            return {FLOAT_OUTPUT: y}

        return fn_int, tf.TensorSpec(shape, tf.float32, name=FLOAT_INPUT)
    graph = _model_graph(model, integer, 1.0 / 255.0, 255.0)

    def fn_u8(lr):
        y = graph(tf.cast(lr, tf.float32))
        return {FLOAT_OUTPUT: tf.cast(tf.round(tf.clip_by_value(y, 0.0, 255.0)), tf.uint8)}

    return fn_u8, tf.TensorSpec(shape, tf.uint8, name=FLOAT_INPUT)


# ----------------------------------------------------------------------------------------- conversion


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
    ``calibration_data``: folders of HR training images for int8/int16x8 (default: T91 and BSDS200
    under ``data_root()`` when present, else the bundled samples). ``info``, when given, receives what
    the manifest should record (the calibration source).
    """
    if quantization not in QUANTIZATIONS:
        raise UserError(f"unknown quantization {quantization!r} (choose from {', '.join(QUANTIZATIONS)})")
    if pixels not in PIXELS:
        raise UserError(f"unknown pixel type {pixels!r} (choose from {', '.join(PIXELS)})")
    if pixels == "uint8" and input_size is None:
        raise UserError("uint8 pixels need a fixed input size (e.g. 128x128)")
    if pixels == "uint8" and quantization not in UINT8_QUANTIZATIONS:
        raise UserError("uint8 pixels are for float32, float16, int8 and int16x8 files, not dynamic")
    crops = None
    if quantization in CALIBRATED:
        crop = input_size or DEFAULT_CALIBRATION_CROP
        source = calibration_source(calibration_data)
        crops = calibration_crops(calibration_samples, crop, source=source)
        if info is not None:
            info["calibration"] = calibration_record(source, calibration_samples, crop)
    with _function_saved_model(model, quantization, pixels, input_size, equalize_scale) as (tmp, signature):
        return _convert(tmp, signature, quantization, pixels, crops)


@contextmanager
def _function_saved_model(
    model, quantization: str, pixels: str, input_size, equalize_scale: int | None = None
) -> Iterator[tuple[str, str]]:
    """A temporary SavedModel holding only the LiteRT function's signature."""
    import keras

    from keras_srgan.exporters.signatures import FLOAT_SIGNATURE, UINT8_SIGNATURE

    fn, spec = litert_function(model, quantization, pixels, input_size, equalize_scale)
    signature = FLOAT_SIGNATURE if pixels == "float" else UINT8_SIGNATURE
    with tempfile.TemporaryDirectory(prefix="keras-srgan-tflite-") as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(signature, fn, input_signature=[spec])
        archive.write_out(tmp, verbose=False)
        yield tmp, signature


def _convert(saved_model: str, signature: str, quantization: str, pixels: str, crops) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[signature])
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
    if pixels == "uint8":
        _check_uint8_interface(data, quantization)
    return data


def _check_uint8_interface(data: bytes, quantization: str) -> None:
    """The phone file's input and output must be uint8 holding the pixel values themselves: no
    quantization (float files), or zero point 0 with scale 1/255 (int8: the [0, 1] range in 255 steps)."""
    from keras_srgan.exporters.formats import require

    interpreter = require("ai_edge_litert.interpreter", "checking a TFLite model").Interpreter(
        model_content=data
    )
    for d in interpreter.get_input_details() + interpreter.get_output_details():
        scale, zero = d["quantization"]
        if d["dtype"] != np.uint8 or not (scale == 0.0 or abs(scale * 255.0 - 1.0) < 1e-6) or zero != 0:
            raise UserError(
                f"TFLite {quantization} uint8 file: tensor {d['name']} is {np.dtype(d['dtype']).name} "
                f"with scale {scale}, zero point {zero} (expected uint8 pixel values)"
            )


def describe(path: str | Path) -> dict:
    """Input/output names, shapes (-1 = dynamic) and dtypes as the LiteRT interpreter reports them."""
    from keras_srgan.exporters.formats import require

    interpreter = require("ai_edge_litert.interpreter", "inspecting a TFLite model").Interpreter(
        model_path=str(path)
    )

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
    that, not the arithmetic, made the plain int8 files slow. The interpreter lists the original ops
    and one DELEGATE node per partition; an op belongs to a partition when it lies between the
    partition's inputs and outputs. Labels are ``OP(dtype of first input)``.
    """
    from collections import Counter

    from keras_srgan.exporters.formats import require

    interpreter = require("ai_edge_litert.interpreter", "inspecting a TFLite model").Interpreter(
        model_path=str(path), num_threads=num_threads
    )
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

"""ONNX export through tf2onnx (opset 17) with symbolic batch/height/width dimensions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason

OPSET = 17


def artifact_name(input_size: tuple[int, int] | None = None) -> str:
    return "srgan.onnx" if input_size is None else f"srgan_{input_size[0]}x{input_size[1]}.onnx"


def convert(
    model,
    path: str | Path,
    input_size: tuple[int, int] | None = None,
    opset: int = OPSET,
    equalize_scale: int | None = None,
) -> None:
    """Write the ONNX model of the float interface to ``path``; dims get readable names. ``equalize_scale``:
    the whole-image phase equalisation in the graph too (``graph.float_fn``)."""
    import tensorflow as tf

    from keras_srgan.exporters.formats import require
    from keras_srgan.exporters.graph import float_fn, float_spec

    tf2onnx = require("tf2onnx", "ONNX export")
    onnx = require("onnx", "ONNX export")
    spec = float_spec(input_size)
    fn = tf.function(float_fn(model, equalize_scale), input_signature=[spec], autograph=False)
    try:
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=[spec], opset=opset)
    except Exception as exc:
        reason = error_reason(exc)
        raise UserError(f"tf2onnx could not convert the generator: {reason}") from None
    if input_size is None:
        names = {"inputs": ("batch", "height", "width"), "outputs": ("batch", "sr_height", "sr_width")}
        for value, labels in (
            (proto.graph.input[0], names["inputs"]),
            (proto.graph.output[0], names["outputs"]),
        ):
            for dim, label in zip(value.type.tensor_type.shape.dim[:3], labels, strict=True):
                dim.dim_param = label
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def describe(path: str | Path) -> dict:
    """Input/output names, shapes (-1 = dynamic, with the symbolic names) and dtypes per onnxruntime."""
    from keras_srgan.exporters.formats import require

    onnx = require("onnx", "inspecting an ONNX model")
    proto = onnx.load(str(path), load_external_data=False)

    def tensors(values):
        out = []
        for v in values:
            dims = v.type.tensor_type.shape.dim
            out.append(
                {
                    "name": v.name,
                    "shape": [int(d.dim_value) if d.HasField("dim_value") else -1 for d in dims],
                    "dim_names": [d.dim_param or None for d in dims],
                    "dtype": np.dtype(
                        onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)
                    ).name,
                }
            )
        return out

    return {
        "inputs": tensors(proto.graph.input),
        "outputs": tensors(proto.graph.output),
        "opset": max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
    }

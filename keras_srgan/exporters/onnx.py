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
    model, path: str | Path, input_size: tuple[int, int] | None = None, equalize_scale: int | None = None
) -> None:
    """Write the ONNX model of the float interface to ``path``; dims get readable names. ``equalize_scale``:
    the whole-image phase equalisation in the graph too (``graph.float_function``)."""
    from keras_srgan.exporters import require
    from keras_srgan.exporters.graph import float_function

    tf2onnx = require("tf2onnx", "ONNX export")
    onnx = require("onnx", "ONNX export")
    fn = float_function(model, input_size, equalize_scale)
    try:
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=OPSET)
    except Exception as exc:
        raise UserError(f"tf2onnx could not convert the generator: {error_reason(exc)}") from None
    if input_size is None:
        for value, labels in (
            (proto.graph.input[0], ("batch", "height", "width")),
            (proto.graph.output[0], ("batch", "sr_height", "sr_width")),
        ):
            for dim, label in zip(value.type.tensor_type.shape.dim[:3], labels, strict=True):
                dim.dim_param = label
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def describe(path: str | Path) -> dict:
    """Input/output names, shapes (-1 = dynamic, with the symbolic names) and dtypes per onnxruntime."""
    from keras_srgan.exporters import require

    onnx = require("onnx", "inspecting an ONNX model")
    proto = onnx.load(str(path), load_external_data=False)

    def tensor(v) -> dict:
        dims = v.type.tensor_type.shape.dim
        return {
            "name": v.name,
            "shape": [int(d.dim_value) if d.HasField("dim_value") else -1 for d in dims],
            "dim_names": [d.dim_param or None for d in dims],
            "dtype": np.dtype(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)).name,
        }

    return {
        "inputs": [tensor(v) for v in proto.graph.input],
        "outputs": [tensor(v) for v in proto.graph.output],
        "opset": max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
    }

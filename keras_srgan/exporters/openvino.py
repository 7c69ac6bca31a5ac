"""OpenVINO IR export (``.xml`` graph + ``.bin`` weights) through ``openvino.convert_model``.

The exported model is the transformed generator with the float contract of every other artifact
(input ``lr`` float32 ``[N, H, W, 3]`` in [0, 1], output ``sr`` in [0, 1]). Weights stay float32 in
the ``.bin``; the precision is chosen when the IR is compiled (``INFERENCE_PRECISION_HINT``), which is
what ``keras_srgan.inference.openvino_engine.OpenVINOEngine`` does with this same file.
"""

from __future__ import annotations

import os
from pathlib import Path

from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason


def artifact_name(input_size: tuple[int, int] | None = None) -> str:
    return "srgan.xml" if input_size is None else f"srgan_{input_size[0]}x{input_size[1]}.xml"


def bin_path(xml: str | os.PathLike) -> Path:
    return Path(xml).with_suffix(".bin")


def convert(
    model, path: str | os.PathLike, input_size: tuple[int, int] | None = None, equalize_scale: int | None = None
) -> None:
    """Write ``path`` (.xml) and its .bin: the float interface of ``graph.float_fn`` (output clipped to
    [0, 1]; with ``equalize_scale``, the whole-image phase equalisation too), converted by OpenVINO."""
    import tensorflow as tf

    from keras_srgan.exporters.formats import require
    from keras_srgan.exporters.graph import float_fn, float_spec
    from keras_srgan.exporters.signatures import FLOAT_INPUT, FLOAT_OUTPUT

    ov = require("openvino", "OpenVINO export")
    fn = tf.function(float_fn(model, equalize_scale), input_signature=[float_spec(input_size)])
    try:
        ov_model = ov.convert_model(fn.get_concrete_function())
    except Exception as exc:
        raise UserError(f"OpenVINO could not convert the generator: {error_reason(exc)}") from None
    ov_model.inputs[0].get_tensor().set_names({FLOAT_INPUT})
    ov_model.outputs[0].get_tensor().set_names({FLOAT_OUTPUT})
    ov.save_model(ov_model, str(path), compress_to_fp16=False)


def describe(path: str | os.PathLike) -> dict:
    """Input/output names, shapes (-1 = dynamic) and dtypes as OpenVINO reads them back, plus the .bin file."""
    from keras_srgan.exporters.formats import require

    ov = require("openvino", "inspecting an OpenVINO model")
    model = ov.Core().read_model(str(path))

    def tensors(ports):
        return [
            {
                "name": port.get_any_name(),
                "shape": [-1 if d.is_dynamic else d.get_length() for d in port.get_partial_shape()],
                "dtype": port.get_element_type().to_dtype().name,
            }
            for port in ports
        ]

    return {
        "inputs": tensors(model.inputs),
        "outputs": tensors(model.outputs),
        "weights_file": bin_path(path).name,
    }

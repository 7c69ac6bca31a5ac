"""OpenVINO IR export (``.xml`` graph + ``.bin`` weights) through ``openvino.convert_model``.

Weights stay float32 in the ``.bin``; the precision is chosen when the IR is compiled
(``INFERENCE_PRECISION_HINT``), as ``inference.openvino_engine.OpenVINOEngine`` does with this same file.
"""

from __future__ import annotations

import os

from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason


def artifact_name(input_size: tuple[int, int] | None = None) -> str:
    return "srgan.xml" if input_size is None else f"srgan_{input_size[0]}x{input_size[1]}.xml"


def convert(
    model, path: str | os.PathLike, input_size: tuple[int, int] | None = None, equalize_scale: int | None = None
) -> None:
    """Write ``path`` (.xml) and its .bin: ``graph.float_function`` (with ``equalize_scale``, the
    whole-image phase equalisation too) converted by OpenVINO."""
    from keras_srgan.exporters import require
    from keras_srgan.exporters.graph import float_function
    from keras_srgan.serving import FLOAT_INPUT, FLOAT_OUTPUT

    ov = require("openvino", "OpenVINO export")
    try:
        ov_model = ov.convert_model(float_function(model, input_size, equalize_scale).get_concrete_function())
    except Exception as exc:
        raise UserError(f"OpenVINO could not convert the generator: {error_reason(exc)}") from None
    ov_model.inputs[0].get_tensor().set_names({FLOAT_INPUT})
    ov_model.outputs[0].get_tensor().set_names({FLOAT_OUTPUT})
    ov.save_model(ov_model, str(path), compress_to_fp16=False)


def describe(path: str | os.PathLike) -> dict:
    """Input/output names, shapes (-1 = dynamic) and dtypes as OpenVINO reads them back."""
    from keras_srgan.exporters import require

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

    return {"inputs": tensors(model.inputs), "outputs": tensors(model.outputs)}

"""OpenVINO bf16 two-stage tiling: features travel between body and tail as bfloat16, as inside the whole model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import smooth_image

pytest.importorskip("openvino")
pytestmark = pytest.mark.cpu_kind

from keras_srgan.inference import openvino_engine  # noqa: E402
from keras_srgan.inference.openvino_engine import bf16_bits  # noqa: E402
from keras_srgan.inference.tiling import upscale_two_stage  # noqa: E402


def test_bf16_bits_round_to_nearest_even_like_tensorflow():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.normal(0, 3, 4096).astype(np.float32),
            # ties: exactly half way between two bfloat16 values, both parities of the kept bit
            np.array([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), 0.0, -0.0, 65504.0], np.float32),
        ]
    )
    expected = tf.bitcast(tf.cast(values, tf.bfloat16), tf.uint16).numpy()
    np.testing.assert_array_equal(bf16_bits(values), expected)


@pytest.fixture(params=["this CPU", "a CPU without bf16"])
def bf16_engine(request, tiny_generator, monkeypatch, tmp_path):
    """bf16 asked for, on this CPU and as on a CPU whose OpenVINO has no bf16 (the package's own probe
    says no there: AVX2-only CPUs, where OpenVINO ignores the hint and runs fp32)."""
    monkeypatch.setenv("KERAS_SRGAN_CACHE_DIR", str(tmp_path))
    if request.param == "a CPU without bf16":
        monkeypatch.setattr(openvino_engine, "runs_bf16", lambda: False)
    return openvino_engine.OpenVINOEngine(tiny_generator, "bf16")


def _same_bits_within(bf16: bool) -> float:
    """0 in bf16 (measured on AMX and AVX512-BF16 CPUs). In fp32, one float32 step of an output near 1
    (2**-23): measured 0 on AMX, but with oneDNN held to AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``) OpenVINO picks
    other conv kernels for a tile's shape than for the whole image's, and 3.8% of the values moved by one
    step (6e-8)."""
    return 0.0 if bf16 else 2.0**-23


def test_bf16_stages_pass_bfloat16_features(bf16_engine, tiny_generator, monkeypatch, tmp_path):
    lr = smooth_image(20, 24, seed=1)[None].astype(np.float32) / 255
    bf16 = openvino_engine.runs_bf16()
    # without bf16 the engine runs (and says it runs) fp32: bf16 features would add a rounding there
    assert bf16_engine.precision == ("bf16" if bf16 else "fp32")
    body, tail = bf16_engine.stages()
    features = body(lr)
    assert features.dtype == (np.uint16 if bf16 else np.float32) and features.shape == (1, 20, 24, 8)
    whole = bf16_engine(lr)
    # the same bits as the whole model, which hands the features on in bf16 inside OpenVINO (measured: 0)
    np.testing.assert_allclose(tail(features), whole, rtol=0, atol=_same_bits_within(bf16))
    if bf16:  # float32 features are rounded the way OpenVINO rounds them
        as_float = (features.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_array_equal(tail(as_float), whole)
    fp32_body, _ = openvino_engine.OpenVINOEngine(tiny_generator, "fp32", cache=tmp_path).stages()
    assert fp32_body(lr).dtype == np.float32


def test_bf16_two_stage_tiling_equals_the_untiled_bf16_model(bf16_engine):
    image = smooth_image(75, 93, seed=3).astype(np.float32) / 255
    untiled = bf16_engine(image[None])[0]
    body, tail = bf16_engine.stages()
    tiled = upscale_two_stage(image, body, tail, 4, *bf16_engine.stage_radii, 40 * 40, 14 * 14)
    # bf16 with float32 features between the stages differed by up to 5e-3; bf16 features into an fp32
    # tail, as on an AVX2-only CPU before the probe, by 1.6e-4; a seam error is larger still
    np.testing.assert_allclose(
        tiled, untiled, rtol=0, atol=_same_bits_within(bf16_engine.precision == "bf16")
    )

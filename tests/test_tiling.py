"""Host-side tiling: window geometry, seam-free agreement with untiled output, bounded model inputs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import smooth_image
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_srgan.inference.predict import Predictor
from keras_srgan.inference.tiling import DEFAULT_OVERLAP, axis_spans, plan_tiles, upscale_tiled


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 3000), tile=st.integers(1, 300), overlap=st.integers(0, 60))
def test_spans_cover_with_context_and_one_window_size(length, tile, overlap):
    spans = axis_spans(length, tile, overlap)
    assert spans[0].keep_start == 0 and spans[-1].keep_end == length
    assert all(a.keep_end == b.keep_start for a, b in zip(spans, spans[1:], strict=False))
    assert len({s.win_end - s.win_start for s in spans}) == 1  # one shape: batches never need padding
    for s in spans:
        assert 0 <= s.win_start <= s.keep_start < s.keep_end <= s.win_end <= length
        assert s.keep_start - s.win_start >= overlap or s.win_start == 0
        assert s.win_end - s.keep_end >= overlap or s.win_end == length
        assert s.win_end - s.win_start <= tile + 2 * overlap


def test_default_overlap_covers_full_srresnet_receptive_field():
    # head 9x9 (4) + 16 blocks x 2 convs (32) + body (1) + up convs (1 + 0.5) + 9x9 tail at x4 (1) = 39.5
    assert DEFAULT_OVERLAP >= 39.5


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a.astype(int) - b.astype(int)) <= 1).mean())


def test_tiled_matches_untiled(tiny_generator):
    predictor = Predictor(tiny_generator)
    image = smooth_image(75, 93, seed=3)  # odd sizes: uneven windows and shifted edge windows
    untiled = upscale_tiled(image, predictor, 4, tile=0)
    for tile, overlap in [(24, 16), (4, DEFAULT_OVERLAP), (40, 12)]:
        tiled = upscale_tiled(image, predictor, 4, tile=tile, overlap=overlap, tile_batch=3)
        assert tiled.shape == untiled.shape == (300, 372, 3)
        assert len(plan_tiles(75, 93, tile, overlap)) > 1
        assert _agreement(tiled, untiled) >= 0.995, (tile, overlap)


def test_without_overlap_seams_appear(tiny_generator):
    """The agreement test can fail: cutting tiles without context changes pixels near every seam."""
    predictor = Predictor(tiny_generator)
    image = smooth_image(48, 48, seed=4)
    untiled = upscale_tiled(image, predictor, 4, tile=0)
    seamy = upscale_tiled(image, predictor, 4, tile=8, overlap=0)
    assert (seamy != untiled).mean() > 0.01


def test_only_fixed_size_windows_reach_the_model():
    calls = []

    def fake_model(lr: np.ndarray) -> np.ndarray:  # nearest-neighbour x2, records what it was given
        calls.append(lr.shape)
        return lr.repeat(2, axis=1).repeat(2, axis=2)

    image = smooth_image(301, 157, seed=1)
    out = upscale_tiled(image, fake_model, 2, tile=64, overlap=20, tile_batch=2)
    assert len(set(shape[1:] for shape in calls)) == 1
    assert all(shape[0] <= 2 and shape[1] <= 104 and shape[2] <= 104 for shape in calls)
    np.testing.assert_array_equal(out, image.repeat(2, axis=0).repeat(2, axis=1))  # exact reassembly


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_dtype_is_kept(dtype):
    image = smooth_image(20, 30).astype(dtype) * (257 if dtype == np.uint16 else 1 / 255)
    out = upscale_tiled(image.astype(dtype), lambda lr: lr.repeat(4, 1).repeat(4, 2), 4, tile=8, overlap=4)
    assert out.dtype == dtype and out.shape == (80, 120, 3)
    np.testing.assert_allclose(
        out[::4, ::4].astype(np.float64), image.astype(np.float64), rtol=1e-6, atol=1e-6
    )

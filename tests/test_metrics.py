"""Metrics agree with scikit-image on the same arrays, and the protocol's channel/border rules hold."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import REPO, smooth_image
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from keras_srgan.metrics import Protocol, psnr, rgb_to_gray, rgb_to_y, ssim

SK_SSIM = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}


def _pair(height=48, width=40, seed=0, channels=3, noise=12):
    rng = np.random.default_rng(seed)
    hr = smooth_image(height, width, seed=seed, channels=channels)
    if channels == 1:
        hr = hr[..., 0]
    sr = np.clip(hr.astype(int) + rng.integers(-noise, noise + 1, hr.shape), 0, 255).astype(np.uint8)
    return sr, hr


def _crop(a, b):
    return a[b:-b, b:-b] if b else a


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    border=st.integers(0, 6),
    height=st.integers(24, 50),
    width=st.integers(24, 50),
)
def test_psnr_and_ssim_match_skimage_on_y(seed, border, height, width):
    sr, hr = _pair(height, width, seed)
    y_sr, y_hr = _crop(rgb_to_y(sr), border), _crop(rgb_to_y(hr), border)
    assert psnr(sr, hr, border) == pytest.approx(
        peak_signal_noise_ratio(y_hr, y_sr, data_range=255), abs=1e-9
    )
    assert ssim(sr, hr, border) == pytest.approx(structural_similarity(y_sr, y_hr, **SK_SSIM), abs=1e-9)


def test_rgb_without_y_matches_skimage_over_channels():
    sr, hr = _pair(seed=3)
    a, b = _crop(sr, 4).astype(np.float64), _crop(hr, 4).astype(np.float64)
    assert psnr(sr, hr, 4, y_channel=False) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255))
    expected = structural_similarity(a, b, channel_axis=-1, **SK_SSIM)
    assert ssim(sr, hr, 4, y_channel=False) == pytest.approx(expected, abs=1e-9)


def test_rgb_to_y_range_and_weights():
    black_white = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(black_white), [[16.0, 235.0]])
    pure = np.eye(3, dtype=np.uint8)[None] * 255
    np.testing.assert_allclose(rgb_to_y(pure), [[16 + 65.481, 16 + 128.553, 16 + 24.966]])
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(np.zeros((4, 4)))


def test_identical_images_give_inf_psnr_and_unit_ssim():
    _, hr = _pair()
    assert psnr(hr, hr.copy(), 4) == math.inf
    assert ssim(hr, hr.copy(), 4) == pytest.approx(1.0)


def test_constant_images():
    a = np.full((32, 32, 3), 100, np.uint8)
    b = np.full((32, 32, 3), 110, np.uint8)
    assert psnr(a, a, 4) == math.inf
    assert ssim(a, a, 4) == pytest.approx(1.0)
    # Y difference of two grays is 219/255 of their gray difference.
    expected = 10 * math.log10(255**2 / (10 * 219 / 255) ** 2)
    assert psnr(a, b, 4) == pytest.approx(expected)
    ya, yb = rgb_to_y(a)[4:-4, 4:-4], rgb_to_y(b)[4:-4, 4:-4]
    assert ssim(a, b, 4) == pytest.approx(structural_similarity(ya, yb, **SK_SSIM), abs=1e-12)
    assert 0 < ssim(a, b, 4) < 1


def test_grayscale_is_measured_on_its_own_values():
    sr, hr = _pair(channels=1, seed=5)
    assert sr.ndim == 2
    raw = peak_signal_noise_ratio(hr[4:-4, 4:-4], sr[4:-4, 4:-4], data_range=255)
    assert psnr(sr, hr, 4) == pytest.approx(raw)
    expected_ssim = structural_similarity(
        sr[4:-4, 4:-4].astype(float), hr[4:-4, 4:-4].astype(float), **SK_SSIM
    )
    assert ssim(sr, hr, 4) == pytest.approx(expected_ssim, abs=1e-9)
    # Pushing the same gray image through RGB -> Y shrinks errors by 219/255: +1.32 dB, the trap avoided.
    through_y = psnr(np.repeat(sr[..., None], 3, -1), np.repeat(hr[..., None], 3, -1), 4)
    assert through_y - psnr(sr, hr, 4) == pytest.approx(20 * math.log10(255 / 219))
    # HxWx1 counts as gray too.
    assert psnr(sr[..., None], hr[..., None], 4) == pytest.approx(raw)


def test_rgb_to_gray_inverts_channel_repeat_and_matches_pillow():
    gray = smooth_image(20, 30, channels=1)[..., 0]
    np.testing.assert_array_equal(rgb_to_gray(np.repeat(gray[..., None], 3, -1)), gray)
    rgb = smooth_image(20, 30, seed=2)
    pillow = np.asarray(Image.fromarray(rgb).convert("L")).astype(int)
    assert np.abs(rgb_to_gray(rgb).astype(int) - pillow).max() <= 1


def test_shape_mismatch_and_too_small_raise():
    sr, hr = _pair()
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(sr, hr[:-1], 4)
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(sr[..., 0], hr, 4)
    tiny = np.zeros((8, 30, 3), np.uint8)
    with pytest.raises(ValueError, match="too small"):
        psnr(tiny, tiny, 4)
    with pytest.raises(ValueError, match="too small"):
        ssim(tiny, tiny, 4)
    small = np.zeros((16, 16, 3), np.uint8)  # 8x8 after the border: below the 11x11 window
    assert psnr(small, small, 4) == math.inf
    with pytest.raises(ValueError, match="SSIM window"):
        ssim(small, small, 4)
    with pytest.raises(ValueError, match="HxW"):
        psnr(np.zeros((20, 20, 2)), np.zeros((20, 20, 2)), 0)


def test_protocol_defaults_and_statement():
    protocol = Protocol(scale=4)
    assert protocol.crop_border == 4 and protocol.y_channel
    assert Protocol(scale=2).crop_border == 2
    line = protocol.describe()
    assert "\n" not in line and "x4" in line and "Y (BT.601)" in line and "4-px border" in line
    record = json.loads(json.dumps(protocol.to_dict()))
    assert record["statement"] == line and record["ssim"]["window"] == 11
    sr, hr = _pair(seed=9)
    assert protocol.measure(sr, hr) == {"psnr": psnr(sr, hr, 4), "ssim": ssim(sr, hr, 4)}
    with pytest.raises(Exception, match="cannot assign|frozen"):
        protocol.scale = 3
    with pytest.raises(ValueError):
        Protocol(scale=0)


def test_psnr_y_tf_matches_numpy_and_works_in_graph():
    import tensorflow as tf

    from keras_srgan.metrics import psnr_y_tf

    pairs = [_pair(seed=s) for s in (1, 2)]
    sr = np.stack([p[0] for p in pairs]).astype(np.float32) / 255
    hr = np.stack([p[1] for p in pairs]).astype(np.float32) / 255
    expected = np.mean([psnr(s, h, 4) for s, h in pairs])
    assert float(psnr_y_tf(sr, hr, crop_border=4)) == pytest.approx(expected, abs=1e-3)
    graph_fn = tf.function(lambda a, b: psnr_y_tf(a, b))
    expected_nocrop = np.mean([psnr(s, h, 0) for s, h in pairs])
    assert float(graph_fn(tf.constant(sr), tf.constant(hr))) == pytest.approx(expected_nocrop, abs=1e-3)
    same = float(psnr_y_tf(hr, hr))
    assert math.isfinite(same) and same > 100
    gray = hr[..., :1]
    expected_gray = np.mean([psnr(s[..., 0], h[..., 0], 0) for s, h in pairs])
    assert float(psnr_y_tf(sr[..., :1], gray)) == pytest.approx(expected_gray, abs=1e-3)


def test_blockiness_by_hand_and_on_photographs():
    from keras_srgan.metrics import blockiness

    # steps of 1 everywhere but 3 across every 32nd line, both axes: the ratio is 3 by construction
    ramp = np.arange(65) + 2 * (np.arange(65) // 32)
    plane = (ramp[:, None] + ramp[None, :]).astype(np.uint8)
    assert blockiness(plane) == pytest.approx(3.0)
    assert blockiness(plane, period=16) == pytest.approx(2.0)  # lines 16 and 48 step by 1, 32 and 64 by 3
    assert blockiness(np.full((70, 70), 9, np.uint8)) == 1.0  # flat: no steps anywhere
    with pytest.raises(ValueError, match="blockiness needs at least 65x65"):
        blockiness(plane[:64, :64])


def test_blockiness_is_about_one_for_photographs_and_rises_with_a_jpeg_lattice():
    from keras_srgan.metrics import blockiness

    for path in sorted((REPO / "keras_srgan" / "samples").glob("*.jpg")):
        photo = np.asarray(Image.open(path).convert("RGB"))
        assert 0.85 < blockiness(photo) < 1.15, path.name
        # a constant offset per 32x32 cell (a JPEG'd LR's 8x8 blocks after x4), then shifted by 16 px
        offsets = np.random.default_rng(0).integers(
            -6, 7, (photo.shape[0] // 32 + 1, photo.shape[1] // 32 + 1)
        )
        cells = np.kron(offsets, np.ones((32, 32)))[: photo.shape[0], : photo.shape[1], None]
        blocky = np.clip(photo + cells, 0, 255).astype(np.uint8)
        # measured: +0.26 to +0.76 over the photo; the same cells off JPEG's lattice origin: 0.97-1.05
        assert blockiness(blocky) > blockiness(photo) + 0.2, path.name
        assert blockiness(blocky[16:, 16:]) < 1.1, path.name

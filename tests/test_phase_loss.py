"""The per-phase error term (``--phase-weight``) against numpy: what it measures, what it ignores, and that
the GAN and pre-training steps add exactly ``phase_weight`` times it."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_srgan.errors import UserError
from keras_srgan.losses import ContentLoss
from keras_srgan.losses.content import phase_bias_loss
from keras_srgan.models import build_discriminator, build_generator
from keras_srgan.train.config import TrainConfig
from keras_srgan.train.srgan_model import SRGAN


def _numpy_phase_bias(hr: np.ndarray, sr: np.ndarray, period: int = 4) -> float:
    """Per image, channel and phase (y mod p, x mod p): mean error on [-1, 1]; minus its mean over phases."""
    err = (sr.astype(np.float64) - hr) * 2.0
    h, w = err.shape[1] // period * period, err.shape[2] // period * period
    total = []
    for b in range(err.shape[0]):
        for c in range(err.shape[3]):
            means = np.array(
                [[err[b, i:h:period, j:w:period, c].mean() for j in range(period)] for i in range(period)]
            )
            total.append(((means - means.mean()) ** 2).ravel())
    return float(np.mean(np.concatenate(total)))


def test_phase_bias_matches_numpy_on_odd_sizes():
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 1, (3, 19, 23, 3)).astype(np.float32)
    sr = np.clip(hr + rng.normal(0, 0.05, hr.shape), 0, 1).astype(np.float32)
    assert float(phase_bias_loss(hr, sr)) == pytest.approx(_numpy_phase_bias(hr, sr), rel=1e-5)


def test_a_periodic_pattern_is_measured_and_a_uniform_shift_is_not():
    rng = np.random.default_rng(1)
    hr = rng.uniform(0.2, 0.8, (2, 32, 32, 3)).astype(np.float32)
    pattern = rng.normal(0, 0.01, (4, 4, 3)).astype(np.float32)
    sr = hr + np.tile(pattern, (8, 8, 1))[None] + 0.05  # a 4-px grid plus a uniform offset
    expected = np.mean(((pattern - pattern.mean(axis=(0, 1))) * 2.0) ** 2)
    assert float(phase_bias_loss(hr, sr)) == pytest.approx(expected, rel=1e-4)
    assert float(phase_bias_loss(hr, hr + 0.05)) < 1e-12


def test_non_periodic_error_costs_only_its_sampling_noise():
    rng = np.random.default_rng(2)
    hr = rng.uniform(0.2, 0.8, (4, 96, 96, 3)).astype(np.float32)
    noise = rng.normal(0, 0.02, hr.shape).astype(np.float32)
    # each phase mean averages 24 x 24 = 576 values: variance (2 * 0.02)^2 / 576, times 15/16 for the
    # removed mean over phases
    floor = (2 * 0.02) ** 2 / 576 * 15 / 16
    assert float(phase_bias_loss(hr, hr + noise)) == pytest.approx(floor, rel=0.15)


@pytest.mark.parametrize("gan", [False, True])
def test_the_step_adds_phase_weight_times_the_term(gan):
    keras.utils.set_random_seed(3)
    hr = tf.constant(np.random.default_rng(3).uniform(0, 1, (4, 32, 32, 3)).astype(np.float32))

    def run(phase_weight: float) -> dict:
        keras.utils.set_random_seed(3)
        generator = build_generator(scale=4, num_blocks=1, filters=8)
        discriminator = build_discriminator(input_size=32, filters=8, dense_units=16) if gan else None
        model = SRGAN(generator, discriminator, ContentLoss("mse"), phase_weight=phase_weight, seed=4)
        model.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0) if gan else None)
        logs = model.train_step(hr)
        lr, hr01 = model.make_pair(hr)  # the same seed draws the same LR
        return logs, float(
            phase_bias_loss(hr01, model.generator(lr, training=True))
        )  # batch statistics, as in the step

    off, _ = run(0.0)
    on, term = run(7.0)
    assert term > 0
    if gan:
        assert float(on["phase_bias"]) == pytest.approx(term, rel=1e-4)
        assert float(on["g_loss"]) - float(off["g_loss"]) == pytest.approx(
            7.0 * float(on["phase_bias"]), rel=1e-4
        )
    else:
        assert float(on["g_loss"]) - float(off["g_loss"]) == pytest.approx(7.0 * term, rel=1e-4)


def test_negative_weights_are_refused():
    with pytest.raises(UserError, match="phase_weight"):
        TrainConfig(data=["x"], out="y", phase_weight=-1.0)

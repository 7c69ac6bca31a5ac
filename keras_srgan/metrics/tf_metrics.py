"""TensorFlow PSNR on Y for monitoring inside a training step (graph-safe, no numpy round trip).

It follows the benchmark protocol except for quantisation: the SR batch is clipped to [0, 1] but not
rounded to uint8, so values differ from :func:`keras_srgan.metrics.psnr` by a few hundredths of a dB.
"""

from __future__ import annotations

import tensorflow as tf

from keras_srgan.pixels import Y_OFFSET, Y_WEIGHTS

# Keeps identical images finite (about 148 dB) so a running mean is never poisoned by inf.
MIN_MSE = 1e-10


def psnr_y_tf(sr01: tf.Tensor, hr01: tf.Tensor, crop_border: int = 0) -> tf.Tensor:
    """Mean over the batch of per-image PSNR (dB) on BT.601 Y, for float [N, H, W, 3 or 1] in [0, 1].

    One-channel batches are measured on their gray values. ``crop_border`` pixels are removed from each
    side first. Returns a float32 scalar; works eagerly and inside ``tf.function``.
    """
    sr = tf.clip_by_value(tf.cast(sr01, tf.float32), 0.0, 1.0)
    hr = tf.clip_by_value(tf.cast(hr01, tf.float32), 0.0, 1.0)
    if crop_border:
        sr = sr[:, crop_border:-crop_border, crop_border:-crop_border, :]
        hr = hr[:, crop_border:-crop_border, crop_border:-crop_border, :]
    channels = sr.shape[-1]
    if channels == 3:
        weights = tf.constant(Y_WEIGHTS, dtype=tf.float32)
        sr_y = Y_OFFSET + tf.tensordot(sr, weights, axes=[[3], [0]])
        hr_y = Y_OFFSET + tf.tensordot(hr, weights, axes=[[3], [0]])
    elif channels == 1:
        sr_y = sr[..., 0] * 255.0
        hr_y = hr[..., 0] * 255.0
    else:
        raise ValueError(f"psnr_y_tf needs 1 or 3 channels, got shape {sr.shape}")
    mse = tf.reduce_mean(tf.square(sr_y - hr_y), axis=[1, 2])
    per_image = 10.0 * tf.math.log(255.0**2 / tf.maximum(mse, MIN_MSE)) / tf.math.log(10.0)
    return tf.reduce_mean(per_image)

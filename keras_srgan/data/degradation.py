"""HR -> LR degradations, run batched on the device inside the training step.

All functions take and return float tensors [N, H, W, C] in [0, 1]. ``bicubic`` is the antialiased
(MATLAB ``imresize``-style) downsampling that the evaluation protocol uses to make LR images.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import keras
import tensorflow as tf

KINDS = ("bicubic", "gaussian")


def bicubic_downsample(hr: tf.Tensor, scale: int) -> tf.Tensor:
    """Antialiased bicubic downsampling by ``scale`` (HR sides must be multiples of ``scale``)."""
    shape = tf.shape(hr)
    size = tf.stack([shape[1] // scale, shape[2] // scale])
    lr = tf.image.resize(tf.cast(hr, tf.float32), size, method="bicubic", antialias=True)
    return lr


def gaussian_kernel(sigma: float, size: int | None = None) -> tf.Tensor:
    """Normalised 2-D Gaussian kernel [size, size]; size defaults to 2*ceil(3*sigma)+1."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if size is None:
        size = 2 * math.ceil(3 * sigma) + 1
    radius = (size - 1) / 2.0
    x = tf.range(size, dtype=tf.float32) - radius
    g = tf.exp(-(x**2) / (2.0 * sigma**2))
    kernel = g[:, None] * g[None, :]
    return kernel / tf.reduce_sum(kernel)


def gaussian_downsample(hr: tf.Tensor, scale: int, sigma: float) -> tf.Tensor:
    """Blur with a Gaussian (depthwise conv, reflect padding), then keep every ``scale``-th pixel."""
    hr = tf.cast(hr, tf.float32)
    kernel = gaussian_kernel(sigma)
    size = int(kernel.shape[0])
    pad = size // 2
    channels = hr.shape[-1] or 3
    depthwise = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    padded = tf.pad(hr, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    blurred = tf.nn.depthwise_conv2d(padded, depthwise, strides=[1, 1, 1, 1], padding="VALID")
    return blurred[:, ::scale, ::scale, :]


@dataclass(frozen=True)
class Degradation:
    """How training LR images are made from HR crops; a fresh LR (and noise) for every batch."""

    scale: int = 4
    kind: str = "bicubic"
    blur_sigma: float = 1.6
    noise_sigma: float = 0.0  # max std of additive Gaussian noise on the [0, 1] scale; 0 turns it off

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"degradation kind must be one of {KINDS}, got {self.kind!r}")
        if self.noise_sigma < 0:
            raise ValueError("noise_sigma must be >= 0")

    def __call__(self, hr: tf.Tensor, seed=None, add_noise: bool = True) -> tf.Tensor:
        """LR batch in [0, 1] for an HR batch in [0, 1].

        ``seed`` is a ``keras.random.SeedGenerator`` (or int) for the noise; ``add_noise=False`` gives the
        clean LR (used for validation).
        """
        if self.kind == "bicubic":
            lr = bicubic_downsample(hr, self.scale)
        else:
            lr = gaussian_downsample(hr, self.scale, self.blur_sigma)
        if add_noise and self.noise_sigma > 0:
            if seed is None:
                raise ValueError("noise needs a seed")
            n = tf.shape(lr)[0]
            sigma = keras.random.uniform([n, 1, 1, 1], 0.0, self.noise_sigma, seed=seed)
            lr = lr + sigma * keras.random.normal(tf.shape(lr), seed=seed)
        return tf.clip_by_value(lr, 0.0, 1.0)

    def get_config(self) -> dict:
        return asdict(self)

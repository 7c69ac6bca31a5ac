"""HR -> LR degradations, run batched on the device inside the training step.

All functions take and return float tensors [N, H, W, C] in [0, 1]. ``bicubic`` is the antialiased
(MATLAB ``imresize``-style) downsampling that the evaluation protocol uses to make LR images.

Both kinds are one separable resampling. LR pixel ``i`` of an axis of ``L`` HR pixels has its centre at
HR pixel index ``(i + 0.5) * L / L_lr - 0.5`` (``s * i + (s - 1) / 2`` when ``L = s * L_lr``), the geometry of
``tf.image.resize``; its value is a weighted sum of the HR pixels around that centre, where the weights of
taps that fall outside the image are dropped and the remaining ones renormalised to sum to one. That is
exactly what TensorFlow's ScaleAndTranslate kernel (behind ``tf.image.resize(antialias=True)``) does at the
borders, checked by experiment: there is no padding.

The weights along an axis form a fixed [L_lr, L] matrix, so the degradation is two matrix products. Why
not ``tf.image.resize``: ScaleAndTranslate has a CPU kernel only (on a GPU the LR batch was made on the
host every step) and XLA cannot compile it. MatMul/BatchMatMul run on every device and under
``jit_compile=True``. Measured on this project's shared 2-core CPU for a 16x96x96x3 batch: 2.4 ms against
3.5 ms for ``tf.image.resize`` in a ``tf.function`` (2.7 against 6.8 ms eager). The dense matrices cost
O(L) per LR pixel rather than O(taps), which shows only on large evaluation images (0.32 s against
0.02 s for 2040x1356 on the CPU), still small next to running the generator on such an image.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import keras
import numpy as np
import tensorflow as tf

KINDS = ("bicubic", "gaussian")


def _keys_cubic(x: tf.Tensor) -> tf.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (TF's "keyscubic", MATLAB's bicubic)."""
    x = tf.abs(x)
    near = (1.5 * x - 2.5) * x * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return tf.where(x < 1.0, near, tf.where(x < 2.0, far, tf.zeros_like(x)))


def _weights(d: tf.Tensor, ratio: tf.Tensor, kind: str, sigma: float) -> tf.Tensor:
    """Weight of an HR pixel at signed distance ``d`` (HR pixels) from an LR pixel's centre."""
    if kind == "bicubic":
        # Downsampling stretches the kernel by the size ratio (a low-pass filter); upsampling does not.
        return _keys_cubic(d / tf.maximum(ratio, 1.0))
    g = tf.exp(-tf.square(d) / (2.0 * sigma**2))
    return tf.where(tf.abs(d) <= math.ceil(3 * sigma) + 0.5, g, tf.zeros_like(g))


def _matrix_ops(length, scale: int, kind: str, sigma: float) -> tf.Tensor:
    """[length // scale, length] float32 weights of one axis, each row renormalised over the image."""
    out_length = length // scale
    ratio = tf.cast(length, tf.float32) / tf.cast(out_length, tf.float32)
    centres = (tf.range(out_length, dtype=tf.float32) + 0.5) * ratio  # in continuous coordinates
    pixels = tf.range(length, dtype=tf.float32) + 0.5
    w = _weights(pixels[None, :] - centres[:, None], ratio, kind, sigma)
    return w / tf.reduce_sum(w, axis=1, keepdims=True)


@functools.lru_cache(maxsize=16)
def _constant_matrix(length: int, scale: int, kind: str, sigma: float) -> np.ndarray:
    """The matrix of a side known at trace time, built once (eagerly, even while tracing).

    Why: the graph then holds one constant instead of ~20 small ops, and eager calls skip them too.
    """
    with tf.init_scope():
        matrix = _matrix_ops(length, scale, kind, sigma).numpy()
    matrix.flags.writeable = False
    return matrix


def _axis_matrix(length, scale: int, kind: str, sigma: float) -> tf.Tensor:
    """``length``: a Python int (a side known at trace time) or a scalar int tensor."""
    if not isinstance(length, int):
        return _matrix_ops(length, scale, kind, sigma)
    if length < scale:
        raise ValueError(f"an HR side of {length} pixels is smaller than the scale {scale}")
    return tf.constant(_constant_matrix(length, scale, kind, sigma))


def _resample(hr: tf.Tensor, scale: int, kind: str, sigma: float = 0.0) -> tf.Tensor:
    """Separable resampling of [N, H, W, C]: rows then columns, each a matrix product."""
    hr = tf.cast(hr, tf.float32)
    shape = tf.shape(hr)
    h, w, c = (hr.shape[i] if hr.shape[i] is not None else shape[i] for i in (1, 2, 3))
    rows = _axis_matrix(h, scale, kind, sigma)  # [Ho, H]
    cols = _axis_matrix(w, scale, kind, sigma)  # [Wo, W]
    ho, wo = h // scale, w // scale
    # [Ho, H] @ [N, H, W*C] -> [N, Ho, W*C]; then [Wo, W] @ [N*Ho, W, C] -> [N*Ho, Wo, C]. Both products
    # contract the axis in place (no transposes) and broadcast the matrix over the batch.
    y = tf.matmul(rows, tf.reshape(hr, [-1, h, w * c]))
    y = tf.matmul(cols, tf.reshape(y, [-1, w, c]))
    return tf.reshape(y, [-1, ho, wo, c])


def bicubic_downsample(hr: tf.Tensor, scale: int) -> tf.Tensor:
    """Antialiased bicubic downsampling by ``scale``: equal to ``tf.image.resize(hr, (H // scale, W // scale),
    "bicubic", antialias=True)`` (borders included), but runs on any device and under XLA.

    HR sides that are not multiples of ``scale`` are spread over ``side // scale`` LR pixels, as
    ``tf.image.resize`` does.
    """
    return _resample(hr, int(scale), "bicubic")


def gaussian_kernel(sigma: float, size: int | None = None) -> tf.Tensor:
    """Normalised 2-D Gaussian kernel [size, size]; size defaults to 2*ceil(3*sigma)+1.

    An even ``size`` samples the Gaussian at half-pixel offsets (a kernel centred between two pixels):
    that is what ``gaussian_downsample`` uses along each axis for an even scale, 2*ceil(3*sigma)+2 taps.
    """
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
    """Gaussian blur and decimation by ``scale``, sampled at the LR pixel centres of the bicubic geometry.

    Taking ``blurred[::s]`` would sample at HR pixels 0, s, 2s, ... : 1.5 HR pixels away from the LR pixel
    centres (``s * i + (s - 1) / 2``) at x4, a shift the generator would have to learn to undo. Here each
    LR pixel is the Gaussian-weighted mean of the HR pixels within ceil(3 sigma) + 0.5 of its centre
    (half-pixel offsets for an even scale). At the borders the weights are renormalised over the pixels
    inside the image, like the bicubic kind: no invented pixels, a constant image stays constant, and
    unlike reflect padding it works for images narrower than the kernel.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return _resample(hr, int(scale), "gaussian", float(sigma))


RESIZE_KERNELS = ("area", "bilinear", "bicubic")


def _resize_weights(d: tf.Tensor, ratio: tf.Tensor, kernel: str) -> tf.Tensor:
    """Weight of an input pixel at signed distance ``d`` (input pixels) from an output pixel's centre.

    ``ratio`` is input/output size. bicubic is stretched when downsizing (antialiased, like MATLAB and
    ``tf.image.resize(antialias=True)``); bilinear is not (it aliases, like OpenCV's and PyTorch's default
    resize: a different artifact for the random-kernel resizes of the real-world degradation); area is the
    overlap of the input pixel with the output pixel's footprint (a box filter, ``tf.image.resize("area")``).
    """
    if kernel == "bicubic":
        return _keys_cubic(d / tf.maximum(ratio, 1.0))
    if kernel == "bilinear":
        return tf.maximum(1.0 - tf.abs(d), 0.0)
    if kernel == "area":
        half = ratio / 2.0
        return tf.maximum(tf.minimum(d + 0.5, half) - tf.maximum(d - 0.5, -half), 0.0)
    raise ValueError(f"resize kernel must be one of {RESIZE_KERNELS}, got {kernel!r}")


def resize_matrix(in_length, out_length, kernel: str = "bicubic") -> tf.Tensor:
    """[out_length, in_length] float32 weights of a resize along one axis, rows renormalised over the image.

    Any sizes, up or down, Python ints or scalar int tensors (sizes drawn at random inside a step). The
    geometry is ``tf.image.resize``'s (half-pixel centres), as for ``bicubic_downsample``.
    """
    ratio = tf.cast(in_length, tf.float32) / tf.cast(out_length, tf.float32)
    centres = (tf.range(out_length, dtype=tf.float32) + 0.5) * ratio
    pixels = tf.range(in_length, dtype=tf.float32) + 0.5
    w = _resize_weights(pixels[None, :] - centres[:, None], ratio, kernel)
    return w / tf.reduce_sum(w, axis=1, keepdims=True)


def apply_separable(images: tf.Tensor, rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
    """[N, H, W, C] -> [N, Ho, Wo, C] with a [Ho, H] matrix on rows and a [Wo, W] one on columns.

    Static output sides are kept when the matrices have them (the generator and D need static shapes).
    """
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    h, w, c = (images.shape[i] if images.shape[i] is not None else shape[i] for i in (1, 2, 3))
    ho = rows.shape[0] if rows.shape[0] is not None else tf.shape(rows)[0]
    wo = cols.shape[0] if cols.shape[0] is not None else tf.shape(cols)[0]
    y = tf.matmul(rows, tf.reshape(images, [-1, h, w * c]))
    y = tf.matmul(cols, tf.reshape(y, [-1, w, c]))
    return tf.reshape(y, [-1, ho, wo, c])


def resize(images: tf.Tensor, size, kernel: str = "bicubic") -> tf.Tensor:
    """Resize [N, H, W, C] to ``size`` = (height, width) (ints or int tensors) with one of RESIZE_KERNELS.

    Equal to ``tf.image.resize`` with method bicubic (antialias=True), bilinear (antialias=False) and area,
    but two matrix products that run on any device (see the module docstring).
    """
    shape = tf.shape(images)
    h = images.shape[1] if images.shape[1] is not None else shape[1]
    w = images.shape[2] if images.shape[2] is not None else shape[2]
    return apply_separable(images, resize_matrix(h, size[0], kernel), resize_matrix(w, size[1], kernel))


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
        if int(self.scale) != self.scale or self.scale < 1:
            raise ValueError(f"scale must be a positive integer, got {self.scale!r}")
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


def build_degradation(
    kind: str = "bicubic",
    scale: int = 4,
    blur_sigma: float = 1.6,
    noise_sigma: float = 0.0,
    options: dict | None = None,
):
    """The degradation a training config names: ``Degradation`` (bicubic, gaussian) or the ``real`` preset.

    ``options`` overrides knobs of the real preset (``RealDegradation`` fields); other kinds have none.
    """
    if kind == "real":
        from keras_srgan.data.real_degradation import RealDegradation

        return RealDegradation(scale=scale, **(options or {}))
    if options:
        raise ValueError(f"degradation options apply to the 'real' degradation only, not {kind!r}")
    return Degradation(scale=scale, kind=kind, blur_sigma=blur_sigma, noise_sigma=noise_sigma)

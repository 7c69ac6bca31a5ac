"""HR -> LR degradations, run batched on the device inside the training step; float [N, H, W, C] in [0, 1].

``bicubic`` is the antialiased (MATLAB ``imresize``-style) downsampling the evaluation protocol uses to
make LR images; ``gaussian`` blurs and decimates; ``real`` (``RealDegradation``) is a random chain of blur,
resize, noise and JPEG (docs/training.md).

Every resize is one separable resampling with the geometry of ``tf.image.resize``: output pixel ``i`` of
``L_out`` has its centre at input pixel ``(i + 0.5) * L / L_out - 0.5``; taps outside the image are dropped
and the rest renormalised, exactly as TensorFlow's ScaleAndTranslate does at the borders (no padding).
The weights form a fixed [L_out, L] matrix per axis, so a resize is two matrix products. Why not
``tf.image.resize``: ScaleAndTranslate has a CPU kernel only and XLA cannot compile it; MatMul runs on
every device, also faster on the CPU (timings in docs/performance.md).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from keras_srgan.data.images import list_image_files
from keras_srgan.errors import UserError
from keras_srgan.pixels import from_unit, to_unit

KINDS = ("bicubic", "gaussian")
RESIZE_KERNELS = ("area", "bilinear", "bicubic")


def _resize_weights(d: tf.Tensor, ratio: tf.Tensor, kernel: str, sigma: float) -> tf.Tensor:
    """Weight of an input pixel at signed distance ``d`` (input pixels) from an output pixel's centre.

    ``ratio`` is input/output size. bicubic is stretched when downsizing (antialiased, like MATLAB and
    ``tf.image.resize(antialias=True)``); bilinear is not (it aliases, like OpenCV's and PyTorch's default
    resize: a different artifact for the random-kernel resizes of the real-world degradation); area is the
    overlap of the input pixel with the output pixel's footprint (a box filter, ``tf.image.resize("area")``).
    """
    if kernel == "bicubic":  # Keys' cubic kernel with a = -0.5 (TF's "keyscubic", MATLAB's bicubic)
        x = tf.abs(d / tf.maximum(ratio, 1.0))
        near = (1.5 * x - 2.5) * x * x + 1.0
        far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
        return tf.where(x < 1.0, near, tf.where(x < 2.0, far, tf.zeros_like(x)))
    if kernel == "bilinear":
        return tf.maximum(1.0 - tf.abs(d), 0.0)
    if kernel == "area":
        half = ratio / 2.0
        return tf.maximum(tf.minimum(d + 0.5, half) - tf.maximum(d - 0.5, -half), 0.0)
    if kernel == "gaussian":
        g = tf.exp(-tf.square(d) / (2.0 * sigma**2))
        return tf.where(tf.abs(d) <= math.ceil(3 * sigma) + 0.5, g, tf.zeros_like(g))
    raise ValueError(f"resize kernel must be one of {RESIZE_KERNELS}, got {kernel!r}")


def resize_matrix(in_length, out_length, kernel: str = "bicubic", sigma: float = 0.0) -> tf.Tensor:
    """[out_length, in_length] float32 weights of a resize along one axis, rows renormalised over the image.

    Any sizes, up or down, Python ints or scalar int tensors (sizes drawn at random inside a step).
    """
    ratio = tf.cast(in_length, tf.float32) / tf.cast(out_length, tf.float32)
    centres = (tf.range(out_length, dtype=tf.float32) + 0.5) * ratio
    pixels = tf.range(in_length, dtype=tf.float32) + 0.5
    w = _resize_weights(pixels[None, :] - centres[:, None], ratio, kernel, sigma)
    return w / tf.reduce_sum(w, axis=1, keepdims=True)


@functools.lru_cache(maxsize=16)
def _constant_matrix(length: int, scale: int, kind: str, sigma: float) -> np.ndarray:
    """The downsampling matrix of a side known at trace time, built once (eagerly, even while tracing).

    Why: the graph then holds one constant instead of ~20 small ops, and eager calls skip them too.
    """
    with tf.init_scope():
        matrix = resize_matrix(length, length // scale, kind, sigma).numpy()
    matrix.flags.writeable = False
    return matrix


def _dim(tensor: tf.Tensor, axis: int):
    """A Python int where the shape is static, a scalar tensor otherwise."""
    return tensor.shape[axis] if tensor.shape[axis] is not None else tf.shape(tensor)[axis]


def _sides(images: tf.Tensor) -> list:
    """Height and width of [N, H, W, C]."""
    return [_dim(images, 1), _dim(images, 2)]


def apply_separable(images: tf.Tensor, rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
    """[N, H, W, C] -> [N, Ho, Wo, C] with a [Ho, H] matrix on rows and a [Wo, W] one on columns.

    Static output sides are kept when the matrices have them (the generator and D need static shapes).
    """
    images = tf.cast(images, tf.float32)
    h, w, c = (_dim(images, axis) for axis in (1, 2, 3))
    ho, wo = _dim(rows, 0), _dim(cols, 0)
    # [Ho, H] @ [N, H, W*C] -> [N, Ho, W*C]; then [Wo, W] @ [N*Ho, W, C] -> [N*Ho, Wo, C]. Both products
    # contract the axis in place (no transposes) and broadcast the matrix over the batch.
    y = tf.matmul(rows, tf.reshape(images, [-1, h, w * c]))
    y = tf.matmul(cols, tf.reshape(y, [-1, w, c]))
    return tf.reshape(y, [-1, ho, wo, c])


def _downsample(hr: tf.Tensor, scale: int, kind: str, sigma: float = 0.0) -> tf.Tensor:
    def matrix(length):
        if not isinstance(length, int):
            return resize_matrix(length, length // scale, kind, sigma)
        if length < scale:
            raise ValueError(f"an HR side of {length} pixels is smaller than the scale {scale}")
        return tf.constant(_constant_matrix(length, scale, kind, sigma))

    h, w = _sides(hr)
    return apply_separable(hr, matrix(h), matrix(w))


def bicubic_downsample(hr: tf.Tensor, scale: int) -> tf.Tensor:
    """Equal to ``tf.image.resize(hr, (H // scale, W // scale), "bicubic", antialias=True)``, borders too."""
    return _downsample(hr, int(scale), "bicubic")


def gaussian_kernel(sigma: float) -> tf.Tensor:
    """Normalised 2-D Gaussian kernel [size, size], size 2 * ceil(3 * sigma) + 1."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    size = 2 * math.ceil(3 * sigma) + 1
    x = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    g = tf.exp(-(x**2) / (2.0 * sigma**2))
    kernel = g[:, None] * g[None, :]
    return kernel / tf.reduce_sum(kernel)


def gaussian_downsample(hr: tf.Tensor, scale: int, sigma: float) -> tf.Tensor:
    """Gaussian blur and decimation by ``scale``, sampled at the LR pixel centres of the bicubic geometry.

    Taking ``blurred[::s]`` would sample at HR pixels 0, s, 2s, ... : 1.5 HR pixels away from the LR pixel
    centres (``s * i + (s - 1) / 2``) at x4, a shift the generator would have to learn to undo. Here each
    LR pixel is the Gaussian-weighted mean of the HR pixels within ceil(3 sigma) + 0.5 of its centre,
    renormalised at the borders: unlike reflect padding it works for images narrower than the kernel.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return _downsample(hr, int(scale), "gaussian", float(sigma))


def resize(images: tf.Tensor, size, kernel: str = "bicubic") -> tf.Tensor:
    """Resize [N, H, W, C] to ``size`` = (height, width) (ints or int tensors) with one of RESIZE_KERNELS:
    equal to ``tf.image.resize`` with bicubic (antialias=True), bilinear (antialias=False) and area."""
    h, w = _sides(images)
    return apply_separable(images, resize_matrix(h, size[0], kernel), resize_matrix(w, size[1], kernel))


def _check_scale(scale) -> None:
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")


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
        _check_scale(self.scale)
        if self.noise_sigma < 0:
            raise ValueError("noise_sigma must be >= 0")

    def __call__(self, hr: tf.Tensor, seed=None, add_noise: bool = True) -> tf.Tensor:
        """LR batch in [0, 1] for an HR batch in [0, 1]; ``seed``: a ``keras.random.SeedGenerator`` (or int)
        for the noise; ``add_noise=False``: the clean LR (validation)."""
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
    """The degradation a training config names; ``options`` overrides knobs of the real preset only."""
    if kind == "real":
        return RealDegradation(scale=scale, **(options or {}))
    if options:
        raise ValueError(f"degradation options apply to the 'real' degradation only, not {kind!r}")
    return Degradation(scale=scale, kind=kind, blur_sigma=blur_sigma, noise_sigma=noise_sigma)


@dataclass(frozen=True)
class RealDegradation:
    """The ``real`` preset: Real-ESRGAN's second-order degradation idea, our own choices (the chain and the
    knobs: docs/training.md; defaults: Real-ESRGAN's ranges). Ranges are (low, high), drawn uniformly.

    Sigmas and noise levels are on the [0, 1] scale; blur sigmas and kernel sizes in pixels of the image
    they act on (the HR crop for order 1). ``resize_range`` multiplies the HR side, ``resize_range2`` the LR
    side (HR / scale). ``resize_kernel_probs``: weights of area, bilinear and bicubic for every resize.
    JPEG runs on the host only and the resize sizes are random tensors: no XLA (``--jit-compile``).
    """

    scale: int = 4
    # order 1
    blur_prob: float = 1.0
    blur_kernel_size: int = 21  # 2 * ceil(3 * 3.0) + 3: just over 3 sigmas of the widest kernel
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    anisotropic_prob: float = 0.5
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5  # the rest is Poisson-like
    noise_sigma: tuple[float, float] = (1 / 255, 30 / 255)
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_prob: float = 1.0
    jpeg_quality: tuple[int, int] = (30, 95)
    # order 2
    second_order_prob: float = 1.0
    blur_prob2: float = 0.8
    blur_kernel_size2: int = 11  # 2 * ceil(3 * 1.5) + 1: 3 sigmas of the widest kernel (21 cost 2.3x more)
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    anisotropic_prob2: float = 0.5
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_sigma2: tuple[float, float] = (1 / 255, 25 / 255)
    poisson_scale2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_prob2: float = 1.0
    jpeg_quality2: tuple[int, int] = (30, 95)
    # every resize, the last one to the LR size included
    resize_kernel_probs: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)

    def __post_init__(self):
        """Check every knob, so that a bad recipe fails before training starts, naming the knob."""
        _check_scale(self.scale)
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            knob = name.removesuffix("2")
            if f.type.endswith(("[float, float]", "[int, int]")):  # a (low, high) range
                if not isinstance(value, (list, tuple)) or len(value) != 2:
                    raise ValueError(f"{name} must be a (low, high) pair, got {value!r}")
                low, high = (float(v) for v in value)
                if not low <= high:
                    raise ValueError(f"{name}: low {low} is above high {high}")
                if knob in ("blur_sigma", "resize_range") and low <= 0:
                    raise ValueError(f"{name} must be positive, got {(low, high)}")
                if knob in ("noise_sigma", "poisson_scale") and low < 0:
                    raise ValueError(f"{name} must be >= 0, got {(low, high)}")
                if knob == "jpeg_quality":
                    if low != int(low) or high != int(high) or not 1 <= low <= high <= 100:
                        raise ValueError(f"{name} must be whole qualities in [1, 100], got {(low, high)}")
                    low, high = int(low), int(high)
                object.__setattr__(self, name, (low, high))
            elif knob.endswith("_prob") and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
            elif knob == "blur_kernel_size" and (int(value) != value or value < 1 or value % 2 == 0):
                raise ValueError(f"{name} must be an odd positive integer, got {value!r}")
        probs = tuple(float(p) for p in self.resize_kernel_probs)
        if len(probs) != len(RESIZE_KERNELS) or min(probs) < 0 or sum(probs) <= 0:
            raise ValueError(
                f"resize_kernel_probs must be {len(RESIZE_KERNELS)} non-negative weights of "
                f"{'/'.join(RESIZE_KERNELS)}, not all zero; got {self.resize_kernel_probs!r}"
            )
        object.__setattr__(self, "resize_kernel_probs", probs)

    @property
    def kind(self) -> str:
        return "real"

    def get_config(self) -> dict:
        return {"kind": "real", **asdict(self)}

    @classmethod
    def knobs(cls) -> list[str]:
        """Names a recipe's ``degradation_options`` may set (all fields but ``scale``)."""
        return [f.name for f in fields(cls) if f.name != "scale"]

    def __call__(self, hr: tf.Tensor, seed=None, add_noise: bool = True) -> tf.Tensor:
        """LR batch [N, H // scale, W // scale, C] in [0, 1] for an HR batch [N, H, W, C] in [0, 1].

        ``seed``: a ``keras.random.SeedGenerator`` (or an int: then every call draws the same).
        ``add_noise=False``: the clean bicubic LR (validation and image logs).
        """
        hr = tf.cast(hr, tf.float32)
        if not add_noise:
            return tf.clip_by_value(bicubic_downsample(hr, self.scale), 0.0, 1.0)
        if seed is None:
            raise ValueError("the real degradation needs a seed (a keras.random.SeedGenerator)")
        hr_size = _sides(hr)
        lr_size = [side // self.scale for side in hr_size]
        p = self.second_order_prob

        def one_order():
            return self._order(hr, 1, hr_size, seed, final_size=lr_size)

        def two_orders():
            first = self._order(hr, 1, hr_size, seed)
            return self._order(first, 2, lr_size, seed, final_size=lr_size)

        if p <= 0.0:
            lr = one_order()
        elif p >= 1.0:
            lr = two_orders()
        else:
            lr = tf.cond(_uniform([], seed) < p, two_orders, one_order)
        static = [s if isinstance(s, int) else None for s in lr_size]
        return tf.ensure_shape(lr, [hr.shape[0], *static, hr.shape[3]])

    def _order(self, x, order: int, base_size, seed, final_size=None) -> tf.Tensor:
        """One round: blur -> resize (random factor of ``base_size``) -> noise [-> resize to final] -> JPEG."""

        def knob(name):
            return getattr(self, name if order == 1 else f"{name}2")

        n = tf.shape(x)[0]
        if knob("blur_prob") > 0:  # a probability of 0 leaves its ops out of the graph (and their cost)
            kernels = random_gaussian_kernels(
                n, knob("blur_kernel_size"), knob("blur_sigma"), knob("anisotropic_prob"), seed
            )
            x = tf.where(_uniform([n, 1, 1, 1], seed) < knob("blur_prob"), blur(x, kernels), x)
        factor = _uniform([], seed, *knob("resize_range"))
        size = [
            tf.maximum(1, tf.cast(tf.round(tf.cast(side, tf.float32) * factor), tf.int32))
            for side in base_size
        ]
        x = random_kernel_resize(x, size, self.resize_kernel_probs, seed)
        noise = ("gaussian_noise_prob", "noise_sigma", "poisson_scale", "gray_noise_prob")
        x = add_noise(x, seed, *(knob(name) for name in noise))
        x = tf.clip_by_value(x, 0.0, 1.0)
        if final_size is not None:
            x = random_kernel_resize(x, final_size, self.resize_kernel_probs, seed)
            x = tf.clip_by_value(x, 0.0, 1.0)
        if knob("jpeg_prob") <= 0:
            return x
        low, high = knob("jpeg_quality")
        quality = keras.random.randint([n], low, high + 1, seed=seed)
        return tf.where(_uniform([n, 1, 1, 1], seed) < knob("jpeg_prob"), jpeg(x, quality), x)


def _uniform(shape, seed, low: float = 0.0, high: float = 1.0) -> tf.Tensor:
    return tf.cast(keras.random.uniform(shape, low, high, seed=seed), tf.float32)


def gaussian_kernels(sigma_x: tf.Tensor, sigma_y: tf.Tensor, theta: tf.Tensor, size: int) -> tf.Tensor:
    """[N, size, size] normalised Gaussian kernels with std ``sigma_x`` along the direction at angle
    ``theta`` (radians, from the x axis towards +y) and ``sigma_y`` across it; all three are [N] tensors.
    """
    grid = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    y, x = tf.meshgrid(grid, grid, indexing="ij")
    c = tf.cos(theta)[:, None, None]
    s = tf.sin(theta)[:, None, None]
    along = c * x + s * y
    across = -s * x + c * y
    q = tf.square(along / sigma_x[:, None, None]) + tf.square(across / sigma_y[:, None, None])
    k = tf.exp(-0.5 * q)
    return k / tf.reduce_sum(k, axis=[1, 2], keepdims=True)


def random_gaussian_kernels(n, size: int, sigma_range, anisotropic_prob: float, seed) -> tf.Tensor:
    """[n, size, size] kernels: isotropic (one sigma) or, with ``anisotropic_prob``, two sigmas and an angle."""
    sigma_x = _uniform([n], seed, *sigma_range)
    sigma_y = _uniform([n], seed, *sigma_range)
    theta = _uniform([n], seed, 0.0, math.pi)
    anisotropic = _uniform([n], seed) < anisotropic_prob
    return gaussian_kernels(sigma_x, tf.where(anisotropic, sigma_y, sigma_x), theta, size)


def blur(images: tf.Tensor, kernels: tf.Tensor) -> tf.Tensor:
    """Convolve each image [N, H, W, C] with its own kernel [N, k, k] (odd k), borders renormalised.

    The batch is folded into the channels so one depthwise convolution does every image (any device,
    XLA-compilable); dividing by the same convolution of a ones mask drops the taps outside the image.
    """
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    c = images.shape[3]
    k = kernels.shape[1]
    folded = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, h, w, n * c])  # channel index = i * C + ch
    taps = tf.transpose(kernels, [1, 2, 0])[:, :, :, None, None]  # [k, k, N, 1, 1]
    taps = tf.reshape(tf.tile(taps, [1, 1, 1, c, 1]), [k, k, n * c, 1])
    out = tf.nn.depthwise_conv2d(folded, taps, [1, 1, 1, 1], "SAME")
    mask = tf.ones([1, h, w, n], tf.float32)
    norm = tf.nn.depthwise_conv2d(mask, tf.transpose(kernels, [1, 2, 0])[:, :, :, None], [1, 1, 1, 1], "SAME")
    out = tf.reshape(out, [h, w, n, c]) / tf.reshape(norm, [h, w, n, 1])
    return tf.ensure_shape(tf.transpose(out, [2, 0, 1, 3]), images.shape)


def random_kernel_resize(images: tf.Tensor, size, probs, seed) -> tf.Tensor:
    """Resize the batch to ``size`` with one kernel of RESIZE_KERNELS drawn with weights ``probs``."""
    probs = tf.constant(probs, tf.float32)
    edges = tf.cumsum(probs / tf.reduce_sum(probs))[:-1]
    index = tf.reduce_sum(tf.cast(_uniform([], seed) >= edges, tf.int32))
    onehot = tf.one_hot(index, len(RESIZE_KERNELS))
    h, w = _sides(images)

    def mixed(length, out_length):
        # the one-hot picks one matrix exactly; all three are tiny next to the images they resize
        mats = tf.stack([resize_matrix(length, out_length, kernel) for kernel in RESIZE_KERNELS])
        matrix = tf.tensordot(onehot, mats, 1)
        return tf.ensure_shape(matrix, [out_length, None]) if isinstance(out_length, int) else matrix

    rows, cols = mixed(h, size[0]), mixed(w, size[1])
    return apply_separable(images, rows, cols)


def add_noise(
    images: tf.Tensor, seed, gaussian_prob: float, sigma_range, poisson_range, gray_prob: float
) -> tf.Tensor:
    """Per image: Gaussian noise (std from ``sigma_range``) with ``gaussian_prob``, else Poisson-like
    noise (std = scale * sqrt(x / 255), scale from ``poisson_range``); with ``gray_prob`` one noise field
    for all channels.
    """
    n = tf.shape(images)[0]
    gaussian = _uniform([n, 1, 1, 1], seed) < gaussian_prob
    gray = _uniform([n, 1, 1, 1], seed) < gray_prob
    sigma = _uniform([n, 1, 1, 1], seed, *sigma_range)
    poisson = _uniform([n, 1, 1, 1], seed, *poisson_range)
    z = tf.cast(keras.random.normal(tf.shape(images), seed=seed), tf.float32)
    z = tf.where(gray, z[..., :1], z)
    std = tf.where(gaussian, sigma, poisson * tf.sqrt(tf.maximum(images, 0.0) / 255.0))
    return images + std * z


def jpeg(images: tf.Tensor, quality: tf.Tensor) -> tf.Tensor:
    """JPEG-compress and decode each image [N, H, W, C] in [0, 1] at its quality ([N] int); float out.

    The image is rounded to 8 bits first (what a saved JPEG holds); decoding uses the accurate integer
    DCT (libjpeg's default, what Pillow and browsers use), not TensorFlow's fast default. The whole
    uint8 loop is pinned to the host, where TensorFlow's JPEG kernels are: one copy of the float batch
    there and one back, instead of a round trip per image.
    """
    with tf.device("/CPU:0"):
        u8 = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)
        out = tf.map_fn(
            lambda args: tf.image.adjust_jpeg_quality(args[0], args[1], dct_method="INTEGER_ACCURATE"),
            (u8, tf.cast(quality, tf.int32)),
            fn_output_signature=tf.TensorSpec(u8.shape[1:], tf.uint8),
        )
        return tf.cast(out, tf.float32) / 255.0


def real_lr_set_config() -> RealDegradation:
    """The fixed-strength degradation of the degraded-Set14 benchmark in docs/training.md.

    One order: Gaussian blur (sigma 0.8-2.0 HR px, half anisotropic) -> bicubic x1/4 -> Gaussian noise
    (sigma 2-10 / 255, colour) -> JPEG quality 50-90. Inside the ``real`` preset's ranges.
    """
    return RealDegradation(
        **_ONE_ORDER_BICUBIC, blur_sigma=(0.8, 2.0), noise_sigma=(2 / 255, 10 / 255), jpeg_quality=(50, 90)
    )


# The named levels of the degraded benchmark sets (docs/evaluation.md), fixed strengths, one draw per image.
# Quiet stages (no blur, zero noise, no second order) are switched off by their knobs; a resize to the size
# an image already has is the identity for every kernel (half-pixel centres, integer offsets).
_ONE_ORDER_BICUBIC = {
    "resize_range": (0.25, 0.25), "resize_kernel_probs": (0.0, 0.0, 1.0), "gaussian_noise_prob": 1.0,
    "gray_noise_prob": 0.0, "jpeg_prob": 1.0, "second_order_prob": 0.0,
}  # fmt: skip
LEVELS = {
    # the chain of issue 27's table: isotropic blur -> bicubic x1/4 -> colour noise -> one JPEG
    "mild": RealDegradation(
        **_ONE_ORDER_BICUBIC, blur_prob=1.0, blur_kernel_size=11, blur_sigma=(0.4, 1.6), anisotropic_prob=0.0,
        noise_sigma=(0.0, 8 / 255), jpeg_quality=(35, 85),
    ),
    # clearly harsher: wider blur, half of it anisotropic, 3-8x the noise, lower JPEG qualities
    "strong": RealDegradation(
        **_ONE_ORDER_BICUBIC, blur_prob=1.0, blur_kernel_size=21, blur_sigma=(1.0, 3.0), anisotropic_prob=0.5,
        noise_sigma=(5 / 255, 20 / 255), jpeg_quality=(20, 60),
    ),
    # a second family made differently: no blur, bilinear x1/4 without antialiasing (OpenCV's and PyTorch's
    # default resize: aliasing, not blur), no noise, then a JPEG saved twice (a re-saved web photo)
    "bilinear2jpeg": RealDegradation(
        blur_prob=0.0, resize_range=(0.25, 0.25), resize_kernel_probs=(0.0, 1.0, 0.0), gaussian_noise_prob=1.0,
        noise_sigma=(0.0, 0.0), jpeg_prob=1.0, jpeg_quality=(50, 90), second_order_prob=1.0, blur_prob2=0.0,
        resize_range2=(1.0, 1.0), gaussian_noise_prob2=1.0, noise_sigma2=(0.0, 0.0), jpeg_prob2=1.0,
        jpeg_quality2=(40, 80),
    ),
}  # fmt: skip


def degradation_level(name: str) -> RealDegradation:
    """The degradation of a named benchmark level (``LEVELS``: mild, strong, bilinear2jpeg).

    Why names: a degraded set is only comparable across runs and engineers when everyone makes it with
    the same knobs; the name is what the folders (``<SET>_<level>``) and docs/evaluation.md refer to.
    """
    try:
        return LEVELS[name]
    except KeyError:
        raise ValueError(f"unknown degradation level {name!r}; one of {', '.join(LEVELS)}") from None


def make_degraded_set(
    hr_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    seed: int = 14,
    degradation: RealDegradation | str | None = None,
) -> Path:
    """Write a fixed degraded LR copy of a benchmark folder: ``<stem>.png`` per HR image + ``manifest.json``.

    Why: a fine-tune for real-world inputs must be measured on the same degraded LR every time. Each HR
    (as RGB, cropped top-left to a multiple of the scale, as the evaluation protocol does) goes through
    ``degradation`` (a ``RealDegradation``, a level name of ``LEVELS``, or None: ``real_lr_set_config()``)
    in name order with one ``SeedGenerator(seed)``, one draw per image;
    the LR is saved losslessly (it already is a decoded JPEG). The manifest records the knobs, the seed
    and SHA-256 of every file, so a re-made set can be checked against the one in the docs.
    """
    level = degradation if isinstance(degradation, str) else None
    degradation = degradation_level(level) if level else degradation or real_lr_set_config()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generator = keras.random.SeedGenerator(seed)
    files = {}
    for path in list_image_files(hr_dir):
        try:
            with Image.open(path) as img:
                rgb = np.asarray(img.convert("RGB"))
        except OSError as exc:
            raise UserError(f"{path}: cannot read image ({exc})") from None
        s = degradation.scale
        rgb = rgb[: rgb.shape[0] - rgb.shape[0] % s, : rgb.shape[1] - rgb.shape[1] % s]
        lr = from_unit(degradation(tf.constant(to_unit(rgb)[None]), generator).numpy()[0], np.uint8)
        target = out / f"{path.stem}.png"
        Image.fromarray(lr).save(target)
        files[target.name] = {"hr": path.name, "sha256": hashlib.sha256(target.read_bytes()).hexdigest()}
    manifest = {"seed": seed, "degradation": degradation.get_config(), "files": files}
    if level:
        manifest = {"level": level, **manifest}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out

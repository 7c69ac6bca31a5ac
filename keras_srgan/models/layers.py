"""Serializable building blocks: pixel shuffle, ICNR initialisation, the training-aware clip, fixed blurs."""

from __future__ import annotations

import keras
from keras import layers, ops

PACKAGE = "keras_srgan"


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelShuffle(layers.Layer):
    """Sub-pixel convolution rearrangement (Shi et al. 2016): [N, H, W, C*r*r] -> [N, H*r, W*r, C]."""

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, inputs):
        return ops.depth_to_space(inputs, self.factor, data_format="channels_last")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        r = self.factor
        return (n, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ICNR(keras.initializers.Initializer):
    """ICNR init (Aitken et al. 2017) for a conv followed by pixel shuffle.

    Every group of ``factor**2`` output channels that depth_to_space spreads over one r x r block starts
    with identical kernels, so the shuffled output starts as nearest-neighbour upsampling: no checkerboard.
    """

    def __init__(self, factor: int = 2, base: str | dict = "glorot_uniform"):
        self.factor = int(factor)
        self.base = base

    def __call__(self, shape, dtype=None):
        kh, kw, cin, cout = shape
        r2 = self.factor**2
        if cout % r2:
            raise ValueError(f"ICNR needs output channels divisible by factor**2 = {r2}, got {cout}")
        base = keras.initializers.get(self.base)
        kernel = base((kh, kw, cin, cout // r2), dtype=dtype)
        # depth_to_space takes channel index (dy * r + dx) * C_out + c, so repeat the whole block r*r times.
        return ops.tile(kernel, (1, 1, 1, r2))

    def get_config(self):
        return {"factor": self.factor, "base": self.base}


@keras.saving.register_keras_serializable(package=PACKAGE)
class UnitClip(layers.Layer):
    """Clip to [0, 1], except while training: there the raw values pass, so a loss keeps its gradient on
    pixels that overshoot (a clip inside the step would zero it)."""

    def call(self, inputs, training=False):
        return inputs if training else ops.clip(inputs, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape


def _separable_blur(x, taps: tuple[float, ...], strides: int):
    """The same normalised ``taps`` x ``taps`` kernel on every channel, no padding."""
    k = len(taps)
    taps = ops.convert_to_tensor(taps, dtype=x.dtype) / sum(taps)
    kernel = ops.tile(ops.reshape(ops.outer(taps, taps), (k, k, 1, 1)), (1, 1, x.shape[-1], 1))
    return ops.depthwise_conv(x, kernel, strides=strides, padding="valid")


@keras.saving.register_keras_serializable(package=PACKAGE)
class BlurDownsample(layers.Layer):
    """Antialiased x2 downsampling: a fixed binomial [1, 2, 1] blur per channel, then every other pixel.

    Why (Zhang 2019, "Making convolutional networks shift-invariant again"): a stride-2 conv samples
    without low-pass filtering, so it aliases period-2/4/... patterns, and its gradient (a transposed
    strided conv) carries those periods back into whatever feeds it: a generator trained against such a
    discriminator is pushed toward exactly the periodic grid a pixel shuffle can draw. Borders are
    reflected, so a constant image stays constant.
    """

    def call(self, inputs):
        padded = ops.pad(inputs, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        return _separable_blur(padded, (1.0, 2.0, 1.0), strides=2)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else (h + 1) // 2, None if w is None else (w + 1) // 2, c)


def _mirrored(x, border: int):
    """``x`` [N, H, W, C] with ``border`` rows and columns mirrored on each side (edge pixel repeated, as
    numpy's "symmetric" pad), built from one-row slices and a concat: exporters' runtimes run those
    where a MIRROR_PAD op would fall back (LiteRT's XNNPACK has none)."""
    for axis in (1, 2):
        head = [x[_rows(axis, i, i + 1)] for i in range(border - 1, -1, -1)]
        tail = [x[_rows(axis, -1 - i, -i or None)] for i in range(border)]
        x = ops.concatenate([*head, x, *tail], axis=axis)
    return x


def _rows(axis: int, start: int, stop: int | None) -> tuple:
    """The NHWC index of rows (axis 1) or columns (axis 2) ``start:stop``."""
    index = [slice(None)] * 4
    index[axis] = slice(start, stop)
    return tuple(index)


@keras.saving.register_keras_serializable(package=PACKAGE)
class FixedBlur(layers.Layer):
    """A fixed separable [1, 2, 2, 2, 1] / 8 blur per channel, same size out, mirrored borders (no weights).

    The taps are a 4-box convolved with a 2-box, centred: the response, cos(2 pi f) (1 + cos(2 pi f)) / 2,
    is exactly 0 at 1/4 and 1/2 cycle per pixel, the frequencies a x4 pixel shuffle's 2- and 4-pixel grid
    lives on, and 1 at 0 (a constant stays constant); symmetric, so it shifts nothing. The price: it
    keeps 0.6 of what lies at 1/8 cycle per pixel (the LR Nyquist frequency at x4).
    """

    TAPS = (1.0, 2.0, 2.0, 2.0, 1.0)

    def call(self, inputs):
        return _separable_blur(_mirrored(inputs, 2), self.TAPS, strides=1)

    def compute_output_shape(self, input_shape):
        return input_shape

"""PSNR / SSIM exactly as SR papers measure them (numpy, float64), plus the protocol that fixes the choices.

Published SR numbers depend on details that are easy to get wrong: which channel is measured, how many
border pixels are dropped, whether SSIM filters with 'same' or 'valid' borders, and what happens to
grayscale images. Every one of those choices is written down here once, in :class:`Protocol`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from keras_srgan.pixels import Y_OFFSET, Y_WEIGHTS, rgb_to_y

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def channels(image: np.ndarray, y_channel: bool = True, rounded: bool = False) -> np.ndarray:
    """float64 [H, W, C]: the measured channel(s) of an HxW / HxWx1 (gray: its own values, never the RGB
    formula) or HxWx3 image; for RGB BT.601 Y on the 0-255 scale when ``y_channel`` (``rounded``: half up
    to integers, what MATLAB ``rgb2ycbcr`` returns for uint8), else the three channels."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image.astype(np.float64)[..., None]
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an HxW (gray) or HxWx3 (RGB) image, got shape {image.shape}")
    if not y_channel:
        return image.astype(np.float64)
    y = rgb_to_y(image)
    return (np.floor(y + 0.5) if rounded else y)[..., None]


def crop_plane(plane: np.ndarray, crop_border: int, minimum: int, what: str) -> np.ndarray:
    """``plane`` ([H, W, ...]) without ``crop_border`` pixels on each side; ValueError unless both sides
    keep at least ``minimum`` pixels."""
    if isinstance(crop_border, bool) or int(crop_border) != crop_border or crop_border < 0:
        raise ValueError(f"crop_border must be an integer >= 0, got {crop_border!r}")
    crop_border = int(crop_border)
    height, width = plane.shape[:2]
    if min(height, width) - 2 * crop_border < minimum:
        raise ValueError(
            f"{what} needs at least {minimum}x{minimum} pixels after removing a {crop_border}-pixel border; "
            f"the image is {width}x{height} (too small)"
        )
    return plane[crop_border : height - crop_border, crop_border : width - crop_border]


def luma_plane(image: np.ndarray, rounded: bool) -> np.ndarray:
    """float64 [H, W] of a uint8 image: Y for RGB, the gray values for gray (see :func:`channels`)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    return channels(image, True, rounded)[..., 0]


def _pair(sr, hr, crop_border: int, y_channel: bool, minimum: int, what: str) -> list[np.ndarray]:
    """The measured float64 [H, W, C] planes of an SR / HR pair, border removed."""
    sr, hr = np.asarray(sr), np.asarray(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR shapes differ: {sr.shape} vs {hr.shape}")
    return [crop_plane(channels(x, y_channel), crop_border, minimum, what) for x in (sr, hr)]


def psnr(
    sr: np.ndarray, hr: np.ndarray, crop_border: int, y_channel: bool = True, data_range: float = 255.0
) -> float:
    """PSNR in dB between two uint8 images (HxWx3 RGB or HxW gray), with ``crop_border`` pixels removed.

    RGB is measured on Y when ``y_channel`` (the SR-paper convention), otherwise over all three channels
    together. Gray images are measured on their own values. Identical images give ``float('inf')``.
    """
    a, b = _pair(sr, hr, crop_border, y_channel, 1, "PSNR")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def _filter_valid(image: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable 2-D filtering of [H, W, C] keeping only fully covered pixels ('valid', no padding)."""
    n = taps.size
    height, width = image.shape[:2]
    rows = sum(taps[i] * image[i : height - n + 1 + i] for i in range(n))
    return sum(taps[j] * rows[:, j : width - n + 1 + j] for j in range(n))


def ssim(
    sr: np.ndarray, hr: np.ndarray, crop_border: int, y_channel: bool = True, data_range: float = 255.0
) -> float:
    """Mean SSIM (Wang et al. 2004) between two uint8 images, as BasicSR / the MATLAB reference compute it.

    11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, on the 0-255 scale, 'valid' filtering (no padded
    borders enter the mean). Channel and border rules are those of :func:`psnr`; RGB without
    ``y_channel`` is the mean over the three channels.
    """
    a, b = _pair(sr, hr, crop_border, y_channel, SSIM_WINDOW, "the SSIM window")
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    x = np.arange(SSIM_WINDOW, dtype=np.float64) - (SSIM_WINDOW - 1) / 2.0
    taps = np.exp(-(x**2) / (2.0 * SSIM_SIGMA**2))
    taps = taps / taps.sum()
    mu_a = _filter_valid(a, taps)
    mu_b = _filter_valid(b, taps)
    var_a = _filter_valid(a * a, taps) - mu_a**2
    var_b = _filter_valid(b * b, taps) - mu_b**2
    cov = _filter_valid(a * b, taps) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean(axis=(0, 1)).mean())


@dataclass(frozen=True)
class Protocol:
    """The measuring rules of an SR benchmark table, kept together so a result always says how it was made.

    ``crop_border`` defaults to ``scale`` (the usual choice). Gray images are always measured on their gray
    values; ``y_channel`` only concerns RGB images.
    """

    scale: int = 4
    crop_border: int | None = None
    y_channel: bool = True
    data_range: float = 255.0

    def __post_init__(self):
        if int(self.scale) != self.scale or self.scale < 1:
            raise ValueError(f"scale must be a positive integer, got {self.scale}")
        if self.crop_border is None:
            object.__setattr__(self, "crop_border", int(self.scale))
        if self.crop_border < 0:
            raise ValueError(f"crop_border must be >= 0, got {self.crop_border}")

    def psnr(self, sr: np.ndarray, hr: np.ndarray) -> float:
        return psnr(sr, hr, self.crop_border, self.y_channel, self.data_range)

    def measure(self, sr: np.ndarray, hr: np.ndarray) -> dict[str, float]:
        """``{"psnr": ..., "ssim": ...}`` for one uint8 SR / HR pair."""
        ssim_value = ssim(sr, hr, self.crop_border, self.y_channel, self.data_range)
        return {"psnr": self.psnr(sr, hr), "ssim": ssim_value}

    def describe(self) -> str:
        """One line stating what the numbers mean, printed above every results table."""
        channel = "Y (BT.601) for RGB" if self.y_channel else "RGB"
        return (
            f"x{self.scale}: HR cropped top-left to a multiple of {self.scale}, LR = antialiased bicubic "
            f"(tf.image.resize) rounded to uint8, SR rounded to uint8; PSNR/SSIM on {channel}, "
            f"gray images on their gray values, {self.crop_border}-px border removed; "
            f"SSIM Gaussian {SSIM_WINDOW}x{SSIM_WINDOW} sigma {SSIM_SIGMA}, K1 {SSIM_K1}, K2 {SSIM_K2}, 'valid'"
        )

    def to_dict(self) -> dict:
        """JSON-ready record of every setting, including the fixed SSIM constants and the statement."""
        return {
            **asdict(self),
            "lr_degradation": "bicubic downsample, tf.image.resize(antialias=True), rounded to uint8",
            "hr_crop": "top-left, to a multiple of scale",
            "rgb_channel": "Y (BT.601, 16-235)" if self.y_channel else "RGB",
            "gray_images": "measured on gray values; model output turned gray with BT.601 luma, rounded",
            "ssim": {"window": SSIM_WINDOW, "sigma": SSIM_SIGMA, "k1": SSIM_K1, "k2": SSIM_K2, "valid": True},
            "statement": self.describe(),
        }


# Keeps identical images finite (about 148 dB) so a running mean is never poisoned by inf.
MIN_MSE = 1e-10


def psnr_y_tf(sr01, hr01, crop_border: int = 0):
    """Mean over the batch of per-image PSNR (dB) on BT.601 Y, for float [N, H, W, 3 or 1] in [0, 1].

    One-channel batches are measured on their gray values. ``crop_border`` pixels are removed from each
    side first. Returns a float32 scalar; works eagerly and inside ``tf.function``. Unlike :func:`psnr` the
    SR batch is clipped but not rounded to uint8: values differ by a few hundredths of a dB.
    """
    import tensorflow as tf

    def luma(x):  # [N, H, W] on the 0-255 scale, border removed
        x = tf.clip_by_value(tf.cast(x, tf.float32), 0.0, 1.0)
        if crop_border:
            x = x[:, crop_border:-crop_border, crop_border:-crop_border, :]
        if x.shape[-1] == 3:
            return Y_OFFSET + tf.tensordot(x, tf.constant(Y_WEIGHTS, dtype=tf.float32), axes=[[3], [0]])
        if x.shape[-1] == 1:
            return x[..., 0] * 255.0
        raise ValueError(f"psnr_y_tf needs 1 or 3 channels, got shape {x.shape}")

    mse = tf.reduce_mean(tf.square(luma(sr01) - luma(hr01)), axis=[1, 2])
    per_image = 10.0 * tf.math.log(255.0**2 / tf.maximum(mse, MIN_MSE)) / tf.math.log(10.0)
    return tf.reduce_mean(per_image)

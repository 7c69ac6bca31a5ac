"""Image-quality metrics: numpy PSNR/SSIM for benchmarks, no-reference NIQE and grid score for
perceptual SR, blockiness for JPEG'd inputs, and a TF PSNR for training steps.

The numpy side (``psnr``, ``ssim``, ``rgb_to_y``, ``Protocol``, ``niqe``, ``grid_score``,
``grid_groups``) does not import TensorFlow; ``psnr_y_tf`` is loaded on first use.
"""

from __future__ import annotations

from keras_srgan.metrics.grid import blockiness, grid_groups, grid_score
from keras_srgan.metrics.image import Protocol, psnr, ssim
from keras_srgan.metrics.naturalness import niqe
from keras_srgan.pixels import rgb_to_gray, rgb_to_y

__all__ = [
    "Protocol",
    "blockiness",
    "grid_groups",
    "grid_score",
    "niqe",
    "psnr",
    "psnr_y_tf",
    "rgb_to_gray",
    "rgb_to_y",
    "ssim",
]


def __getattr__(name: str):
    if name == "psnr_y_tf":
        from keras_srgan.metrics.tf_metrics import psnr_y_tf

        return psnr_y_tf
    raise AttributeError(f"module 'keras_srgan.metrics' has no attribute {name!r}")

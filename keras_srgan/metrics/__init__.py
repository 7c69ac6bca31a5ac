"""Image-quality metrics: numpy PSNR/SSIM for benchmarks, no-reference NIQE and grid score for
perceptual SR, blockiness for JPEG'd inputs, and a TF PSNR for training steps.

Only ``psnr_y_tf`` imports TensorFlow, when it is first called.
"""

from __future__ import annotations

from keras_srgan.metrics.grid import blockiness, grid_groups, grid_score
from keras_srgan.metrics.image import Protocol, psnr, psnr_y_tf, ssim
from keras_srgan.metrics.naturalness import niqe
from keras_srgan.pixels import rgb_to_gray, rgb_to_y

__all__ = [
    "Protocol", "blockiness", "grid_groups", "grid_score", "niqe", "psnr", "psnr_y_tf", "rgb_to_gray",
    "rgb_to_y", "ssim",
]  # fmt: skip


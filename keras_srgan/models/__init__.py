"""Network architectures: the SRResNet generator, the SRGAN discriminator and their layers."""

from keras_srgan.models.discriminator import Discriminator, build_discriminator
from keras_srgan.models.generator import SRResNet, build_generator
from keras_srgan.models.layers import ICNR, PixelShuffle, ResidualBlock

__all__ = [
    "ICNR",
    "Discriminator",
    "PixelShuffle",
    "ResidualBlock",
    "SRResNet",
    "build_discriminator",
    "build_generator",
]

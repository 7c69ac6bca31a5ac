"""Network architectures: the SRResNet and CompactSR generators, the SRGAN discriminator and their layers."""

from keras_srgan.models.discriminator import Discriminator, build_discriminator
from keras_srgan.models.generator import CompactSR, SRResNet, build_generator
from keras_srgan.models.layers import ICNR, PixelShuffle, UnitClip

__all__ = [
    "CompactSR",
    "ICNR",
    "Discriminator",
    "PixelShuffle",
    "SRResNet",
    "UnitClip",
    "build_discriminator",
    "build_generator",
]

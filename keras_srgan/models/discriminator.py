"""The SRGAN discriminator (Ledig et al. 2017, Fig. 4): a VGG-style classifier that outputs a logit."""

from __future__ import annotations

import keras
from keras import layers

from keras_srgan.models.layers import PACKAGE, BlurDownsample

NORMS = ("batch", "spectral")
DOWNSAMPLES = ("stride", "blur")


@keras.saving.register_keras_serializable(package=PACKAGE)
class Discriminator(keras.Model):
    """Input: RGB in [0, 1] (the generator's output range) of ``input_size`` x ``input_size`` (the Dense
    head fixes the size); mapped to [-1, 1] in float32 as the first operation, before any layer casts it.

    Eight 3x3 convs, 64 -> 512 channels doubling every other layer, stride 2 on every second layer,
    BN on all but the first, LeakyReLU 0.2; Dense 1024 + LeakyReLU; Dense 1 in float32 (a logit).
    ``norm="spectral"`` swaps BN for spectral normalisation of every conv and dense layer (Miyato et al.
    2018; Real-ESRGAN's D uses it), a switch for the GAN-stage ablations. ``downsample="blur"`` makes the
    four stride-2 convs stride 1 followed by an antialiased x2 downsampling (:class:`BlurDownsample`):
    same weights, no aliasing, about twice D's compute.
    """

    def __init__(
        self,
        input_size: int = 96,
        filters: int = 64,
        dense_units: int = 1024,
        norm: str = "batch",
        downsample: str = "stride",
        **kwargs,
    ):
        # Inputs arrive in float32 so the [0, 1] -> [-1, 1] map is float32 under mixed precision too;
        # each layer still casts its own input to its compute dtype.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if norm not in NORMS:
            raise ValueError(f"discriminator norm must be one of {NORMS}, got {norm!r}")
        if downsample not in DOWNSAMPLES:
            raise ValueError(f"discriminator downsample must be one of {DOWNSAMPLES}, got {downsample!r}")
        self.downsample = downsample
        self.input_size = int(input_size)
        self.filters = int(filters)
        self.dense_units = int(dense_units)
        self.norm = norm
        spectral = norm == "spectral"

        def wrap(layer, **kwargs):
            return layers.SpectralNormalization(layer, **kwargs) if spectral else layer

        # Sub-layers are attributes, not list items: tf.train.Checkpoint does not see into Keras' tracked lists.
        for i in range(8):
            channels = filters * 2 ** (i // 2)
            stride = 2 if i % 2 == 1 and downsample == "stride" else 1
            conv = layers.Conv2D(channels, 3, strides=stride, padding="same", name=f"conv{i}")
            if i % 2 == 1 and downsample == "blur":
                setattr(self, f"blur{i}", BlurDownsample(name=f"blur{i}"))
            setattr(self, f"conv{i}", wrap(conv, name=f"sn_conv{i}"))
            if i > 0 and norm == "batch":
                setattr(self, f"bn{i}", layers.BatchNormalization(momentum=0.9, name=f"bn{i}"))
        self.act = layers.LeakyReLU(0.2)
        self.flatten = layers.Flatten()
        self.dense = wrap(layers.Dense(dense_units, name="dense"), name="sn_dense")
        self.logit = wrap(layers.Dense(1, dtype="float32", name="logit"), dtype="float32", name="sn_logit")

    @property
    def convs(self) -> list[tuple[layers.Layer, layers.Layer | None]]:
        return [(getattr(self, f"conv{i}"), getattr(self, f"bn{i}", None)) for i in range(8)]

    def call(self, inputs, training=False, return_features=False):
        """The logit [N, 1]; with ``return_features``, also the eight conv activations (feature matching)."""
        x = keras.ops.cast(inputs, "float32") * 2.0 - 1.0
        features = []
        for i, (conv, bn) in enumerate(self.convs):
            x = conv(x, training=training)  # spectral normalisation updates its estimate while training
            if bn is not None:
                x = bn(x, training=training)
            x = self.act(x)
            blur = getattr(self, f"blur{i}", None)
            if blur is not None:
                x = blur(x)
            features.append(x)
        logit = self.logit(self.act(self.dense(self.flatten(x), training=training)), training=training)
        return (logit, features) if return_features else logit

    def get_config(self):
        return {
            **super().get_config(),
            "input_size": self.input_size,
            "filters": self.filters,
            "dense_units": self.dense_units,
            "norm": self.norm,
            "downsample": self.downsample,
        }


def build_discriminator(input_size: int = 96, **config) -> Discriminator:
    model = Discriminator(input_size=input_size, **config)
    model(keras.ops.zeros((1, input_size, input_size, 3)))  # creates the weights
    return model

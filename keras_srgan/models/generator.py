"""SRResNet: the SRGAN generator (Ledig et al. 2017, Fig. 4)."""

from __future__ import annotations

import math

import keras
from keras import layers

from keras_srgan.models.layers import ICNR, PACKAGE, PixelShuffle, ResidualBlock


@keras.saving.register_keras_serializable(package=PACKAGE)
class SRResNet(keras.Model):
    """Input: RGB in [0, 1], any size. Output: RGB in [0, 1], ``scale`` times larger.

    The contract every caller relies on (training, inference, every export): pixels in [0, 1] both ways.
    The network ends in a tanh (the paper's), mapped to [0, 1] here, in float32, as ``(tanh + 1) / 2``;
    nobody outside the model converts ranges. ``scale`` must be a power of two; each x2 stage is
    conv(4*filters) -> pixel shuffle -> PReLU. The last conv runs in float32 under mixed precision so the
    output keeps full precision.

    ``phase_equalize``: whether inference should remove the per-phase offset these weights add
    (``inference.phase``; a GAN stage teaches one). It belongs to trained weights and is saved in their
    config, but ``call`` never applies it: it needs the whole image, which a tile does not have.
    """

    def __init__(
        self,
        scale: int = 4,
        num_blocks: int = 16,
        filters: int = 64,
        icnr: bool = True,
        bn_momentum: float = 0.9,
        phase_equalize: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        stages = math.log2(scale) if scale > 0 else -1
        if stages < 1 or stages != int(stages):
            raise ValueError(f"scale must be a power of two >= 2, got {scale}")
        self.scale = int(scale)
        self.num_blocks = int(num_blocks)
        self.filters = int(filters)
        self.icnr = bool(icnr)
        self.bn_momentum = float(bn_momentum)
        self.phase_equalize = bool(phase_equalize)

        self.head = layers.Conv2D(filters, 9, padding="same", name="head_conv")
        self.head_act = layers.PReLU(shared_axes=[1, 2], name="head_prelu")
        # Sub-layers are attributes, not list items: tf.train.Checkpoint does not see into Keras' tracked lists.
        for i in range(num_blocks):
            setattr(self, f"res_block_{i}", ResidualBlock(filters, bn_momentum, name=f"res_block_{i}"))
        self.body_conv = layers.Conv2D(filters, 3, padding="same", name="body_conv")
        self.body_bn = layers.BatchNormalization(momentum=bn_momentum, name="body_bn")
        self.num_upsample = int(stages)
        for i in range(self.num_upsample):
            init = ICNR(2) if icnr else "glorot_uniform"
            conv = layers.Conv2D(filters * 4, 3, padding="same", kernel_initializer=init, name=f"up{i}_conv")
            setattr(self, f"up{i}_conv", conv)
            setattr(self, f"up{i}_shuffle", PixelShuffle(2, name=f"up{i}_shuffle"))
            setattr(self, f"up{i}_prelu", layers.PReLU(shared_axes=[1, 2], name=f"up{i}_prelu"))
        # A small initial output keeps tanh out of saturation at the start of training.
        tail_init = keras.initializers.VarianceScaling(0.02, mode="fan_avg", distribution="uniform")
        self.tail = layers.Conv2D(
            3, 9, padding="same", kernel_initializer=tail_init, dtype="float32", name="tail_conv"
        )

    @property
    def blocks(self) -> list[ResidualBlock]:
        return [getattr(self, f"res_block_{i}") for i in range(self.num_blocks)]

    @property
    def upsample(self) -> list[tuple[layers.Layer, layers.Layer, layers.Layer]]:
        return [
            (getattr(self, f"up{i}_conv"), getattr(self, f"up{i}_shuffle"), getattr(self, f"up{i}_prelu"))
            for i in range(self.num_upsample)
        ]

    def build(self, input_shape):
        shape = tuple(input_shape)
        self.head.build(shape)
        shape = self.head.compute_output_shape(shape)
        self.head_act.build(shape)
        for block in self.blocks:
            block.build(shape)
        self.body_conv.build(shape)
        self.body_bn.build(shape)
        for conv, shuffle, act in self.upsample:
            conv.build(shape)
            shape = shuffle.compute_output_shape(conv.compute_output_shape(shape))
            act.build(shape)
        self.tail.build(shape)
        self.built = True

    def call(self, inputs, training=False):
        x = self.head_act(self.head(inputs))
        skip = x
        for block in self.blocks:
            x = block(x, training=training)
        x = self.body_bn(self.body_conv(x), training=training) + skip
        for conv, shuffle, act in self.upsample:
            x = act(shuffle(conv(x)))
        return unit_from_tanh(keras.ops.tanh(self.tail(x)))

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.scale
        return (n, None if h is None else h * s, None if w is None else w * s, 3)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "num_blocks": self.num_blocks,
            "filters": self.filters,
            "icnr": self.icnr,
            "bn_momentum": self.bn_momentum,
            "phase_equalize": self.phase_equalize,
        }


def unit_from_tanh(x):
    """tanh's [-1, 1] -> [0, 1] in float32: ``(x + 1) / 2`` (the generator's last operation)."""
    return (keras.ops.cast(x, "float32") + 1.0) * 0.5


def build_generator(**config) -> SRResNet:
    """An SRResNet with its weights created (so it can load weights or be counted right away)."""
    model = SRResNet(**config)
    model.build((None, None, None, 3))
    return model

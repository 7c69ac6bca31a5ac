"""The generators: SRResNet, the SRGAN generator (Ledig et al. 2017, Fig. 4), and CompactSR, a plain stack
of 3x3 convs at LR resolution (the SRVGGNetCompact idea of Real-ESRGAN) for cheap or real-world models."""

from __future__ import annotations

import math

import keras
from keras import layers

from keras_srgan.models.layers import ICNR, PACKAGE, FixedBlur, PixelShuffle, ResidualBlock


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
        return upscaled_shape(input_shape, self.scale)

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


def upscaled_shape(input_shape, scale: int) -> tuple:
    """[N, H, W, C] -> [N, scale * H, scale * W, 3] (unknown sides stay unknown): every generator's output."""
    n, h, w, _ = input_shape
    return (n, None if h is None else h * scale, None if w is None else w * scale, 3)


def unit_from_tanh(x):
    """tanh's [-1, 1] -> [0, 1] in float32: ``(x + 1) / 2`` (the generator's last operation)."""
    return (keras.ops.cast(x, "float32") + 1.0) * 0.5


UPSAMPLERS = ("shuffle_residual", "shuffle_blur", "nearest_conv")
ARCHS = ("srresnet", "compact")


@keras.saving.register_keras_serializable(package=PACKAGE)
class CompactSR(keras.Model):
    """Input: RGB in [0, 1], any size. Output: RGB, ``scale`` times larger; in [0, 1] outside training.

    conv3x3(3 -> filters) + PReLU, then ``num_convs`` x (conv3x3 + PReLU), all at LR resolution, then the
    upsampler; the nearest-upsampled input is added to the result (the network learns a residual), in
    float32. No BatchNorm, no tanh. Bounding: ``call`` clips to [0, 1] when ``training`` is false (what
    validation, evaluation and inference call), and returns the raw residual sum while training, so the
    loss keeps its gradient on pixels that overshoot (a clip inside the step would zero it).

    ``upsampler``:
      * ``shuffle_residual``: conv3x3(filters -> 3 * scale**2) in float32, one pixel shuffle by ``scale``
        (SRVGGNetCompact). ICNR init, so training starts from nearest-neighbour output: no grid.
      * ``shuffle_blur``: the same, then a fixed separable [1, 2, 2, 2, 1] / 8 blur (``FixedBlur``) over the
        sum, which zeroes every frequency (k/4 cycles per pixel) a 2- or 4-pixel grid can have.
      * ``nearest_conv``: (nearest x2 resize, conv3x3(filters), PReLU) log2(scale) times, then
        conv3x3(filters -> 3) at HR (ESRGAN's upsampler): grid-free by construction, but those convs run
        at 4x and 16x the pixels (``macs_per_output_pixel`` counts them).

    ``phase_equalize`` is kept (always saved) so code that reads it from any generator keeps working.
    """

    def __init__(
        self,
        scale: int = 4,
        num_convs: int = 16,
        filters: int = 64,
        upsampler: str = "shuffle_residual",
        phase_equalize: bool = False,
        **kwargs,
    ):
        # The model itself computes in float32, so its input (the residual's base) is not cast to bfloat16
        # under mixed precision; its layers take the global policy as usual (all but the float32 tail).
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        stages = math.log2(scale) if scale > 0 else -1
        if stages < 1 or stages != int(stages):
            raise ValueError(f"scale must be a power of two >= 2, got {scale}")
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler must be one of {UPSAMPLERS}, got {upsampler!r}")
        if num_convs < 0 or filters < 1:
            raise ValueError(f"need num_convs >= 0 and filters >= 1, got {num_convs} and {filters}")
        self.scale = int(scale)
        self.num_convs = int(num_convs)
        self.filters = int(filters)
        self.upsampler = str(upsampler)
        self.phase_equalize = bool(phase_equalize)
        self.num_upsample = int(stages)

        self.head = layers.Conv2D(filters, 3, padding="same", name="head_conv")
        self.head_act = layers.PReLU(shared_axes=[1, 2], name="head_prelu")
        for i in range(self.num_convs):
            setattr(self, f"body{i}_conv", layers.Conv2D(filters, 3, padding="same", name=f"body{i}_conv"))
            setattr(self, f"body{i}_prelu", layers.PReLU(shared_axes=[1, 2], name=f"body{i}_prelu"))
        # A small initial residual: the model starts as nearest-neighbour upsampling.
        small = {"class_name": "VarianceScaling", "config": {"scale": 0.02, "mode": "fan_avg"}}
        if self.upsampler == "nearest_conv":
            for i in range(self.num_upsample):
                setattr(
                    self,
                    f"up{i}_resize",
                    layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}_resize"),
                )
                setattr(self, f"up{i}_conv", layers.Conv2D(filters, 3, padding="same", name=f"up{i}_conv"))
                setattr(self, f"up{i}_prelu", layers.PReLU(shared_axes=[1, 2], name=f"up{i}_prelu"))
            self.tail = layers.Conv2D(
                3, 3, padding="same", kernel_initializer=small, dtype="float32", name="tail_conv"
            )
        else:
            self.tail = layers.Conv2D(
                3 * self.scale**2,
                3,
                padding="same",
                kernel_initializer=ICNR(self.scale, base=small),
                dtype="float32",
                name="tail_conv",
            )
            self.shuffle = PixelShuffle(self.scale, dtype="float32", name="tail_shuffle")
        if self.upsampler == "shuffle_blur":
            self.blur = FixedBlur(dtype="float32", name="blur")

    @property
    def body(self) -> list[tuple[layers.Layer, layers.Layer]]:
        return [
            (getattr(self, f"body{i}_conv"), getattr(self, f"body{i}_prelu")) for i in range(self.num_convs)
        ]

    @property
    def upsample(self) -> list[tuple[layers.Layer, layers.Layer, layers.Layer]]:
        if self.upsampler != "nearest_conv":
            return []
        return [
            (getattr(self, f"up{i}_resize"), getattr(self, f"up{i}_conv"), getattr(self, f"up{i}_prelu"))
            for i in range(self.num_upsample)
        ]

    @property
    def receptive_radius(self) -> int:
        """LR pixels on each side of an LR pixel whose change can reach its output pixels (an upper bound)."""
        if self.upsampler == "nearest_conv":
            # LR convs: 1 + num_convs; then 1 / 2**(i + 1) LR px per resize+conv; the tail conv 1 / scale
            hr = sum(self.scale // 2 ** (i + 1) for i in range(self.num_upsample)) + 1
            return 1 + self.num_convs + math.ceil(hr / self.scale)
        blur = 1 if self.upsampler == "shuffle_blur" else 0
        return 2 + self.num_convs + blur  # the blur's 2 HR px can cross into the neighbouring LR pixel

    def build(self, input_shape):
        shape = tuple(input_shape)
        self.head.build(shape)
        shape = self.head.compute_output_shape(shape)
        self.head_act.build(shape)
        for conv, act in self.body:
            conv.build(shape)
            act.build(shape)
        for resize, conv, act in self.upsample:
            shape = resize.compute_output_shape(shape)
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            act.build(shape)
        self.tail.build(shape)
        self.built = True

    def call(self, inputs, training=False):
        x = self.head_act(self.head(inputs))
        for conv, act in self.body:
            x = act(conv(x))
        for resize, conv, act in self.upsample:
            x = act(conv(resize(x)))
        x = keras.ops.cast(self.tail(x), "float32")
        if self.upsampler != "nearest_conv":
            x = self.shuffle(x)
        base = keras.ops.cast(inputs, "float32")
        s = self.scale
        x = x + keras.ops.repeat(keras.ops.repeat(base, s, axis=1), s, axis=2)
        if self.upsampler == "shuffle_blur":
            x = self.blur(x)
        return x if training else keras.ops.clip(x, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return upscaled_shape(input_shape, self.scale)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "num_convs": self.num_convs,
            "filters": self.filters,
            "upsampler": self.upsampler,
            "phase_equalize": self.phase_equalize,
        }


def build_generator(arch: str = "srresnet", **config) -> SRResNet | CompactSR:
    """A generator with its weights created (so it can load weights or be counted right away).

    ``arch``: "srresnet" (the default, the SRGAN generator) or "compact" (``CompactSR``); the other
    keywords are that class's config.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    model = CompactSR(**config) if arch == "compact" else SRResNet(**config)
    model.build((None, None, None, 3))
    return model

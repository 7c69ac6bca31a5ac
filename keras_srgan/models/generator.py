"""The generators, each defined once as a functional Keras model: SRResNet, the SRGAN generator (Ledig et
al. 2017, Fig. 4), and CompactSR, a plain stack of 3x3 convs at LR resolution (the SRVGGNetCompact idea of
Real-ESRGAN) for cheap or real-world models."""

from __future__ import annotations

import math

import keras
from keras import layers

from keras_srgan.models.layers import ICNR, PACKAGE, FixedBlur, PixelShuffle, UnitClip


class Generator(keras.Model):
    """What every generator shares: a functional Keras model (one graph: training, ``evaluate``, every
    engine and export run it; the speed-ups in ``inference.transforms`` rewrite it) built from a config of
    plain values, LR RGB in [0, 1] -> SR RGB, ``scale`` times larger.

    ``phase_equalize``: whether inference should remove a per-phase offset these weights add
    (``inference.phase``; a GAN stage taught ``srgan`` one). It belongs to trained weights and is saved in
    their config, but the network never applies it: it needs the whole image, which a tile does not have.
    """

    CONFIG: tuple[str, ...] = ()

    def __init__(self, inputs, outputs, config: dict, **kwargs):
        unknown = sorted(set(kwargs) - {"name", "trainable", "dtype"})
        if unknown:  # keras.Model would take and ignore them: num_blocks=4 would build the default silently
            raise TypeError(f"{type(self).__name__} got unknown arguments {unknown}; its config: {self.CONFIG}")
        super().__init__(inputs, outputs, **kwargs)
        for key, value in config.items():
            setattr(self, key, value)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape  # unknown sides stay unknown
        return (n, None if h is None else h * self.scale, None if w is None else w * self.scale, 3)

    def get_config(self) -> dict:
        # read from the attributes: ``phase_equalize`` may be set on trained weights before they are saved
        return {"name": self.name, "trainable": self.trainable, **{k: getattr(self, k) for k in self.CONFIG}}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


def _stages(scale: int) -> int:
    stages = math.log2(scale) if scale > 0 else -1
    if stages < 1 or stages != int(stages):
        raise ValueError(f"scale must be a power of two >= 2, got {scale}")
    return int(stages)


def _conv(filters: int, size: int, name: str, **kwargs) -> layers.Conv2D:
    return layers.Conv2D(filters, size, padding="same", name=name, **kwargs)


def _prelu(name: str) -> layers.PReLU:
    return layers.PReLU(shared_axes=[1, 2], name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SRResNet(Generator):
    """The SRGAN generator (Ledig et al. 2017, Fig. 4): 9x9 conv + PReLU, ``num_blocks`` residual blocks
    (conv3x3 - BN - PReLU - conv3x3 - BN, plus the identity), conv3x3 - BN plus the long skip, then per x2
    stage conv(4 * filters) -> pixel shuffle -> PReLU, and a 9x9 conv to RGB.

    The network ends in the paper's tanh, mapped to [0, 1] as ``tanh * 0.5 + 0.5`` in float32 (the
    contract: pixels in [0, 1] both ways; nobody outside the model converts ranges). The last conv runs in
    float32 under mixed precision so the output keeps full precision.
    """

    CONFIG = ("scale", "num_blocks", "filters", "icnr", "bn_momentum", "phase_equalize")

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
        stages = _stages(scale)

        def bn(name: str) -> layers.BatchNormalization:
            return layers.BatchNormalization(momentum=bn_momentum, name=name)

        lr = keras.Input((None, None, 3), name="lr")
        x = skip = _prelu("head_prelu")(_conv(filters, 9, "head_conv")(lr))
        for i in range(num_blocks):
            p = f"res_block_{i}_"
            y = _prelu(p + "prelu")(bn(p + "bn1")(_conv(filters, 3, p + "conv1")(x)))
            x = layers.Add(name=p + "add")([x, bn(p + "bn2")(_conv(filters, 3, p + "conv2")(y))])
        x = layers.Add(name="body_add")([bn("body_bn")(_conv(filters, 3, "body_conv")(x)), skip])
        for i in range(stages):
            init = ICNR(2) if icnr else "glorot_uniform"
            x = _conv(filters * 4, 3, f"up{i}_conv", kernel_initializer=init)(x)
            x = _prelu(f"up{i}_prelu")(PixelShuffle(2, name=f"up{i}_shuffle")(x))
        # A small initial output keeps tanh out of saturation at the start of training.
        tail_init = keras.initializers.VarianceScaling(0.02, mode="fan_avg", distribution="uniform")
        x = _conv(3, 9, "tail_conv", kernel_initializer=tail_init, dtype="float32")(x)
        sr = layers.Activation("tanh", dtype="float32", name="tanh")(x)
        sr = layers.Rescaling(0.5, offset=0.5, dtype="float32", name="to_unit")(sr)
        config = {
            "scale": int(scale), "num_blocks": int(num_blocks), "filters": int(filters), "icnr": bool(icnr),
            "bn_momentum": float(bn_momentum), "phase_equalize": bool(phase_equalize),
        }  # fmt: skip
        super().__init__(lr, sr, config, **kwargs)


UPSAMPLERS = ("shuffle_residual", "shuffle_blur", "nearest_conv")
ARCHS = ("srresnet", "compact")


@keras.saving.register_keras_serializable(package=PACKAGE)
class CompactSR(Generator):
    """conv3x3(3 -> filters) + PReLU, then ``num_convs`` x (conv3x3 + PReLU), all at LR resolution, then the
    upsampler; the nearest-upsampled input is added to the result (the network learns a residual), in
    float32 (the SRVGGNetCompact idea of Real-ESRGAN). No BatchNorm, no tanh. Bounding: ``UnitClip``
    clips to [0, 1] outside training, and passes the raw sum while training, so the loss keeps its
    gradient on pixels that overshoot.

    ``upsampler``:
      * ``shuffle_residual``: conv3x3(filters -> 3 * scale**2) in float32, one pixel shuffle by ``scale``.
        ICNR init, so training starts from nearest-neighbour output: no grid.
      * ``shuffle_blur``: the same, then a fixed separable [1, 2, 2, 2, 1] / 8 blur (``FixedBlur``) over the
        sum, which zeroes every frequency (k/4 cycles per pixel) a 2- or 4-pixel grid can have.
      * ``nearest_conv``: (nearest x2 resize, conv3x3(filters), PReLU) log2(scale) times, then
        conv3x3(filters -> 3) at HR (ESRGAN's upsampler): grid-free by construction, but those convs run
        at 4x and 16x the pixels (``macs_per_output_pixel`` counts them).
    """

    CONFIG = ("scale", "num_convs", "filters", "upsampler", "phase_equalize")

    def __init__(
        self,
        scale: int = 4,
        num_convs: int = 16,
        filters: int = 64,
        upsampler: str = "shuffle_residual",
        phase_equalize: bool = False,
        **kwargs,
    ):
        stages = _stages(scale)
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler must be one of {UPSAMPLERS}, got {upsampler!r}")
        if num_convs < 0 or filters < 1:
            raise ValueError(f"need num_convs >= 0 and filters >= 1, got {num_convs} and {filters}")
        # Kept as the attributes of earlier versions, so their training checkpoints still restore.
        named = {}

        def conv_prelu(x, prefix: str, attributes: tuple[str, str] | None = None):
            conv, prelu = _conv(filters, 3, f"{prefix}_conv"), _prelu(f"{prefix}_prelu")
            named.update(zip(attributes or (conv.name, prelu.name), (conv, prelu), strict=True))
            return prelu(conv(x))

        lr = keras.Input((None, None, 3), name="lr")
        x = conv_prelu(lr, "head", ("head", "head_act"))
        for i in range(num_convs):
            x = conv_prelu(x, f"body{i}")
        # A small initial residual: the model starts as nearest-neighbour upsampling.
        small = {"class_name": "VarianceScaling", "config": {"scale": 0.02, "mode": "fan_avg"}}
        if upsampler == "nearest_conv":
            for i in range(stages):
                x = conv_prelu(
                    layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}_resize")(x), f"up{i}"
                )
            named["tail"] = _conv(3, 3, "tail_conv", kernel_initializer=small, dtype="float32")
            x = named["tail"](x)
        else:
            init = ICNR(scale, base=small)
            named["tail"] = _conv(3 * scale**2, 3, "tail_conv", kernel_initializer=init, dtype="float32")
            x = PixelShuffle(scale, dtype="float32", name="tail_shuffle")(named["tail"](x))
        # The residual's base, the sum and what follows stay float32 under mixed precision (the input is
        # never cast to bfloat16); the convs take the global policy, all but the float32 tail.
        base = layers.UpSampling2D(scale, interpolation="nearest", dtype="float32", name="base_nearest")(lr)
        x = layers.Add(dtype="float32", name="residual_add")([x, base])
        if upsampler == "shuffle_blur":
            x = FixedBlur(dtype="float32", name="blur")(x)
        sr = UnitClip(dtype="float32", name="clip")(x)
        config = {
            "scale": int(scale), "num_convs": int(num_convs), "filters": int(filters),
            "upsampler": str(upsampler), "phase_equalize": bool(phase_equalize),
        }  # fmt: skip
        super().__init__(lr, sr, config, **kwargs)
        for attribute, layer in named.items():
            setattr(self, attribute, layer)


def build_generator(arch: str = "srresnet", **config) -> SRResNet | CompactSR:
    """A ``SRResNet`` or (``arch="compact"``) ``CompactSR`` of that config, its weights created."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    return CompactSR(**config) if arch == "compact" else SRResNet(**config)


def macs_per_output_pixel(model, size: int = 64) -> float:
    """Compute cost of a generator: TensorFlow's graph profiler float-op count of ``model`` on one ``size`` x
    ``size`` RGB input (inference, float32 graph), halved (one multiply-accumulate = two float ops), per
    output pixel.

    Every op the profiler knows is in it: the convs dominate; bias adds, activations, the residual add
    and the shuffle's neighbours count too (at one op each, i.e. half a MAC). A x4 SRResNet (16 blocks,
    64 filters) is about 139k, a CompactSR of 16 convs x 64 filters with a pixel-shuffle upsampler about 40k.
    """
    import tensorflow as tf

    spec = tf.TensorSpec((1, size, size, 3), tf.float32)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    flops = tf.compat.v1.profiler.profile(graph, options=options).total_float_ops
    out_pixels = (size * int(model.scale)) ** 2
    return flops / 2.0 / out_pixels

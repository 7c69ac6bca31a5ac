"""The networks as they were before the [0, 1] contract, written out by hand from their layers.

Why: the generator now ends in ``(tanh + 1) / 2`` and the discriminator maps its [0, 1] input to [-1, 1]
itself. Tests compare the new models, losses and training steps with these hand-written forward passes
(the old ``call`` bodies: tanh output, [-1, 1] discriminator input), so "nothing changed" is checked
against an independent computation rather than against the code under test.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def generator_tanh(g, lr, training: bool = False) -> tf.Tensor:
    """The SRResNet's output before the [0, 1] mapping (the old contract: [-1, 1]), written out by hand
    from its layers: the paper's Fig. 4, not the model's own graph."""

    def layer(name: str, x, **kwargs):
        return g.get_layer(name)(x, **kwargs)

    x = layer("head_prelu", layer("head_conv", lr))
    skip = x
    for i in range(g.num_blocks):
        p = f"res_block_{i}_"
        y = layer(p + "prelu", layer(p + "bn1", layer(p + "conv1", x), training=training))
        x = x + layer(p + "bn2", layer(p + "conv2", y), training=training)
    x = layer("body_bn", layer("body_conv", x), training=training) + skip
    for i in range(int(np.log2(g.scale))):
        x = layer(f"up{i}_prelu", layer(f"up{i}_shuffle", layer(f"up{i}_conv", x)))
    return tf.tanh(tf.cast(layer("tail_conv", x), tf.float32))


def discriminator_m11(d, images_m11, training: bool = False) -> tf.Tensor:
    """The discriminator's logit for images in [-1, 1] (BatchNorm, stride-2 variant), layer by layer."""
    assert d.norm == "batch" and d.downsample == "stride"
    x = images_m11
    for conv, bn in d.convs:
        x = conv(x)
        if bn is not None:
            x = bn(x, training=training)
        x = d.act(x)
    return d.logit(d.act(d.dense(d.flatten(x))))

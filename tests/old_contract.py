"""The networks as they were before the [0, 1] contract, written out by hand from their layers.

Why: the generator now ends in ``(tanh + 1) / 2`` and the discriminator maps its [0, 1] input to [-1, 1]
itself. Tests compare the new models, losses and training steps with these hand-written forward passes
(the old ``call`` bodies: tanh output, [-1, 1] discriminator input), so "nothing changed" is checked
against an independent computation rather than against the code under test.
"""

from __future__ import annotations

import tensorflow as tf


def generator_tanh(g, lr, training: bool = False) -> tf.Tensor:
    """The SRResNet's output before the [0, 1] mapping (the old contract: [-1, 1])."""
    x = g.head_act(g.head(lr))
    skip = x
    for block in g.blocks:
        x = block(x, training=training)
    x = g.body_bn(g.body_conv(x), training=training) + skip
    for conv, shuffle, act in g.upsample:
        x = act(shuffle(conv(x)))
    return tf.tanh(tf.cast(g.tail(x), tf.float32))


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

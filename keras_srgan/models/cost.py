"""Compute cost of a generator: multiply-accumulates per output pixel, as TensorFlow's profiler counts them."""

from __future__ import annotations


def macs_per_output_pixel(model, size: int = 64) -> float:
    """TensorFlow's graph profiler float-op count of ``model`` on one ``size`` x ``size`` RGB input
    (inference mode, float32 graph), halved (one multiply-accumulate = two float ops), per output pixel.

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

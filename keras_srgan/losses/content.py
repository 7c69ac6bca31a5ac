"""Content losses of the paper: pixel MSE, and MSE between VGG19 feature maps ("VGG22", "VGG54"); pixel L1;
the adversarial losses (the paper's non-saturating BCE, ESRGAN's relativistic average). All in float32.

VGG54 = ``block5_conv4`` (after its ReLU; Keras conv layers include the activation), VGG22 =
``block2_conv2``; inputs go through ``vgg19.preprocess_input`` on the [0, 255] scale. Random VGG weights
are only used when asked for by name, with a warning: that is not the paper's loss.
"""

from __future__ import annotations

import os
import warnings

import keras
import tensorflow as tf

from keras_srgan.defaults import CONTENT_LOSSES
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason

VGG_LAYERS = {"vgg54": "block5_conv4", "vgg22": "block2_conv2"}
PIXEL_KINDS = ("mse", "l1")
KINDS = CONTENT_LOSSES
assert set(KINDS) == set(PIXEL_KINDS) | set(VGG_LAYERS)
ADVERSARIAL_KINDS = ("standard", "relativistic")
FEATURE_SCALE = 12.75
NOTOP_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"


def build_vgg_features(layer: str, weights: str = "imagenet") -> keras.Model:
    """A frozen float32 VGG19 cut at ``layer``; ``weights`` is 'imagenet', a local .h5 path, or 'random'.

    Built under a float32 policy whatever the global mixed-precision policy is: feature differences
    divided by 12.75 are small, and bf16 keeps only 8 bits of them.
    """
    from keras.applications import VGG19

    if weights == "random":
        warnings.warn(
            "VGG19 with RANDOM weights: the content loss is not the paper's perceptual loss; "
            "use this only to test the mechanics or to time a step.",
            stacklevel=2,
        )
    elif weights != "imagenet" and not os.path.isfile(weights):
        raise UserError(
            f"{weights}: VGG19 weights file not found (expected 'imagenet', 'random' or a .h5 path)"
        )
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        try:
            source = "imagenet" if weights == "imagenet" else None
            vgg = VGG19(include_top=False, weights=source, input_shape=(None, None, 3))
        except Exception as exc:  # no network, blocked host, partial download ...
            raise UserError(
                f"cannot get the VGG19 ImageNet weights ({error_reason(exc)}); download {NOTOP_FILE} on a "
                "machine with network access and pass its path with --vgg-weights PATH (or put it in "
                "~/.keras/models/)"
            ) from None
        if weights not in ("imagenet", "random"):
            try:
                vgg.load_weights(weights)
            except Exception as exc:
                raise UserError(f"{weights}: not VGG19 (no-top) weights ({error_reason(exc)})") from None
        features = keras.Model(vgg.input, vgg.get_layer(layer).output, name=f"vgg19_{layer}")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    features.trainable = False
    return features


class ContentLoss:
    """``loss(hr, sr)`` for batches in [0, 1] (the generator's range); float32 scalar (batch mean).

    ``mse``/``l1``: on pixels, measured on the [-1, 1] scale (the tanh's, where the recipes' weights
    were tuned: an MSE on [0, 1] would be 4x smaller and shift every adversarial/content balance);
    ``vgg54``/``vgg22``: MSE of VGG19 features / 12.75 (the paper), the images mapped to [0, 255] here.
    """

    def __init__(self, kind: str = "vgg54", vgg_weights: str = "imagenet"):
        if kind not in KINDS:
            raise UserError(f"content loss must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        self.vgg_weights = vgg_weights
        self.features = build_vgg_features(VGG_LAYERS[kind], vgg_weights) if kind in VGG_LAYERS else None

    def _vgg(self, images01: tf.Tensor) -> tf.Tensor:
        x = keras.applications.vgg19.preprocess_input(images01 * 255.0)
        return tf.cast(self.features(x, training=False), tf.float32) / FEATURE_SCALE

    def __call__(self, hr01: tf.Tensor, sr01: tf.Tensor) -> tf.Tensor:
        hr = tf.cast(hr01, tf.float32)
        sr = tf.cast(sr01, tf.float32)
        if self.features is not None:
            return tf.reduce_mean(tf.square(self._vgg(hr) - self._vgg(sr)))
        diff = (hr * 2.0 - 1.0) - (sr * 2.0 - 1.0)  # on the [-1, 1] scale (see the class docstring)
        if self.kind == "l1":
            return tf.reduce_mean(tf.abs(diff))
        return tf.reduce_mean(tf.square(diff))

    def get_config(self) -> dict:
        return {"kind": self.kind, "vgg_weights": self.vgg_weights}


def adversarial_losses(
    real_logits: tf.Tensor, fake_logits: tf.Tensor, kind: str = "standard"
) -> tuple[tf.Tensor, tf.Tensor]:
    """(D loss, G adversarial loss) from logits, with binary cross-entropy.

    ``standard``: the paper's D loss and the non-saturating G loss -log D(G(x)).
    ``relativistic``: ESRGAN's relativistic average GAN: D judges whether a real image is more realistic
    than the average fake (and vice versa); G gets gradients from both real and fake logits.
    """
    bce = keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)
    real = tf.cast(real_logits, tf.float32)
    fake = tf.cast(fake_logits, tf.float32)

    def mean_bce(target: float, logits: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(bce(tf.fill(tf.shape(logits), target), logits))

    if kind == "standard":
        return mean_bce(1.0, real) + mean_bce(0.0, fake), mean_bce(1.0, fake)
    if kind == "relativistic":
        real_rel = real - tf.reduce_mean(fake)
        fake_rel = fake - tf.reduce_mean(real)
        d_loss = (mean_bce(1.0, real_rel) + mean_bce(0.0, fake_rel)) / 2.0
        g_adv = (mean_bce(0.0, real_rel) + mean_bce(1.0, fake_rel)) / 2.0
        return d_loss, g_adv
    raise ValueError(f"adversarial loss must be one of {ADVERSARIAL_KINDS}, got {kind!r}")


def phase_bias_loss(hr01: tf.Tensor, sr01: tf.Tensor, period: int = 4) -> tf.Tensor:
    """Mean square of each image's per-phase mean error, its overall mean error removed ([-1, 1] scale,
    like the pixel losses; inputs in [0, 1], [B, H, W, C], cropped to multiples of ``period``).

    A x``period`` pixel-shuffle generator can add a pattern that repeats every ``period`` output pixels:
    the part of the error that depends only on the pixel's position modulo ``period``, which is what the
    grid score sees. Pixel MSE contains this term once; ``SRGAN(phase_weight=w)`` adds it ``w`` more times,
    so the pattern costs ``1 + w`` times as much while texture that does not repeat costs the same.
    """
    err = (tf.cast(sr01, tf.float32) - tf.cast(hr01, tf.float32)) * 2.0
    shape = tf.shape(err)
    h, w = shape[1] // period * period, shape[2] // period * period
    cells = tf.reshape(err[:, :h, :w, :], [shape[0], h // period, period, w // period, period, shape[3]])
    phase_mean = tf.reduce_mean(cells, axis=[1, 3])  # [B, period, period, C]
    phase_mean -= tf.reduce_mean(phase_mean, axis=[1, 2], keepdims=True)
    return tf.reduce_mean(tf.square(phase_mean))

"""Run a generator on LR batches of any size with one traced graph.

Keras ``predict`` retraces for every new input shape; a ``tf.function`` with a
``[None, None, None, 3]`` signature is traced once and serves every image size.

For inference the SRResNet can also be run as a plain TensorFlow graph with every BatchNorm folded into
the conv before it (``fold_batchnorm=True``): inference-mode BN is a per-channel affine map, so
``BN(conv(x, W) + b) = conv(x, W * s) + (b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``.
That is exact up to float rounding and removes 33 memory-bound passes over the activations per call.
The output conv is moved before the last pixel shuffle (``subpixel_conv``, also exact), and
``precision="bf16"`` runs the convolutions in bfloat16 (oneDNN uses the CPU's AVX-512 BF16 dot
products) while the residual stream the blocks add into stays float32, which keeps the output within
the fidelity bar measured in docs/performance.md. The folded graph is a copy of the weights taken when
the Predictor is built; ``refresh()`` rebuilds it if the generator's weights changed since.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

PRECISIONS = ("auto", "fp32", "bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (AVX512_BF16 or AMX); bf16 is slower without them."""
    if sys.platform != "linux":
        return False
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return bool(flags & {"avx512_bf16", "amx_bf16"})


PRECISION_ENV = "KERAS_SRGAN_PRECISION"


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``$KERAS_SRGAN_PRECISION`` if set, else ``bf16`` on a CPU-only machine with native bf16, else ``fp32``.

    The environment variable is the opt-out for callers that cannot pass an argument (e.g. the CLI).
    """
    if precision == "auto":
        precision = os.environ.get(PRECISION_ENV, "auto").strip().lower() or "auto"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if tf.config.list_physical_devices("GPU"):
        return "fp32"  # measured on CPU only; a GPU has its own fast paths
    return "bf16" if cpu_has_bf16() else "fp32"


def _bn_scale_shift(bn) -> tuple[np.ndarray, np.ndarray]:
    gamma = np.asarray(bn.gamma.numpy() if bn.gamma is not None else 1.0, np.float64)
    beta = np.asarray(bn.beta.numpy() if bn.beta is not None else 0.0, np.float64)
    mean = np.asarray(bn.moving_mean.numpy(), np.float64)
    var = np.asarray(bn.moving_variance.numpy(), np.float64)
    scale = gamma / np.sqrt(var + bn.epsilon)
    return scale, beta - mean * scale


def _conv_params(conv, bn=None) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) float32 of ``conv`` with ``bn`` (inference mode) folded in, computed in float64."""
    kernel = np.asarray(conv.kernel.numpy(), np.float64)
    bias = np.asarray(conv.bias.numpy(), np.float64) if conv.use_bias else np.zeros(kernel.shape[-1])
    if bn is not None:
        scale, shift = _bn_scale_shift(bn)
        kernel = kernel * scale
        bias = bias * scale + shift
    return kernel.astype(np.float32), bias.astype(np.float32)


def _alpha(prelu) -> np.ndarray:
    return np.asarray(prelu.alpha.numpy(), np.float32).reshape(-1)


def can_fold(generator) -> bool:
    """Whether ``generator`` is an SRResNet whose layers ``fold_generator`` knows (else Keras runs it)."""
    from keras_srgan.models.generator import SRResNet

    return isinstance(generator, SRResNet) and generator.built


def subpixel_conv(kernel: np.ndarray, bias: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite "depth_to_space(factor), then a k x k conv" as "a conv on the un-shuffled input, then depth_to_space".

    Why: SRResNet's 9x9 output conv has only 3 output channels at 4x resolution, a shape oneDNN runs at
    a small fraction of its speed (11% of the FLOPs, about a third of the time, measured). On the
    2x-resolution, factor**2 * C-channel tensor before the last pixel shuffle the same conv is a
    (2R+1)^2 conv (R = ceil(r / factor) for k = 2r + 1) with factor**2 * K outputs, followed by a pixel
    shuffle of those outputs; the 4x-resolution activation is never built. Exact: every output is the
    same sum of the same products, "same" zero padding included (the shuffled image's border is the
    border of the un-shuffled one).

    ``kernel`` is [k, k, C, K]; returns ([2R+1, 2R+1, f*f*C, f*f*K], [f*f*K]) in depth_to_space order
    (channel ``(dy * f + dx) * C + c``).
    """
    k, k2, c_in, c_out = kernel.shape
    if k != k2 or k % 2 == 0:
        raise ValueError(f"need a square odd kernel, got {kernel.shape[:2]}")
    f = int(factor)
    r = k // 2
    big_r = -(-r // f)
    out = np.zeros((2 * big_r + 1, 2 * big_r + 1, f * f * c_in, f * f * c_out), np.float64)
    for m in range(-big_r, big_r + 1):
        for n in range(-big_r, big_r + 1):
            for dy in range(f):
                for dx in range(f):
                    for ey in range(f):
                        for ex in range(f):
                            u, v = f * m + dy - ey, f * n + dx - ex
                            if abs(u) <= r and abs(v) <= r:
                                src = (dy * f + dx) * c_in
                                dst = (ey * f + ex) * c_out
                                out[m + big_r, n + big_r, src : src + c_in, dst : dst + c_out] = kernel[
                                    u + r, v + r
                                ]
    return out.astype(np.float32), np.tile(np.asarray(bias, np.float32), f * f)


def fold_generator(generator) -> dict:
    """Inference parameters of an SRResNet with every BatchNorm folded into its conv (numpy float32)."""
    if not can_fold(generator):
        raise TypeError(f"cannot fold {type(generator).__name__}: only a built SRResNet")
    blocks = []
    for block in generator.blocks:
        w1, b1 = _conv_params(block.conv1, block.bn1)
        w2, b2 = _conv_params(block.conv2, block.bn2)
        blocks.append({"w1": w1, "b1": b1, "alpha": _alpha(block.act), "w2": w2, "b2": b2})
    head_w, head_b = _conv_params(generator.head)
    body_w, body_b = _conv_params(generator.body_conv, generator.body_bn)
    upsample = []
    for conv, shuffle, act in generator.upsample:
        w, b = _conv_params(conv)
        upsample.append({"w": w, "b": b, "alpha": _alpha(act), "factor": int(shuffle.factor)})
    tail_w, tail_b = _conv_params(generator.tail)
    last = upsample[-1]
    # the last PReLU moves before the pixel shuffle (per-channel slopes repeated in shuffle order)
    last["alpha_unshuffled"] = np.tile(last["alpha"], last["factor"] ** 2)
    sub_w, sub_b = subpixel_conv(tail_w, tail_b, last["factor"])
    return {
        "head": (head_w, head_b, _alpha(generator.head_act)),
        "blocks": blocks,
        "body": (body_w, body_b),
        "upsample": upsample,
        "tail": (tail_w, tail_b),
        "tail_subpixel": (sub_w, sub_b),
    }


def weights_fingerprint(model) -> str:
    """A hash of every weight's bytes: changes whenever any weight does."""
    digest = hashlib.blake2b(digest_size=16)
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight.numpy())).tobytes())
    return digest.hexdigest()


def _prelu(x: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu(x) + alpha * tf.minimum(x, 0.0)


def _prelu_max(x: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """PReLU as max(x, alpha * x): two passes instead of four; equal to PReLU when every alpha <= 1."""
    return tf.maximum(x, alpha * x)


def _conv(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "SAME"), b)


# Which parts run in bfloat16 under precision="bf16". The residual stream (the sum the 16 blocks add
# to) always stays float32 so rounding does not accumulate; the choice of the other parts is measured
# in docs/performance.md (speed and PSNR against fp32 on real images).
BF16_PARTS = ("blocks", "upsample", "tail")


def folded_forward(
    params: dict,
    precision: str = "fp32",
    bf16_parts: tuple[str, ...] = BF16_PARTS,
    subpixel_tail: bool = True,
):
    """A function LR [0, 1] -> generator output in [-1, 1] (float32) from ``fold_generator`` parameters.

    With ``bf16``, the convs of the parts named in ``bf16_parts`` take bfloat16 inputs and weights
    (oneDNN accumulates in float32); each block's output is added to a float32 residual stream.
    ``subpixel_tail`` runs the output conv before the last pixel shuffle (``subpixel_conv``). PReLUs
    whose slopes are all <= 1 (every trained SRResNet seen) use the two-pass ``max(x, alpha * x)``.
    """
    f32 = tf.float32
    low = {part: (tf.bfloat16 if precision == "bf16" and part in bf16_parts else f32) for part in BF16_PARTS}

    def const(a, dtype=f32):
        return tf.constant(a, dtype=dtype)

    def act(alpha: np.ndarray, dtype):
        fn = _prelu_max if float(np.max(alpha)) <= 1.0 else _prelu
        a = const(alpha, dtype)
        return lambda x: fn(x, a)

    head_act = act(params["head"][2], f32)
    head = (const(params["head"][0]), const(params["head"][1]))
    lb = low["blocks"]
    blocks = [
        {
            "w1": const(p["w1"], lb),
            "b1": const(p["b1"], lb),
            "act": act(p["alpha"], lb),
            "w2": const(p["w2"], lb),
            "b2": const(p["b2"]),
        }
        for p in params["blocks"]
    ]
    body = (const(params["body"][0]), const(params["body"][1]))
    lu, lt = low["upsample"], low["tail"]
    upsample = [
        {"w": const(p["w"], lu), "b": const(p["b"], lu), "act": act(p["alpha"], lu), "factor": p["factor"]}
        for p in params["upsample"]
    ]
    last = params["upsample"][-1]
    if subpixel_tail:
        upsample[-1]["act"] = act(last["alpha_unshuffled"], lt)
        tail = (const(params["tail_subpixel"][0], lt), const(params["tail_subpixel"][1], lt))
    else:
        tail = (const(params["tail"][0], lt), const(params["tail"][1], lt))

    def forward(lr: tf.Tensor) -> tf.Tensor:
        x = head_act(_conv(lr, head[0], head[1]))
        skip = x
        for p in blocks:
            y = p["act"](_conv(tf.cast(x, lb), p["w1"], p["b1"]))
            y = tf.cast(tf.nn.conv2d(y, p["w2"], 1, "SAME"), f32)
            x = x + tf.nn.bias_add(y, p["b2"])
        x = tf.cast(_conv(x, body[0], body[1]) + skip, lu)
        for i, p in enumerate(upsample):
            x = _conv(x, p["w"], p["b"])
            if subpixel_tail and i == len(upsample) - 1:
                y = _conv(p["act"](tf.cast(x, lt)), tail[0], tail[1])
                return tf.tanh(tf.cast(tf.nn.depth_to_space(y, p["factor"]), f32))
            x = p["act"](tf.nn.depth_to_space(x, p["factor"]))
        return tf.tanh(tf.cast(_conv(tf.cast(x, lt), tail[0], tail[1]), f32))

    return forward


class Predictor:
    """LR float32 [N, H, W, 3] in [0, 1] -> SR float32 [N, sH, sW, 3] in [0, 1] (numpy in, numpy out).

    The defaults run the Keras model itself (the reference every other path is compared with).
    ``fold_batchnorm=True`` runs the folded graph; ``precision`` ("fp32", "bf16" or "auto") picks its
    conv precision and implies folding when not "fp32"; ``bf16_parts`` which parts use bf16 (for
    measurements). A generator that cannot be folded runs as is.
    """

    def __init__(
        self,
        generator,
        jit_compile: bool = False,
        precision: str = "fp32",
        fold_batchnorm: bool | None = None,
        bf16_parts: tuple[str, ...] = BF16_PARTS,
    ):
        self.generator = generator
        self.scale = int(getattr(generator, "scale", 4))
        self.precision = resolve_precision(precision)
        fold = (self.precision != "fp32") if fold_batchnorm is None else bool(fold_batchnorm)
        self.folded = fold and can_fold(generator)
        if not self.folded:
            self.precision = "fp32"
        self._jit_compile = jit_compile
        self._bf16_parts = tuple(bf16_parts)
        self._fingerprint = weights_fingerprint(generator) if self.folded else None
        self._run = self._build()

    def _build(self):
        model = (
            folded_forward(fold_generator(self.generator), self.precision, self._bf16_parts)
            if self.folded
            else None
        )

        @tf.function(
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)], jit_compile=self._jit_compile
        )
        def _run(lr):
            out = model(lr) if model is not None else self.generator(lr, training=False)
            sr = tf.cast(out, tf.float32)
            return tf.clip_by_value((sr + 1.0) * 0.5, 0.0, 1.0)

        return _run

    def refresh(self) -> bool:
        """Re-fold (and retrace) if the generator's weights changed since the folded copy was made.

        Why: the folded graph holds constants, not the Keras variables; a generator trained further or
        given new weights after the Predictor was built would otherwise be served stale. Costs one hash
        of the weights (milliseconds); returns whether it rebuilt.
        """
        if not self.folded:
            return False
        fingerprint = weights_fingerprint(self.generator)
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        self._run = self._build()
        return True

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        lr = np.asarray(lr, dtype=np.float32)
        if lr.ndim == 3:
            return self._run(tf.convert_to_tensor(lr[None])).numpy()[0]
        return self._run(tf.convert_to_tensor(lr)).numpy()


def to_uint8(image01: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8 with rounding (the protocol's quantisation of SR output)."""
    return np.clip(np.round(np.asarray(image01, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)

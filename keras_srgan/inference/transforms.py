"""Inference speed-ups as transforms of one Keras model: each takes a generator, returns an equivalent model.

Why transforms, not a second hand-written forward pass: every engine and export runs the same graph, and
the network stays defined once (``models.generator``), rewritten here with ``keras.models.clone_model``.
``inference_model`` chains the exact ones: the model every engine compiles.
"""

from __future__ import annotations

import itertools

import numpy as np

# Bumped when a transform changes its output graph: it is part of the OpenVINO cache key.
TRANSFORMS_VERSION = 4  # 4: functional generators; the cache records the model's radii


def _keras():
    import keras

    return keras


def _functional(model):
    """``model`` if functional; another Keras model wrapped whole (no transform sees inside it)."""
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise TypeError(f"cannot transform {type(model).__name__}: need a Keras model")
    if hasattr(model, "_run_through_graph"):
        return model
    inputs = keras.Input((None, None, 3), name="lr")
    return keras.Model(inputs, model(inputs, training=False), name=f"{model.name}_functional")


def _call_fresh(layer, args, kwargs, config: dict | None = None, weights: list | None = None):
    """A new layer like ``layer`` (or from ``config``) called on ``args``, with its (or these) weights."""
    new = layer.__class__.from_config(dict(layer.get_config() if config is None else config))
    values = layer.get_weights() if weights is None else weights
    out = new(*args, **kwargs)
    if values:
        new.set_weights(values)
    return out


def _calls(model) -> tuple[list[tuple[object, list[int], list[int]]], list[int], list[int]]:
    """(every layer call in order as (layer, input tensor ids, output tensor ids), input ids, output ids)."""
    keras = _keras()
    calls = []

    def record(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        inputs = [id(t) for t in keras.tree.flatten((args, kwargs)) if hasattr(t, "shape")]
        calls.append((layer, inputs, [id(t) for t in keras.tree.flatten(out)]))
        return out

    clone = keras.models.clone_model(
        _functional(model), clone_function=lambda layer: layer, call_function=record
    )
    return calls, [id(t) for t in clone.inputs], [id(t) for t in clone.outputs]


def _graph(model) -> dict:
    """``consumers`` and ``inputs_of`` (layer id -> ids of the layers fed by / feeding it), ``layers``."""
    calls, _, _ = _calls(model)
    producer = {t: id(layer) for layer, _, outs in calls for t in outs}
    graph = {"consumers": {}, "inputs_of": {}, "layers": {id(x): x for x in model.layers}}
    for layer, ins, _ in calls:
        sources = graph["inputs_of"][id(layer)] = [producer[t] for t in ins if t in producer]
        for source in sources:
            graph["consumers"].setdefault(source, []).append(id(layer))
    return graph


def _single(graph: dict, key: str, layer) -> object | None:
    """The one layer that consumes (``key="consumers"``) or feeds (``"inputs_of"``) ``layer``, else None."""
    ids = graph[key].get(id(layer), [])
    return graph["layers"].get(ids[0]) if len(ids) == 1 else None


def _context(layer) -> tuple[int, int]:
    """(pixels of context on each side, resolution factor) of one layer: what ``receptive_radius`` walks."""
    keras = _keras()
    from keras_srgan.models.layers import FixedBlur, PixelShuffle, UnitClip

    pointwise = (
        keras.layers.InputLayer, keras.layers.PReLU, keras.layers.ReLU, keras.layers.LeakyReLU,
        keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.Rescaling, keras.layers.Add, UnitClip,
    )  # fmt: skip
    if isinstance(layer, pointwise):
        return 0, 1
    if isinstance(layer, PixelShuffle):
        return 0, layer.factor
    if isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest":
        return 0, int(layer.size[0])
    if isinstance(layer, FixedBlur):
        return len(FixedBlur.TAPS) // 2, 1
    if isinstance(layer, keras.layers.Conv2D) and _movable_conv(layer):
        return layer.kernel_size[0] // 2, 1
    if isinstance(layer, keras.layers.DepthwiseConv2D) and tuple(layer.kernel_size) == (1, 1):
        return 0, 1
    raise ValueError(f"receptive_radius: no rule for layer {layer.name!r} ({type(layer).__name__})")


def receptive_radius(model) -> int:
    """Input pixels of context a model needs on each side for exact outputs (so tiles this far apart are
    exact for any weights): each output phase's interval walked back through every layer (``_context``,
    branches take the union); 40 for the 16-block x4 SRResNet, 37 for its body and 3 for its tail.
    """
    calls, inputs, outputs = _calls(model)
    factor = {t: 1 for t in inputs}
    for layer, ins, outs in calls:
        scale = max(factor[t] for t in ins) * _context(layer)[1]
        factor.update(dict.fromkeys(outs, scale))
    radius = 0
    for phase in range(max(factor[t] for t in outputs)):
        span = dict.fromkeys(outputs, (phase, phase))
        for layer, ins, outs in reversed(calls):
            reached = [span[t] for t in outs if t in span]
            if not reached:
                continue
            pad, up = _context(layer)
            lo, hi = min(r[0] for r in reached) - pad, max(r[1] for r in reached) + pad
            lo, hi = lo // up, hi // up
            for t in ins:
                old = span.get(t, (lo, hi))
                span[t] = (min(old[0], lo), max(old[1], hi))
        radius = max([radius] + [max(-span[t][0], span[t][1]) for t in inputs if t in span])
    return radius


def _rewrite(model, rule):
    """A copy of ``model`` in which ``rule(layer, args, kwargs, graph)`` may replace a layer call's output
    (None: the layer is copied as is)."""
    keras = _keras()
    model = _functional(model)
    graph = _graph(model)

    def call(layer, *args, **kwargs):
        out = rule(layer, args, kwargs, graph)
        return _call_fresh(layer, args, kwargs) if out is None else out

    return keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)


def _foldable(conv, bn, graph) -> bool:
    keras = _keras()
    return (
        type(conv) is keras.layers.Conv2D
        and isinstance(bn, keras.layers.BatchNormalization)
        and bn.axis in (-1, 3, [-1], [3])
        and conv.get_config().get("activation") == "linear"
        and _single(graph, "consumers", conv) is bn
    )


def fold_batchnorm(generator):
    """Every ``Conv2D -> BatchNormalization`` pair as one conv (inference BN is a per-channel affine map,
    ``s = gamma / sqrt(var + eps)``): exact up to rounding, 33 passes over the activations fewer."""

    def rule(layer, args, kwargs, graph):
        keras = _keras()
        if isinstance(layer, keras.layers.BatchNormalization):
            if _foldable(_single(graph, "inputs_of", layer), layer, graph):
                return args[0]  # already applied by the folded conv
        bn = _single(graph, "consumers", layer)
        if not _foldable(layer, bn, graph):
            return None
        kernel = np.asarray(layer.kernel.numpy(), np.float64)
        bias = np.asarray(layer.bias.numpy(), np.float64) if layer.use_bias else np.zeros(kernel.shape[-1])
        values = {w.path.rsplit("/", 1)[-1]: np.asarray(w.numpy(), np.float64) for w in bn.weights}
        scale = values.get("gamma", 1.0) / np.sqrt(values["moving_variance"] + bn.epsilon)
        shift = values.get("beta", 0.0) - values["moving_mean"] * scale
        config = {**layer.get_config(), "use_bias": True}
        weights = [(kernel * scale).astype(np.float32), (bias * scale + shift).astype(np.float32)]
        return _call_fresh(layer, args, kwargs, config, weights)

    return _rewrite(generator, rule)


def subpixel_conv(kernel: np.ndarray, bias: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite "depth_to_space(f), then a k x k conv" as "a (2R+1)^2 conv, then depth_to_space" (R = ceil(r
    / f), k = 2r + 1; the same sums, zero padding included): kernel [k, k, C, K] -> [2R+1, 2R+1, f*f*C,
    f*f*K] in depth_to_space order (channel ``(dy * f + dx) * C + c``)."""
    k, k2, c_in, c_out = kernel.shape
    if k != k2 or k % 2 == 0:
        raise ValueError(f"need a square odd kernel, got {kernel.shape[:2]}")
    f = int(factor)
    r = k // 2
    big_r = -(-r // f)
    out = np.zeros((2 * big_r + 1, 2 * big_r + 1, f * f * c_in, f * f * c_out), np.float64)
    span, sub = range(-big_r, big_r + 1), range(f)
    for m, n, dy, dx, ey, ex in itertools.product(span, span, sub, sub, sub, sub):
        u, v = f * m + dy - ey, f * n + dx - ex
        if abs(u) <= r and abs(v) <= r:
            src, dst = (dy * f + dx) * c_in, (ey * f + ex) * c_out
            out[m + big_r, n + big_r, src : src + c_in, dst : dst + c_out] = kernel[u + r, v + r]
    return out.astype(np.float32), np.tile(np.asarray(bias, np.float32), f * f)


def _movable_conv(layer) -> bool:
    keras = _keras()
    if type(layer) is not keras.layers.Conv2D:
        return False
    cfg = layer.get_config()
    k = tuple(cfg["kernel_size"])
    return (
        k[0] == k[1]
        and k[0] % 2 == 1
        and tuple(cfg["strides"]) == (1, 1)
        and tuple(cfg["dilation_rate"]) == (1, 1)
        and cfg.get("groups", 1) == 1
        and cfg["padding"] == "same"
    )


def _shared_prelu(layer) -> bool:
    keras = _keras()
    return isinstance(layer, keras.layers.PReLU) and sorted(layer.shared_axes or []) == [1, 2]


def subpixel_output(generator, required: bool = True):
    """The last "pixel shuffle -> [PReLU] -> conv" as "[PReLU] -> conv -> pixel shuffle" (``subpixel_conv``):
    a 9x9 conv with 3 outputs at 4x runs at a fraction of library speed, a 5x5 one with 12 at 2x does not.
    Without the pattern: ValueError if ``required``, else unchanged."""
    from keras_srgan.models.layers import PixelShuffle

    model = _functional(generator)
    graph = _graph(model)
    plan: dict[int, str] = {}
    for layer in model.layers:
        if not isinstance(layer, PixelShuffle):
            continue
        nxt = _single(graph, "consumers", layer)
        prelu = nxt if _shared_prelu(nxt) else None
        conv = _single(graph, "consumers", prelu) if prelu is not None else nxt
        if conv is not None and _movable_conv(conv):
            plan = {id(layer): "skip", id(conv): "conv", id(prelu): "prelu"}  # id(None) is no layer's
            factor = layer.factor
    if not plan:
        if not required:
            return model
        raise ValueError("subpixel_output: no 'pixel shuffle -> [PReLU] -> conv' in the model")

    def rule(layer, args, kwargs, graph):
        action = plan.get(id(layer))
        if action == "skip":
            return args[0]
        if action == "prelu":
            alpha = np.tile(np.asarray(layer.alpha.numpy(), np.float32), (1, 1, factor * factor))
            return _call_fresh(layer, args, kwargs, weights=[alpha])
        if action == "conv":
            kernel = np.asarray(layer.kernel.numpy(), np.float64)
            bias = layer.bias.numpy() if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
            w, b = subpixel_conv(kernel, bias, factor)
            shape = {"filters": w.shape[-1], "kernel_size": w.shape[:2], "use_bias": True}
            config = {**layer.get_config(), **shape, "name": f"{layer.name}_subpixel"}
            y = _call_fresh(layer, args, kwargs, config, [w, b])
            return PixelShuffle(factor, dtype=layer.dtype_policy, name=f"{layer.name}_shuffle")(y)
        return None

    return _rewrite(model, rule)


def mixed_bfloat16(model):
    """Convs, PReLUs and pixel shuffles in bfloat16, except the head and body conv; the adds (residual
    stream) keep float32, so rounding stays per block instead of accumulating over 16 blocks."""
    keras = _keras()
    from keras_srgan.models.layers import PixelShuffle

    kinds = (keras.layers.Conv2D, keras.layers.PReLU, PixelShuffle)

    def rule(layer, args, kwargs, graph):
        if isinstance(layer, kinds) and not layer.name.startswith(("head_", "body_")):
            return _call_fresh(layer, args, kwargs, {**layer.get_config(), "dtype": "mixed_bfloat16"})
        return None

    return _rewrite(model, rule)


def nearest_as_shuffle(model):
    """Every nearest upsampling as a fixed 1x1 copy conv and a pixel shuffle (the same values): LiteRT's
    XNNPACK runs those, not the TILE a nearest resize converts to."""
    keras = _keras()
    from keras_srgan.models.layers import PixelShuffle

    def rule(layer, args, kwargs, graph):
        if not (isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest"):
            return None
        s, channels = int(layer.size[0]), int(args[0].shape[-1])
        # depth_to_space puts channel k * C + c at sub-pixel k of channel c
        kernel = np.tile(np.eye(channels, dtype=np.float32), (1, s * s))[None, None]
        policy, name = layer.dtype_policy, layer.name
        conv = keras.layers.Conv2D(
            s * s * channels, 1, padding="same", use_bias=False, dtype=policy, name=f"{name}_conv"
        )
        y = conv(args[0])
        conv.set_weights([kernel])
        return PixelShuffle(s, dtype=policy, name=f"{name}_shuffle")(y)

    return _rewrite(model, rule)


def prelu_for_int8(model, leak: float = 0.125):
    """Every PReLU as ``A x + B leaky_relu(x, leak)`` (per-channel 1x1 depthwise gains; exact in float):
    XNNPACK has no int8 PRELU but runs these in int8 (399 -> 143 ms, docs/mobile.md)."""
    keras = _keras()

    def rule(layer, args, kwargs, graph):
        if not _shared_prelu(layer):
            return None
        alpha = np.asarray(layer.alpha.numpy(), np.float64).reshape(1, 1, -1, 1)
        x = args[0]
        policy = layer.dtype_policy
        leaky = keras.layers.LeakyReLU(negative_slope=leak, dtype=policy, name=f"{layer.name}_leaky")(x)
        out = []
        for source, gain, part in (
            (x, (alpha - leak) / (1 - leak), "x"),
            (leaky, (1 - alpha) / (1 - leak), "leaky"),
        ):
            conv = keras.layers.DepthwiseConv2D(
                1, use_bias=False, dtype=policy, name=f"{layer.name}_{part}_gain"
            )
            out.append(conv(source))
            conv.set_weights([gain.astype(np.float32)])
        return keras.layers.Add(dtype=policy, name=f"{layer.name}_sum")(out)

    return _rewrite(model, rule)


def without_clip(model):
    """The model without its ``UnitClip`` (the int8 LiteRT file clips by its output's quantized range)."""
    from keras_srgan.models.layers import UnitClip

    return _rewrite(
        model, lambda layer, args, kwargs, graph: args[0] if isinstance(layer, UnitClip) else None
    )


def with_clip(model):
    """``model`` followed by ``clip(y, 0, 1)`` in float32."""
    keras = _keras()
    model = _functional(model)
    x = keras.layers.ReLU(max_value=1.0, dtype="float32", name="clip_unit")(model.output)
    return keras.Model(model.input, x, name=f"{model.name}_unit")


def inference_model(generator):
    """LR [0, 1] -> SR [0, 1]: the generator with the speed-up transforms applied (the model every engine runs)."""
    return with_clip(subpixel_output(fold_batchnorm(generator), required=False))


def split_body_tail(model, at: str = "body_add"):
    """(body, tail) with ``tail(body(x)) == model(x)``: ``model`` cut after layer ``at``, after which it
    must be a chain (as the SRResNet upsampling tail is), else ValueError."""
    keras = _keras()
    cut = model.get_layer(at)
    graph = _graph(model)
    consumers, inputs_of = graph["consumers"], graph["inputs_of"]
    order = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    after = order[order.index(cut) + 1 :]
    previous = cut
    for layer in after:
        if inputs_of.get(id(layer)) != [id(previous)] or consumers.get(id(previous)) != [id(layer)]:
            raise ValueError(f"split_body_tail: the model after {at!r} is not a chain (at {layer.name!r})")
        previous = layer
    body = keras.Model(model.input, cut.output, name=f"{model.name}_body")
    features = keras.Input(tuple(cut.output.shape[1:]), name="features")
    x = features
    for layer in after:
        x = layer(x)
    return body, keras.Model(features, x, name=f"{model.name}_tail")


def parts(model) -> dict:
    """``{"full": model}`` plus its ``body`` and ``tail`` halves when it has SRResNet's ``body_add``."""
    found = {"full": model}
    if any(layer.name == "body_add" for layer in _functional(model).layers):
        found["body"], found["tail"] = split_body_tail(model)
    return found


def radii(found: dict) -> dict:
    """``{"radius": r, "stage_radii": [body, tail] or None}`` of ``parts`` (r None: a layer without rule)."""
    try:
        radius = receptive_radius(found["full"])
    except ValueError:
        radius = None
    stages = [receptive_radius(found[p]) for p in ("body", "tail")] if "body" in found else None
    return {"radius": radius, "stage_radii": stages}


def count_layers(model, kind: str) -> int:
    """How many layers of class name ``kind`` the model has (for tests and reports)."""
    return sum(type(layer).__name__ == kind for layer in model.layers)

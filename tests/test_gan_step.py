"""The GAN step against hand computations: alternating order, the adversarial term, the learning rate
Adam used, float32 losses under mixed precision, fp16 joint skipping, the discriminator's layout."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import smooth_image
from old_contract import discriminator_m11, generator_tanh

from keras_srgan.losses import ContentLoss, adversarial_losses
from keras_srgan.models import build_discriminator, build_generator
from keras_srgan.train.config import TrainConfig
from keras_srgan.train.srgan_model import SRGAN
from keras_srgan.train.trainer import POLICIES, LearningRates, build_model, learning_rate_at

SIZE = 32
G_CONFIG = {"scale": 4, "num_blocks": 1, "filters": 8}
D_CONFIG = {"input_size": SIZE, "filters": 8, "dense_units": 16}
HAND_TOL = 2e-6  # train_step vs the hand computation: measured <= 9.6e-7 (weights of order 1)


def _batch(n: int = 4, seed: int = 0) -> tf.Tensor:
    # 4 images, not 2: D's last BatchNorms see 2x2 maps, and with 2 images their batch variance is so small
    # that float noise (oneDNN's threaded sums) grew to 5e-4 in G's hand-checked update; with 4, <= 1e-6
    return tf.constant(np.stack([smooth_image(SIZE, SIZE, seed=seed + i) for i in range(n)]))


def _copy(model: keras.Model, build, config: dict) -> keras.Model:
    clone = build(**config)
    clone.set_weights(model.get_weights())
    return clone


def _gan(adv_weight: float, gan_update: str, lr: float = 0.05, seed: int = 1) -> SRGAN:
    keras.utils.set_random_seed(seed)
    model = SRGAN(
        build_generator(**G_CONFIG),
        build_discriminator(**D_CONFIG),
        content_loss=ContentLoss("mse"),
        adv_weight=adv_weight,
        gan_update=gan_update,
    )
    # plain SGD: an update is exactly -lr * gradient, so it can be computed by hand
    model.compile(g_optimizer=keras.optimizers.SGD(lr), d_optimizer=keras.optimizers.SGD(lr))
    return model


def _hand_g_update(model: SRGAN, batch, adv_weight: float, d_first: bool, lr: float = 0.05) -> list:
    """G's weights after one step, computed with copies of the nets and plain tapes (no train_step).

    Written in the old contract (tanh output, D and the pixel MSE on [-1, 1]; ``old_contract``), so it
    also pins that the [0, 1] contract left every update unchanged.
    """
    g = _copy(model.generator, build_generator, G_CONFIG)
    d = _copy(model.discriminator, build_discriminator, D_CONFIG)
    low, hr = model.make_pair(batch, add_noise=False)
    hr = hr * 2.0 - 1.0
    sr = generator_tanh(g, low, training=True)
    if d_first:  # the paper's order: D's SGD step on (HR, SR) first
        with tf.GradientTape() as tape:
            real = discriminator_m11(d, hr, training=True)
            fake = discriminator_m11(d, tf.stop_gradient(sr), training=True)
            d_loss = -tf.reduce_mean(tf.math.log_sigmoid(real)) - tf.reduce_mean(tf.math.log_sigmoid(-fake))
        for var, grad in zip(
            d.trainable_variables, tape.gradient(d_loss, d.trainable_variables), strict=True
        ):
            var.assign_sub(lr * grad)
    with tf.GradientTape() as tape:
        sr = generator_tanh(g, low, training=True)
        g_loss = tf.reduce_mean(tf.square(hr - sr))
        if adv_weight:
            g_loss += adv_weight * -tf.reduce_mean(
                tf.math.log_sigmoid(discriminator_m11(d, sr, training=True))
            )
    grads = tape.gradient(g_loss, g.trainable_variables)
    return [(v - lr * gr).numpy() for v, gr in zip(g.trainable_variables, grads, strict=True)]


def _max_diff(a: list, b: list) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("gan_update, against_updated_d", [("alternating", True), ("simultaneous", False)])
def test_g_update_is_against_the_d_its_mode_says(gan_update, against_updated_d):
    """Alternating (the paper): G's step uses the D that was just updated; simultaneous: the old D."""
    adv = 0.5  # large, so the D update's effect on G's gradient stands far above float noise
    model = _gan(adv, gan_update)
    batch = _batch()
    expected = _hand_g_update(model, batch, adv, d_first=against_updated_d)
    other = _hand_g_update(model, batch, adv, d_first=not against_updated_d)
    model.train_step(batch)
    actual = [v.numpy() for v in model.generator.trainable_variables]
    # measured up to 9.1e-7 over three seeds (float32 reassociation); the two hand versions differ by 0.2-0.6
    assert _max_diff(actual, expected) < HAND_TOL
    assert _max_diff(actual, other) > 100 * HAND_TOL


@pytest.mark.parametrize("gan_update", ["alternating", "simultaneous"])
def test_adversarial_weight_zero_is_the_content_only_update(gan_update):
    batch = _batch(seed=3)
    model = _gan(0.0, gan_update)
    content_only = _hand_g_update(model, batch, 0.0, d_first=False)
    model.train_step(batch)
    zero = [v.numpy() for v in model.generator.trainable_variables]
    with_adv = _gan(1e-3, gan_update)
    with_adv.train_step(batch)
    paper = [v.numpy() for v in with_adv.generator.trainable_variables]
    assert _max_diff(zero, content_only) < HAND_TOL
    assert _max_diff(paper, content_only) > 1e-6  # the 1e-3 adversarial term moves G


def test_relativistic_losses_match_their_formula():
    real = tf.constant([[2.0], [0.5], [1.0]])
    fake = tf.constant([[-1.0], [0.3], [0.0]])
    d_loss, g_adv = adversarial_losses(real, fake, "relativistic")
    r, f = real.numpy().ravel(), fake.numpy().ravel()

    def log_sig(x):
        return -np.log1p(np.exp(-x))

    real_rel, fake_rel = r - f.mean(), f - r.mean()
    expected_d = -(log_sig(real_rel).mean() + log_sig(-fake_rel).mean()) / 2
    expected_g = -(log_sig(-real_rel).mean() + log_sig(fake_rel).mean()) / 2
    assert abs(float(d_loss) - expected_d) < 1e-6 and abs(float(g_adv) - expected_g) < 1e-6


def _adam_update(weights, grads, m, v, iterations, lr, beta_1=0.9, beta_2=0.999, eps=1e-7):
    """Adam as Keras documents it, in numpy (bias correction folded into the step size)."""
    t = iterations + 1
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    out = []
    for w, g, m_i, v_i in zip(weights, grads, m, v, strict=True):
        m_i = m_i + (g - m_i) * (1 - beta_1)
        v_i = v_i + (g * g - v_i) * (1 - beta_2)
        out.append(w - alpha * m_i / (np.sqrt(v_i) + eps))
    return out


def _bias_before_bn(variable) -> bool:
    return variable.path.endswith(("conv1/bias", "conv2/bias", "body_conv/bias"))


def test_adam_uses_the_scheduled_rate_of_the_training_step():
    cfg = TrainConfig(data=["x"], lr=1e-2, lr_drop_steps=[2], lr_drop_factor=0.1, **G_CONFIG, patch_size=SIZE)
    assert [learning_rate_at(cfg, s) for s in (1, 2, 3, 4)] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3])
    keras.utils.set_random_seed(2)
    model = build_model(cfg)
    rates = LearningRates(cfg, model)
    for step in (1, 2):
        rates.set_for(step)
        model.train_step(_batch(seed=step))
    assert rates.set_for(3) == pytest.approx(1e-3)
    opt = model.g_optimizer
    g_vars = model.generator.trainable_variables
    weights = [v.numpy() for v in g_vars]
    m = [opt.variables[opt._get_variable_index(v) * 2 + 2].numpy() for v in g_vars]  # noqa: SLF001
    v_ = [opt.variables[opt._get_variable_index(v) * 2 + 3].numpy() for v in g_vars]  # noqa: SLF001
    batch = _batch(seed=3)
    g = _copy(model.generator, build_generator, G_CONFIG)
    low, hr = model.make_pair(batch, add_noise=False)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(hr * 2.0 - 1.0 - generator_tanh(g, low, training=True)))
    grads = [gr.numpy() for gr in tape.gradient(loss, g.trainable_variables)]
    iterations = int(opt.iterations)
    model.train_step(batch)
    actual = [x.numpy() for x in g_vars]
    dropped = _adam_update(weights, grads, m, v_, iterations, 1e-3)
    undropped = _adam_update(weights, grads, m, v_, iterations, 1e-2)
    # The biases of convs followed by BatchNorm have a zero true gradient: what they get is float noise
    # (~1e-9) that Adam normalises into steps of up to the learning rate, so the hand computation (the old
    # [-1, 1] contract, rounded differently) can only bound them by the step size.
    noise = [_bias_before_bn(v) for v in g_vars]
    real = [i for i, n in enumerate(noise) if not n]
    # measured 5.6e-8 on the others (9.7e-6 on the noise biases); the un-dropped rate lands 10x as far
    assert _max_diff([actual[i] for i in real], [dropped[i] for i in real]) < 1e-7
    assert _max_diff([actual[i] for i in real], [undropped[i] for i in real]) > 1e-5
    assert _max_diff(actual, dropped) <= 2e-3


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_vgg_content_loss_computes_in_float32_under_mixed_precision(precision):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    try:
        with pytest.warns(UserWarning, match="RANDOM"):
            loss_fn = ContentLoss("vgg22", vgg_weights="random")
        dtypes = {layer.dtype_policy.compute_dtype for layer in loss_fn.features.layers}
        assert dtypes == {"float32"}
        x = tf.random.stateless_uniform((1, 16, 16, 3), seed=(1, 2))
        assert loss_fn.features(x).dtype == tf.float32
        assert loss_fn(x, tf.cast(x, keras.mixed_precision.global_policy().compute_dtype)).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_vgg54_is_block5_conv4_features_over_12_75():
    """Against keras.applications.VGG19 run directly, with the ImageNet BGR mean subtracted by hand."""
    with pytest.warns(UserWarning, match="RANDOM"):
        loss_fn = ContentLoss("vgg54", vgg_weights="random")
    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    for layer in vgg.layers:
        if layer.weights:
            layer.set_weights(loss_fn.features.get_layer(layer.name).get_weights())
    features = keras.Model(vgg.input, vgg.get_layer("block5_conv4").output)
    rng = np.random.default_rng(0)
    hr, sr = (rng.uniform(0, 1, (2, 32, 32, 3)).astype(np.float32) for _ in range(2))

    def by_hand(x):
        bgr = (x * 255.0)[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
        return features(bgr).numpy() / 12.75

    expected = np.mean((by_hand(hr) - by_hand(sr)) ** 2)
    assert expected > 0
    assert float(loss_fn(tf.constant(hr), tf.constant(sr))) == pytest.approx(expected, rel=1e-5)


def test_discriminator_layout_is_the_papers():
    """Fig. 4 of the paper: k3n64s1, k3n64s2, k3n128s1, k3n128s2, k3n256s1, k3n256s2, k3n512s1, k3n512s2;
    BN after all but the first conv; Dense 1024; Dense 1."""
    d = build_discriminator(96)
    expected = [(64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2)]
    layout = [(conv.filters, conv.strides[0]) for conv, _ in d.convs]
    assert layout == expected
    assert all(conv.kernel_size == (3, 3) for conv, _ in d.convs)
    assert [bn is not None for _, bn in d.convs] == [False] + [True] * 7
    assert d.dense.units == 1024 and d.logit.units == 1
    assert d.dense.kernel.shape == (6 * 6 * 512, 1024)  # 96 / 2**4 = 6
    assert float(d.act.negative_slope) == pytest.approx(0.2)


def test_fp16_skips_both_networks_and_lowers_only_the_overflowing_scale():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        cfg = TrainConfig(data=["x"], stage="gan", content_loss="mse", mixed_precision="fp16",
                          patch_size=SIZE, **G_CONFIG)  # fmt: skip
        model = build_model(cfg)
        batch = _batch()
        # one step at a small scale so both networks update normally
        for opt in (model.g_optimizer, model.d_optimizer):
            opt.dynamic_scale.assign(8.0)
        logs = model.train_step(batch)
        assert float(logs["skipped_steps"]) == 0.0
        g_before = [v.numpy() for v in model.generator.trainable_variables]
        d_before = [v.numpy() for v in model.discriminator.trainable_variables]
        # D's scaled loss overflows float16 gradients (finite scale, infinite gradients): both must skip
        model.d_optimizer.dynamic_scale.assign(3e38)
        logs = model.train_step(batch)
        assert float(logs["skipped_steps"]) == 1.0
        assert _max_diff(g_before, [v.numpy() for v in model.generator.trainable_variables]) == 0.0
        assert _max_diff(d_before, [v.numpy() for v in model.discriminator.trainable_variables]) == 0.0
        assert float(model.d_optimizer.dynamic_scale) == pytest.approx(1.5e38)
        assert float(model.g_optimizer.dynamic_scale) == 8.0
    finally:
        keras.mixed_precision.set_global_policy(previous)


def test_blur_downsample_is_a_binomial_filter_that_removes_a_period_2_grid():
    from keras_srgan.models.layers import BlurDownsample

    rng = np.random.default_rng(0)
    x = rng.random((1, 8, 10, 2)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    taps = np.array([1.0, 2.0, 1.0]) / 4.0
    expected = np.zeros((1, 4, 5, 2))
    for i in range(4):
        for j in range(5):
            window = padded[0, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
            expected[0, i, j] = np.einsum("a,b,abc->c", taps, taps, window)
    out = BlurDownsample()(x).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-6)  # measured 6e-8
    checker = np.indices((8, 8)).sum(axis=0) % 2
    grid = np.broadcast_to((0.5 + 0.25 * checker)[None, :, :, None], (1, 8, 8, 1)).astype(np.float32)
    smoothed = BlurDownsample()(grid).numpy()
    assert np.ptp(smoothed[:, 1:-1, 1:-1]) < 1e-6  # a strided conv would keep 0.25 of it
    assert build_discriminator(**D_CONFIG, downsample="blur")(np.zeros((1, SIZE, SIZE, 3))).shape == (1, 1)


def test_an_unknown_gan_update_is_refused():
    """The step branches on the name; a typo would otherwise train the alternating update without a word."""
    with pytest.raises(ValueError, match="gan_update must be one of"):
        SRGAN(build_generator("compact", num_convs=2, filters=8), build_discriminator(32), gan_update="alternate")

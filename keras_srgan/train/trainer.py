"""``fit``: a step-based, resumable training loop around ``SRGAN.train_step``.

The loop (not ``Model.fit``) owns the step counter so that checkpoints, logs, validation and
resume all speak in optimizer steps, as the paper's recipe does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import tensorflow as tf

from keras_srgan.data.degradation import Degradation
from keras_srgan.data.images import scan_images
from keras_srgan.data.pipeline import train_dataset, validation_dataset
from keras_srgan.errors import UserError
from keras_srgan.losses.content import ContentLoss
from keras_srgan.models.discriminator import build_discriminator
from keras_srgan.models.generator import build_generator
from keras_srgan.train.checkpoints import RunCheckpoints
from keras_srgan.train.config import TrainConfig
from keras_srgan.train.logs import MetricsCSV, TensorBoardLog
from keras_srgan.train.srgan_model import SRGAN
from keras_srgan.weights import generator_config, load_generator, write_generator

POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@dataclass
class FitResult:
    """What a run wrote and measured. ``history`` holds one list per logged metric, with ``step``."""

    run_dir: Path
    generator_weights: Path
    generator_config: Path
    config_path: Path
    metrics_csv: Path
    last_checkpoint: str
    final_step: int
    start_step: int
    seconds_per_step: float
    history: dict[str, list[float]] = field(default_factory=dict)


def _learning_rate(cfg: TrainConfig):
    if not cfg.lr_drop_steps:
        return cfg.lr
    values = [cfg.lr * cfg.lr_drop_factor**i for i in range(len(cfg.lr_drop_steps) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(list(cfg.lr_drop_steps), values)


def _optimizer(cfg: TrainConfig, variables):
    opt = keras.optimizers.Adam(learning_rate=_learning_rate(cfg), beta_1=cfg.beta_1)
    if cfg.mixed_precision == "fp16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    opt.build(variables)
    return opt


def _build_generator(cfg: TrainConfig):
    if not cfg.init:
        return build_generator(scale=cfg.scale, num_blocks=cfg.num_blocks, filters=cfg.filters, icnr=cfg.icnr)
    source = load_generator(cfg.init)
    model = build_generator(**generator_config(source))
    model.set_weights(source.get_weights())
    if model.scale != cfg.scale:
        raise UserError(f"{cfg.init}: generator is x{model.scale} but the run asks for x{cfg.scale}")
    return model


def _current_lr(optimizer) -> float:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = inner.learning_rate
    return float(lr(inner.iterations) if callable(lr) else lr)


def build_model(cfg: TrainConfig) -> SRGAN:
    """The SRGAN (or pre-training) model for a config, compiled, with built optimizers."""
    generator = _build_generator(cfg)
    discriminator = build_discriminator(cfg.patch_size) if cfg.stage == "gan" else None
    degradation = Degradation(
        scale=cfg.scale, kind=cfg.degradation, blur_sigma=cfg.blur_sigma, noise_sigma=cfg.noise_sigma
    )
    model = SRGAN(
        generator,
        discriminator,
        content_loss=ContentLoss(cfg.content_loss, cfg.vgg_weights),
        degradation=degradation,
        adv_weight=cfg.adv_weight,
        seed=cfg.seed,
    )
    g_opt = _optimizer(cfg, generator.trainable_variables)
    d_opt = _optimizer(cfg, discriminator.trainable_variables) if discriminator is not None else None
    model.compile(g_optimizer=g_opt, d_optimizer=d_opt)
    return model


def fit(config: TrainConfig | None = None, **overrides) -> FitResult:
    """Train (pretrain or GAN stage) as ``config`` says; resumable; returns what it wrote.

    Keyword arguments are ``TrainConfig`` fields and override ``config``.
    """
    cfg = replace(config, **overrides) if config is not None else TrainConfig(**overrides)
    run_dir = Path(cfg.out)
    has_checkpoints = RunCheckpoints.exist(run_dir)
    if has_checkpoints and not cfg.resume:
        raise UserError(
            f"{run_dir}: already holds a run's checkpoints; pass --resume to continue it or choose a new --out"
        )
    if cfg.resume and not has_checkpoints:
        raise UserError(f"{run_dir}: no checkpoint to resume from")
    records = scan_images(cfg.data, min_size=cfg.patch_size)
    run_dir.mkdir(parents=True, exist_ok=True)

    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[cfg.mixed_precision])
    try:
        return _train(cfg, run_dir, records)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train(cfg: TrainConfig, run_dir: Path, records) -> FitResult:
    strategy = tf.distribute.get_strategy()
    model = build_model(cfg)
    trackables = {"generator": model.generator, "g_optimizer": model.g_optimizer}
    if model.is_gan:
        trackables.update(discriminator=model.discriminator, d_optimizer=model.d_optimizer)
    trackables["rng_state"] = model.seed_generator.state
    checkpoints = RunCheckpoints(run_dir, keep=cfg.keep_checkpoints, **trackables)
    start_step = checkpoints.restore_latest() if cfg.resume else 0
    if start_step >= cfg.steps:
        raise UserError(
            f"{run_dir}: run is already at step {start_step} of {cfg.steps}; raise --steps to continue"
        )
    cfg.save(run_dir / "config.json")

    dataset = train_dataset(
        cfg.data, cfg.patch_size, cfg.batch_size, seed=cfg.seed + start_step, cache=cfg.cache, records=records
    )
    iterator = iter(dataset)
    val_ds = validation_dataset(cfg.val_data, cfg.val_crop) if cfg.val_data else None

    step_fn = tf.function(model.train_step, jit_compile=cfg.jit_compile)

    @tf.function
    def train_one(batch):
        return strategy.run(step_fn, args=(batch,))

    test_fn = tf.function(model.test_step)
    csv_log = MetricsCSV(run_dir, resume_step=start_step if cfg.resume else None)
    tb_log = TensorBoardLog(run_dir)
    history: dict[str, list[float]] = {}
    names = list(model.trackers)
    progbar = keras.utils.Progbar(cfg.steps, stateful_metrics=names + ["val_psnr", "lr"])
    progbar.update(start_step)

    def validate() -> dict:
        if val_ds is None:
            return {}
        model.val_psnr.reset_state()
        for hr in val_ds:
            test_fn(hr)
        return {"val_psnr": float(model.val_psnr.result())}

    def log_images(step: int) -> None:
        hr = next(iter(val_ds)) if val_ds is not None else next(iterator)
        lr, hr01 = model._pair(hr, add_noise=False)
        sr = (tf.cast(model.generator(lr, training=False), tf.float32) + 1.0) * 0.5
        tb_log.triplets(step, lr, sr, hr01)

    step = start_step
    interval_start, interval_steps, timed_steps, timed_seconds = time.perf_counter(), 0, 0, 0.0
    last_checkpoint = ""
    try:
        while step < cfg.steps:
            logs = train_one(next(iterator))
            step += 1
            interval_steps += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                values = {k: float(v) for k, v in logs.items()}
                elapsed = time.perf_counter() - interval_start
                # the first interval includes tracing; keep it out of the speed figure
                if step - interval_steps > start_step:
                    timed_steps, timed_seconds = timed_steps + interval_steps, timed_seconds + elapsed
                values["sec_per_step"] = elapsed / interval_steps
                values["lr"] = _current_lr(model.g_optimizer)
                if step % cfg.val_every == 0 or step == cfg.steps:
                    values.update(validate())
                csv_log.write(step, values)
                tb_log.scalars(step, values)
                for key, value in {"step": step, **values}.items():
                    history.setdefault(key, []).append(value)
                progbar.update(step, [(k, v) for k, v in values.items() if k in names + ["val_psnr", "lr"]])
                for tracker in model.trackers.values():
                    tracker.reset_state()
                interval_start, interval_steps = time.perf_counter(), 0
            else:
                progbar.update(step, [(k, float(v)) for k, v in logs.items()])
            if step % cfg.image_every == 0 or step == cfg.steps:
                log_images(step)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                last_checkpoint = checkpoints.save(step)
    except KeyboardInterrupt:
        last_checkpoint = checkpoints.save(step)
        tb_log.close()
        raise UserError(
            f"interrupted at step {step}; checkpoint written to {last_checkpoint}; "
            f"continue with: keras-srgan train --out {run_dir} --resume"
        ) from None
    tb_log.close()

    extra = {
        "stage": cfg.stage,
        "steps": step,
        "content_loss": cfg.content_loss,
        "trained_on": [Path(d).name for d in cfg.data],
    }
    weights_path, meta_path = write_generator(model.generator, run_dir / "generator", extra=extra)
    return FitResult(
        run_dir=run_dir,
        generator_weights=weights_path,
        generator_config=meta_path,
        config_path=run_dir / "config.json",
        metrics_csv=csv_log.path,
        last_checkpoint=last_checkpoint,
        final_step=step,
        start_step=start_step,
        seconds_per_step=timed_seconds / timed_steps if timed_steps else float("nan"),
        history=history,
    )

"""``fit``: a step-based, resumable training loop around ``SRGAN.train_step``.

The loop (not ``Model.fit``) owns the step counter so that checkpoints, logs, validation and
resume all speak in optimizer steps, as the paper's recipe does. Each step: run it, guard against
divergence, log at the log interval, validate, write images, checkpoint, stop when a signal asks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_srgan.data.degradation import build_degradation
from keras_srgan.data.images import scan_images, scan_pairs
from keras_srgan.data.pipeline import train_dataset, validation_dataset
from keras_srgan.defaults import PRECISION_ALIASES
from keras_srgan.distribute import WorkerOutput, make_strategy, synchronize_batch_norm
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.losses.content import ContentLoss
from keras_srgan.metrics import psnr_y_tf
from keras_srgan.models.discriminator import build_discriminator
from keras_srgan.models.generator import build_generator
from keras_srgan.precision import TRAINING_POLICIES, resolve_training
from keras_srgan.progress import on_terminal
from keras_srgan.settings import require_tensorflow_backend
from keras_srgan.train.checkpoints import RunCheckpoints
from keras_srgan.train.config import TrainConfig, config_changes
from keras_srgan.train.logs import MetricsCSV, TensorBoardLog, TrainLog
from keras_srgan.train.srgan_model import SKIPPED, SRGAN, STEP_SKIPPED
from keras_srgan.weights import generator_config, load_generator, write_generator

# the name tests and scripts import; older scripts still say "off" for fp32
POLICIES = {**TRAINING_POLICIES, **{old: TRAINING_POLICIES[new] for old, new in PRECISION_ALIASES.items()}}


class TrainingInterrupted(UserError):
    """SIGTERM or SIGINT stopped the run after it checkpointed the step reached; ``--resume`` continues it.
    ``exit_code`` (128 + the signal's number) is what the CLI exits with."""

    def __init__(self, message: str, step: int, exit_code: int):
        super().__init__(message)
        self.step = step
        self.exit_code = exit_code


@dataclass
class FitResult:
    """What a run wrote (``None`` paths on a non-chief worker) and measured; ``history``: one list per logged
    metric, with ``step``; ``fingerprint``: a hash of the generator's weights, to compare workers."""

    run_dir: Path
    generator_weights: Path | None
    generator_config: Path | None
    config_path: Path
    metrics_csv: Path
    last_checkpoint: str
    final_step: int
    start_step: int
    seconds_per_step: float
    history: dict[str, list[float]] = field(default_factory=dict)
    skipped_steps: int = 0
    fingerprint: str = ""
    replicas: int = 1


def learning_rate_at(cfg: TrainConfig, step: int, base: float | None = None) -> float:
    """The learning rate of 1-based training step ``step``: ``base`` (default ``cfg.lr``) times
    ``lr_drop_factor`` once for every drop step below ``step`` (``lr_drop_steps: [1000]``: steps 1..1000 use
    the base rate). Skipped steps count too, so D and G follow one schedule and bad steps never delay a drop.
    """
    drops = sum(1 for boundary in cfg.lr_drop_steps if step > boundary)
    return (cfg.lr if base is None else base) * cfg.lr_drop_factor**drops


def _optimizer(cfg: TrainConfig, variables, learning_rate: float):
    # A plain (variable) rate that the loop sets each step from learning_rate_at: Keras schedules count
    # optimizer iterations, which a skipped step does not advance.
    opt = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=cfg.beta_1)
    if cfg.mixed_precision == "fp16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    opt.build(variables)
    return opt


def run_generator(cfg: TrainConfig):
    """The run's generator: its ``init`` weights' architecture and weights, or a new one of the config's."""
    if not cfg.init:
        if cfg.arch == "compact":
            return build_generator(
                arch="compact", scale=cfg.scale, num_convs=cfg.num_blocks, filters=cfg.filters,
                upsampler=cfg.upsampler,
            )  # fmt: skip
        return build_generator(scale=cfg.scale, num_blocks=cfg.num_blocks, filters=cfg.filters, icnr=cfg.icnr)
    source = load_generator(cfg.init)
    arch = generator_config(source)
    model = build_generator(**arch)
    # the run is the init's network: config.json records it, not the defaults the flags left
    cfg.arch, cfg.num_blocks = arch.pop("arch", "srresnet"), arch.get("num_convs", arch.get("num_blocks"))
    for key in ("filters", "upsampler", "icnr"):
        if key in arch:
            setattr(cfg, key, arch[key])
    model.set_weights(source.get_weights())
    if model.scale != cfg.scale:
        raise UserError(f"{cfg.init}: generator is x{model.scale} but the run asks for x{cfg.scale}")
    return model


class LearningRates:
    """Sets both optimizers' rates for each step from the config's schedule (only when it changes)."""

    def __init__(self, cfg: TrainConfig, model: SRGAN):
        self.cfg = cfg
        self.targets = [(model.g_optimizer, cfg.lr)]
        if model.d_optimizer is not None:
            self.targets.append((model.d_optimizer, cfg.d_lr if cfg.d_lr is not None else cfg.lr))
        self.current: float | None = None

    def set_for(self, step: int) -> float:
        """Set the rates of 1-based training step ``step``; returns G's."""
        value = learning_rate_at(self.cfg, step)
        if value != self.current:
            for optimizer, base in self.targets:
                optimizer.learning_rate = learning_rate_at(self.cfg, step, base)
            self.current = value
        return value


class GeneratorEMA:
    """An exponential moving average of the generator's weights (Real-ESRGAN keeps one with decay 0.999).

    Why: the GAN stage moves G every step in answer to a moving D; the average keeps the textures and drops
    much of the step-to-step jitter. Validation and the final weights use it; the raw generator trains.
    Trainable weights are averaged, the rest (BatchNorm statistics) copied. Create it inside the strategy
    scope; ``update`` runs in cross-replica context, where assigning a mirrored variable updates all replicas.
    """

    def __init__(self, generator: keras.Model, decay: float):
        self.decay = float(decay)
        self.model = build_generator(**generator_config(generator))
        self.model.set_weights(generator.get_weights())
        trainable = {id(v) for v in generator.trainable_variables}
        pairs = zip(self.model.weights, generator.weights, strict=True)
        self._pairs = [(shadow, weight, id(weight) in trainable) for shadow, weight in pairs]
        self.update = tf.function(self._assign)

    def _assign(self) -> None:
        for shadow, weight, averaged in self._pairs:
            value = tf.convert_to_tensor(weight)
            if averaged:
                value = self.decay * tf.convert_to_tensor(shadow) + (1.0 - self.decay) * value
            shadow.assign(tf.cast(value, shadow.dtype))


def weights_fingerprint(model) -> str:
    """SHA-256 (first 16 hex digits) of all weights, in order: equal only for bit-identical models."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()[:16]


def build_model(cfg: TrainConfig) -> SRGAN:
    """The SRGAN (or pre-training) model for a config, compiled, with built optimizers; call it inside
    ``strategy.scope()`` to create distributed variables."""
    generator = run_generator(cfg)
    discriminator = None
    if cfg.stage == "gan":
        discriminator = build_discriminator(cfg.patch_size, norm=cfg.d_norm, downsample=cfg.d_downsample)
    if tf.distribute.get_strategy().num_replicas_in_sync > 1:
        synchronize_batch_norm(generator, discriminator)
    degradation = build_degradation(
        cfg.degradation, cfg.scale, cfg.blur_sigma, cfg.noise_sigma, cfg.degradation_options
    )
    model = SRGAN(
        generator,
        discriminator,
        content_loss=ContentLoss(cfg.content_loss, cfg.vgg_weights),
        degradation=degradation,
        adv_weight=cfg.adv_weight,
        seed=cfg.seed,
        gan_update=cfg.gan_update,
        adversarial=cfg.adversarial,
        fm_weight=cfg.fm_weight,
        phase_weight=cfg.phase_weight,
    )
    g_opt = _optimizer(cfg, generator.trainable_variables, learning_rate_at(cfg, 1))
    d_opt = None
    if discriminator is not None:
        d_lr = learning_rate_at(cfg, 1, cfg.d_lr if cfg.d_lr is not None else cfg.lr)
        d_opt = _optimizer(cfg, discriminator.trainable_variables, d_lr)
    model.compile(g_optimizer=g_opt, d_optimizer=d_opt)
    return model


def fit(config: TrainConfig | None = None, **overrides) -> FitResult:
    """Train (pretrain or GAN stage) as ``config`` with ``overrides`` (TrainConfig fields) says; resumable."""
    require_tensorflow_backend("training")
    cfg = replace(config, **overrides) if config is not None else TrainConfig(**overrides)
    # first: logical CPU devices and multi-worker collectives must be set up before TF initialises
    strategy = make_strategy(cfg.strategy, cfg.cpu_replicas)
    run_dir = Path(cfg.out)
    has_checkpoints = RunCheckpoints.exist(run_dir)
    if has_checkpoints and not cfg.resume:
        raise UserError(
            f"{run_dir}: already holds a run's checkpoints; pass --resume to continue it or choose a new --out"
        )
    if cfg.resume and not has_checkpoints:
        raise UserError(f"{run_dir}: no checkpoint to resume from")
    if cfg.lr_data:
        records = scan_pairs(cfg.data, cfg.lr_data, cfg.scale, min_size=cfg.patch_size)
    else:
        records = scan_images(cfg.data, min_size=cfg.patch_size)
    output = WorkerOutput(run_dir, strategy)
    try:
        output.directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{output.directory}: cannot create the run folder ({exc.strerror or exc})") from None

    cfg = replace(cfg, mixed_precision=resolve_training(cfg.mixed_precision))
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[cfg.mixed_precision])
    try:
        return _train(cfg, run_dir, records, strategy, output)
    except OSError as exc:
        # logs, config or weights could not be written (disk full, read-only folder, ...)
        where = exc.filename or output.directory
        raise UserError(
            f"{where}: cannot write ({exc.strerror or exc}); the checkpoints already written are intact"
        ) from None
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
        output.cleanup()


def _train(cfg: TrainConfig, run_dir: Path, records, strategy, output: WorkerOutput) -> FitResult:
    # The seed fixes the weight initialisation too, so runs (and replica layouts) are comparable.
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model = build_model(cfg)
        ema = GeneratorEMA(model.generator, cfg.ema_decay) if cfg.ema_decay else None
    # what validation, image logs and the final weights show: the average when there is one
    shown_generator = ema.model if ema is not None else model.generator
    # a checkpoint: step, G, its optimizer, D and its optimizer (GAN), the average, RNG state
    trackables = {"generator": model.generator, "g_optimizer": model.g_optimizer}
    if model.is_gan:
        trackables.update(discriminator=model.discriminator, d_optimizer=model.d_optimizer)
    if ema is not None:
        trackables["generator_ema"] = ema.model
    trackables["rng_state"] = model.seed_generator.state
    checkpoints = RunCheckpoints(run_dir, keep=cfg.keep_checkpoints, write_dir=output.directory, **trackables)
    start_step = checkpoints.restore_latest() if cfg.resume else 0
    if start_step >= cfg.steps:
        raise UserError(
            f"{run_dir}: run is already at step {start_step} of {cfg.steps}; raise --steps to continue"
        )
    log = TrainLog(output.directory if output.chief else None, cfg.steps)
    if cfg.resume:
        changes = config_changes(run_dir / "config.json", cfg)
        log.say(
            f"resuming {run_dir} from step {start_step} ({checkpoints.restored}); "
            + (f"changed from the saved run: {', '.join(changes)}" if changes else "settings as saved")
        )
    if output.chief:
        cfg.save(run_dir / "config.json")
    # A resumed run skips the batches its first steps used: it sees what an uninterrupted run would.
    dataset = train_dataset(
        cfg.data, cfg.patch_size, cfg.batch_size, seed=cfg.seed, cache=cfg.cache, records=records,
        skip_batches=start_step,
    )  # fmt: skip
    sample_batch = next(iter(dataset.take(1)))  # for image logs; never distributed
    if cfg.strategy != "default":
        options = tf.data.Options()
        # every worker builds the same seeded stream and keeps its share of each global batch
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = strategy.experimental_distribute_dataset(dataset.with_options(options))
    val_ds = validation_dataset(cfg.val_data, cfg.val_crop) if cfg.val_data and output.chief else None
    validation = Validation(model, shown_generator, val_ds, sample_batch)
    csv_log = MetricsCSV(output.directory, resume_step=start_step if cfg.resume else None)
    tb_log = TensorBoardLog(output.directory, resume_step=start_step if cfg.resume else None)
    guard = DivergenceGuard(cfg.max_bad_steps)
    iterator = iter(dataset)
    train_one = make_step_fn(model, strategy, True, cfg.jit_compile)
    warmup_one = None
    if model.is_gan and cfg.d_warmup_steps:
        warmup_one = make_step_fn(model, strategy, False, cfg.jit_compile)
    learning_rates = LearningRates(cfg, model)
    trackers = model.trackers
    history: dict[str, list[float]] = {}
    names = [n for n in trackers if n != SKIPPED]
    shown = [*names, "val_psnr", "lr"]
    live = output.chief and on_terminal(sys.stdout)  # elsewhere TrainLog writes plain lines
    progbar = keras.utils.Progbar(cfg.steps, stateful_metrics=shown, verbose=1 if live else 0)
    progbar.update(start_step)
    step = start_step
    interval_start, interval_steps, timed_steps, timed_seconds = time.perf_counter(), 0, 0, 0.0
    last_checkpoint = checkpoints.manager.latest_checkpoint or ""
    with StopSignals(strategy if cfg.strategy == "multiworker" else None) as stop:
        try:
            while step < cfg.steps:
                step_lr = learning_rates.set_for(step + 1)
                warming_up = warmup_one is not None and step < cfg.d_warmup_steps
                logs, skipped = (warmup_one if warming_up else train_one)(next(iterator))
                if ema is not None:
                    ema.update()
                step += 1
                interval_steps += 1
                guard.observe(step, float(skipped) > 0.5, last_checkpoint)
                if due(step, cfg.log_every, cfg.steps):
                    values = {k: local(v) for k, v in logs.items()}
                    if values[SKIPPED] >= interval_steps - 0.5:  # every step skipped: the means are empty
                        values = {SKIPPED: values[SKIPPED]}
                    elapsed = time.perf_counter() - interval_start
                    # the first interval includes tracing; keep it out of the speed figure
                    if step - interval_steps > start_step:
                        timed_steps, timed_seconds = timed_steps + interval_steps, timed_seconds + elapsed
                    values["sec_per_step"] = elapsed / interval_steps
                    values["lr"] = step_lr  # the rate this (last) step of the interval used
                    if due(step, cfg.val_every, cfg.steps):
                        values.update(validation())
                    if output.chief:
                        csv_log.write(step, values)
                        tb_log.scalars(step, values)
                        log.interval(step, values, timed=step - interval_steps > start_step)
                    for key, value in {"step": step, **values}.items():
                        history.setdefault(key, []).append(value)
                    progbar.update(step, [(k, v) for k, v in values.items() if k in shown])
                    for tracker in trackers.values():
                        tracker.reset_state()
                    interval_start, interval_steps = time.perf_counter(), 0
                else:
                    progbar.update(step, [(k, local(v)) for k, v in logs.items() if k in names])
                if output.chief and due(step, cfg.image_every, cfg.steps):
                    validation.log_images(tb_log, step)
                # During a run of bad steps the weights are those of the last good step, but a save now would
                # rotate out good checkpoints while the run may be diverging: wait for a good step.
                if due(step, cfg.checkpoint_every, cfg.steps) and guard.healthy:
                    last_checkpoint = checkpoints.save(step)
                if stop.stop_now():
                    break
        finally:
            tb_log.close()
        if checkpoints.last_saved_step != step and step != start_step and guard.healthy:
            last_checkpoint = checkpoints.save(step)
        if step < cfg.steps:
            if not output.chief:
                last_checkpoint = "written by the chief"
            if not last_checkpoint:
                message = (
                    f"interrupted at step {step}; {stop.name} came before the first checkpoint, so nothing "
                    "was saved; start the same command again"
                )
            else:
                message = (
                    f"interrupted at step {step}; {stop.name} received; checkpoint: {last_checkpoint}; "
                    f"continue with: keras-srgan train --out {run_dir} --resume"
                )
            log.say(f"error: {message}", stdout=False)
            raise TrainingInterrupted(message, step, stop.exit_code)
        extra = {
            "stage": cfg.stage,
            "steps": step,
            "content_loss": cfg.content_loss,
            "trained_on": [Path(d).name for d in cfg.data],
        }
        if cfg.lr_data:
            extra["lr_data"] = [Path(d).name for d in cfg.lr_data]
        else:
            extra["degradation"] = model.degradation.get_config()
        weights_path = meta_path = None
        if output.chief:
            weights_path, meta_path = _write_final(shown_generator, run_dir / "generator", extra)
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
            skipped_steps=guard.total,
            fingerprint=weights_fingerprint(shown_generator),
            replicas=strategy.num_replicas_in_sync,
        )


def _write_final(generator, stem: Path, extra: dict) -> tuple[Path, Path]:
    """``write_generator`` with a clear error. Free space is checked first: h5py (HDF5) can crash the process
    (segmentation fault) instead of raising when the disk fills while it closes a file."""
    needed = sum(int(np.prod(w.shape)) * 4 for w in generator.weights) + (256 << 10)
    try:
        free = shutil.disk_usage(stem.parent).free
    except OSError:
        free = needed
    if free < needed:
        raise UserError(
            f"{stem.parent}: not enough free space for the final generator weights (about {needed >> 10} KiB "
            f"needed, {free >> 10} KiB free); the run's checkpoints are intact: free some space and run "
            f"again with --resume"
        )
    try:
        return write_generator(generator, stem, extra=extra)  # leaves no temporary files when it fails
    except Exception as exc:
        reason = getattr(exc, "strerror", None) or error_reason(exc)
        raise UserError(
            f"{stem.parent}: cannot write the final generator weights ({reason}); the run's checkpoints are "
            f"intact: free some space and run again with --resume"
        ) from None


def local(value) -> float:
    """A host float from a (possibly per-replica) tensor."""
    if isinstance(value, tf.distribute.DistributedValues):
        value = tf.distribute.get_strategy().experimental_local_results(value)[0]
    return float(value)


def due(step: int, every: int, last: int) -> bool:
    """Whether an every-``every``-steps action runs after ``step`` (always after the last step)."""
    return step % every == 0 or step == last


def make_step_fn(model, strategy, update_generator: bool, jit_compile: bool):
    """batch -> (global metric results, whether this step was skipped), one ``tf.function``."""
    step_fn = tf.function(
        lambda batch: model.train_step(batch, update_generator=update_generator), jit_compile=jit_compile
    )
    trackers = model.trackers

    @tf.function
    def train_one(batch):
        out = strategy.run(step_fn, args=(batch,))
        # every replica made the same skip decision; read one
        skipped = strategy.experimental_local_results(out)[0][STEP_SKIPPED]
        # read in cross-replica context: metric variables are summed over replicas (global values)
        return {name: tracker.result() for name, tracker in trackers.items()}, skipped

    return train_one


class DivergenceGuard:
    """Counts skipped (non-finite) steps and stops the run after ``max_bad_steps`` in a row."""

    def __init__(self, max_bad_steps: int):
        self.max_bad_steps = max_bad_steps
        self.total = self.streak = self.first_bad = 0

    def observe(self, step: int, skipped: bool, last_checkpoint: str) -> None:
        if not skipped:
            self.streak, self.first_bad = 0, 0
            return
        self.total += 1
        self.streak += 1
        self.first_bad = self.first_bad or step
        if self.streak >= self.max_bad_steps:
            raise UserError(
                f"training diverged: {self.streak} consecutive steps ({self.first_bad}-{step}) had a "
                f"non-finite loss or gradient and were skipped; stopped. The last good checkpoint "
                f"is {last_checkpoint or 'none (no checkpoint was written yet)'}; try a lower --lr, "
                f"check the data, or raise --max-bad-steps"
            )

    @property
    def healthy(self) -> bool:
        """No bad step since the last good one: a checkpoint now would hold good weights."""
        return not self.streak


class Validation:
    """Y-channel PSNR of the shown generator on fixed validation crops, and LR | SR | HR image logs."""

    def __init__(self, model, generator, val_ds, sample_batch):
        self.model = model
        self.generator = generator
        self.val_ds = val_ds
        self.sample_batch = sample_batch

        @tf.function
        def psnr_sum(hr):
            _, sr, hr01 = self._lr_sr_hr(hr)
            count = tf.shape(hr)[0]
            psnr = psnr_y_tf(sr, hr01, crop_border=model.degradation.scale)
            return psnr * tf.cast(count, tf.float32), count

        self._psnr_sum = psnr_sum

    def _lr_sr_hr(self, hr):
        lr, hr01 = self.model.make_pair(hr, add_noise=False)
        return lr, tf.cast(self.generator(lr, training=False), tf.float32), hr01

    def __call__(self) -> dict:
        """``{"val_psnr": mean}`` over the validation set; empty without one."""
        if self.val_ds is None:
            return {}
        total, count = 0.0, 0
        for hr in self.val_ds:
            batch_sum, batch_count = self._psnr_sum(hr)
            total, count = total + float(batch_sum), count + int(batch_count)
        return {"val_psnr": total / count} if count else {}

    def log_images(self, tb_log, step: int) -> None:
        hr = next(iter(self.val_ds)) if self.val_ds is not None else self.sample_batch
        tb_log.triplets(step, *self._lr_sr_hr(hr))


class StopSignals:
    """SIGTERM and SIGINT while training: finish the current step, checkpoint it, then stop.

    Why: Kubernetes, Slurm, spot VMs and ``docker stop`` send SIGTERM, and its default action loses every
    step since the last checkpoint. The handler only records the signal; the loop looks between steps,
    so the checkpoint always holds a whole step. A signal the parent chose to ignore (``SIG_IGN``: a
    shell starts ``&`` jobs with SIGINT ignored) stays ignored; a second signal while stopping is only
    acknowledged, so it cannot tear the checkpoint. Handlers can only be set from the main thread. With a
    multi-worker ``strategy`` all workers stop at the same step: one all-reduce of the flags per step.
    """

    NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}

    def __init__(self, strategy=None):
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        self._any_worker = None
        if strategy is not None:

            @tf.function
            def any_worker(flag):
                per_replica = strategy.run(lambda f: tf.cast(f, tf.float32), args=(flag,))
                return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None) > 0

            self._any_worker = any_worker

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.NAMES:
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN:
                    self._previous[signum] = previous
                    signal.signal(signum, self._record)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _record(self, signum, frame) -> None:
        name = self.NAMES[signum]
        if self.received is None:
            self.received = signum
            message = f"{name}: stopping after the current step; a checkpoint will be written\n"
        else:
            message = f"{name}: already stopping; the checkpoint is being written\n"
        os.write(2, message.encode())  # no buffered I/O inside a signal handler

    def stop_now(self) -> bool:
        """Whether to stop after the step just finished (on every worker at once)."""
        if self._any_worker is None:
            return self.received is not None
        return bool(self._any_worker(tf.constant(self.received is not None)))

    @property
    def name(self) -> str:
        return self.NAMES.get(self.received, "another worker's signal")

    @property
    def exit_code(self) -> int:
        """128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports a killed job."""
        return 128 + (self.received or signal.SIGTERM)


"""Training configuration: the paper's recipe as defaults, every deviation a named field."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from keras_srgan.data.degradation import RealDegradation, build_degradation
from keras_srgan.defaults import TRAINING_PRECISIONS
from keras_srgan.distribute import STRATEGIES
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.files import write_atomic_text
from keras_srgan.losses.content import ADVERSARIAL_KINDS
from keras_srgan.models.discriminator import DOWNSAMPLES, NORMS
from keras_srgan.models.generator import ARCHS, UPSAMPLERS
from keras_srgan.precision import normalise as normalise_precision
from keras_srgan.train.srgan_model import GAN_UPDATES

STAGES = ("pretrain", "gan")
DEGRADATIONS = ("bicubic", "gaussian", "real")
# The paper: 10^6 MSE updates for SRResNet; 2 x 10^5 GAN updates, lr 1e-4 dropped to 1e-5 halfway.
PAPER_STEPS = {"pretrain": 1_000_000, "gan": 200_000}


@dataclass
class TrainConfig:
    data: list[str] = field(default_factory=list)
    out: str = "runs/srgan"
    stage: str = "pretrain"
    steps: int | None = None  # None: the paper's count for the stage
    # generator weights to start from: a pretrain run folder, a .weights.h5 file or a shipped name
    init: str | None = None
    content_loss: str | None = None  # None: "mse" for pretrain, "vgg54" for gan
    vgg_weights: str = "imagenet"
    adv_weight: float = 1e-3
    batch_size: int = 16
    patch_size: int = 96
    scale: int = 4
    lr: float = 1e-4
    # lr is multiplied by lr_drop_factor at each of these steps. None: halfway for gan (the paper's 10^5 of
    # 2x10^5), never for pretrain
    lr_drop_steps: list[int] | None = None
    lr_drop_factor: float = 0.1
    beta_1: float = 0.9
    # GAN stage. The paper: D step, then G step against the updated D; BCE; BN in D; no weight average.
    gan_update: str = "alternating"  # or "simultaneous": both gradients from one pass (one D forward less)
    adversarial: str = "standard"  # or "relativistic" (ESRGAN's relativistic average D)
    d_norm: str = "batch"  # or "spectral": spectral normalisation instead of BN in D
    d_downsample: str = "stride"  # or "blur": antialiased downsampling in D (no aliased, periodic gradients)
    d_lr: float | None = None  # None: the same as lr (the schedule's drops apply to both)
    d_warmup_steps: int = 0  # first steps of the stage train D alone
    fm_weight: float = 0.0  # weight of an L1 match of D's conv features of SR and HR (0: off)
    phase_weight: float = 0.0  # extra weight of the per-phase mean error, the periodic grid (0: off)
    ema_decay: float = 0.0  # exponential moving average of G's weights (0: off; Real-ESRGAN: 0.999)
    # generator: "srresnet" (num_blocks residual blocks, icnr) or "compact" (CompactSR: num_blocks plain
    # convs at LR resolution, and an upsampler)
    arch: str = "srresnet"
    upsampler: str = "shuffle_residual"  # compact only: shuffle_residual | shuffle_blur | nearest_conv
    num_blocks: int = 16
    filters: int = 64
    icnr: bool = True
    # "bicubic", "gaussian", or "real" (blur, resize, noise, JPEG: keras_srgan/data/degradation.py)
    degradation: str = "bicubic"
    blur_sigma: float = 1.6
    noise_sigma: float = 0.0
    # knobs of the "real" preset that differ from its defaults (RealDegradation field -> value)
    degradation_options: dict = field(default_factory=dict)
    # paired data: folders of LR images, one per --data folder, matched to the HR files by name; the
    # step then uses these LR images instead of degrading (validation still uses the degradation)
    lr_data: list[str] = field(default_factory=list)
    val_data: list[str] = field(default_factory=list)
    val_crop: int = 192
    val_every: int = 1000
    log_every: int = 100
    image_every: int = 1000
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    # auto: bf16 on a CPU-only machine with native bf16 (measured 1.29x pretrain, 1.66x GAN, no PSNR cost;
    # docs/performance.md), else off. fit() resolves it and the run's config.json records the result.
    mixed_precision: str = "auto"
    jit_compile: bool = False
    cache: bool | None = None
    seed: int = 0
    resume: bool = False
    # training stops (keeping the last good checkpoint) after this many consecutive steps whose loss or
    # gradients were NaN/Inf; each such step is skipped without updating anything
    max_bad_steps: int = 20
    strategy: str = "default"  # "default" (one device), "mirrored" or "multiworker" (see docs/distributed.md)
    cpu_replicas: int | None = None  # logical CPU devices for "mirrored" without GPUs (None: env or 2)

    def __post_init__(self):
        for name in ("data", "val_data", "lr_data"):
            value = getattr(self, name) or []
            value = [value] if isinstance(value, (str, os.PathLike)) else value
            setattr(self, name, [str(d) for d in value])
        self.degradation_options = dict(self.degradation_options or {})
        precision = normalise_precision(self.mixed_precision, TRAINING_PRECISIONS, "mixed_precision")
        self.mixed_precision = precision
        choices = {
            "stage": STAGES,
            "strategy": STRATEGIES,
            "arch": ARCHS,
            "upsampler": UPSAMPLERS,
            "gan_update": GAN_UPDATES,
            "adversarial": ADVERSARIAL_KINDS,
            "d_norm": NORMS,
            "d_downsample": DOWNSAMPLES,
            "degradation": DEGRADATIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise UserError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("fm_weight", "phase_weight"):
            if getattr(self, name) < 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UserError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.max_bad_steps < 1:
            raise UserError(f"max_bad_steps must be at least 1, got {self.max_bad_steps}")
        if self.steps is None:
            self.steps = PAPER_STEPS[self.stage]
        if self.content_loss is None:
            self.content_loss = "mse" if self.stage == "pretrain" else "vgg54"
        if self.lr_drop_steps is None:
            self.lr_drop_steps = [self.steps // 2] if self.stage == "gan" else []
        if self.steps <= 0:
            raise UserError(f"steps must be positive, got {self.steps}")
        if self.patch_size % self.scale:
            raise UserError(f"patch_size {self.patch_size} is not a multiple of scale {self.scale}")
        if not self.data:
            raise UserError("no training data folders given (--data DIR [DIR ...])")
        if self.lr_data and len(self.lr_data) != len(self.data):
            raise UserError(
                f"--lr-data needs one LR folder per --data folder, in the same order "
                f"(got {len(self.data)} HR and {len(self.lr_data)} LR folders)"
            )
        # the degradation is built once here, so a bad kind or knob fails with one line naming it
        if self.degradation == "real":
            unknown = set(self.degradation_options) - set(RealDegradation.knobs())
            if unknown:
                raise UserError(
                    f"unknown degradation option(s) {', '.join(sorted(unknown))}; the real preset's knobs are "
                    f"{', '.join(RealDegradation.knobs())}"
                )
            if self.jit_compile:
                raise UserError(
                    "--degradation real cannot run under --jit-compile: its JPEG step is a host-only TensorFlow "
                    "op and its random resize sizes are dynamic; drop --jit-compile"
                )
        try:
            build_degradation(
                self.degradation, self.scale, self.blur_sigma, self.noise_sigma, self.degradation_options
            )
        except (TypeError, ValueError) as exc:
            raise UserError(f"degradation {self.degradation!r}: {exc}") from None

    def save(self, path: str | os.PathLike) -> None:
        write_atomic_text(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides) -> TrainConfig:
        """Load a JSON or YAML recipe; ``overrides`` (non-None values) win over the file."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise UserError(f"{path}: cannot read config ({exc.strerror or exc})") from None
        try:
            if path.suffix in (".yaml", ".yml"):
                import yaml

                values = yaml.safe_load(text) or {}
            else:
                values = json.loads(text)
        except Exception as exc:
            raise UserError(f"{path}: not a valid config ({error_reason(exc)})") from None
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise UserError(f"{path}: unknown config keys: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def config_changes(saved: str | os.PathLike, config: TrainConfig) -> list[str]:
    """``key: saved -> now`` for each setting (not ``resume``) that differs from a run's saved ``config.json``
    (an unreadable one: none): ``--resume`` with flags continues a run under changed settings."""
    try:
        before = json.loads(Path(saved).read_text())
    except (OSError, ValueError):
        return []
    return [
        f"{key}: {before[key]!r} -> {value!r}"
        for key, value in asdict(config).items()
        if key != "resume" and key in before and before[key] != value
    ]

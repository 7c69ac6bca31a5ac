"""``keras-srgan`` command line: per subcommand an ``add_<command>`` (argparse only; no numpy or TensorFlow
import, so ``--help`` is instant) and a ``run_<command>(args) -> int`` that imports what it needs. Errors a
user can fix are printed as one ``error: ...`` line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from keras_srgan.defaults import (
    CALIBRATION_SAMPLES,
    CONTENT_LOSSES,
    DEFAULT_WEIGHTS,
    ENGINES,
    EXPORT_FORMATS,
    MAX_PIXELS,
    PHASE_EQUALIZE,
    PRECISION_ALIASES,
    PRECISIONS,
    SERVING_MAX_PIXELS,
    TFLITE_QUANTIZATIONS,
    TRAINING_PRECISIONS,
)
from keras_srgan.settings import help_epilog, require_tensorflow_backend

# The command (not the library) mutes TensorFlow's C++ info lines unless the user chose a level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GAN_WEIGHTS = "srgan"  # what upscale --gan-weight mixes when --weights is not given
WEIGHTS_HELP = "shipped name, .weights.h5, .keras or training run folder"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-srgan",
        description="SRGAN 4x super-resolution: train, evaluate, upscale, export.",
        epilog=help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (add_train, add_evaluate, add_upscale, add_export, add_demo, add_list_weights):
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """TensorFlow is imported quietly before ``run_<command>``, except for ``upscale`` (only when it builds a
    model: a warm OpenVINO cache never does) and ``train`` (it sets up logical CPU devices / multi-worker
    collectives first, so it gets the import without device initialisation)."""
    import warnings

    from keras_srgan.errors import UserError

    warnings.formatwarning = lambda message, *_args, **_kwargs: f"warning: {message}\n"
    args = build_parser().parse_args(argv)
    try:
        require_tensorflow_backend(f"keras-srgan {args.command}")
        if args.command != "upscale":
            quiet_tensorflow_import(init_devices=args.command != "train")
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def quiet_tensorflow_import(init_devices: bool = True) -> None:
    """Import TensorFlow (and, by default, initialise its devices) with C-level stderr muted: its C++
    start-up lines come before its log settings apply. ``KERAS_SRGAN_TF_LOGS=1`` keeps them."""
    if os.environ.get("KERAS_SRGAN_TF_LOGS") == "1":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf

            if init_devices:
                tf.config.list_logical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _command(subparsers, name: str, run, help: str, description: str | None = None):
    parser = subparsers.add_parser(name, help=help, description=description or help)
    parser.set_defaults(run=run)
    return parser


def _add_phase_equalize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--phase-equalize",
        choices=tuple(PHASE_EQUALIZE),
        default="auto",
        help="remove the generator's 4-px grid before rounding; auto: the weights' own (on for srgan)",
    )


def _number(kind, low, high, expected: str):
    """An argparse type: ``kind(text)`` within [low, high], else "expected <expected>, got ..."."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value:g}")
        return value

    return parse


# ---------------------------------------------------------------- train

_NOT_TRAIN_CONFIG = {"command", "run", "config", "degradation_option"}


def add_train(subparsers) -> argparse.ArgumentParser:
    p = _command(subparsers, "train", run_train, "train SRResNet (--stage pretrain) or SRGAN (--stage gan)")
    # Every flag defaults to None so that a recipe (--config) or a resumed run's saved config fills the rest.
    p.add_argument("--config", help="a JSON/YAML recipe (training/configs/); flags given here override it")
    p.add_argument("--data", nargs="+", metavar="DIR", help="folders of HR training images")
    p.add_argument("--lr-data", nargs="+", metavar="DIR", help="paired LR folders (per --data; HR / scale)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (checkpoints, logs, final weights)")
    p.add_argument("--stage", choices=["pretrain", "gan"])
    p.add_argument("--steps", type=int, help="optimizer steps (paper: 1e6 pretrain, 2e5 gan)")
    p.add_argument(
        "--init", metavar="WEIGHTS", help="start G from these weights (a pretrain run folder, file or name)"
    )
    p.add_argument("--content-loss", choices=CONTENT_LOSSES)
    p.add_argument("--vgg-weights", metavar="{imagenet,random,PATH}")
    p.add_argument("--adv-weight", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patch-size", type=int, help="HR crop size (96)")
    p.add_argument("--scale", type=int, choices=[2, 4, 8])
    p.add_argument("--lr", type=float)
    p.add_argument(
        "--lr-drop-steps", type=int, nargs="*", metavar="STEP", help="steps where lr is multiplied by 0.1"
    )
    gan = p.add_argument_group("GAN stage (paper defaults; each switch is measured in docs/)")
    gan.add_argument(
        "--gan-update",
        choices=["alternating", "simultaneous"],
        help="alternating (paper): D step, then G; simultaneous: one pass",
    )
    gan.add_argument("--adversarial", choices=["standard", "relativistic"], help="D/G adversarial loss")
    gan.add_argument("--d-norm", choices=["batch", "spectral"], help="normalisation in D (batch)")
    gan.add_argument(
        "--d-downsample", choices=["stride", "blur"], help="D's downsampling: stride-2 convs (paper) or blur"
    )
    gan.add_argument("--d-lr", type=float, help="D's learning rate (default: --lr)")
    gan.add_argument("--d-warmup-steps", type=int, help="first steps of the stage train D alone (0)")
    gan.add_argument("--fm-weight", type=float, help="weight of D-feature matching (0: off)")
    gan.add_argument(
        "--phase-weight", type=float, help="weight of the per-phase mean error, the grid (0: off)"
    )
    gan.add_argument("--ema-decay", type=float, help="moving average of G's weights (0: off; e.g. 0.999)")
    p.add_argument(
        "--arch", choices=["srresnet", "compact"], help="srresnet (default) or compact (3x3 convs at LR size)"
    )
    p.add_argument(
        "--upsampler", choices=["shuffle_residual", "shuffle_blur", "nearest_conv"], help="compact only"
    )
    p.add_argument("--num-blocks", type=int, help="srresnet: residual blocks (16); compact: body convs")
    p.add_argument("--filters", type=int)
    p.add_argument(
        "--degradation",
        choices=["bicubic", "gaussian", "real"],
        help="HR -> LR in the step (bicubic); real: blur, resize, noise, JPEG",
    )
    p.add_argument(
        "--degradation-option", nargs="+", metavar="KNOB=VALUE", help="real's knobs: noise_sigma=[0,0.04] ..."
    )
    p.add_argument("--blur-sigma", type=float)
    p.add_argument("--noise-sigma", type=float, help="max std of additive LR noise on [0, 1] (0: off)")
    p.add_argument("--val-data", nargs="+", metavar="DIR")
    for every in ("--val-every", "--log-every", "--image-every", "--checkpoint-every"):
        p.add_argument(every, type=int)
    p.add_argument(
        "--mixed-precision",
        choices=[*TRAINING_PRECISIONS, *PRECISION_ALIASES],
        metavar="{" + ",".join(TRAINING_PRECISIONS) + "}",
        help="auto: bf16 on CPUs with native bf16 and no GPU, else fp32 (off = fp32)",
    )
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-bad-steps", type=int, help="skip NaN/Inf steps; stop after this many in a row (20)")
    p.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        help="tf.distribute: one device, all local GPUs (or logical CPUs), TF_CONFIG workers",
    )
    p.add_argument("--cpu-replicas", type=int, help="logical CPUs of --strategy mirrored without GPUs (2)")
    p.add_argument(
        "--resume", action="store_true", default=None, help="continue --out from its last checkpoint"
    )
    return p


def train_overrides(args: argparse.Namespace) -> dict:
    """The ``TrainConfig`` fields the train flags set (every flag not given is None)."""
    overrides = {k: v for k, v in vars(args).items() if v is not None and k not in _NOT_TRAIN_CONFIG}
    if args.degradation_option:
        overrides["degradation_options"] = parse_options(args.degradation_option)
    return overrides


def parse_options(items: list[str]) -> dict:
    """``KNOB=VALUE`` strings -> dict; values are YAML (numbers, [low, high] lists)."""
    import yaml

    from keras_srgan.errors import UserError

    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"--degradation-option {item!r}: expected KNOB=VALUE, e.g. noise_sigma=[0,0.04]")
        try:
            options[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UserError(
                f"--degradation-option {item!r}: {text!r} is not a number or a [low, high] list"
            ) from None
    return options


def run_train(args: argparse.Namespace) -> int:
    from keras_srgan.errors import UserError
    from keras_srgan.train.config import TrainConfig
    from keras_srgan.train.trainer import fit

    overrides = train_overrides(args)
    saved = Path(args.out) / "config.json" if args.out else None
    if args.resume and saved is not None and saved.is_file():
        if args.config:
            raise UserError(
                f"--resume continues {saved} as it was saved; --config {args.config} would be ignored, so it "
                f"is refused: drop --config (change single settings with their flags, e.g. --steps)"
            )
        config = TrainConfig(**{**json.loads(saved.read_text()), **overrides})
    elif args.config:
        config = TrainConfig.from_file(args.config, **overrides)
    elif "out" not in overrides:
        raise UserError("--out RUN_DIR is required")
    else:
        config = TrainConfig(**overrides)
    result = fit(config)
    if result.generator_weights is None:  # a non-chief worker of a multi-worker run writes nothing
        print(f"done: step {result.final_step}; worker finished (the chief wrote the run's files)")
    else:
        print(f"done: step {result.final_step}; generator weights: {result.generator_weights}")
    print(f"generator fingerprint: {result.fingerprint}")
    if result.seconds_per_step == result.seconds_per_step:  # not NaN
        print(f"speed: {result.seconds_per_step:.3f} s/step (after the first logged interval)")
    return 0


# ---------------------------------------------------------------- evaluate


def add_evaluate(subparsers) -> argparse.ArgumentParser:
    p = _command(
        subparsers,
        "evaluate",
        run_evaluate,
        "PSNR/SSIM, NIQE and grid score of a generator (or bicubic) on folders of HR images",
        "Measure x4 super-resolution on folders of HR images (one folder = one set, e.g. Set5): LR made with "
        "antialiased bicubic, PSNR/SSIM on Y without a `scale`-pixel border as in SR papers (--bicubic: the "
        "published baselines, Set5 28.43 dB), and two no-reference scores of the SR output: NIQE (lower is "
        "more natural) and grid (periodic pixel-shuffle artifacts, about 0 for photographs).",
    )
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="folders of HR images")
    p.add_argument(
        "--lr-data",
        nargs="+",
        metavar="DIR",
        help="LR inputs instead of bicubic: one folder per --data folder, same names, exactly HR / scale",
    )
    method = p.add_mutually_exclusive_group(required=True)
    method.add_argument("--weights", metavar="W", help=WEIGHTS_HELP)
    method.add_argument("--bicubic", action="store_true", help="measure bicubic upsampling (the baseline)")
    method.add_argument("--hr", action="store_true", help="measure the HR images themselves (no PSNR/SSIM)")
    p.add_argument(
        "--scale", type=_number(int, 2, float("inf"), "an integer >= 2"), default=4, help="scale factor (4)"
    )
    _add_phase_equalize(p)
    p.add_argument("--json", metavar="FILE", help="also write all results (per image) to this JSON file")
    p.add_argument("--save-images", metavar="DIR", help="save SR images as DIR/<set>/<name>.png")
    p.add_argument("--per-image", action="store_true", help="print a row per image")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def run_evaluate(args: argparse.Namespace) -> int:
    from keras_srgan.evaluation import evaluate, format_table

    report = evaluate(
        args.data,
        weights=args.weights,
        bicubic=args.bicubic,
        hr=args.hr,
        phase_equalize=PHASE_EQUALIZE[args.phase_equalize],
        scale=args.scale,
        json_path=args.json,
        save_images=args.save_images,
        progress=not args.no_progress,
        lr_dirs=args.lr_data,
    )
    print(format_table(report, per_image=args.per_image))
    if args.json:
        print(f"results written to {args.json}")
    return 0


# ---------------------------------------------------------------- upscale


def add_upscale(subparsers) -> argparse.ArgumentParser:
    # Choices and defaults come from the import-free keras_srgan.defaults (the library reads the same names).
    p = _command(
        subparsers,
        "upscale",
        run_upscale,
        "upscale image and video files x4 (or to any size)",
        "Upscale images and videos x4. Inputs are files, folders or glob patterns; each result goes to "
        "OUT_DIR with the input's name and format (else PNG; videos: H.264 with the source's frame rate and "
        "audio, which needs pip install 'keras-srgan[video]'). 16-bit PNG/TIFF stay 16-bit.",
    )
    non_negative = _number(int, 0, float("inf"), "an integer >= 0")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video file, folder or glob pattern")
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="output folder (created if missing)")
    p.add_argument("--weights", help=f"{WEIGHTS_HELP} (default: {DEFAULT_WEIGHTS})")
    p.add_argument(
        "--gan-weight",
        type=_number(float, 0.0, 1.0, "a number between 0 and 1"),
        metavar="W",
        help=f"network interpolation: W x --weights (a GAN model; default here: {GAN_WEIGHTS}) + (1 - W) x "
        "--mix-with; lower W invents less texture (1 = the GAN model as it is)",
    )
    p.add_argument(
        "--mix-with",
        default=DEFAULT_WEIGHTS,
        metavar="WEIGHTS",
        help=f"with --gan-weight: a PSNR model of the same architecture (default: {DEFAULT_WEIGHTS})",
    )
    p.add_argument(
        "--tile", type=non_negative, metavar="N", help="LR tile per model call; 0 = untiled (default: auto)"
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto (default; or $KERAS_SRGAN_ENGINE): OpenVINO on a CPU, TensorFlow on a GPU or without "
        "OpenVINO (one line says why)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto (default; or $KERAS_SRGAN_PRECISION): bf16 where the engine runs it fastest, else fp32 "
        "(fp32: the exact opt-out)",
    )
    p.add_argument(
        "--tile-overlap",
        type=non_negative,
        metavar="N",
        help="LR context pixels around each tile (default: the model's receptive radius, seam-free)",
    )
    _add_phase_equalize(p)
    size = p.add_argument_group(
        "output size", "the model runs x4; other sizes resize its result (Lanczos; videos: even sides)"
    )
    size.add_argument(
        "--outscale", metavar="S", help="output scale, any number > 0 (default: 4, never resized)"
    )
    size.add_argument(
        "--width", metavar="W", help="output width in pixels; the height keeps the aspect ratio"
    )
    size.add_argument(
        "--height", metavar="H", help="output height; with --width: the largest size inside W x H"
    )
    p.add_argument(
        "--ext",
        choices=["auto", "png", "jpg", "webp"],
        default="auto",
        help="output image format: auto (default) = the input's, or PNG if that cannot hold the result",
    )
    p.add_argument(
        "--jpeg-quality",
        type=_number(int, 1, 100, "1-100"),
        default=95,
        metavar="Q",
        help="quality of JPEG and WebP output, 1-100 (default 95)",
    )
    p.add_argument(
        "--max-pixels",
        type=non_negative,
        default=MAX_PIXELS,
        metavar="N",
        help=f"refuse inputs with more pixels (decompression-bomb guard; 0 = no limit; default {MAX_PIXELS})",
    )
    return p


def run_upscale(args: argparse.Namespace) -> int:
    from keras_srgan.inference.batch import upscale_files
    from keras_srgan.inference.image_io import OUTPUT_EXTS
    from keras_srgan.inference.resample import check_output_size
    from keras_srgan.inference.upscale import Upscaler

    # checked before any input is read or model loaded: one "error: ..." line, exit code 2
    outscale, width, height = check_output_size(args.outscale, args.width, args.height)

    def factory() -> Upscaler:
        weights = args.weights
        if args.gan_weight is not None:
            quiet_tensorflow_import()
            from keras_srgan.weights import interpolate_generators

            weights = interpolate_generators(args.mix_with, args.weights or GAN_WEIGHTS, args.gan_weight)
        return Upscaler.from_weights(
            weights,
            tile=args.tile,
            tile_overlap=args.tile_overlap,
            precision=args.precision,
            engine=args.engine,
            outscale=outscale,
            width=width,
            height=height,
            phase_equalize=PHASE_EQUALIZE[args.phase_equalize],
            before_build=quiet_tensorflow_import,  # TF's C++ start-up lines stay muted when it is needed
        )

    fmt = None if args.ext == "auto" else OUTPUT_EXTS[args.ext]
    written, errors, notes = upscale_files(
        args.inputs, args.out, factory, max_pixels=args.max_pixels or None, fmt=fmt, quality=args.jpeg_quality
    )
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    print(f"wrote {len(written)} of {len(written) + len(errors)} file(s) to {args.out}")
    return 1 if errors else 0


# ---------------------------------------------------------------- export


def add_export(subparsers) -> argparse.ArgumentParser:
    p = _command(
        subparsers,
        "export",
        run_export,
        "export the generator to SavedModel (TF Serving), TFLite/LiteRT, ONNX and/or OpenVINO IR",
        "Export the generator. Each file is run in its own runtime and compared with Keras on a test image; "
        "a file below the parity threshold is deleted and the command fails. OUT_DIR/manifest.json lists "
        "each file with its interface, SHA-256 and parity figures.",
    )
    p.add_argument("--weights", help=f"{WEIGHTS_HELP} (default: {DEFAULT_WEIGHTS})")
    p.add_argument("--format", default="all", choices=(*EXPORT_FORMATS, "all"), help="what to export (all)")
    p.add_argument(
        "-o", "--out", "--out-dir", dest="out_dir", required=True, metavar="OUT_DIR", help="output folder"
    )
    p.add_argument(
        "--quantize",
        nargs="+",
        default=["none"],
        choices=(*TFLITE_QUANTIZATIONS, "all"),
        help="TFLite variants: none (float32), float16, dynamic (int8 weights), int8 (calibrated), int16x8 "
        "(int16 activations; slow on CPU); several allowed",
    )
    p.add_argument("--input-size", metavar="HxW", help="fix the TFLite/ONNX/OpenVINO input to [1, H, W, 3]")
    p.add_argument(
        "--phone-size",
        metavar="HxW",
        help="also write fixed-size TFLite files with uint8 RGB in and out, per --quantize but dynamic",
    )
    p.add_argument(
        "--calibration-data",
        nargs="+",
        metavar="DIR",
        help="HR folders calibrating int8/int16x8 (default: T91, BSDS200 in KERAS_SRGAN_DATA, or samples)",
    )
    p.add_argument(
        "--calibration-samples", type=int, default=CALIBRATION_SAMPLES, help="LR crops calibrating int8"
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=SERVING_MAX_PIXELS,
        help=f"largest input (pixels) the SavedModel serves; larger: INVALID_ARGUMENT ({SERVING_MAX_PIXELS})",
    )
    return p


def run_export(args: argparse.Namespace) -> int:
    from keras_srgan.exporters import export

    entries = export(
        args.weights,
        args.format,
        args.out_dir,
        quantize=args.quantize,
        input_size=args.input_size,
        calibration_samples=args.calibration_samples,
        max_pixels=args.max_pixels,
        progress=print,
        phone_size=args.phone_size,
        calibration_data=args.calibration_data,
    )
    print(f"wrote {len(entries)} artifact(s); manifest: {args.out_dir}/manifest.json")
    return 0


# ---------------------------------------------------------------- demo, list-weights


def add_demo(subparsers) -> argparse.ArgumentParser:
    p = _command(
        subparsers,
        "demo",
        run_demo,
        "upscale sample photos with bicubic, srresnet and the GAN model; PSNR/SSIM/NIQE and a picture",
        "Upscale the four bundled photos' x4 bicubic LR with bicubic and each model; print PSNR/SSIM (Y, "
        "4-pixel border) and NIQE (lower = more natural); write the LR, bicubic and SR images and "
        "comparison.png (bicubic | models | HR crops).",
    )
    p.add_argument("--out", default="demo", metavar="DIR", help="output folder (default: demo)")
    p.add_argument(
        "--weights", nargs="+", help=f"one or more: {WEIGHTS_HELP} (default: srresnet + srgan or srgan-mse)"
    )
    return p


def run_demo(args: argparse.Namespace) -> int:
    from keras_srgan import demo

    demo.run_demo(args.out, args.weights)
    return 0


def add_list_weights(subparsers) -> argparse.ArgumentParser:
    return _command(
        subparsers,
        "list-weights",
        run_list_weights,
        "list the weights shipped with the package",
        "List shipped generator weights: name, training data, steps and SHA-256 prefix.",
    )


def run_list_weights(args: argparse.Namespace) -> int:
    from keras_srgan.weights import shipped_weights

    shipped = shipped_weights()
    if not shipped:
        print(
            "No weights are shipped with this version of keras-srgan. "
            "Train one (keras-srgan train) and pass --weights FILE (.weights.h5, .keras or a run folder)."
        )
        return 0

    def cell(meta: dict, key: str) -> str:
        value = meta.get(key)
        if value in (None, "", []):
            return "?"
        return " + ".join(map(str, value)) if isinstance(value, list) else str(value)

    rows = [("name", "stage (content loss)", "trained on", "steps", "sha256")]
    notes = []
    for name, meta in shipped.items():
        stage = f"{cell(meta, 'stage')} ({cell(meta, 'content_loss')})"
        rows.append((name, stage, cell(meta, "trained_on"), cell(meta, "steps"), cell(meta, "sha256")[:12]))
        if meta.get("note"):
            notes.append(f"{name}: {meta['note']}")
        init = meta.get("initialised_from")
        if isinstance(init, dict) and init.get("weights"):
            pinned = f" (sha256 {init['sha256'][:12]})" if init.get("sha256") else ""
            notes.append(f"{name}: initialised from {init['weights']}{pinned}")
        mix = meta.get("interpolation")
        if isinstance(mix, dict) and mix.get("psnr_weights"):
            share = float(mix["gan_weight"])
            notes.append(
                f"{name}: network interpolation, {share:g} x its GAN run + {1 - share:g} x {mix['psnr_weights']}"
                f" (sha256 {str(mix.get('sha256'))[:12]})"
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())

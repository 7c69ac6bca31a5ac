"""``keras-srgan`` command line: a thin dispatcher over one module per subcommand.

Each subcommand module defines ``add_parser(subparsers)`` (argparse only, no heavy imports) and
``run(args) -> int``. Errors a user can fix are printed as one ``error: ...`` line, never a traceback.
TensorFlow is imported (quietly) before ``run`` unless the module sets ``IMPORTS_TENSORFLOW = False``:
then it calls ``quiet_tensorflow_import`` itself when it needs TensorFlow (``upscale`` with a warm
OpenVINO cache never does, which saves seconds of start-up).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from keras_srgan.settings import help_epilog, require_tensorflow_backend

# The command (not the library) mutes TensorFlow's C++ info lines unless the user chose a level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SUBCOMMANDS = ("train", "evaluate", "upscale", "export", "demo", "list_weights")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-srgan",
        description="SRGAN 4x super-resolution: train, evaluate, upscale, export.",
        epilog=help_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"keras_srgan.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"keras_srgan.cli.{name}":
                continue
            raise
        sub = module.add_parser(subparsers)
        sub.set_defaults(_module=module)
    return parser


def quiet_tensorflow_import(init_devices: bool = True) -> None:
    """Import TensorFlow (and, by default, initialise its devices) with C-level stderr muted.

    TF's C++ start-up lines (oneDNN notice, CUDA probing on CPU-only machines) are written before its
    log settings apply, so they would surround our one-line errors. ``KERAS_SRGAN_TF_LOGS=1`` keeps them.
    Subcommands that must configure devices first (logical CPUs, multi-worker collectives) set
    ``CONFIGURES_DEVICES = True`` and get the import only.
    """
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


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def add_phase_equalize_argument(parser: argparse.ArgumentParser) -> None:
    """``--phase-equalize auto|on|off`` (``defaults.PHASE_EQUALIZE``), one definition for upscale and evaluate."""
    from keras_srgan.defaults import PHASE_EQUALIZE

    parser.add_argument(
        "--phase-equalize",
        choices=tuple(PHASE_EQUALIZE),
        default="auto",
        help="remove the generator's 4-px pattern (its grid) before rounding; auto (default): the "
        "weights' own setting, on for srgan",
    )


def main(argv: list[str] | None = None) -> int:
    import warnings

    from keras_srgan.errors import UserError

    warnings.formatwarning = _format_warning

    args = build_parser().parse_args(argv)
    try:
        require_tensorflow_backend(f"keras-srgan {args.command}")
        if getattr(args._module, "IMPORTS_TENSORFLOW", True):
            quiet_tensorflow_import(init_devices=not getattr(args._module, "CONFIGURES_DEVICES", False))
        return int(args._module.run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Batches of files for ``keras-srgan upscale``: inputs (files, folders, globs) -> output names -> one
``Upscaler`` over all of them (videos through ``video.upscale_video``), a bad file never stopping the rest.
"""

from __future__ import annotations

import glob
import os
import warnings
from pathlib import Path

from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.files import is_image_file
from keras_srgan.inference import image_io, video
from keras_srgan.progress import Progress


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (not recursive) and globs -> (files in order, error lines). Named files are always
    attempted (a non-image gets a clear error); folders and globs give visible image and video files."""
    kinds = tuple(sorted(image_io.image_extensions() | video.VIDEO_EXTENSIONS))
    files: list[Path] = []
    errors: list[str] = []

    def take_listed(path: Path) -> None:
        if not is_image_file(path, kinds):
            return
        if path.is_dir():
            errors.append(f"{path}: is a folder, not an image file")
        else:
            files.append(path)

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found_before = len(files) + len(errors)
            for child in sorted(path.iterdir()):
                take_listed(child)
            if len(files) + len(errors) == found_before:
                errors.append(f"{path}: folder has no image files")
        elif path.exists() or path.is_symlink():
            files.append(path)
        elif glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                errors.append(f"{item}: no files match this pattern")
            for match in matches:
                take_listed(Path(match))
        else:
            errors.append(f"{item}: no such file or folder")
    unique: dict[Path, Path] = {}
    for f in files:
        try:
            unique.setdefault(f.resolve(strict=False), f)
        except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
            errors.append(f"{f}: cannot resolve the path ({error_reason(exc)})")
    return list(unique.values()), errors


def plan_outputs(files: list[Path], fmt: str | None = None) -> list[str]:
    """One output name per input, made unique within the batch (``img.gif`` and ``img.png`` both -> PNG);
    ``fmt``: the image format asked for (None: each input's own)."""
    names: list[str] = []
    used: set[str] = set()
    for f in files:
        if video.is_video(f):
            name = video.output_name(f)
        else:
            name = image_io.output_name(f, image_io.output_format(image_io.format_of(f.suffix), "rgb", fmt))
        stem, ext = os.path.splitext(name)
        k = 2
        while name.lower() in used:
            name = f"{stem}-{k}{ext}"
            k += 1
        used.add(name.lower())
        names.append(name)
    return names


def upscale_files(
    inputs: list[str],
    out_dir: str | os.PathLike,
    upscaler_factory,
    max_pixels: int | None = image_io.DEFAULT_MAX_PIXELS,
    show_progress: bool | None = None,
    fmt: str | None = None,
    quality: int | None = None,
) -> tuple[list[Path], list[str], list[str]]:
    """Upscale every input into ``out_dir``; returns (written paths, error lines, warning lines).
    ``upscaler_factory()`` is called once, only if there is a file (weights errors come after input ones)."""
    files, errors = expand_inputs(inputs)
    written: list[Path] = []
    notes: list[str] = []
    if not files:
        return written, errors, notes
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)  # a file of that name fails here too
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot create output folder ({error_reason(exc)})") from None
    upscaler = upscaler_factory()
    enabled = len(files) > 1 if show_progress is None else show_progress
    progress = Progress(len(files), "file", enabled=enabled, every=0)
    for path, name in progress.over(zip(files, plan_outputs(files, fmt), strict=True)):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", image_io.ImageReadWarning)
                if video.is_video(path):
                    dest = image_io.contained_path(out_dir, name)
                    dest = video.upscale_video(
                        path, dest, upscaler, max_pixels=max_pixels, show_progress=show_progress
                    )
                else:
                    dest = upscaler.upscale_file(
                        path, out_dir, name=name, max_pixels=max_pixels, fmt=fmt, quality=quality
                    )
            notes.extend(str(w.message) for w in caught if issubclass(w.category, image_io.ImageReadWarning))
            written.append(dest)
        except UserError as exc:
            errors.append(str(exc))
        except OSError as exc:  # e.g. disk full while writing: this file fails, the batch goes on
            errors.append(f"{path}: cannot write output ({error_reason(exc)})")
    return written, errors, notes

"""Find and check training images on the host before any graph is built.

Every candidate file is fully decoded once with Pillow: unreadable files are skipped with a warning
naming each, images smaller than the training patch are skipped with one warning listing them, and a
folder with nothing usable is an error before training starts.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from keras_srgan.errors import UserError
from keras_srgan.files import TF_IMAGE_SUFFIXES, is_image_file


@dataclass(frozen=True)
class ImageRecord:
    path: str
    width: int
    height: int


def list_image_files(folder: str | os.PathLike, suffixes=TF_IMAGE_SUFFIXES) -> list[Path]:
    """Image files (by extension, case-insensitive; hidden files skipped) directly in ``folder``, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise UserError(f"{folder}: cannot list folder ({exc.strerror or exc})") from None
    return [p for p in entries if is_image_file(p, suffixes)]


# What the training pipeline's ``tf.io.decode_image`` reads. Pillow opens more (TIFF, 1-bit BMP, ...),
# and such a file would otherwise pass the scan and stop training when the pipeline reaches it.
TF_DECODABLE = ("PNG", "JPEG", "MPO", "GIF", "WEBP", "BMP")
TF_BMP_BITS = (8, 24, 32)


def _check_decodable(img: Image.Image, path: Path) -> None:
    if img.format not in TF_DECODABLE:
        raise ValueError(
            f"{img.format or 'unknown'} data, which the training decoder cannot read; convert to PNG"
        )
    if img.format == "BMP":
        with open(path, "rb") as f:
            header = f.read(34)
        bits = int.from_bytes(header[28:30], "little") if len(header) >= 30 else 0
        compression = int.from_bytes(header[30:34], "little") if len(header) >= 34 else 0
        if bits not in TF_BMP_BITS or compression not in (0, 3):
            raise ValueError(
                f"{bits}-bit BMP (compression {compression}) is not readable by the training decoder"
            )


def probe_image(path: Path) -> tuple[int, int]:
    """(width, height) of a fully decodable image; raises ``ValueError`` with a short reason otherwise."""
    try:
        if not path.is_file():  # also False for dangling links and symlink loops
            raise ValueError("not a regular file (or a broken/looping symlink)")
        if path.stat().st_size == 0:
            raise ValueError("empty file")
        # a declared size above Pillow's bomb threshold is a skip reason, not a second warning
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_decodable(img, path)
                img.load()
                return img.size
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(str(exc).replace(str(path), "").strip(" '") or "not an image") from None
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    except (SyntaxError, EOFError) as exc:  # Pillow raises these for some corrupt headers
        raise ValueError(f"corrupt image ({exc})") from None
    except (MemoryError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"image too large to decode ({type(exc).__name__})") from None


def _probe_or_skip(path: Path, skipping: str) -> tuple[int, int] | None:
    """``probe_image``, or None after the warning ``skipping <skipping>: <reason>``."""
    try:
        return probe_image(path)
    except ValueError as reason:
        warnings.warn(f"skipping {skipping}: {reason}", stacklevel=3)
        return None


def _warn_small(small: list[str], what: str, min_size: int) -> None:
    if small:
        warnings.warn(
            f"skipping {len(small)} {what} smaller than the {min_size}x{min_size} patch: {', '.join(small)}",
            stacklevel=3,
        )


def scan_images(folders: list[str | os.PathLike], min_size: int = 0) -> list[ImageRecord]:
    """Usable images in ``folders`` with at least ``min_size`` pixels on each side."""
    records, small = [], []
    candidates = [p for folder in folders for p in list_image_files(folder)]
    for path in candidates:
        size = _probe_or_skip(path, str(path))
        if size and min(size) < min_size:
            small.append(f"{path.name} ({size[0]}x{size[1]})")
        elif size:
            records.append(ImageRecord(str(path), *size))
    _warn_small(small, "image(s)", min_size)
    if not records:
        where = ", ".join(str(f) for f in folders)
        raise UserError(
            f"{where}: no usable training images ({len(candidates)} candidate file(s) with extensions "
            f"{'/'.join(TF_IMAGE_SUFFIXES)}; at least {min_size}x{min_size} pixels needed)"
        )
    return records


@dataclass(frozen=True)
class PairRecord:
    """An HR file and its LR file; the LR is exactly (width, height) / scale."""

    path: str
    lr_path: str
    width: int
    height: int
    scale: int


def _by_stem(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` keyed by stem; two files with one stem (a.png, a.jpg) are an error."""
    found: dict[str, Path] = {}
    for path in list_image_files(folder):
        if path.stem in found:
            raise UserError(
                f"{folder}: {found[path.stem].name} and {path.name} have the same name; pairs are matched "
                f"by name, so keep one"
            )
        found[path.stem] = path
    return found


def _match(hr_files: dict[str, Path], lr_files: dict[str, Path], scale: int) -> dict[str, Path]:
    """HR stem -> LR file: the same stem (any extension), else the LR stem without a trailing ``x<scale>``
    (DIV2K's ``0001x4.png``)."""
    suffix = f"x{scale}"
    matched: dict[str, Path] = {}
    for lr_stem, lr_path in lr_files.items():
        if lr_stem in hr_files:
            key = lr_stem
        elif lr_stem.lower().endswith(suffix) and lr_stem[: -len(suffix)] in hr_files:
            key = lr_stem[: -len(suffix)]
        else:
            continue
        if key in matched:
            raise UserError(
                f"{lr_path.parent}: {matched[key].name} and {lr_path.name} both match HR {hr_files[key].name}; "
                f"keep one"
            )
        matched[key] = lr_path
    return matched


def scan_pairs(
    hr_folders: list[str | os.PathLike],
    lr_folders: list[str | os.PathLike],
    scale: int,
    min_size: int = 0,
) -> list[PairRecord]:
    """Matched (HR, LR) files: folder ``i`` of ``lr_folders`` holds the LR images of ``hr_folders[i]``.

    Unmatched files on either side are warned about (listed); unreadable files skip their pair with a
    warning; an HR smaller than ``min_size`` skips its pair. An LR whose size is not exactly the HR's
    divided by ``scale`` is a ``UserError`` naming the pair (and counting any others).
    """
    if len(hr_folders) != len(lr_folders):
        raise UserError(
            f"--lr-data needs one LR folder per --data folder, in the same order "
            f"(got {len(hr_folders)} HR and {len(lr_folders)} LR folders)"
        )
    records, small, mismatched = [], [], []
    for hr_folder, lr_folder in zip(hr_folders, lr_folders, strict=True):
        hr_files, lr_files = _by_stem(Path(hr_folder)), _by_stem(Path(lr_folder))
        matched = _match(hr_files, lr_files, scale)
        no_lr = [p for stem, p in hr_files.items() if stem not in matched]
        used = set(matched.values())
        no_hr = [p for p in lr_files.values() if p not in used]
        for alone, kind, other, here, there in (
            (no_lr, "HR", "LR", hr_folder, lr_folder),
            (no_hr, "LR", "HR", lr_folder, hr_folder),
        ):
            if alone:
                more = f" and {len(alone) - 10} more" if len(alone) > 10 else ""
                warnings.warn(
                    f"{len(alone)} {kind} image(s) in {here} have no {other} image of the same name in "
                    f"{there}, skipped: {', '.join(p.name for p in alone[:10])}{more}",
                    stacklevel=2,
                )
        for stem, lr_path in matched.items():
            hr_path = hr_files[stem]
            pair = f"the pair {hr_path.name} / {lr_path.name}: "
            hr_size = _probe_or_skip(hr_path, pair + str(hr_path))
            lr_size = hr_size and _probe_or_skip(lr_path, pair + str(lr_path))
            if not lr_size:
                continue
            (w, h), (lw, lh) = hr_size, lr_size
            if (lw * scale, lh * scale) != (w, h):
                mismatched.append((hr_path, w, h, lr_path, lw, lh))
            elif min(w, h) < min_size:
                small.append(f"{hr_path.name} ({w}x{h})")
            else:
                records.append(PairRecord(str(hr_path), str(lr_path), w, h, int(scale)))
    if mismatched:
        hr_path, w, h, lr_path, lw, lh = mismatched[0]
        others = f" ({len(mismatched) - 1} more pair(s) mismatched too)" if len(mismatched) > 1 else ""
        if w % scale == 0 and h % scale == 0:
            expected = f"{w // scale}x{h // scale}"
        else:
            expected = f"impossible: crop the HR to a multiple of {scale} first"
        raise UserError(
            f"{lr_path}: LR is {lw}x{lh} but its HR {hr_path} is {w}x{h}; at x{scale} the LR must be exactly "
            f"HR / {scale} ({expected}){others}"
        )
    _warn_small(small, "pair(s) whose HR is", min_size)
    if not records:
        raise UserError(
            f"{', '.join(str(f) for f in hr_folders)}: no usable HR/LR pairs (matched by file name with "
            f"{', '.join(str(f) for f in lr_folders)}; HR at least {min_size}x{min_size} pixels)"
        )
    return records

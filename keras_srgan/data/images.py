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

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class ImageRecord:
    path: str
    width: int
    height: int


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files (by extension, case-insensitive) directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise UserError(f"{folder}: cannot list folder ({exc.strerror or exc})") from None
    return [p for p in entries if p.suffix.lower() in IMAGE_EXTENSIONS]


def probe_image(path: Path) -> tuple[int, int]:
    """(width, height) of a fully decodable image; raises ``ValueError`` with a short reason otherwise."""
    try:
        if not path.is_file():
            raise ValueError("not a regular file")
        if path.stat().st_size == 0:
            raise ValueError("empty file")
        with Image.open(path) as img:
            img.load()
            return img.size
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(str(exc).replace(str(path), "").strip(" '") or "not an image") from None
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    except (SyntaxError, EOFError) as exc:  # Pillow raises these for some corrupt headers
        raise ValueError(f"corrupt image ({exc})") from None


def scan_images(folders: list[str | os.PathLike], min_size: int = 0) -> list[ImageRecord]:
    """Usable images in ``folders`` with at least ``min_size`` pixels on each side."""
    records, small = [], []
    candidates = [p for folder in folders for p in list_image_files(folder)]
    for path in candidates:
        try:
            width, height = probe_image(path)
        except ValueError as reason:
            warnings.warn(f"skipping {path}: {reason}", stacklevel=2)
            continue
        if width < min_size or height < min_size:
            small.append(f"{path.name} ({width}x{height})")
            continue
        records.append(ImageRecord(str(path), width, height))
    if small:
        warnings.warn(
            f"skipping {len(small)} image(s) smaller than the {min_size}x{min_size} patch: {', '.join(small)}",
            stacklevel=2,
        )
    if not records:
        where = ", ".join(str(f) for f in folders)
        raise UserError(
            f"{where}: no usable training images ({len(candidates)} candidate file(s) with extensions "
            f"{'/'.join(IMAGE_EXTENSIONS)}; at least {min_size}x{min_size} pixels needed)"
        )
    return records

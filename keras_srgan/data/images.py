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


def scan_images(folders: list[str | os.PathLike], min_size: int = 0) -> list[ImageRecord]:
    """Usable images in ``folders`` with at least ``min_size`` pixels on each side."""
    records, small = [], []
    candidates = [p for folder in folders for p in list_image_files(folder)]
    for path in candidates:
        try:
            with warnings.catch_warnings():
                # a declared size above Pillow's bomb threshold is a skip reason, not a second warning
                warnings.simplefilter("error", Image.DecompressionBombWarning)
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

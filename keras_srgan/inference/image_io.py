"""Read real-world image files into arrays the upscaler understands, and write results safely.

Every problem a user can fix (empty, not an image, truncated, too large, a folder) becomes a
``UserError`` naming the file, so the CLI prints one ``error: <file>: <reason>`` line. Writing goes
through ``files.atomic_path`` (a hidden temporary name in the output folder, then a rename), so an
interrupted run never leaves a half-written image under the final name.

Pixel layouts (``Pixels.kind``):

* ``"rgb"`` / ``"rgba"``: uint8 [H, W, 3|4] (palette, CMYK, YCbCr, ... are converted to RGB(A));
* ``"gray"`` / ``"graya"``: uint8 [H, W, 1|2] (bilevel images become 8-bit gray);
* ``"gray16"``: uint16 [H, W, 1] from 16-bit grayscale (PNG/TIFF ``I;16``/``I``), written back as 16-bit;
* ``"rgb16"`` / ``"rgba16"`` / ``"graya16"``: uint16 [H, W, 3|4|2] from 16-bit colour or gray + alpha PNG
  and TIFF files. Pillow would decode these as 8-bit (or not at all), so ``image16`` reads and writes them
  with pypng (PNG) and tifffile (TIFF) and keeps them as ``DeepImage`` rather than a PIL image.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_srgan import defaults
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.files import atomic_path
from keras_srgan.inference.image16 import (  # noqa: F401 (Pixels, DeepImage, check_pixels, orient: image_io's interface)
    DEEP_KINDS,
    TIFF_EXTRA,
    DeepImage,
    ImageReadWarning,
    Pixels,
    check_pixels,
    orient,
    pillow_limit_disabled,
    read_deep,
)

# Refuse inputs above this many pixels (override with --max-pixels / max_pixels=). 4096x4096 input is
# a 16384x16384 output: 805 MB as 8-bit RGB in host memory, and tens of minutes on a CPU.
DEFAULT_MAX_PIXELS = defaults.MAX_PIXELS

# Formats whose writers can hold our results; anything else (GIF: 256 colours, read-only formats) -> PNG.
WRITABLE = {"PNG", "JPEG", "WEBP", "TIFF", "BMP"}
SIXTEEN_BIT_FORMATS = {"PNG", "TIFF"}
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF", "BMP"}
SAVE_OPTIONS = {
    "JPEG": {"quality": 95, "subsampling": 0},
    "WEBP": {"quality": 95},
    "PNG": {"compress_level": 6},
}
CANONICAL_EXT = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}
OUTPUT_EXTS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}  # what `upscale --ext` can ask for


def image_extensions() -> set[str]:
    """Lower-case file extensions Pillow can open: the upscaler's image kinds (``files.is_image_file`` with
    these picks files out of folders and globs; the 16-bit readers take PNG and TIFF, which Pillow lists)."""
    Image.init()
    return {ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def from_pil(img: Image.Image, name: str = "image") -> Pixels:
    """A decoded PIL image (upright already) -> ``Pixels``; unsupported modes raise ``UserError``."""
    mode = img.mode
    info = {k: img.info[k] for k in ("icc_profile",) if img.info.get(k)}
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img)
        if arr.dtype != np.uint16:
            if arr.size and (arr.min() < 0 or arr.max() > 65535):
                raise UserError(f"{name}: 32-bit integer image with values outside 0..65535 is not supported")
            arr = arr.astype(np.uint16)
        return Pixels(arr[:, :, None], "gray16", info=info)
    if mode == "F":
        raise UserError(
            f"{name}: floating-point (mode F) images are not supported; convert to 8/16-bit first"
        )
    if mode == "1":
        img, mode = img.convert("L"), "L"
    if mode in ("L", "LA"):
        arr = np.asarray(img)
        arr = arr[:, :, None] if arr.ndim == 2 else arr
        return Pixels(arr, "gray" if mode == "L" else "graya", info=info)
    if mode == "La":
        return Pixels(np.asarray(img.convert("LA")), "graya", info=info)
    has_alpha = mode in ("RGBA", "RGBa", "PA") or (mode in ("P", "RGB", "L") and "transparency" in img.info)
    if has_alpha:
        return Pixels(np.asarray(img.convert("RGBA")), "rgba", info=info)
    if mode == "CMYK":
        info = {}  # a CMYK ICC profile does not describe the converted RGB pixels
    return Pixels(np.asarray(img.convert("RGB")), "rgb", info=info)


def to_pil(array: np.ndarray, kind: str) -> Image.Image:
    """The inverse of ``from_pil`` for an (upscaled) array."""
    if kind in ("rgb", "rgba", "graya"):
        return Image.fromarray(
            np.ascontiguousarray(array), {"rgb": "RGB", "rgba": "RGBA", "graya": "LA"}[kind]
        )
    if kind == "gray":
        return Image.fromarray(np.ascontiguousarray(array[:, :, 0]), "L")
    if kind == "gray16":
        return Image.fromarray(np.ascontiguousarray(array[:, :, 0].astype(np.uint16)))  # mode I;16
    raise ValueError(f"unknown pixel kind {kind!r}")


def to_image(array: np.ndarray, kind: str, info: dict | None = None) -> Image.Image | DeepImage:
    """``to_pil``, or a ``DeepImage`` for the 16-bit layouts Pillow cannot hold."""
    if kind in DEEP_KINDS:
        return DeepImage(np.asarray(array, dtype=np.uint16), kind, dict(info or {}))
    return to_pil(array, kind)


def read_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Pixels:
    """Decode an image file: EXIF orientation applied, first frame of animations, size limit enforced.

    ``max_pixels`` (``None`` or <= 0: no limit) replaces Pillow's decompression-bomb limit, which is
    checked from the header before any pixel data is decoded.
    """
    path = Path(path)
    name = str(path)
    if path.is_dir():
        raise UserError(f"{name}: is a folder, not an image file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except OSError as exc:
        raise UserError(f"{name}: cannot read ({error_reason(exc)})") from None
    if size == 0:
        raise UserError(f"{name}: empty file (0 bytes)")
    deep = read_deep(path, name, max_pixels)
    if deep is not None:
        for note in deep.notes:
            warnings.warn(note, ImageReadWarning, stacklevel=2)
        return deep
    notes: list[str] = []
    try:
        with pillow_limit_disabled(), warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                check_pixels(name, *img.size, max_pixels)
                if getattr(img, "n_frames", 1) > 1:
                    notes.append(
                        f"{name}: animated image ({img.n_frames} frames); only the first frame is upscaled"
                    )
                    img.seek(0)
                source_format = img.format
                img.load()
                upright = ImageOps.exif_transpose(img)
                pixels = from_pil(upright, name)
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"{name}: refused as a possible decompression bomb ({error_reason(exc)})") from None
    except UnidentifiedImageError:
        raise UserError(f"{name}: not an image file Pillow can read") from None
    except MemoryError:
        raise UserError(f"{name}: not enough memory to decode this image") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError) as exc:
        reason = error_reason(exc)
        if "truncated" in reason.lower() or isinstance(exc, EOFError):
            raise UserError(f"{name}: truncated or corrupt image ({reason})") from None
        raise UserError(f"{name}: cannot decode image ({reason})") from None
    for note in notes:
        warnings.warn(note, ImageReadWarning, stacklevel=2)
    pixels.format = source_format
    pixels.notes = notes
    return pixels


def output_format(source_format: str | None, kind: str, requested: str | None = None) -> str:
    """The format to write: ``requested`` (a format name) or else the source's, if its writer can hold the
    result (16 bits, alpha), else PNG."""
    fmt = (requested or source_format or "PNG").upper()
    if fmt not in WRITABLE:
        return "PNG"
    if (kind == "gray16" or kind in DEEP_KINDS) and fmt not in SIXTEEN_BIT_FORMATS:
        return "PNG"
    if kind in ("rgba", "graya", "rgba16", "graya16") and fmt not in ALPHA_FORMATS:
        return "PNG"
    if kind == "graya" and fmt == "BMP":
        return "PNG"
    return fmt


_UNSAFE = str.maketrans({c: "_" for c in '/\\:\0*?"<>|'})


def output_name(source: str | os.PathLike, fmt: str) -> str:
    """A bare file name for the result: the input's stem, an extension for ``fmt``; never a path."""
    base = os.path.basename(os.fspath(source).rstrip("/\\")) or "image"
    stem, ext = os.path.splitext(base)
    stem = stem.translate(_UNSAFE).strip()
    if stem in ("", ".", "..") or set(stem) <= {"."}:
        stem = "image"
    Image.init()
    if Image.registered_extensions().get(ext.lower()) == fmt and "." + ext[1:].translate(_UNSAFE) == ext:
        return stem + ext
    return stem + CANONICAL_EXT[fmt]


def contained_path(out_dir: str | os.PathLike, name: str) -> Path:
    """``out_dir / name``, refusing anything that would land outside ``out_dir``."""
    root = Path(out_dir).resolve()
    target = (root / name).resolve()
    if target.parent != root or os.path.basename(name) != name:
        raise UserError(f"{name}: output name would leave the output folder {root}")
    return target


def write_atomic(img: Image.Image | DeepImage, dest: str | os.PathLike, fmt: str, **params) -> Path:
    """Save ``img`` as ``fmt`` through ``files.atomic_path``; synced to disk before the rename, so a crash
    right after leaves the old file or the whole new one."""
    dest = Path(dest)
    options = {**SAVE_OPTIONS.get(fmt, {}), **params}
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        img.save(f, format=fmt, **options)
        f.flush()
        os.fsync(f.fileno())
    return dest

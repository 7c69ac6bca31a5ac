"""Read real-world image files into arrays the upscaler understands, and write results atomically.

Every problem a user can fix (empty, not an image, truncated, too large, a folder) is one ``UserError``
line naming the file. ``Pixels.kind``: ``rgb``/``rgba``/``gray``/``graya`` (uint8; palette, CMYK, ...
become RGB(A), bilevel gray), ``gray16`` (Pillow's 16-bit gray), and ``rgb16``/``rgba16``/``graya16``:
16-bit PNG and TIFF that Pillow opens as 8-bit or not at all, so pypng and tifffile read and write them
(as ``DeepImage``).
"""

from __future__ import annotations

import io
import os
import threading
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import png
import tifffile
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_srgan import defaults, pixels
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason
from keras_srgan.files import atomic_path

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
# 16-bit layouts Pillow cannot hold, with their channel counts.
DEEP_KINDS = {"rgb16": 3, "rgba16": 4, "graya16": 2}
# Optional codecs tifffile needs for compressed TIFF (LZW, PackBits, JPEG, ...); zlib/deflate needs none.
TIFF_EXTRA = "pip install 'keras-srgan[tiff16]'"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
_PIL_LIMIT_LOCK = threading.Lock()


class ImageReadWarning(UserWarning):
    """Something about an input was simplified (e.g. only the first frame of an animation is used)."""


@dataclass
class Pixels:
    """Decoded pixels plus what is needed to write the result back in the same kind."""

    array: np.ndarray
    kind: str  # "rgb", "rgba", "gray", "graya", "gray16", "rgb16", "rgba16", "graya16"
    format: str | None = None  # Pillow format of the source file, if any
    info: dict = field(default_factory=dict)  # kept metadata (ICC profile)
    notes: list[str] = field(default_factory=list)  # warnings raised while reading


@dataclass
class DeepImage:
    """uint16 [H, W, C] colour or gray + alpha; ``save`` works like a PIL image's (16-bit PNG or TIFF)."""

    array: np.ndarray
    kind: str

    @property
    def size(self) -> tuple[int, int]:
        return self.array.shape[1], self.array.shape[0]

    def save(self, fp, format: str | None = None, **params) -> None:  # noqa: A002 - Pillow's parameter name
        height, width, channels = self.array.shape
        icc, grey, alpha = params.get("icc_profile"), channels < 3, channels in (2, 4)
        if format == "TIFF":
            buf = io.BytesIO()  # tifffile wants a named file or a buffer, not an os.fdopen handle
            tifffile.imwrite(
                buf,
                np.ascontiguousarray(self.array),
                photometric="minisblack" if grey else "rgb",
                extrasamples=("unassalpha",) if alpha else None,
                iccprofile=icc or None,
                metadata=None,
            )
            fp.write(buf.getbuffer())
            return
        if format != "PNG":
            raise ValueError(f"16-bit colour is written as PNG or TIFF, not {format}")
        level = params.get("compress_level", 6)
        writer = png.Writer(width, height, greyscale=grey, alpha=alpha, bitdepth=16, compression=level)
        rows = np.ascontiguousarray(self.array, dtype=">u2").reshape(height, -1).view(np.uint8)
        if not icc:
            writer.write_packed(fp, rows)
            return
        buf = io.BytesIO()  # the iCCP chunk goes right after IHDR
        writer.write_packed(buf, rows)
        chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
        iccp = b"ICC profile\0\0" + zlib.compress(icc)
        png.write_chunks(fp, [chunks[0], (b"iCCP", iccp), *chunks[1:]])


def check_pixels(name: str, width: int, height: int, max_pixels: int | None) -> None:
    """The decompression-bomb guard, from a header's size, before any pixel is decoded."""
    if max_pixels and max_pixels > 0 and width * height > max_pixels:
        raise UserError(
            f"{name}: {width}x{height} = {width * height:,} pixels is above the limit of "
            f"{max_pixels:,} (a possible decompression bomb); raise it with --max-pixels if you trust the file"
        )


def check_file(path: Path, what: str = "an image") -> None:
    """The first checks of an input file (a folder, missing, empty), each one ``UserError`` line."""
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not {what} file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({error_reason(exc)})") from None
    if size == 0:
        raise UserError(f"{path}: empty file (0 bytes)")


@contextmanager
def _pillow_limit_disabled():
    """Pillow's global bomb check off while opening (our own ``max_pixels`` check replaces it)."""
    with _PIL_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def image_extensions() -> set[str]:
    """Lower-case file extensions Pillow can open (what folders and globs give the upscaler)."""
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
    if mode in ("1", "L"):  # bilevel becomes 8-bit gray
        return Pixels(np.asarray(img.convert("L"))[:, :, None], "gray", info=info)
    if mode in ("LA", "La"):
        return Pixels(np.asarray(img.convert("LA")), "graya", info=info)
    has_alpha = mode in ("RGBA", "RGBa", "PA") or (mode in ("P", "RGB") and "transparency" in img.info)
    if has_alpha:
        return Pixels(np.asarray(img.convert("RGBA")), "rgba", info=info)
    if mode == "CMYK":
        info = {}  # a CMYK ICC profile does not describe the converted RGB pixels
    return Pixels(np.asarray(img.convert("RGB")), "rgb", info=info)


def to_image(array: np.ndarray, kind: str) -> Image.Image | DeepImage:
    """The inverse of ``from_pil`` (and of the 16-bit readers) for an (upscaled) array."""
    if kind in DEEP_KINDS:
        return DeepImage(np.asarray(array, dtype=np.uint16), kind)
    if kind == "gray16":
        return Image.fromarray(np.ascontiguousarray(array[:, :, 0].astype(np.uint16)))  # mode I;16
    mode = {"gray": "L", "graya": "LA", "rgb": "RGB", "rgba": "RGBA"}[kind]
    return Image.fromarray(np.ascontiguousarray(array[:, :, 0] if kind == "gray" else array), mode)


def read_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Pixels:
    """Decode an image file: EXIF orientation applied, first frame of animations; ``max_pixels`` (None or
    <= 0: no limit) replaces Pillow's bomb limit and is checked from the header, before decoding."""
    path = Path(path)
    name = str(path)
    check_file(path)
    try:
        pixels = _read_deep(path, name, max_pixels)
        if pixels is None:
            with _pillow_limit_disabled(), Image.open(path) as img:  # no Pillow bomb error or warning
                check_pixels(name, *img.size, max_pixels)
                notes = _frames_note(name, img)
                if notes:
                    img.seek(0)
                img.load()
                pixels = from_pil(ImageOps.exif_transpose(img), name)
                pixels.format, pixels.notes = img.format, notes
    except UserError:
        raise
    except UnidentifiedImageError:
        raise UserError(f"{name}: not an image file Pillow can read") from None
    except MemoryError:
        raise UserError(f"{name}: not enough memory to decode this image") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError) as exc:
        reason = error_reason(exc)
        if "truncated" in reason.lower() or isinstance(exc, EOFError):
            raise UserError(f"{name}: truncated or corrupt image ({reason})") from None
        raise UserError(f"{name}: cannot decode image ({reason})") from None
    for note in pixels.notes:
        warnings.warn(note, ImageReadWarning, stacklevel=2)
    return pixels


def _frames_note(name: str, img: Image.Image) -> list[str]:
    if getattr(img, "n_frames", 1) > 1:
        return [f"{name}: animated image ({img.n_frames} frames); only the first frame is upscaled"]
    return []


def _read_deep(path: Path, name: str, max_pixels: int | None) -> Pixels | None:
    """16-bit colour / gray + alpha PNG and TIFF at full depth; ``None`` for all Pillow reads as it is."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError as exc:
        raise UserError(f"{name}: cannot read ({error_reason(exc)})") from None
    try:
        if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR" and len(head) >= 26:
            if head[24] != 16 or head[25] not in (2, 4, 6):  # bit depth, colour type (RGB, gray + A, RGBA)
                return None
            return _read_png16(path, name, max_pixels, head)
        if head[:4] in _TIFF_SIGNATURES:
            return _read_tiff16(path, name, max_pixels)
    except (png.Error, zlib.error, OSError, ValueError, EOFError, IndexError, KeyError, TypeError) as exc:
        raise UserError(f"{name}: truncated or corrupt image ({error_reason(exc)})") from None
    return None


def _read_png16(path: Path, name: str, max_pixels: int | None, head: bytes) -> Pixels:
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    check_pixels(name, width, height, max_pixels)
    with _pillow_limit_disabled(), Image.open(path) as img:  # metadata only: Pillow decodes no pixel here
        notes = _frames_note(name, img)
        info = {"icc_profile": img.info["icc_profile"]} if img.info.get("icc_profile") else {}
        orientation = img.getexif().get(0x0112, 1)
    width, height, rows, meta = png.Reader(filename=os.fspath(path)).asDirect()
    array = np.array([np.asarray(row, dtype=np.uint16) for row in rows], dtype=np.uint16)
    if array.shape[0] != height:
        raise UserError(f"{name}: truncated or corrupt image (got {array.shape[0]} of {height} rows)")
    array = array.reshape(height, width, meta["planes"])
    if meta["bitdepth"] != 16:  # pypng reduced the samples to the sBIT depth: back to 0..65535
        top = (1 << meta["bitdepth"]) - 1
        array = pixels.round_to(array.astype(np.float64) * (65535.0 / top), np.uint16)
    kind = {2: "graya16", 3: "rgb16", 4: "rgba16"}[meta["planes"]]
    return Pixels(orient(array, orientation), kind, format="PNG", info=info, notes=notes)


def _read_tiff16(path: Path, name: str, max_pixels: int | None) -> Pixels | None:
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        samples, bits = page.samplesperpixel, page.bitspersample
        photometric, extra = int(page.photometric), tuple(int(e) for e in page.extrasamples)
        if bits != 16 or samples < 2 or photometric not in (1, 2) or int(page.sampleformat) != 1:
            return None  # Pillow's path: 8-bit, 16-bit gray, float (refused there), palette, CMYK, ...
        colour = 3 if photometric == 2 else 1
        has_alpha = samples > colour and extra[:1] in ((1,), (2,))
        if samples < colour or (colour == 1 and not has_alpha):
            return None  # 16-bit gray with unused extra samples: Pillow's gray16 path
        height, width = page.imagelength, page.imagewidth
        check_pixels(name, width, height, max_pixels)
        notes = []
        if len(tif.pages) > 1:
            notes.append(f"{name}: multi-page TIFF ({len(tif.pages)} pages); only the first page is upscaled")
        icc = page.tags.get(34675)
        info = {"icc_profile": bytes(icc.value)} if icc is not None and icc.value else {}
        orientation = int(page.tags.valueof(274, 1))
        try:
            array = page.asarray()
        except (KeyError, ValueError, ImportError) as exc:
            if "imagecodecs" not in str(exc):
                raise
            note = (
                f"{name}: {page.compression.name} compression needs imagecodecs for 16 bits ({TIFF_EXTRA}); "
                "read as 8-bit"
            )
            warnings.warn(note, ImageReadWarning, stacklevel=4)
            return None  # Pillow's path reads it (as 8-bit colour)
    axes = page.axes
    if "S" in axes and axes.index("S") < axes.index("Y"):  # planar (separate) samples: to [H, W, S]
        array = np.moveaxis(array, axes.index("S"), -1)
    array = np.asarray(array, dtype=np.uint16).reshape(height, width, samples)
    array = array[:, :, : colour + 1] if has_alpha else array[:, :, :colour]
    if has_alpha and extra[0] == 1:  # associated (premultiplied) alpha -> straight alpha
        alpha = array[:, :, -1:].astype(np.float64)
        straight = array[:, :, :-1] * (65535.0 / np.maximum(alpha, 1.0))
        array[:, :, :-1] = pixels.round_to(np.where(alpha > 0, straight, 0.0), np.uint16)
    kind = {(3, False): "rgb16", (3, True): "rgba16", (1, True): "graya16"}[(colour, has_alpha)]
    return Pixels(orient(array, orientation), kind, format="TIFF", info=info, notes=notes)


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF/TIFF orientation (1-8) to an [H, W, ...] array, as ``ImageOps.exif_transpose`` does."""
    if orientation in (2, 3, 7, 8):  # mirror left-right (then transposed for 7 and 8 below)
        array = array[:, ::-1]
    if orientation in (3, 4, 6, 7):  # mirror top-bottom
        array = array[::-1]
    if orientation in (5, 6, 7, 8):
        array = array.swapaxes(0, 1)
    return np.ascontiguousarray(array)


def output_format(source_format: str | None, kind: str, requested: str | None = None) -> str:
    """``requested`` (a format name) or else the source's format, if its writer can hold the result (16
    bits, alpha), else PNG."""
    fmt = (requested or source_format or "PNG").upper()
    deep = kind in ("gray16", *DEEP_KINDS) and fmt not in SIXTEEN_BIT_FORMATS
    alpha = kind in ("rgba", "graya", "rgba16", "graya16") and fmt not in ALPHA_FORMATS
    return "PNG" if fmt not in WRITABLE or deep or alpha or (kind, fmt) == ("graya", "BMP") else fmt


_UNSAFE = str.maketrans({c: "_" for c in '/\\:\0*?"<>|'})


def output_name(source: str | os.PathLike, fmt: str) -> str:
    """A bare file name for the result: the input's stem, an extension for ``fmt``; never a path."""
    base = os.path.basename(os.fspath(source).rstrip("/\\")) or "image"
    stem, ext = os.path.splitext(base)
    stem = stem.translate(_UNSAFE).strip()
    if stem in ("", ".", "..") or set(stem) <= {"."}:
        stem = "image"
    if format_of(ext) == fmt and "." + ext[1:].translate(_UNSAFE) == ext:
        return stem + ext
    return stem + CANONICAL_EXT[fmt]


def format_of(suffix: str) -> str | None:
    """The Pillow format a file extension names (``.jpeg`` -> JPEG), or None."""
    Image.init()
    return Image.registered_extensions().get(suffix.lower())


def contained_path(out_dir: str | os.PathLike, name: str) -> Path:
    """``out_dir / name``, refusing anything that would land outside ``out_dir``."""
    root = Path(out_dir).resolve()
    target = (root / name).resolve()
    if target.parent != root or os.path.basename(name) != name:
        raise UserError(f"{name}: output name would leave the output folder {root}")
    return target


def write_atomic(img: Image.Image | DeepImage, dest: str | os.PathLike, fmt: str, **params) -> Path:
    """Save ``img`` as ``fmt`` through ``files.atomic_path``, synced before the rename (a crash leaves the
    old file or the whole new one)."""
    dest = Path(dest)
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        img.save(f, format=fmt, **{**SAVE_OPTIONS.get(fmt, {}), **params})
        f.flush()
        os.fsync(f.fileno())
    return dest

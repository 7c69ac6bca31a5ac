"""16-bit colour and gray + alpha PNG / TIFF at full depth, and the pieces ``image_io`` shares with them.

Why a module of its own: Pillow opens a 16-bit RGB(A) PNG or TIFF as 8-bit (and a 16-bit gray + alpha
TIFF not at all), so these layouts are read and written with pypng (PNG) and tifffile (TIFF) and kept as
``DeepImage`` rather than a PIL image. ``image_io`` reads everything else with Pillow and re-exports the
names here that callers use (``Pixels``, ``DeepImage``, ``check_pixels``, ``orient``, ...).
"""

from __future__ import annotations

import io
import os
import threading
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import png
import tifffile
from PIL import Image

from keras_srgan import pixels
from keras_srgan.errors import UserError
from keras_srgan.errors import reason as error_reason

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


def check_pixels(name: str, width: int, height: int, max_pixels: int | None) -> None:
    """The decompression-bomb guard, from a header's size, before any pixel is decoded."""
    if max_pixels and max_pixels > 0 and width * height > max_pixels:
        raise UserError(
            f"{name}: {width}x{height} = {width * height:,} pixels is above the limit of "
            f"{max_pixels:,} (a possible decompression bomb); raise it with --max-pixels if you trust the file"
        )


class pillow_limit_disabled:
    """Turn off Pillow's global bomb check while opening (our own ``max_pixels`` check replaces it)."""

    def __enter__(self):
        _PIL_LIMIT_LOCK.acquire()
        self._saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        return self

    def __exit__(self, *exc):
        Image.MAX_IMAGE_PIXELS = self._saved
        _PIL_LIMIT_LOCK.release()
        return False


# 16-bit layouts Pillow cannot hold: written by ``DeepImage.save`` (pypng for PNG, tifffile for TIFF).
DEEP_KINDS = {"rgb16": 3, "rgba16": 4, "graya16": 2}
# Optional codecs tifffile needs for compressed TIFF (LZW, PackBits, JPEG, ...); zlib/deflate needs none.
TIFF_EXTRA = "pip install 'keras-srgan[tiff16]'"


@dataclass
class DeepImage:
    """uint16 [H, W, C] colour or gray + alpha pixels, saved as a 16-bit PNG or TIFF (``write_atomic`` calls
    ``save`` like a PIL image's; Pillow itself cannot write 16-bit colour)."""

    array: np.ndarray
    kind: str
    info: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.array.shape[1], self.array.shape[0]

    def save(self, fp, format: str | None = None, **params) -> None:  # noqa: A002 - Pillow's parameter name
        channels = self.array.shape[2]
        icc = params.get("icc_profile") or self.info.get("icc_profile")
        if format == "TIFF":
            buf = io.BytesIO()  # tifffile wants a named file or a buffer, not an os.fdopen handle
            tifffile.imwrite(
                buf,
                np.ascontiguousarray(self.array),
                photometric="rgb" if channels >= 3 else "minisblack",
                extrasamples=("unassalpha",) if channels in (2, 4) else None,
                iccprofile=icc or None,
                metadata=None,
            )
            fp.write(buf.getbuffer())
            return
        if format != "PNG":
            raise ValueError(f"16-bit colour is written as PNG or TIFF, not {format}")
        height, width = self.array.shape[:2]
        writer = png.Writer(
            width,
            height,
            greyscale=channels < 3,
            alpha=channels in (2, 4),
            bitdepth=16,
            compression=params.get("compress_level", 6),
        )
        rows = np.ascontiguousarray(self.array, dtype=">u2").reshape(height, -1).view(np.uint8)
        if not icc:
            writer.write_packed(fp, rows)
            return
        buf = io.BytesIO()
        writer.write_packed(buf, rows)
        chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
        iccp = b"ICC profile\0\0" + zlib.compress(icc)
        png.write_chunks(fp, [chunks[0], (b"iCCP", iccp), *chunks[1:]])


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def read_deep(path: Path, name: str, max_pixels: int | None) -> Pixels | None:
    """16-bit colour / gray + alpha PNG and TIFF at full depth; ``None`` for everything Pillow reads as it is.

    Why not Pillow: it opens a 16-bit RGB(A) PNG or TIFF as 8-bit (and a 16-bit gray + alpha TIFF not at
    all). 16-bit gray without alpha stays on the Pillow path, which keeps it at 16 bits already.
    """
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
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"{name}: not enough memory to decode this image") from None
    except (png.Error, zlib.error, OSError, ValueError, EOFError, IndexError, KeyError, TypeError) as exc:
        raise UserError(f"{name}: truncated or corrupt image ({error_reason(exc)})") from None
    return None


def _read_png16(path: Path, name: str, max_pixels: int | None, head: bytes) -> Pixels:
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    check_pixels(name, width, height, max_pixels)
    notes, info, orientation = [], {}, 1
    with pillow_limit_disabled(), Image.open(path) as img:  # metadata only: Pillow decodes no pixel here
        if getattr(img, "n_frames", 1) > 1:
            notes.append(f"{name}: animated image ({img.n_frames} frames); only the first frame is upscaled")
        if img.info.get("icc_profile"):
            info["icc_profile"] = img.info["icc_profile"]
        orientation = img.getexif().get(0x0112, 1)
    reader = png.Reader(filename=os.fspath(path))
    width, height, rows, meta = reader.asDirect()
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
        if samples < colour:
            return None
        height, width = page.imagelength, page.imagewidth
        check_pixels(name, width, height, max_pixels)
        notes = []
        if len(tif.pages) > 1:
            notes.append(f"{name}: multi-page TIFF ({len(tif.pages)} pages); only the first page is upscaled")
        info = {}
        icc = page.tags.get(34675)
        if icc is not None and icc.value:
            info["icc_profile"] = bytes(icc.value)
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
    has_alpha = samples > colour and extra[:1] in ((1,), (2,))
    array = array[:, :, : colour + 1] if has_alpha else array[:, :, :colour]
    if has_alpha and extra[0] == 1:  # associated (premultiplied) alpha -> straight alpha
        alpha = array[:, :, -1:].astype(np.float64)
        straight = array[:, :, :-1] * (65535.0 / np.maximum(alpha, 1.0))
        array[:, :, :-1] = pixels.round_to(np.where(alpha > 0, straight, 0.0), np.uint16)
    if colour == 1 and not has_alpha:
        return None  # 16-bit gray with unused extra samples: Pillow's gray16 path
    kind = {(3, False): "rgb16", (3, True): "rgba16", (1, True): "graya16"}[(colour, has_alpha)]
    return Pixels(orient(array, orientation), kind, format="TIFF", info=info, notes=notes)


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF/TIFF orientation (1-8) to an [H, W, ...] array, as ``ImageOps.exif_transpose`` does."""
    if orientation == 2:
        array = array[:, ::-1]
    elif orientation == 3:
        array = array[::-1, ::-1]
    elif orientation == 4:
        array = array[::-1]
    elif orientation == 5:
        array = array.swapaxes(0, 1)
    elif orientation == 6:
        array = array[::-1].swapaxes(0, 1)
    elif orientation == 7:
        array = array[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        array = array[:, ::-1].swapaxes(0, 1)
    return np.ascontiguousarray(array)

"""Files: the one way this package writes a file that must never be seen half-written (under a hidden
temporary name in the destination's folder, so the final ``os.replace`` is an atomic rename), and the one
definition of which file names count as images.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# Image files the package reads from folders (datasets, evaluation, benchmarks): what Pillow decodes here.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# What ``tf.io.decode_image`` decodes (the training pipeline reads images in its graph).
TF_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def is_image_file(path: str | os.PathLike, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> bool:
    """A visible file name with one of ``suffixes`` (case-insensitive); hidden files (``.tmp-...``) never count."""
    path = Path(path)
    return not path.name.startswith(".") and path.suffix.lower() in suffixes


def temporary_name(path: str | os.PathLike) -> Path:
    """The hidden name ``path`` is written under before the rename: ``.tmp-<pid>-<name>`` beside it."""
    path = Path(path)
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


@contextmanager
def atomic_path(path: str | os.PathLike, companions: Sequence[str] = ()) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; renamed to ``path`` when the block succeeds,
    removed on any failure (Ctrl-C included), so an existing destination is kept. ``companions``: suffixes
    of files a writer puts beside the temporary one under the same stem (an OpenVINO ``.xml`` writes its
    ``.bin``); renamed first, so a reader that finds the main file finds them too; removed on failure."""
    path = Path(path)
    tmp = temporary_name(path)
    pairs = [(tmp.with_suffix(suffix), path.with_suffix(suffix)) for suffix in companions]
    try:
        yield tmp
        for src, dst in pairs:
            os.replace(src, dst)
        os.replace(tmp, path)
    except BaseException:
        for leftover in [tmp, *(src for src, _ in pairs)]:
            leftover.unlink(missing_ok=True)
        raise


def write_atomic_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see ``atomic_path``)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("utf-8"))
    return Path(path)

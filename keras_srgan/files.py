"""Files: the one way this package writes a file that must never be seen half-written, and the one
definition of which file names count as images.

Everything is written under a hidden temporary name in the destination's own folder (so the final
``os.replace`` is an atomic rename on the same file system) and renamed into place only when complete;
on any failure, Ctrl-C included, the temporary file is removed and an existing destination is kept.
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
    """Yield a temporary path to write ``path``'s content to; renamed to ``path`` when the block succeeds.

    ``companions``: suffixes of files a writer puts beside the temporary one under the same stem (an
    OpenVINO ``.xml`` writes its ``.bin``); they are renamed first, then the main file, so a reader that
    finds the main file finds its companions too. On failure all of them are removed.
    """
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

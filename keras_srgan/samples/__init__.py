"""Sample photos shipped inside the package: the demo's HR images, the export parity image and the
TFLite int8 calibration set, with no download and no scikit-image (see SOURCES for origin and licence).

They came from scikit-image's test data; astronaut, chelsea and coffee are re-encoded as JPEG
(quality 95, no chroma subsampling) to keep the package small, rocket is the original file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from keras_srgan.errors import UserError

FOLDER = Path(__file__).resolve().parent
NAMES = ("astronaut", "chelsea", "coffee", "rocket")


def path(name: str) -> Path:
    """The bundled file of one sample photo."""
    if name not in NAMES:
        raise UserError(f"no bundled sample photo {name!r} (there are: {', '.join(NAMES)})")
    return FOLDER / f"{name}.jpg"


def load(name: str) -> np.ndarray:
    """One sample photo as uint8 RGB ``[H, W, 3]``."""
    with Image.open(path(name)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)

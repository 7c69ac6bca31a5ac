"""The one luma plane a no-reference metric looks at, with the input checks NIQE and the grid score share."""

from __future__ import annotations

import numpy as np

from keras_srgan.pixels import rgb_to_y


def luma_plane(image: np.ndarray, rounded: bool) -> np.ndarray:
    """float64 [H, W] plane of a uint8 HxWx3 / HxWx1 / HxW image: BT.601 Y (0-255 scale) for RGB, the
    gray values for gray (never pushed through the RGB formula, as PSNR does). ``rounded`` rounds Y half
    up to integers, which is what MATLAB ``rgb2ycbcr`` returns for uint8 input."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image.astype(np.float64)
    if image.ndim == 3 and image.shape[-1] == 3:
        y = rgb_to_y(image)
        return np.floor(y + 0.5) if rounded else y
    raise ValueError(f"expected an HxW (gray) or HxWx3 (RGB) image, got shape {image.shape}")


def crop_plane(plane: np.ndarray, crop_border: int, minimum: int, what: str) -> np.ndarray:
    """``plane`` without ``crop_border`` pixels on each side; ValueError unless both sides keep at least
    ``minimum`` pixels."""
    if isinstance(crop_border, bool) or int(crop_border) != crop_border or crop_border < 0:
        raise ValueError(f"crop_border must be an integer >= 0, got {crop_border!r}")
    crop_border = int(crop_border)
    height, width = plane.shape
    if min(height, width) - 2 * crop_border < minimum:
        raise ValueError(
            f"{what} needs at least {minimum}x{minimum} pixels after removing a {crop_border}-pixel border; "
            f"the image is {width}x{height}"
        )
    if crop_border:
        plane = plane[crop_border:-crop_border, crop_border:-crop_border]
    return plane

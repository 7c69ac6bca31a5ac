"""Grid score: how strongly an SR image repeats with the pixel-shuffle periods (2 and 4 output pixels).

A x4 SRResNet upsamples with two x2 pixel shuffles. Each shuffle builds every 2x2 output cell from four
different filters, so unless training makes those filters agree, the output carries a faint periodic
pattern: period 2 from the last shuffle, period 4 from the first (its cells are 2x2 input pixels of the
second). A GAN stage tends to amplify it. Natural photographs have no special energy at those
frequencies, so the score is near 0 for them (slightly negative, see below) and grows with the grid.

Definition (on the Y channel of BT.601, not rounded; gray images on their gray values):

1. Remove ``crop_border`` pixels, then crop top-left to a multiple of 4 pixels per side, so the
   frequencies k/4 cycles per pixel fall exactly on FFT bins.
2. Subtract the mean, multiply by a periodic 2-D Hann window, take the magnitude of the 2-D FFT.
3. For each of the 15 non-zero frequencies (k_y/4, k_x/4), k in 0..3, take log10 of the magnitude at
   that bin over the median magnitude of its spectral neighbourhood: the bins at Chebyshev distance 2
   or 3 from it (a 7x7 square without its central 3x3, 40 bins, wrapping around the spectrum). The
   central 3x3 is left out because the Hann window spreads a pure periodic component over +-1 bin.
4. The score is the mean of the 15 log-ratios.

The 15 frequencies count each conjugate pair (k and -k, same magnitude for a real image) twice and the
three self-conjugate ones, (0, 1/2), (1/2, 0) and (1/2, 1/2), once; that is the definition the project's
reference figures use. Those three are the "period 2" group (the only frequencies a period-2 pattern can
have); the other 12 are the "period 4" group (only a period-4 pattern reaches them), so the score is
``(3 * period2 + 12 * period4) / 15``.

For a noise-like spectrum the magnitude at one bin over a neighbourhood median is below 1 on average
(E log10 of a Rayleigh variable over its median is -0.05), which is why photographs score a little
below 0: HR Set14 -0.08, BSD100 -0.07 (Y, 4-pixel border).
"""

from __future__ import annotations

import numpy as np

from keras_srgan.metrics.image import crop_plane, luma_plane

PERIOD = 4  # the longest pixel-shuffle period of a x4 SRResNet, in output pixels
RING = (2, 3)  # neighbourhood: bins at Chebyshev distance 2..3 from the measured bin
MIN_SIDE = 16  # below this the neighbourhoods of the k/4 bins would overlap each other
# The three self-conjugate frequencies (k_y, k_x) in quarter-cycles per pixel: period-2 patterns only.
PERIOD2 = ((0, 2), (2, 0), (2, 2))


def plane_log_ratios(plane: np.ndarray) -> np.ndarray:
    """[4, 4] array of log10(magnitude / neighbourhood median) at frequency (k_y/4, k_x/4) cycles per pixel
    ([0, 0], the mean, is 0 and in no score) of a float HxW plane, at least 16x16 and used as given (no
    border, luma or rounding: analyses of sub-level patterns that 8-bit rounding would hide use it)."""
    plane = np.asarray(plane, dtype=np.float64)
    h, w = plane.shape
    plane = plane[: h - h % PERIOD, : w - w % PERIOD]
    h, w = plane.shape

    def hann(n: int) -> np.ndarray:  # periodic Hann: a bin-centred tone leaks into +-1 bin only
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)

    spectrum = np.abs(np.fft.fft2((plane - plane.mean()) * np.outer(hann(h), hann(w))))
    # A flat image has an all-zero spectrum: the floor makes every ratio 1 (log 0) instead of 0/0.
    floor = 1e-12 * spectrum.max() + np.finfo(np.float64).tiny
    dy, dx = np.mgrid[-RING[1] : RING[1] + 1, -RING[1] : RING[1] + 1]
    ring = np.maximum(np.abs(dy), np.abs(dx)) >= RING[0]
    dy, dx = dy[ring], dx[ring]
    ratios = np.zeros((PERIOD, PERIOD))
    for ky, kx in list(np.ndindex(PERIOD, PERIOD))[1:]:  # not (0, 0), the mean
        cy, cx = ky * h // PERIOD, kx * w // PERIOD
        neighbours = spectrum[(cy + dy) % h, (cx + dx) % w]
        ratios[ky, kx] = np.log10((spectrum[cy, cx] + floor) / (np.median(neighbours) + floor))
    return ratios


def grid_groups(image: np.ndarray, crop_border: int = 0) -> dict[str, float]:
    """``{"grid", "period2", "period4"}``: the score and its two groups' means, to tell which pixel
    shuffle draws the grid (period 2: the last x2 shuffle; period 4: the first)."""
    plane = crop_plane(luma_plane(image, rounded=False), crop_border, MIN_SIDE, "the grid score")
    return groups_of(plane_log_ratios(plane))


def groups_of(ratios: np.ndarray) -> dict[str, float]:
    """The score and group means of a [4, 4] array of log-ratios (``plane_log_ratios``; [0, 0] is 0)."""
    period2 = sum(ratios[k] for k in PERIOD2)
    return {
        "grid": float(ratios.sum() / (PERIOD * PERIOD - 1)),
        "period2": float(period2 / len(PERIOD2)),
        "period4": float((ratios.sum() - period2) / (PERIOD * PERIOD - 1 - len(PERIOD2))),
    }


def grid_score(image: np.ndarray, crop_border: int = 0) -> float:
    """About -0.1..0 for photographs, higher the stronger a 2- or 4-pixel grid (definition: module docstring).
    ``image``: uint8 HxWx3 (measured on Y) or HxW, at least 16x16 after removing ``crop_border`` pixels."""
    return grid_groups(image, crop_border)["grid"]


def blockiness(image: np.ndarray, period: int = 32) -> float:
    """How much stronger the steps across a ``period``-pixel lattice are than the steps elsewhere.

    Why: a JPEG'd LR has its 8x8 block edges every 8 LR pixels, and a x4 model that sharpens them draws a
    32-pixel lattice; NIQE can read such structure as natural. Definition: on the Y plane (BT.601, not
    rounded; gray values for gray images), |difference| of horizontally and vertically adjacent pixels;
    the mean over the pairs that straddle a lattice line (between pixel ``k * period - 1`` and ``k *
    period``, both axes, the image's own top-left origin as JPEG's), over the mean over all other pairs.
    About 1.0 for photographs (shared/ HR: 1.00), higher with a lattice. Needs two lattice lines per axis.
    """
    if period < 2:
        raise ValueError(f"period must be at least 2, got {period}")
    plane = crop_plane(luma_plane(image, rounded=False), 0, 2 * period + 1, "blockiness")
    steps_x = np.abs(np.diff(plane, axis=1))  # column j: between pixels j and j + 1
    steps_y = np.abs(np.diff(plane, axis=0))
    on_x = (np.arange(steps_x.shape[1]) + 1) % period == 0
    on_y = (np.arange(steps_y.shape[0]) + 1) % period == 0
    across = steps_x[:, on_x].sum() + steps_y[on_y].sum()
    across_count = steps_x[:, on_x].size + steps_y[on_y].size
    rest = steps_x.sum() + steps_y.sum() - across
    rest_count = steps_x.size + steps_y.size - across_count
    mean_rest = rest / rest_count
    return float(across / across_count / mean_rest) if mean_rest > 0 else 1.0

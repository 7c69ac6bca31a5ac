"""PNG figures people look at: training curves from a run's metrics.csv and the sharpness of models.

A dev tool of training/figures.py, outside the installed package: matplotlib is an extra
(``pip install 'keras-srgan[dev]'``), imported here only, with the non-interactive Agg backend.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from keras_srgan.errors import UserError
from keras_srgan.files import atomic_path

LOSS_KEYS = ("g_loss", "d_loss", "content", "adversarial")
QUALITY_KEYS = ("psnr", "val_psnr")


def read_metrics(csv_path: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """column -> [(step, value)], skipping empty cells (e.g. val_psnr between validations)."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            step = int(row["step"])
            for key, value in row.items():
                if key != "step" and value not in ("", None):
                    series.setdefault(key, []).append((step, float(value)))
    return series


def require_matplotlib() -> None:
    """Fail with one line naming the extra, before any slow work, when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise UserError("figures need matplotlib: pip install 'keras-srgan[dev]'") from None
    matplotlib.use("Agg")


def _pyplot():
    require_matplotlib()
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_png: str | os.PathLike) -> Path:
    """Write through a temporary name so a crash never leaves a half-written PNG behind."""
    import matplotlib.pyplot as plt

    out_png = Path(out_png)
    try:
        with atomic_path(out_png) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return out_png


def plot_training_curves(
    csv_paths: dict[str, str | os.PathLike], out_png: str | os.PathLike, title: str | None = None
) -> Path:
    """Losses (log scale) and PSNR (train batch and validation) against step, one line per run."""
    plt = _pyplot()
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(12, 4.5))
    for run_name, csv_path in csv_paths.items():
        series = read_metrics(csv_path)
        prefix = f"{run_name}: " if len(csv_paths) > 1 else ""
        for key in LOSS_KEYS:
            if key in series:
                steps, values = zip(*series[key], strict=True)
                ax_loss.plot(steps, values, label=prefix + key)
        for key in QUALITY_KEYS:
            if key in series:
                steps, values = zip(*series[key], strict=True)
                style = "o-" if key == "val_psnr" else "-"
                ax_psnr.plot(steps, values, style, markersize=3, label=prefix + key)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("training losses (mean per logging interval)")
    ax_psnr.set_xlabel("step")
    ax_psnr.set_ylabel("PSNR on Y (dB)")
    ax_psnr.set_title("PSNR: training batches and validation crops")
    for ax in (ax_loss, ax_psnr):
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_sharpness(ratios: dict[str, dict[str, float]], out_png: str | os.PathLike) -> Path:
    """Grouped bars: per evaluation set, each method's mean gradient magnitude relative to the HR's.

    ``ratios`` is ``{set: {method: ratio}}``; a dashed line marks 1.0, the ground truth's own detail.
    """
    plt = _pyplot()
    sets = list(ratios)
    methods = list(dict.fromkeys(m for per_set in ratios.values() for m in per_set))
    width = 0.8 / max(len(methods), 1)
    fig, ax = plt.subplots(figsize=(1.6 + 2.2 * len(sets), 4))
    for i, method in enumerate(methods):
        xs = [s + (i - (len(methods) - 1) / 2) * width for s in range(len(sets))]
        values = [ratios[name].get(method, float("nan")) for name in sets]
        bars = ax.bar(xs, values, width, label=method)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="HR (ground truth)")
    ax.set_xticks(range(len(sets)), sets)
    ax.set_ylabel("mean gradient magnitude, SR / HR")
    ax.set_title("Texture detail relative to the ground truth (Y channel)")
    top = max([1.0] + [v for per_set in ratios.values() for v in per_set.values() if v == v])
    ax.set_ylim(0, top * 1.25)  # room for the legend above the bars and the 1.0 line
    ax.legend(fontsize=8, loc="upper center", ncol=len(methods) + 1)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, out_png)

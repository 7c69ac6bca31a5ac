"""``keras-srgan list-weights``: the generator weights shipped inside the package, with provenance."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "list-weights",
        help="list the weights shipped with the package",
        description="List shipped generator weights: name, training data, steps and SHA-256 prefix.",
    )


def _first(meta: dict, *keys: str, default: str = "?") -> str:
    for key in keys:
        value = meta.get(key)
        if value not in (None, "", []):
            return " + ".join(map(str, value)) if isinstance(value, list) else str(value)
    return default


def run(args: argparse.Namespace) -> int:
    from keras_srgan.weights import shipped_weights

    shipped = shipped_weights()
    if not shipped:
        print(
            "No weights are shipped with this version of keras-srgan. "
            "Train one (keras-srgan train) and pass --weights FILE (.weights.h5, .keras or a run folder)."
        )
        return 0
    rows = [("name", "stage (content loss)", "trained on", "steps", "sha256")]
    notes = []
    for name, meta in shipped.items():
        rows.append(
            (
                name,
                f"{_first(meta, 'stage')} ({_first(meta, 'content_loss')})",
                _first(meta, "trained_on", "dataset", "data"),
                _first(meta, "steps", "step"),
                _first(meta, "sha256")[:12],
            )
        )
        if meta.get("note"):
            notes.append(f"{name}: {meta['note']}")
        init = meta.get("initialised_from")
        if isinstance(init, dict) and init.get("weights"):
            pinned = f" (sha256 {init['sha256'][:12]})" if init.get("sha256") else ""
            notes.append(f"{name}: initialised from {init['weights']}{pinned}")
        mix = meta.get("interpolation")
        if isinstance(mix, dict) and mix.get("psnr_weights"):
            share = float(mix["gan_weight"])
            notes.append(
                f"{name}: network interpolation, {share:g} x its GAN run + {1 - share:g} x {mix['psnr_weights']}"
                f" (sha256 {str(mix.get('sha256'))[:12]})"
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for note in notes:
        print(note)
    return 0

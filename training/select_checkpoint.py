"""Choose a GAN run's checkpoint without looking at the sets we report.

    python training/select_checkpoint.py runs/srgan --phase-equalize
    python training/ship_weights.py runs/srgan srgan --checkpoint runs/srgan/checkpoints/ckpt-N ...

Why: a GAN oscillates (checkpoints 250 steps apart differ by up to 0.8 in NIQE), so the newest checkpoint
is not the best one, and choosing by Set5/Set14/BSD100 figures would tune on the evaluation sets. This
measures every checkpoint's generator (as ``ship_weights.py`` would take it) with the evaluation protocol
on a *selection set*: every ``--every``-th image (sorted by name) of the run's own training folders. NIQE
and grid need no ground truth, so the training images are fair for them; PSNR on images the generator
was trained on is optimistic and only compares checkpoints with each other.

Results are cached per step in ``<run>/selection.json``, so a later call measures only new checkpoints
(``--checkpoints`` can name a folder where every checkpoint was kept, as the run keeps only a few). The
choice: the lowest NIQE among the checkpoints whose selection PSNR is at least ``--min-psnr`` and whose step
is at least ``--min-step`` (e.g. a recipe's minimum number of GAN updates); ``--steps`` measures only the
named checkpoints.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import keras
from ship_weights import generator_from_checkpoint

from keras_srgan.evaluation import evaluate, list_images
from keras_srgan.inference.phase import BLOCK_PIXELS, SIGMA_PIXELS

KEYS = ("psnr", "ssim", "niqe", "grid")


def selection_folders(folders: list[Path], every: int, root: Path) -> list[Path]:
    """Folders of links to every ``every``-th image of each of ``folders`` (one per source, same names)."""
    out = []
    for folder in folders:
        target = root / folder.name
        target.mkdir(parents=True)
        for path in list_images(folder)[::every]:
            (target / path.name).symlink_to(path.resolve())
        out.append(target)
    return out


def checkpoint_steps(folder: Path) -> dict[int, str]:
    """{step: checkpoint prefix} of the ``ckpt-N`` checkpoints in ``folder``."""
    steps = {}
    for index in folder.glob("ckpt-*.index"):
        match = re.fullmatch(r"ckpt-(\d+)", index.stem)
        if match:
            steps[int(match.group(1))] = str(index.with_suffix(""))
    return dict(sorted(steps.items()))


def pooled(report: dict) -> dict[str, float | None]:
    """Means over every image of every set of an ``evaluate`` report (not a mean of set means)."""
    images = [r for s in report["sets"].values() for r in s["images"].values()]
    result: dict[str, float | None] = {}
    for key in KEYS:
        values = [r[key] for r in images if r.get(key) is not None]
        result[key] = sum(values) / len(values) if values else None
    result["images"] = len(images)
    return result


def choose(rows: dict[int, dict], min_psnr: float | None, min_step: int = 0) -> int | None:
    """The step with the lowest NIQE among rows with a NIQE, at least ``min_step`` updates and, if given,
    PSNR >= ``min_psnr``."""
    allowed = [
        (row["niqe"], step)
        for step, row in rows.items()
        if row["niqe"] is not None and step >= min_step and (min_psnr is None or row["psnr"] >= min_psnr)
    ]
    return min(allowed)[1] if allowed else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--checkpoints", type=Path, help="folder of ckpt-N files (default: <run>/checkpoints)"
    )
    parser.add_argument("--every", type=int, default=4, help="take every N-th training image (default 4)")
    parser.add_argument("--phase-equalize", action="store_true", help="measure as shipped with equalisation")
    parser.add_argument("--min-psnr", type=float, help="ignore checkpoints below this selection PSNR")
    parser.add_argument(
        "--min-step",
        type=int,
        default=0,
        help="choose only among checkpoints with at least this many updates",
    )
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        help="measure only these checkpoints (default: every one not yet measured)",
    )
    args = parser.parse_args(argv)

    config = json.loads((args.run_dir / "config.json").read_text())
    folder = args.checkpoints or args.run_dir / "checkpoints"
    found = checkpoint_steps(folder)
    if not found:
        raise SystemExit(f"{folder}: no ckpt-N checkpoints in this folder")
    cache_path = args.run_dir / "selection.json"
    settings = {
        "every": args.every,
        "phase_equalize": args.phase_equalize
        and {"sigma_pixels": SIGMA_PIXELS, "block_pixels": BLOCK_PIXELS},
        "data": config["data"],
    }
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    if cache.get("settings") != settings:
        cache = {"settings": settings, "steps": {}}
    rows = {int(k): v for k, v in cache["steps"].items()}

    if args.steps:
        missing = sorted(set(args.steps) - set(found))
        if missing:
            raise SystemExit(f"{folder}: no checkpoint for step(s) {', '.join(map(str, missing))}")
    todo = [step for step in found if step not in rows and (not args.steps or step in args.steps)]
    with tempfile.TemporaryDirectory() as tmp:
        data = selection_folders([Path(d) for d in config["data"]], args.every, Path(tmp))
        for n, step in enumerate(todo, 1):
            generator, restored = generator_from_checkpoint(config, found[step])
            if restored != step:
                raise SystemExit(f"{found[step]}: holds step {restored}, not {step}")
            report = evaluate(data, weights=generator, phase_equalize=args.phase_equalize, progress=False)
            rows[step] = pooled(report)
            cache["steps"] = {str(k): v for k, v in sorted(rows.items())}
            cache_path.write_text(json.dumps(cache, indent=1) + "\n")
            print(f"[{n}/{len(todo)}] step {step}: " + ", ".join(f"{k} {rows[step][k]:.3f}" for k in KEYS))
            keras.backend.clear_session()

    best = choose(rows, args.min_psnr, args.min_step)
    images = next(iter(rows.values()))["images"]
    print(f"selection set: every {args.every}th image of {', '.join(config['data'])} ({images} images)")
    print(f"{'step':>7}  {'PSNR':>6}  {'SSIM':>6}  {'NIQE':>5}  {'grid':>5}")
    for step, row in sorted(rows.items()):
        mark = "  <- lowest NIQE" if step == best else ""
        print(
            f"{step:>7}  {row['psnr']:6.2f}  {row['ssim']:6.4f}  {row['niqe']:5.2f}  {row['grid']:5.2f}{mark}"
        )
    if best is None:
        print("no measured checkpoint passes --min-psnr and --min-step")
        return 1
    print(f"chosen: step {best} ({found.get(best, 'checkpoint no longer in ' + str(folder))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

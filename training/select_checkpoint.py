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

A degraded selection set instead (the real-world model, docs/evaluation.md): ``--hr-data`` + ``--lr-data``
(paired folders, e.g. training images and their ``training/degraded_sets.py`` LR), and the rule's filters
``--min-ssim`` (e.g. Real-ESRGAN's SSIM on that set), ``--max-grid`` and ``--max-blocks``: the choice is
then the lowest NIQE among the checkpoints that pass all of them.
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

KEYS = ("psnr", "ssim", "niqe", "grid", "blockiness")


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


def choose(rows: dict[int, dict], min_step: int = 0, **limits: float | None) -> int | None:
    """The step with the lowest NIQE among rows with a NIQE, at least ``min_step`` updates and every
    given limit met: ``min_psnr``, ``min_ssim``, ``max_grid``, ``max_blocks``."""
    bounds = {
        "min_psnr": ("psnr", 1), "min_ssim": ("ssim", 1), "max_grid": ("grid", -1), "max_blocks": ("blockiness", -1),
    }  # fmt: skip

    def passes(row: dict) -> bool:
        for name, limit in limits.items():
            key, sign = bounds[name]
            if limit is not None and (row.get(key) is None or sign * (row[key] - limit) < 0):
                return False
        return True

    allowed = [
        (row["niqe"], step)
        for step, row in rows.items()
        if row["niqe"] is not None and step >= min_step and passes(row)
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
    parser.add_argument("--min-ssim", type=float, help="ignore checkpoints below this selection SSIM")
    parser.add_argument("--max-grid", type=float, help="ignore checkpoints above this grid score")
    parser.add_argument("--max-blocks", type=float, help="ignore checkpoints above this blockiness")
    parser.add_argument("--hr-data", type=Path, help="a paired selection set: HR folder (with --lr-data)")
    parser.add_argument("--lr-data", type=Path, help="a paired selection set: LR folder (with --hr-data)")
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
    if (args.hr_data is None) != (args.lr_data is None):
        parser.error("--hr-data and --lr-data go together")

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
        "data": [str(args.hr_data), str(args.lr_data)] if args.hr_data else config["data"],
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
        if args.hr_data:
            data, lr_dirs = [args.hr_data], [args.lr_data]
        else:
            data, lr_dirs = selection_folders([Path(d) for d in config["data"]], args.every, Path(tmp)), None
        for n, step in enumerate(todo, 1):
            generator, restored = generator_from_checkpoint(config, found[step])
            if restored != step:
                raise SystemExit(f"{found[step]}: holds step {restored}, not {step}")
            report = evaluate(
                data, weights=generator, phase_equalize=args.phase_equalize, progress=False, lr_dirs=lr_dirs
            )
            rows[step] = pooled(report)
            cache["steps"] = {str(k): v for k, v in sorted(rows.items())}
            cache_path.write_text(json.dumps(cache, indent=1) + "\n")
            print(f"[{n}/{len(todo)}] step {step}: " + ", ".join(f"{k} {rows[step][k]:.3f}" for k in KEYS))
            keras.backend.clear_session()

    limits = {k: getattr(args, k) for k in ("min_psnr", "min_ssim", "max_grid", "max_blocks")}
    best = choose(rows, args.min_step, **limits)
    images = next(iter(rows.values()))["images"]
    source = (
        f"{args.hr_data} with LR {args.lr_data}"
        if args.hr_data
        else (f"every {args.every}th image of {', '.join(config['data'])}")
    )
    print(f"selection set: {source} ({images} images)")
    print(f"{'step':>7}  {'PSNR':>6}  {'SSIM':>6}  {'NIQE':>5}  {'grid':>5}  {'blocks':>6}")
    for step, row in sorted(rows.items()):
        mark = "  <- chosen" if step == best else ""
        blocks = row.get("blockiness")
        print(
            f"{step:>7}  {row['psnr']:6.2f}  {row['ssim']:6.4f}  {row['niqe']:5.2f}  {row['grid']:5.2f}"
            f"  {'-' if blocks is None else f'{blocks:6.3f}'}{mark}"
        )
    if best is None:
        print("no measured checkpoint passes the limits and --min-step")
        return 1
    print(f"chosen: step {best} ({found.get(best, 'checkpoint no longer in ' + str(folder))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

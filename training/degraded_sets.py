"""Write the degraded benchmark sets: ``<ROOT>/<SET>_<level>/`` for each set and level, each with a manifest.

    python training/degraded_sets.py                                   # BSD100 + Set14, all three levels
    python training/degraded_sets.py --sets BSD100 --levels mild --root /tmp/degraded

Levels are ``keras_srgan.data.degradation.LEVELS`` (mild, strong, bilinear2jpeg; docs/evaluation.md).
Every set is made with ``make_degraded_set`` and one fixed seed, so the same command gives the same bytes
(on the same kind of CPU); the manifest records the level, seed, knobs and SHA-256 of every LR file. A
folder that already holds a set is checked against its manifest and kept; one made with other knobs or
another seed is never overwritten (other runs may be reading it) unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("KERAS_SRGAN_DATA", REPO.parent / "shared" / "data"))
ROOT = Path("/work/runs/degraded")
SETS = ("BSD100", "Set14")
SEED = 27  # issue 27; one seed for every set and level (the knobs differ, so the draws do too)


def check_set(folder: Path) -> list[str]:
    """Names of the files whose bytes no longer match the folder's manifest (missing files included)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    bad = []
    for name, entry in manifest["files"].items():
        path = folder / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            bad.append(name)
    return bad


def write_set(hr_dir: Path, out: Path, level: str, seed: int = SEED, force: bool = False) -> str:
    """Make one set (or keep a matching one); returns what was done, for the log line."""
    from keras_srgan.data.degradation import degradation_level, make_degraded_set

    wanted = {"level": level, "seed": seed, "degradation": degradation_level(level).get_config()}
    manifest_path = out / "manifest.json"
    if manifest_path.is_file() and not force:
        have = json.loads(manifest_path.read_text())
        if {k: have.get(k) for k in wanted} != json.loads(json.dumps(wanted)):
            raise SystemExit(
                f"{out} holds a set made with other knobs or another seed; not overwritten "
                "(give another --root, or --force)"
            )
        bad = check_set(out)
        if bad:
            raise SystemExit(
                f"{out}: {len(bad)} file(s) differ from its manifest, e.g. {bad[0]} (--force remakes)"
            )
        return f"kept (all {len(have['files'])} files match the manifest)"
    make_degraded_set(hr_dir, out, seed=seed, degradation=level)
    return f"made ({len(json.loads(manifest_path.read_text())['files'])} files)"


def main(argv: list[str] | None = None) -> int:
    from keras_srgan.data.degradation import LEVELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), help="folders under the data folder")
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=list(LEVELS))
    parser.add_argument("--root", type=Path, default=ROOT, help=f"where the sets go (default {ROOT})")
    parser.add_argument("--data", type=Path, default=DATA, help=f"HR folders (default {DATA})")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--force", action="store_true", help="remake sets whose folder holds something else")
    args = parser.parse_args(argv)
    for name in args.sets:
        if not (args.data / name).is_dir():
            print(f"no HR folder {args.data / name}", file=sys.stderr)
            return 1
    for name in args.sets:
        for level in args.levels:
            out = args.root / f"{name}_{level}"
            done = write_set(args.data / name, out, level, args.seed, args.force)
            print(f"{out}: {done}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

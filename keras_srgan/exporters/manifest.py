"""``OUT_DIR/manifest.json``: what each exported file is, how to call it, and how well it matched Keras.

The manifest is merged, not rewritten: exporting one more format keeps the entries of the others.
Entries whose file has disappeared are dropped so the manifest never vouches for something absent.
Writes go to a temporary name and are renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from keras_srgan.errors import UserError
from keras_srgan.files import write_atomic_text
from keras_srgan.weights import sha256_of as sha256_file

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


def sha256_tree(path: str | os.PathLike) -> str:
    """Digest of a directory: SHA-256 over sorted ``<sha256>  <relative path>`` lines (like ``sha256sum``)."""
    files = sorted(p for p in Path(path).rglob("*") if p.is_file())
    lines = "".join(f"{sha256_file(p)}  {p.relative_to(path).as_posix()}\n" for p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def read_manifest(out_dir: str | os.PathLike) -> dict:
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        return {"manifest_version": MANIFEST_VERSION, "artifacts": []}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable manifest ({exc}); move it away to start a new one") from None
    manifest.setdefault("artifacts", [])
    return manifest


def add_entries(out_dir: str | os.PathLike, entries: list[dict]) -> Path:
    """Merge entries (keyed by their ``path``) into the manifest and rewrite it atomically."""
    out = Path(out_dir)
    manifest = read_manifest(out)
    new_paths = {e["path"] for e in entries}
    old = manifest["artifacts"]
    kept = [e for e in old if e.get("path") not in new_paths and (out / e.get("path", "")).exists()]
    manifest["manifest_version"] = MANIFEST_VERSION
    manifest["artifacts"] = sorted(kept + list(entries), key=lambda e: e["path"])
    path = out / MANIFEST_NAME
    write_atomic_text(path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return path

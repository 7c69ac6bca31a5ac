"""Every third-party import of the package, training/, export/ and benchmarks/ is declared in setup.cfg.

A fresh install is the only install: a module that imports a package nobody declared works on a machine
where it happens to be installed and crashes for users (it happened with TensorBoard).
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import re
import sys

from conftest import REPO

SOURCES = ["keras_srgan", "training", "export", "benchmarks"]


def _requirement_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    core = _requirement_names(cfg["options"]["install_requires"])
    extras = {k: _requirement_names(v) for k, v in cfg["options.extras_require"].items()}
    return core, extras


def _top_level_imports(path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_third_party_import_is_declared():
    core, extras = _declared()
    declared = core.union(*extras.values())
    local = {"keras_srgan", "_common", "conftest"} | {
        p.stem for d in SOURCES for p in (REPO / d).glob("*.py")
    }
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")):
            for module in _top_level_imports(path) - local - set(sys.stdlib_module_names):
                # not installed (an extra the test install leaves out): its import name must be declared
                dists = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
                if not dists & declared:
                    missing.setdefault(module, []).append(
                        f"{path.relative_to(REPO)} ({', '.join(sorted(dists))})"
                    )
    assert not missing, f"imports no requirement in setup.cfg names: {missing}"


def test_training_logs_need_tensorboard_in_the_core_install(tmp_path):
    """tf.summary.scalar raises TBNotInstalledError without TensorBoard (TF 2.21 no longer installs it)."""
    core, _ = _declared()
    assert "tensorboard" in core
    import tensorflow as tf

    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        assert tf.summary.scalar("probe", 1.0, step=0)
    assert list(tmp_path.glob("events.out.tfevents.*"))


# extras only a benchmark uses, kept out of `all` (the README's test install)
BENCHMARK_ONLY_EXTRAS = {"int8", "peers"}


def test_all_extra_holds_every_other_extra():
    _, extras = _declared()
    others = set().union(*(v for k, v in extras.items() if k not in {"all", *BENCHMARK_ONLY_EXTRAS}))
    assert others <= extras["all"], others - extras["all"]

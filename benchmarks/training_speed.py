"""Training speed: seconds per step (batch 16, 96 px) for pretrain and GAN (alternating and simultaneous
updates), fp32 / bf16, with and without XLA, and the input pipeline's HR batches/s against what the step
consumes.

    python benchmarks/training_speed.py [--pause PID] [--steps 5]

Each configuration runs in its own process (a clean mixed-precision policy and XLA cache) and builds
the model exactly as ``keras-srgan train`` does (``build_model`` + ``tf.function(train_step,
jit_compile=...)``). The GAN uses VGG54 with random weights: same cost as ImageNet weights, no
download. A configuration that cannot compile is reported with its error, as a measured fact.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DATA,
    REPO,
    RESULTS,
    Timer,
    describe_machine,
    machine,
    pause_arg,
    save_figure,
    table,
    write_json,
)

# "gan" is the paper's alternating update (D step, then G against the updated D); "gan-simultaneous" takes
# both gradients from one pass
CONFIGS = [
    (stage, precision, jit)
    for stage in ("pretrain", "gan", "gan-simultaneous")
    for precision in ("fp32", "bf16")
    for jit in (False, True)
]


def _config(stage: str, precision: str, jit: bool):
    from keras_srgan.train.config import TrainConfig

    stage, _, update = stage.partition("-")
    return TrainConfig(
        data=[str(DATA / "T91"), str(DATA / "BSDS200")],
        stage=stage,
        gan_update=update or "alternating",
        steps=1000,
        batch_size=16,
        patch_size=96,
        mixed_precision=precision,
        jit_compile=jit,
        vgg_weights="random",
    )


def one(stage: str, precision: str, jit: bool, steps: int, pause: tuple[list[int], list[str]]) -> dict:
    """Time ``steps`` train steps of one configuration after two warm-up steps (tracing / compiling)."""
    import keras
    import tensorflow as tf

    from keras_srgan.data.pipeline import train_dataset
    from keras_srgan.train.trainer import POLICIES, build_model

    cfg = _config(stage, precision, jit)
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    iterator = iter(train_dataset(cfg.data, cfg.patch_size, cfg.batch_size, seed=0))
    step = tf.function(model.train_step, jit_compile=jit)
    result = {"stage": stage, "precision": precision, "xla": jit}
    try:
        start = time.perf_counter()
        for _ in range(2):
            logs = step(next(iterator))
        float(next(iter(logs.values())))
        result["warmup_s"] = time.perf_counter() - start
    except Exception as exc:  # XLA compile failures are results, not crashes
        import re

        text = str(exc)
        ops = sorted(set(re.findall(r"XLA_CPU_JIT: (\w+)", text)))
        if ops:
            result["error"] = f"{type(exc).__name__}: no XLA CPU kernel for {', '.join(ops)}"
        else:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            result["error"] = f"{type(exc).__name__}: {(lines[0] if lines else '').strip()[:300]}"
        return result
    timer = Timer(*pause)
    waits = []
    with timer.window():
        start = time.perf_counter()
        for _ in range(steps):
            t = time.perf_counter()
            batch = next(iterator)
            waits.append(time.perf_counter() - t)
            logs = step(batch)
            float(next(iter(logs.values())))  # the step's result is on the host: it really finished
        total = time.perf_counter() - start
    result.update(
        s_per_step=total / steps,
        input_wait_s_per_step=sum(waits) / steps,
        others_cpu_pct=timer.summary()["others_cpu_pct_max"],
    )
    return result


def paired_updates(precision: str, content_loss: str, pairs: int, pause) -> dict:
    """Alternating vs simultaneous GAN step in ONE process, timed step by step in turn (A B A B ...).

    Why: on a shared machine the load drifts between whole runs; interleaving single steps makes both
    updates see the same load, so the per-pair ratio holds even when the absolute times do not.
    """
    import statistics
    from dataclasses import replace

    import keras
    import tensorflow as tf

    from keras_srgan.data.pipeline import train_dataset
    from keras_srgan.train.trainer import POLICIES, build_model

    keras.mixed_precision.set_global_policy(POLICIES[precision])
    base = replace(_config("gan", precision, False), content_loss=content_loss)
    steps = {}
    for update in ("alternating", "simultaneous"):
        keras.utils.set_random_seed(0)
        model = build_model(replace(base, gan_update=update))
        steps[update] = tf.function(model.train_step)
    iterator = iter(train_dataset(base.data, base.patch_size, base.batch_size, seed=0))
    batch = next(iterator)
    for step in steps.values():  # trace and warm up
        for _ in range(2):
            float(step(batch)["g_loss"])
    times = {update: [] for update in steps}
    timer = Timer(*pause)
    with timer.window():
        for _ in range(pairs):
            for update, step in steps.items():
                start = time.perf_counter()
                float(step(batch)["g_loss"])
                times[update].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times["alternating"], times["simultaneous"], strict=True)]
    return {
        "precision": precision,
        "content_loss": content_loss,
        "pairs": pairs,
        "alternating_s_per_step": statistics.median(times["alternating"]),
        "simultaneous_s_per_step": statistics.median(times["simultaneous"]),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "others_cpu_pct": timer.summary()["others_cpu_pct_max"],
    }


def pipeline_rate(batches: int, pause: tuple[list[int], list[str]]) -> dict:
    """HR batches/s of the training input pipeline alone (decode once + cache, random crop, flips, batch).

    The bicubic degradation to LR runs inside the train step (``SRGAN.make_pair``), so it is timed there.
    """
    from keras_srgan.data.pipeline import train_dataset

    cfg = _config("pretrain", "fp32", False)
    iterator = iter(train_dataset(cfg.data, cfg.patch_size, cfg.batch_size, seed=0))
    start = time.perf_counter()
    for _ in range(20):  # fills the decode cache and the prefetch buffer
        next(iterator)
    warm = time.perf_counter() - start
    timer = Timer(*pause)
    with timer.window():
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        total = time.perf_counter() - start
    return {
        "batches_per_s": batches / total,
        "first_20_batches_s": warm,
        "others_cpu_pct": timer.summary()["others_cpu_pct_max"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration")
    parser.add_argument(
        "--pause",
        nargs="*",
        help="PIDs or pgrep -f patterns to SIGSTOP while timing (resumed after each window)",
    )
    parser.add_argument("--only", nargs="*", help="configs like pretrain/bf16/noxla (default: all 12)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument(
        "--paired-updates",
        nargs=2,
        metavar=("PRECISION", "CONTENT_LOSS"),
        help="only: alternating vs simultaneous GAN steps interleaved in one process (e.g. bf16 mse)",
    )
    parser.add_argument("--pairs", type=int, default=10, help="step pairs for --paired-updates")
    parser.add_argument("--json", default=str(RESULTS / "training_speed.json"))
    parser.add_argument("--plot", default=str(REPO / "docs" / "images" / "perf_training_speed.png"))
    args = parser.parse_args(argv)
    pause = pause_arg(args.pause)
    if args.paired_updates:
        print(describe_machine(machine()))
        print(json.dumps(paired_updates(*args.paired_updates, args.pairs, pause), indent=1))
        return 0
    if args.one:
        stage, precision, jit = args.one.split("/")
        if stage == "pipeline":
            print("RESULT " + json.dumps(pipeline_rate(300, pause)))
        else:
            print("RESULT " + json.dumps(one(stage, precision, jit == "xla", args.steps, pause)))
        return 0

    info = machine()
    print(describe_machine(info))
    results = []
    names = [f"{s}/{p}/{'xla' if j else 'noxla'}" for s, p, j in CONFIGS] + ["pipeline/-/-"]
    if args.only:
        names = [n for n in names if n in args.only or n.startswith("pipeline")]
    for name in names:
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps)]
        if args.pause:
            cmd += ["--pause", *args.pause]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            result = {"config": name, "error": f"process failed (exit {proc.returncode}): {tail[:300]}"}
        else:
            result = {"config": name, **json.loads(line[7:])}
        results.append(result)
        print(f"  {name}: " + json.dumps({k: v for k, v in result.items() if k != "config"}), flush=True)

    steps = {r["config"]: r for r in results if "s_per_step" in r}
    pipe = next((r for r in results if r["config"].startswith("pipeline")), {})
    rows = []
    for r in results:
        if r["config"].startswith("pipeline"):
            continue
        if "s_per_step" in r:
            consumes = 1.0 / r["s_per_step"]
            ratio = pipe.get("batches_per_s", float("nan")) / consumes
            rows.append(
                [
                    r["config"],
                    f"{r['s_per_step']:.2f}",
                    f"{r['input_wait_s_per_step'] * 1000:.1f}",
                    f"{ratio:.0f}x",
                    str(r.get("others_cpu_pct")),
                ]
            )
            r["pipeline_to_step_ratio"] = ratio
        else:
            rows.append([r["config"], "failed", "-", "-", r.get("error", "")[:120]])
    print()
    print(
        table(
            ["config", "s/step", "input wait (ms/step)", "pipeline/step rate", "others' CPU % / error"], rows
        )
    )
    if pipe:
        print(
            f"\ninput pipeline alone: {pipe.get('batches_per_s', float('nan')):.1f} HR batches/s (batch 16, 96 px)"
        )
    for stage in ("pretrain", "gan", "gan-simultaneous"):
        a, b = steps.get(f"{stage}/fp32/noxla"), steps.get(f"{stage}/bf16/noxla")
        if a and b:
            print(f"{stage}: bf16 speed-up over fp32 {a['s_per_step'] / b['s_per_step']:.2f}x")
        for precision in ("fp32", "bf16"):
            a, b = steps.get(f"{stage}/{precision}/noxla"), steps.get(f"{stage}/{precision}/xla")
            if a and b:
                print(f"{stage}/{precision}: XLA speed-up {a['s_per_step'] / b['s_per_step']:.2f}x")
    for precision in ("fp32", "bf16"):
        a, b = steps.get(f"gan/{precision}/noxla"), steps.get(f"gan-simultaneous/{precision}/noxla")
        if a and b:
            print(f"gan/{precision}: alternating costs {a['s_per_step'] / b['s_per_step']:.2f}x simultaneous")
    print(f"wrote {write_json(args.json, {'machine': info, 'results': results})}")
    plot(results, args.plot)
    print(f"wrote {args.plot}")
    return 0


def plot(results: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if not r["config"].startswith("pipeline")]
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = [r["config"] for r in rows]
    values = [r.get("s_per_step", 0.0) for r in rows]
    bars = ax.barh(labels, values, color=["C0" if "s_per_step" in r else "0.7" for r in rows])
    for bar, r in zip(bars, rows, strict=True):
        text = f"{r['s_per_step']:.2f} s" if "s_per_step" in r else "failed to compile"
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + text, va="center", fontsize=8)
    ax.set_xlabel("seconds per step (batch 16, 96 px HR), lower is better")
    ax.set_title("Training step time by stage / precision / XLA")
    save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())

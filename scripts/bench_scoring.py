"""Benchmark: sot's OTB scoring against the got10k toolkit, and the cached load of LaSOT-sized metadata.

    python scripts/bench_scoring.py                      # 280 sequences x 2,500 frames, 1,400-sequence load test
    python scripts/bench_scoring.py --sequences 50 --frames 500 --no-load   # quick

Scoring: one random result set is written once in the OTB text layout (``%.3f`` boxes, comma separated,
and per-frame times, as the toolkit writes them). Every variant below runs once per round, the rounds
interleaved so that all of them see the same machine load, and the median over the rounds is reported
(wall clock and CPU time of this process).

got10k toolkit (``ExperimentOTB.report``; its dataset is an in-memory stand-in holding the same ground
truth, its ``plot_curves`` switched off; ``report()`` still writes its ``performance.json``):

* ``files``: as a user runs it, reading every result and time file with ``np.loadtxt`` each time.
* ``pre-parsed``: the same ``report()`` with ``np.loadtxt`` answered from arrays parsed beforehand, i.e.
  its scoring, bookkeeping and JSON output without the text parsing.
* ``metrics only``: just its per-sequence arithmetic (``_calc_metrics``, ``_calc_curves``, the speed
  means) over in-memory arrays: the like-for-like match of sot's in-memory scoring.

sot (``score(..., "otb")``):

* ``files, cold``: the first scoring of a result folder: text parse; ``score()`` returns while a background
  thread writes the parse cache.
* ``files, cold + cache written``: the same, until that write has finished (what a process that exits
  right after scoring waits for).
* ``files, warm``: the same folder again (the parse cache is valid).
* ``in memory``: from the arrays.

Floor of a first scoring (the least any first scoring must do): reading every result and time file
(``os.read``, one thread), one compiled pass that only counts the newlines in their text (cheaper than any
parser's pass over it), and ``in memory`` above; the toolkit's time over their sum is the most a first scoring
could be faster than the toolkit here, with a parser as fast as counting newlines.

Every sot report must equal the toolkit's to 1e-9 (curves, scores, per-sequence values, speed); the
script says whether they are bit-identical.

One-time costs are outside the rounds, for both sides: every variant runs once before them (the toolkit's
imports; sot's parse cache filled and, where numba is installed, its compiled scoring kernel loaded). The
kernel's own one-time cost is measured separately in fresh processes and printed: loading it from numba's
on-disk cache (every run after the first) and compiling it into an empty cache (the first run after an
install or a change of the kernel). ``SOT_NO_NUMBA=1`` benchmarks the numpy path.

Load: a LaSOT-layout folder of 1,400 sequences x 2,500 frames (annotation files only) is read twice;
the second read comes from the cache.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sot.datasets.base import Sequence  # noqa: E402
from sot.evaluation import TrackerResult, load_results, ope, score  # noqa: E402
from sot.evaluation.results_io import flush_cache_writes  # noqa: E402


def make_results(rng, n_seq, n_frames):
    seqs, results = [], {}
    for s in range(n_seq):
        wh = np.abs(40 + np.cumsum(rng.normal(0, 1, (n_frames, 2)), 0)) + 5
        xy = 300 + np.cumsum(rng.normal(0, 3, (n_frames, 2)), 0)
        gt = np.round(np.concatenate([xy, wh], 1), 2)
        pred = gt + rng.normal(0, 1, (n_frames, 4)) * rng.choice([1, 5, 30], (n_frames, 1))
        name = f"seq{s:04d}"
        seqs.append(Sequence(name, [""] * n_frames, gt, np.ones(n_frames, bool)))
        results[name] = TrackerResult([np.round(pred, 3)], [rng.uniform(0.01, 0.03, n_frames)])
    return seqs, results


def write_otb_layout(root: Path, results):
    (root / "times").mkdir(parents=True, exist_ok=True)
    for name, r in results.items():
        np.savetxt(root / f"{name}.txt", r.boxes[0], fmt="%.3f", delimiter=",")
        np.savetxt(root / "times" / f"{name}_time.txt", r.times[0], fmt="%.8f")


def read_all(paths) -> list[bytes]:
    """Every file's bytes, one ``os.read`` each on one thread: the least a first scoring must do to see its text."""
    out = []
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            out.append(os.read(fd, os.fstat(fd).st_size))
        finally:
            os.close(fd)
    return out


def newline_counter():
    """A compiled pass that only counts ``\\n`` bytes (one compare and add per byte, vectorised by LLVM), or None
    without numba: a lower bound of any parser's pass over the same text."""
    try:
        from numba import njit
    except ImportError:
        return None

    @njit(nogil=True)
    def count(buf):
        c = 0
        for i in range(buf.shape[0]):
            c += buf[i] == 10
        return c

    count(np.zeros(1, np.uint8))
    return lambda text: count(np.frombuffer(text, np.uint8))


def _toolkit_experiment(seqs, result_root: Path):
    from got10k.experiments import ExperimentOTB

    class Dataset:  # what ExperimentOTB.report needs from its dataset
        seq_names = [s.name for s in seqs]

        def __len__(self):
            return len(seqs)

        def __iter__(self):
            return iter([(None, s.boxes.copy()) for s in seqs])

    exp = ExperimentOTB.__new__(ExperimentOTB)
    exp.dataset, exp.nbins_iou, exp.nbins_ce = Dataset(), 21, 51
    exp.result_dir, exp.report_dir = str(result_root.parent), str(result_root.parent / "reports")
    exp.plot_curves = lambda *a, **k: None
    return exp


class _PreParsed:
    """Stands in for ``numpy`` inside ``got10k.experiments.otb``: ``loadtxt`` returns arrays parsed
    beforehand (``report()`` only overwrites row 0 with the ground truth, which is idempotent)."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    def loadtxt(self, fname, *args, **kwargs):
        return self.arrays[os.path.normpath(fname)]

    def __getattr__(self, name):
        return getattr(np, name)


def toolkit_report(seqs, result_root: Path, preparsed: dict | None = None):
    """``ExperimentOTB.report()`` without plots, from the files or (``preparsed``) from parsed arrays."""
    import got10k.experiments.otb as otb_module

    exp = _toolkit_experiment(seqs, result_root)
    real_np = otb_module.np
    if preparsed is not None:
        otb_module.np = _PreParsed(preparsed)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return exp.report([result_root.name])[result_root.name]
    finally:
        otb_module.np = real_np


def toolkit_metrics_only(seqs, exp, arrays: dict[str, tuple[np.ndarray, np.ndarray | None]]):
    """The toolkit's arithmetic of ``report()`` on in-memory arrays, nothing else (no files, no JSON)."""
    S = len(seqs)
    succ, prec, speeds = np.zeros((S, exp.nbins_iou)), np.zeros((S, exp.nbins_ce)), np.zeros(S)
    for s, seq in enumerate(seqs):
        boxes, times = arrays[seq.name]
        anno = seq.boxes
        boxes[0] = anno[0]
        ious, center_errors = exp._calc_metrics(boxes, anno)
        succ[s], prec[s] = exp._calc_curves(ious, center_errors)
        if times is not None:
            times = times[times > 0]
            if len(times) > 0:
                speeds[s] = np.mean(1. / times)
    succ_curve, prec_curve = np.mean(succ, axis=0), np.mean(prec, axis=0)
    return np.mean(succ_curve), prec_curve[20], speeds


def _diff(perf, rep) -> float:
    """Largest difference between a toolkit ``performance`` entry and a sot report (inf if a speed is
    known to one and not the other)."""
    o = perf["overall"]
    d = [np.max(np.abs(rep.curves["success"][1] - o["success_curve"])),
         np.max(np.abs(rep.curves["precision"][1] - o["precision_curve"])),
         abs(rep["auc"] - o["success_score"]), abs(rep["precision"] - o["precision_score"]),
         abs(rep["success_rate"] - o["success_rate"]), abs(rep["fps"] - o["speed_fps"])]
    for name, v in perf["seq_wise"].items():
        m = rep.per_sequence[name]
        fps = m["fps"] if m["fps"] == m["fps"] else -1  # sot: NaN where unknown, the toolkit: -1
        d += [abs(m["auc"] - v["success_score"]), abs(m["precision"] - v["precision_score"]),
              abs(m["success_rate"] - v["success_rate"]), abs(fps - v["speed_fps"])]
    return float(max(d))


def bench_scoring(n_seq, n_frames, rounds):
    rng = np.random.default_rng(0)
    seqs, results = make_results(rng, n_seq, n_frames)
    names = [s.name for s in seqs]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results" / "trk"
        write_otb_layout(root, results)
        on_disk = load_results(root, names, cache=False)  # what the files hold
        preparsed = {}
        for n in names:
            preparsed[os.path.normpath(str(root / f"{n}.txt"))] = np.loadtxt(root / f"{n}.txt", delimiter=",")
            preparsed[os.path.normpath(str(root / "times" / f"{n}_time.txt"))] = np.loadtxt(
                root / "times" / f"{n}_time.txt")
        exp = _toolkit_experiment(seqs, root)
        arrays = {n: (on_disk[n].boxes[0].copy(), on_disk[n].times[0]) for n in names}
        warm_cache = str(Path(tmp) / "cache-warm")
        cold = iter(range(10 ** 6))

        def sot_files(cache):
            os.environ["SOT_CACHE_DIR"] = cache
            return score(seqs, root, "otb")

        paths = [str(root / f"{n}.txt") for n in names] + [str(root / "times" / f"{n}_time.txt") for n in names]
        texts = read_all(paths)
        count = newline_counter()
        variants = {
            "toolkit report(), files": lambda: toolkit_report(seqs, root),
            "toolkit report(), pre-parsed": lambda: toolkit_report(seqs, root, preparsed),
            "toolkit metrics only, in memory": lambda: toolkit_metrics_only(seqs, exp, arrays),
            "sot score(), files, cold": lambda: sot_files(str(Path(tmp) / f"cache-cold{next(cold)}")),
            "sot score(), files, cold + cache written": lambda: (
                sot_files(str(Path(tmp) / f"cache-cold{next(cold)}")), flush_cache_writes())[0],
            "sot score(), files, warm cache": lambda: sot_files(warm_cache),
            "sot score(), in memory": lambda: score(seqs, on_disk, "otb"),
            "floor: read the files (os.read)": lambda: read_all(paths),
            "floor: count their newlines" + ("" if count else " (numpy)"): lambda: sum(
                count(t) if count else t.count(b"\n") for t in texts),
        }
        old_cache = os.environ.get("SOT_CACHE_DIR")
        try:
            sot_files(warm_cache)  # fill the warm cache (and load the compiled kernel)
            for k, fn in variants.items():  # one-time costs (imports, kernel) stay out of the rounds
                if k != "sot score(), files, warm cache":
                    fn()
            wall = {k: [] for k in variants}
            cpu = {k: [] for k in variants}
            out = {}
            for _ in range(rounds):
                for k, fn in variants.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    out[k] = fn()
                    wall[k].append(time.perf_counter() - t0)
                    cpu[k].append(time.process_time() - c0)
                    flush_cache_writes()  # a cache write left running must not slow the next variant
        finally:
            if old_cache is None:
                os.environ.pop("SOT_CACHE_DIR", None)
            else:
                os.environ["SOT_CACHE_DIR"] = old_cache

    perf = out["toolkit report(), files"]
    assert repr(perf) == repr(out["toolkit report(), pre-parsed"])  # the stand-in changes nothing
    med = {k: (float(np.median(wall[k])), float(np.median(cpu[k]))) for k in variants}
    print(f"scoring {n_seq} sequences x {n_frames} frames: median of {rounds} interleaved rounds "
          f"(wall / CPU of this process); sot box scoring: {ope.scoring_backend()}")
    for k, (w, c) in med.items():
        print(f"  {k:42s} {w * 1000:8.1f} ms  {c * 1000:8.1f} ms cpu")
    print("speed-up (toolkit time / sot time, wall; CPU in brackets):")
    pairs = [("toolkit report(), files", "sot score(), files, cold", "user workflow, first scoring of a folder"),
             ("toolkit report(), files", "sot score(), files, cold + cache written",
              "the same, until the parse cache is on disk"),
             ("toolkit report(), files", "sot score(), files, warm cache", "user workflow, folder scored before"),
             ("toolkit report(), files", "sot score(), in memory", "toolkit from files vs sot from arrays"),
             ("toolkit report(), pre-parsed", "sot score(), in memory", "both without text parsing"),
             ("toolkit metrics only, in memory", "sot score(), in memory", "arithmetic only")]
    for a, b, label in pairs:
        print(f"  {med[a][0] / med[b][0]:6.1f}x  ({med[a][1] / med[b][1]:5.1f}x)  {label}: {a} / {b}")
    floor = sum(w for k, (w, _) in med.items() if k.startswith("floor")) + med["sot score(), in memory"][0]
    print(f"  {med['toolkit report(), files'][0] / floor:6.1f}x  at most, for a first scoring: toolkit report(), "
          f"files / (reading the files + one pass that only counts their newlines + sot score(), in memory), "
          f"{floor * 1000:.1f} ms: what a parser as fast as that pass would give")
    diffs = {k: _diff(perf, out[k]) for k in variants if k.startswith("sot")}
    worst = max(diffs.values())
    ours = out["sot score(), in memory"]
    print(f"  AUC {ours['auc']:.6f}  precision {ours['precision']:.6f}  fps {ours['fps']:.4f}; "
          f"max |sot - toolkit| = {worst:.2e}" + (" (bit-identical)" if worst == 0 else ""))
    return worst


_KERNEL_SETUP = """
import time
from sot.evaluation import ope, results_io
t0 = time.perf_counter()
import numba
t1 = time.perf_counter()
backend = ope.scoring_backend()  # imports the kernel module: loads the kernel from numba's cache or compiles it
t2 = time.perf_counter()
results_io._fast_parser()  # the same for the result parser
t3 = time.perf_counter()
print(backend, t1 - t0, t2 - t1, t3 - t2)
"""


def bench_kernel_setup():
    """One-time costs of the compiled code in a fresh process: ``import numba``, then the scoring kernel and
    the result parser, loaded from numba's on-disk cache or compiled into an empty cache folder
    (``NUMBA_CACHE_DIR``)."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}

    def run(extra):
        try:
            out = subprocess.run([sys.executable, "-c", _KERNEL_SETUP], env={**env, **extra}, check=True,
                                 capture_output=True, text=True).stdout.split()
        except subprocess.CalledProcessError:  # numba not installed
            return "numpy", 0.0, 0.0, 0.0
        return out[0], *map(float, out[1:])

    with tempfile.TemporaryDirectory() as tmp:
        backend, imp, k_compile, p_compile = run({"NUMBA_CACHE_DIR": tmp})
        if backend != "numba":
            print("compiled code: not used (numba missing or SOT_NO_NUMBA set); numpy path")
            return
    _, imp_c, k_cached, p_cached = run({})
    print("compiled code, one-time cost per process (none of it in the rounds above):")
    print(f"  import numba {imp_c:.2f} s; scoring kernel {k_cached:.2f} s from numba's on-disk cache, "
          f"{k_compile:.2f} s compiling; result parser {p_cached:.2f} s cached, {p_compile:.2f} s compiling")


def bench_load(n_seq, n_frames):
    from sot.datasets.lasot import LaSOT

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lasot"
        row = "".join(f"{100 + i % 50},{200 + i % 30},{40 + i % 7},{60 + i % 11}\n" for i in range(n_frames))
        flags = ",".join("0" for _ in range(n_frames))
        for s in range(n_seq):
            cls = f"class{s // 20:02d}"
            d = root / cls / f"{cls}-{s % 20 + 1}"
            d.mkdir(parents=True)
            (d / "groundtruth.txt").write_text(row)
            (d / "full_occlusion.txt").write_text(flags)
            (d / "out_of_view.txt").write_text(flags)
        cache = Path(tmp) / "cache"
        t0 = time.perf_counter()
        first = LaSOT(root, split="all", cache=cache)
        t_parse = time.perf_counter() - t0
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            second = LaSOT(root, split="all", cache=cache)
            times.append(time.perf_counter() - t0)
        frames = sum(len(s) for s in second)
        assert len(second) == n_seq and np.array_equal(first[5].boxes, second[5].boxes)
    print(f"LaSOT-layout metadata, {n_seq} sequences / {frames / 1e6:.2f} M frames")
    print(f"  first load (parse + write cache): {t_parse:6.2f} s")
    print(f"  cached load (median of 3):        {np.median(times):6.2f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sequences", type=int, default=280)
    ap.add_argument("--frames", type=int, default=2500)
    ap.add_argument("--rounds", type=int, default=7, help="interleaved repetitions; the median is reported")
    ap.add_argument("--load-sequences", type=int, default=1400)
    ap.add_argument("--no-load", action="store_true")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    diff = bench_scoring(args.sequences, args.frames, args.rounds)
    bench_kernel_setup()
    if not args.no_load:
        bench_load(args.load_sequences, args.frames)
    if diff > 1e-9:
        sys.exit(f"numbers differ from the got10k toolkit by {diff:.2e}")


if __name__ == "__main__":
    main()

"""Benchmark: sot's OTB scoring against the got10k toolkit, and the cached load of LaSOT-sized metadata.

    python scripts/bench_scoring.py                      # 280 sequences x 2,500 frames, 1,400-sequence load test
    python scripts/bench_scoring.py --sequences 50 --frames 500 --no-load   # quick

Scoring: the same random result set is written once in the OTB text layout; the got10k toolkit's
``ExperimentOTB.report`` reads and scores it (its dataset object is an in-memory stand-in holding the
same ground truth, plotting switched off), and sot scores it (a) from the arrays in memory, (b) from the
result files, (c) from the result files again (parse cache warm). Numbers must agree to 1e-9.

Load: a LaSOT-layout folder of 1,400 sequences x 2,500 frames (annotation files only) is read twice;
the second read comes from the cache.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sot.datasets.base import Sequence  # noqa: E402
from sot.evaluation import TrackerResult, load_results, score  # noqa: E402


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


def toolkit_report(seqs, result_root: Path):
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
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return exp.report([result_root.name])[result_root.name]


def best_of(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def bench_scoring(n_seq, n_frames, repeats):
    rng = np.random.default_rng(0)
    seqs, results = make_results(rng, n_seq, n_frames)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results" / "trk"
        write_otb_layout(root, results)
        on_disk = load_results(root, [s.name for s in seqs], cache=False)  # what the files hold
        t_tk, perf = best_of(lambda: toolkit_report(seqs, root), repeats)
        t_mem, ours = best_of(lambda: score(seqs, on_disk, "otb"), repeats)
        t_cold, ours_cold = best_of(lambda: score(seqs, load_results(root, [s.name for s in seqs], cache=False), "otb"),
                                    repeats)
        os.environ.setdefault("SOT_CACHE_DIR", str(Path(tmp) / "cache"))
        load_results(root, [s.name for s in seqs])  # fill the parse cache
        t_warm, ours_warm = best_of(lambda: score(seqs, root, "otb"), repeats)
    o = perf["overall"]
    diff = max(abs(ours["auc"] - o["success_score"]), abs(ours["precision"] - o["precision_score"]),
               abs(ours["success_rate"] - o["success_rate"]), abs(ours["fps"] - o["speed_fps"]),
               max(abs(ours.per_sequence[n]["auc"] - v["success_score"]) for n, v in perf["seq_wise"].items()),
               abs(ours_cold["auc"] - o["success_score"]), abs(ours_warm["auc"] - o["success_score"]))
    print(f"scoring {n_seq} sequences x {n_frames} frames (best of {repeats})")
    print(f"  got10k toolkit ExperimentOTB.report (files, no plots): {t_tk * 1000:8.1f} ms")
    print(f"  sot score(), arrays in memory:                         {t_mem * 1000:8.1f} ms   {t_tk / t_mem:6.1f}x faster")
    print(f"  sot score(), from the result files (parse cache warm): {t_warm * 1000:8.1f} ms   {t_tk / t_warm:6.1f}x faster")
    print(f"  sot score(), from the result files (cold text parse):  {t_cold * 1000:8.1f} ms   {t_tk / t_cold:6.1f}x faster")
    print(f"  AUC {ours['auc']:.6f}  precision {ours['precision']:.6f}  max |sot - toolkit| = {diff:.2e}")
    return diff


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
        t_cached, second = best_of(lambda: LaSOT(root, split="all", cache=cache), 3)
        frames = sum(len(s) for s in second)
        assert len(second) == n_seq and np.array_equal(first[5].boxes, second[5].boxes)
    print(f"LaSOT-layout metadata, {n_seq} sequences / {frames / 1e6:.2f} M frames")
    print(f"  first load (parse + write cache): {t_parse:6.2f} s")
    print(f"  cached load:                      {t_cached:6.2f} s")
    return t_cached


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sequences", type=int, default=280)
    ap.add_argument("--frames", type=int, default=2500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--load-sequences", type=int, default=1400)
    ap.add_argument("--no-load", action="store_true")
    args = ap.parse_args()
    diff = bench_scoring(args.sequences, args.frames, args.repeats)
    if not args.no_load:
        bench_load(args.load_sequences, args.frames)
    if diff > 1e-9:
        sys.exit(f"numbers differ from the got10k toolkit by {diff:.2e}")


if __name__ == "__main__":
    main()

"""Measure the synthetic generator (frames/s) and pair sampling (samples/s).

    python scripts/bench_synthetic.py                      # the default data set, in a temporary folder
    python scripts/bench_synthetic.py --workers 2 --train 50
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sot.data.pair_dataset import PairDataset  # noqa: E402
from sot.data.synthetic import generate_synthetic  # noqa: E402
from sot.datasets.got10k import GOT10k  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="where to generate (default: a temporary folder, removed afterwards)")
    ap.add_argument("--train", type=int, default=200)
    ap.add_argument("--val", type=int, default=20)
    ap.add_argument("--test", type=int, default=20)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--height", type=int, default=192)
    ap.add_argument("--workers", type=int, default=0, help="generator processes (0: in this process)")
    ap.add_argument("--pairs", type=int, default=500, help="pairs to sample for the samples/s figure")
    ap.add_argument("--template-size", type=int, default=127)
    ap.add_argument("--search-size", type=int, default=255)
    args = ap.parse_args()

    tmp = None if args.root else tempfile.mkdtemp(prefix="sot_bench_")
    root = Path(args.root or tmp)
    try:
        counts = {"train": args.train, "val": args.val, "test": args.test}
        n_frames = sum(counts.values()) * args.frames
        t = time.perf_counter()
        out = generate_synthetic(root, num_sequences=counts, frames_per_sequence=args.frames,
                                 image_size=(args.width, args.height), num_workers=args.workers)
        dt = time.perf_counter() - t
        print(f"generator: {n_frames} frames of {args.width}x{args.height} in {dt:.1f} s = "
              f"{n_frames / dt:.0f} frames/s ({args.workers} worker processes, cpu_count={os.cpu_count()}) -> {out}")

        t = time.perf_counter()
        ds = GOT10k(out, "train")
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        GOT10k(out, "train")
        print(f"GOT10k reader: first {t_first * 1e3:.1f} ms, cached {(time.perf_counter() - t) * 1e3:.1f} ms "
              f"({len(ds)} sequences)")

        pairs = PairDataset([ds], pairs_per_epoch=args.pairs, template_size=args.template_size,
                            search_size=args.search_size)
        pairs[0]
        t = time.perf_counter()
        for i in range(len(pairs)):
            pairs[i]
        dt = time.perf_counter() - t
        print(f"pairs: {args.pairs} samples ({args.template_size}/{args.search_size} px) in {dt:.2f} s = "
              f"{args.pairs / dt:.0f} samples/s (one process)")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

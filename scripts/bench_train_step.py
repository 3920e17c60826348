"""Benchmark: one training step (forward, backward, AdamW) of a recipe's model on the CPU, in float32 and bf16,
with and without channels_last.

    python scripts/bench_train_step.py                       # the default recipe, batch 32
    python scripts/bench_train_step.py head=rpn --batch 16    # any train.py overrides
    python scripts/bench_train_step.py --loss                 # with the head's own training loss

Random crops of the recipe's template / search sizes; the median of ``--steps`` timed steps after one warm-up
step. Without ``--loss`` the step's loss is the mean of the model's outputs (the model alone); with it, the head's
own training loss on random boxes around the crop centre (3 of 4 pairs positive), so that every branch the loss
runs is timed too (e.g. ``ban_iou``'s IoU branch on its jittered proposals). bf16 autocast is native where the
CPU has AVX512-BF16 or AMX (``amp: auto`` picks it there) and emulated, slower than float32, elsewhere.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hydra import compose, initialize_config_dir  # noqa: E402

from sot.models.builder import build_model  # noqa: E402
from sot.training.trainer import native_bf16  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*", help="train.py overrides, e.g. head=rpn")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--loss", action="store_true", help="time the head's training loss, not the outputs' mean")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        cfg = compose("train", overrides=args.overrides)
    zs, xs = cfg.data.template_size, cfg.data.search_size
    print(f"batch {args.batch}, template {zs}, search {xs}, {args.threads} threads; "
          f"native bf16 on this CPU: {native_bf16(torch.device('cpu'))}")
    for channels_last in (False, True):
        for bf16 in (False, True):
            torch.manual_seed(0)
            model = build_model(cfg.backbone, cfg.neck, cfg.head).train()
            z = torch.rand(args.batch, 3, zs, zs) * 255
            x = torch.rand(args.batch, 3, xs, xs) * 255
            side = xs / 4.5  # the target's size in a search crop of context 0.5
            boxes = torch.tensor([xs / 2 - side / 2, xs / 2 - side / 2, side, side]) + torch.rand(args.batch, 4) * 4
            positive = torch.arange(args.batch) % 4 != 0
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
                z, x = (t.contiguous(memory_format=torch.channels_last) for t in (z, x))
            opt = torch.optim.AdamW(model.parameters(), 1e-3)
            times = []
            for step in range(args.steps + 1):
                t0 = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    out = model(z, x)
                    loss = (sum(model.head.loss(out, boxes, positive, xs).values()) if args.loss
                            else sum(v.float().mean() for v in out.values()))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if step:
                    times.append(time.perf_counter() - t0)
            print(f"  channels_last={str(channels_last):5}  bf16={str(bf16):5}  "
                  f"{statistics.median(times) * 1000:7.1f} ms/step")


if __name__ == "__main__":
    main()

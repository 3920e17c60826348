"""Training throughput and peak memory of a recipe at each precision (amp=off|bf16|fp16), on one GPU.

    python scripts/bench_train_gpu.py                                   # siamrpn_r50_255_ep20, 300 steps each
    python scripts/bench_train_gpu.py --steps 500 --precisions bf16,fp16 --channels-last
    python scripts/bench_train_gpu.py --device cpu --steps 3 --warmup 1 --batch-size 2 \
        --override data.generator.num_sequences.train=4      # a check that the script runs, anywhere

Every run goes through ``sot.training.run.train`` (the code users run), one epoch of ``warmup + steps``
optimizer steps, with the recipe's freeze schedule moved to its second phase (layers 2-4 of the backbone
training, the expensive part of SiamRPN++). Two data modes:

* ``memory`` (default): the first 8 batches of the real loader, cycled: the GPU's own speed.
* ``loader``: the real DataLoader with ``--workers`` processes: what a run gets end to end.

Samples per second count the steps after ``--warmup`` (which also absorbs cuDNN autotuning and
``--compile``). Peak memory is ``torch.cuda.max_memory_allocated``. Results: a markdown table on stdout
and ``bench_train_gpu.json`` in ``$OUT`` (or the working directory).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SOT_ROOT", str(ROOT))
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402

from sot.training.trainer import Hook  # noqa: E402


class Timer(Hook):
    """Wall time and samples between the end of step ``warmup`` and the last step (CUDA synchronised)."""

    made: list["Timer"] = []  # run.py builds the hook from the config; the script reads it from here

    def __init__(self, warmup: int):
        self.warmup, self.t0, self.t1, self.samples, self.loss = warmup, None, None, 0, float("nan")
        Timer.made.append(self)

    def _sync(self, trainer):
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)

    def before_train(self, trainer):
        if trainer.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(trainer.device)

    def after_step(self, trainer, losses):
        self.loss = losses["loss"]
        if trainer.step == self.warmup:
            self._sync(trainer)
            self.t0 = time.perf_counter()
        elif trainer.step > self.warmup:
            self.samples += trainer.accum_steps * trainer.loaders.batch_size * trainer.dist.world_size

    def after_train(self, trainer):
        self._sync(trainer)
        self.t1 = time.perf_counter()


def _cycle_loaders(n_cached: int = 8):
    """Patch run.py's loader class so that every epoch cycles the first ``n_cached`` real batches."""
    import sot.training.run as run
    from sot.training.data import EpochLoaders

    class CachedLoaders(EpochLoaders):
        cache: list | None = None

        def __call__(self, epoch, start_batch=0):
            if CachedLoaders.cache is None:
                CachedLoaders.cache = list(itertools.islice(super().__call__(epoch, 0), n_cached))
            need = self.batches_per_epoch - start_batch
            return [CachedLoaders.cache[i % len(CachedLoaders.cache)] for i in range(need)]

    run.EpochLoaders = CachedLoaders
    return CachedLoaders


def bench_one(args, amp: str) -> dict:
    from hydra import compose, initialize_config_dir

    from sot.training.rundir import register_resolvers
    from sot.training.run import train

    register_resolvers()
    steps = args.warmup + args.steps
    overrides = [
        f"experiments={args.recipe}", f"device={args.device}", f"amp={amp}", "epochs=1",
        f"workers={args.workers}", "score_after_training=false", "progress=false", "log_interval=50",
        "checkpoint_every_steps=0", "keep_checkpoints=1", "resume=null",
        f"channels_last={str(args.channels_last).lower()}", f"compile={str(args.compile).lower()}",
        f"data.generator.num_workers={args.gen_workers}",
        "freeze=[{prefixes:[backbone.conv1,backbone.bn1,backbone.layer1],until_epoch:null}]",
        "hooks=[{_target_:__main__.Timer,warmup:" + str(args.warmup) + "}]",
    ]
    if args.batch_size:
        overrides.append(f"batch_size={args.batch_size}")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides + list(args.override))
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.data.train.pairs_per_epoch = steps * cfg.batch_size
    if args.freeze_phase == "frozen":
        with open_dict(cfg):
            cfg.freeze = [{"prefixes": ["backbone."], "until_epoch": None}]

    with tempfile.TemporaryDirectory() as run_dir:
        metrics = train(cfg, run_dir)
    t = Timer.made[-1]
    dev = torch.device(cfg.device)
    peak = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else float("nan")
    dt = (t.t1 - t.t0) if t.t0 is not None else float("nan")
    return {"amp": amp, "batch_size": int(cfg.batch_size), "steps_timed": args.steps, "seconds": dt,
            "samples_per_s": t.samples / dt if dt == dt and dt > 0 else float("nan"), "peak_mem_gib": peak,
            "final_loss": t.loss, "steps": metrics["steps"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="siamrpn_r50_255_ep20")
    p.add_argument("--precisions", default="off,bf16,fp16")
    p.add_argument("--steps", type=int, default=300, help="timed optimizer steps per precision")
    p.add_argument("--warmup", type=int, default=30, help="untimed steps first")
    p.add_argument("--batch-size", type=int, default=0, help="0 = the recipe's (per GPU)")
    p.add_argument("--data", choices=["memory", "loader"], default="memory")
    p.add_argument("--workers", type=int, default=min(12, os.cpu_count() or 1))
    p.add_argument("--gen-workers", type=int, default=min(16, os.cpu_count() or 1),
                   help="processes generating the synthetic data set (once, cached)")
    p.add_argument("--freeze-phase", choices=["unfrozen", "frozen"], default="unfrozen",
                   help="unfrozen: layers 2-4 train (recipe epochs 10-19); frozen: the whole backbone is frozen")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--device", default="cuda")
    p.add_argument("--override", action="append", default=[], help="extra Hydra override (repeatable)")
    args = p.parse_args()

    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            sys.exit("no CUDA device: this benchmark measures GPU training (use --device cpu only to check the script)")
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if args.data == "memory":
        _cycle_loaders()

    rows = []
    for amp in args.precisions.split(","):
        if amp == "fp16" and not args.device.startswith("cuda"):
            print("skipping amp=fp16: it needs CUDA")
            continue
        row = bench_one(args, amp)
        rows.append(row)
        print(json.dumps(row), flush=True)

    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    head = (f"{args.recipe} on {name}, torch {torch.__version__}, data={args.data}, "
            f"channels_last={args.channels_last}, compile={args.compile}, backbone phase={args.freeze_phase}")
    lines = [head, "", "| amp | batch | samples/s | peak memory (GiB) | s for timed steps | final loss |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['amp']} | {r['batch_size']} | {r['samples_per_s']:.1f} | {r['peak_mem_gib']:.2f} | "
                     f"{r['seconds']:.1f} | {r['final_loss']:.3f} |")
    print("\n".join(lines))
    out = Path(os.environ.get("OUT", "."))
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_train_gpu.json").write_text(json.dumps({"setup": head, "args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

"""Parameters, MACs and CPU tracking speed of the transformer recipes.

    python scripts/bench_transformer.py [--recipes ostrack_vitb_256 ostrack_vittiny_128_synthetic ...]
                                        [--threads 2] [--frames 10] [--image 1280x720] [--json out.json]

Per recipe (random weights: speed and cost do not depend on them):

- parameters of the model;
- MACs of one tracking frame, counted by ``torch.utils.flop_counter.FlopCounterMode`` (MACs = FLOPs / 2), the way
  each paper's profile script counts a frame: OSTrack the whole one-stream forward (template + search, candidate
  elimination on); STARK the search backbone plus the transformer and heads over the cached template features
  (STARK-ST: two templates). ``linear+conv`` counts only matrix products of weights (what ``thop`` sees in OSTrack's
  profile, which skips the attention products); ``all`` adds the attention products;
- FPS of the network alone (``forward_search`` at batch 1) and end to end (``TransformerTracker.track`` on a
  ``--image`` frame), at ``--threads`` CPU threads, and the share of a tracked frame spent cropping and converting
  the search region (``TransformerTracker._crop``); medians over ``--frames`` calls.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, flop_registry, register_flop_formula, sdpa_flop_count

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from sot.models.builder import build_model  # noqa: E402
from sot.utils.runtime import REPO_ROOT, set_root_env  # noqa: E402

# published figures (papers' tables; the OSTrack MACs exclude attention products, see the module docstring)
PUBLISHED = {
    "ostrack_vitb_256": "OSTrack paper: 21.5 G MACs, 105.4 FPS (RTX 2080Ti)",
    "ostrack_vitb_384": "OSTrack paper: 48.3 G MACs, 58.1 FPS (RTX 2080Ti)",
    "stark_s50": "STARK paper lists ST50 / ST101 only (see stark_st50)",
    "stark_st50": "STARK paper: 28.2 M params, 10.9 G FLOPs (thop MACs), 41.8 FPS (V100)",
}
LINEAR_CONV = {"mm", "addmm", "convolution", "_convolution", "conv2d"}

# FlopCounterMode has no formula for the CPU flash-attention kernel that scaled_dot_product_attention (and so
# timm's ViT and nn.MultiheadAttention) dispatches to on CPU; without one the attention products count as 0.
_CPU_SDPA = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
if _CPU_SDPA not in flop_registry:
    @register_flop_formula(_CPU_SDPA, get_raw=True)
    def _cpu_sdpa_flop(query, key, value, *args, out_val=None, **kwargs) -> int:
        return sdpa_flop_count(query.shape, key.shape, value.shape)


def _compose(recipe: str, overrides=()):
    set_root_env()
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[f"experiments={recipe}", "data=synthetic", "device=cpu", "init_weights=null",
                                           *overrides])


def _frame_inputs(model, cfg, n_templates: int):
    T, S = int(cfg.data.template_size), int(cfg.data.search_size)
    g = torch.Generator().manual_seed(0)
    zs = [torch.rand(1, 3, T, T, generator=g) * 255 for _ in range(n_templates)]
    x = torch.rand(1, 3, S, S, generator=g) * 255
    with torch.no_grad():
        feats = [model.forward_template(z) for z in zs]
    if n_templates == 1:
        z = feats[0]
    elif isinstance(feats[0], torch.Tensor):
        z = torch.stack(feats, 1)
    else:
        z = [torch.stack(levels, 1) for levels in zip(*feats)]
    return z, x


def count_macs(model, z, x) -> dict[str, float]:
    counter = FlopCounterMode(display=False)
    # no torch.no_grad() here: FlopCounterMode's module tracker asserts on parameters fed to submodules (STARK's
    # query embedding) under no_grad; frozen parameters give the same counts without autograd
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    try:
        with counter:
            model.forward_search(z, x)
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)
    per_op: dict[str, int] = {}
    for op, n in counter.get_flop_counts()["Global"].items():
        name = str(op).split(".")[1] if "." in str(op) else str(op)
        per_op[name] = per_op.get(name, 0) + int(n)
    total = sum(per_op.values())
    lin = sum(v for k, v in per_op.items() if k in LINEAR_CONV)
    return {"macs_all_G": total / 2e9, "macs_linear_conv_G": lin / 2e9}


def time_it(fn, n: int, warmup: int = 2) -> float:
    """Median seconds per call (the median resists the bursts of other jobs on a shared machine)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _frames(n: int, width: int, height: int) -> tuple[list[np.ndarray], list[list[float]]]:
    """A textured frame with a target square moving a few pixels per frame."""
    rng = np.random.default_rng(0)
    base = cv2_blur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    frames, boxes = [], []
    for i in range(n + 1):
        img = base.copy()
        x, y = width // 2 - 40 + 3 * i, height // 2 - 30 + 2 * i
        img[y:y + 60, x:x + 80] = (200, 40, 40)
        frames.append(img)
        boxes.append([float(x), float(y), 80.0, 60.0])
    return frames, boxes


def cv2_blur(img):
    import cv2

    return cv2.GaussianBlur(img, (0, 0), 3)


def bench(recipe: str, threads: int, n_frames: int, image: tuple[int, int]) -> dict:
    torch.set_num_threads(threads)
    cfg = _compose(recipe)
    model = build_model(cfg.backbone, cfg.neck, cfg.head).eval()
    n_templates = 1 + len(cfg.tracker.get("update_intervals") or [])
    params = sum(p.numel() for p in model.parameters())
    z, x = _frame_inputs(model, cfg, n_templates)
    macs = count_macs(model, z, x)
    with torch.no_grad():
        t_net = time_it(lambda: model.forward_search(z, x), n_frames)

    tracker = instantiate(cfg.tracker, model=model)
    crop_time = [0.0]
    crop = tracker._crop

    def timed_crop(*a, **k):
        t = time.perf_counter()
        out = crop(*a, **k)
        crop_time[0] += time.perf_counter() - t
        return out

    tracker._crop = timed_crop
    frames, boxes = _frames(n_frames + 2, *image)
    tracker.init(frames[0], boxes[0])
    for img in frames[1:3]:  # warm-up
        tracker.track(img)
    frame_t, crop_t = [], []
    for img in frames[3:]:
        crop_time[0] = 0.0
        t = time.perf_counter()
        tracker.track(img)
        frame_t.append(time.perf_counter() - t)
        crop_t.append(crop_time[0])
    t_e2e, t_crop = float(np.median(frame_t)), float(np.median(crop_t))
    return {"recipe": recipe, "params_M": params / 1e6, **macs, "templates": n_templates,
            "template_size": int(cfg.data.template_size), "search_size": int(cfg.data.search_size),
            "fps_net": 1.0 / t_net, "fps_end_to_end": 1.0 / t_e2e, "crop_ms": t_crop * 1e3,
            "crop_share": t_crop / t_e2e, "threads": threads, "image": f"{image[0]}x{image[1]}",
            "published": PUBLISHED.get(recipe, "")}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", nargs="+", default=["ostrack_vitb_256", "ostrack_vitb_384", "stark_s50", "stark_st50",
                                                      "ostrack_vittiny_128_synthetic"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--image", default="1280x720", help="frame size WxH for the end-to-end timing")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    image = tuple(int(v) for v in args.image.lower().split("x"))
    rows = []
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; torch threads {args.threads}")
    head = (f"{'recipe':32s} {'params':>8s} {'MACs all':>9s} {'lin+conv':>9s} {'FPS net':>8s} {'FPS e2e':>8s} "
            f"{'crop ms':>8s} {'crop %':>7s}  published")
    print(head)
    for r in args.recipes:
        row = bench(r, args.threads, args.frames, image)
        rows.append(row)
        print(f"{r:32s} {row['params_M']:7.2f}M {row['macs_all_G']:8.2f}G {row['macs_linear_conv_G']:8.2f}G "
              f"{row['fps_net']:8.2f} {row['fps_end_to_end']:8.2f} {row['crop_ms']:8.2f} {100 * row['crop_share']:6.1f}%"
              f"  {row['published']}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()

"""Track a split with the model in memory and score it: validation during training, the final test score."""
from __future__ import annotations

import functools
from pathlib import Path

import torch
from omegaconf import DictConfig

from sot.evaluation import Report, run_tracker, score, write_report
from sot.trackers.build import build_tracker


def split_name(dataset) -> str | None:
    split = getattr(dataset, "split", None)
    return None if split is None else str(split)


def is_test_split(dataset) -> bool:
    s = split_name(dataset)
    return s is not None and "test" in s.lower()


def track_and_score(model: torch.nn.Module, tracker_cfg: DictConfig, dataset, out_dir: str | Path,
                    name: str = "sot", protocol: str = "otb", progress: bool = False, **tracker_overrides) -> Report:
    """Track every sequence of ``dataset`` with ``model`` and ``tracker_cfg`` (one process), write the raw
    results, ``metrics.json``, ``per_sequence.csv`` and plots into ``out_dir``; return the report.

    The model's train/eval mode is restored afterwards.
    """
    out_dir = Path(out_dir)
    was_training = model.training
    try:
        factory = functools.partial(build_tracker, model, tracker_cfg, **tracker_overrides)
        results = run_tracker(factory, dataset, out_dir / "results" / name, workers=0, repetitions=1,
                              result_format="otb", resume=False, progress=progress)
    finally:
        model.train(was_training)
    report = score(dataset, results, protocol=protocol)
    split = split_name(dataset)
    title = f"{name} on {type(dataset).__name__}" + (f" {split}" if split else "")
    write_report({name: report}, out_dir, title=title)
    return report


def per_sequence_table(report: Report) -> tuple[list[str], list[list]]:
    """``(columns, rows)`` of the per-sequence scores, for a logger's table."""
    seqs = list(report.per_sequence)
    keys = list(report.per_sequence[seqs[0]]) if seqs else []
    return ["sequence", *keys], [[s, *[report.per_sequence[s].get(k) for k in keys]] for s in seqs]

"""Search a tracker's test-time parameters (window influence, scale penalty, size lr) on a validation split.

MMTracking's ``sot_siamrpn_param_search`` in one function: every combination of a grid is tracked and scored,
the best by ``metric`` wins. It refuses a test split: test-time parameters tuned on the test set make a
benchmark number meaningless.
"""
from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sot.evaluation import run_tracker, score
from sot.evaluation.report import format_table
from sot.training.validate import is_test_split, split_name


def _check_split(dataset) -> None:
    split = split_name(dataset)
    if split is None:
        raise ValueError(f"tune_tracker needs a dataset with a validation split (its `split` attribute); "
                         f"{type(dataset).__name__} names none, so it may be a test benchmark")
    if is_test_split(dataset):
        raise ValueError(f"tune_tracker refuses the split {split!r}: tracker parameters are tuned on a validation "
                         "split, never on the test split they are reported on")


def _label(params: Mapping) -> str:
    return "_".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def flatten_grid(grid: Mapping, prefix: str = "") -> dict[str, list]:
    """``{"online": {"weight": [..]}}`` -> ``{"online.weight": [..]}``: nested config keys of a grid become the
    dotted tracker overrides :func:`sot.trackers.build.build_tracker` applies to nested parts."""
    out = {}
    for k, v in grid.items():
        if isinstance(v, Mapping):
            out.update(flatten_grid(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def tune_tracker(source, dataset, grid: Mapping[str, Sequence], out_dir: str | Path, metric: str = "auc",
                 protocol: str | None = None, device: str = "cpu", workers: int = 0, progress: bool = False) -> dict:
    """Track ``dataset`` once per combination of ``grid`` and return the best setting.

    Args:
        source: a sot checkpoint path (each combination runs ``CheckpointTrackerFactory(path, device, **params)``),
            or ``(model, tracker_cfg)`` for a model in memory.
        dataset: a validation split (``dataset.split`` must exist and must not be a test split).
        grid: tracker keyword -> values, e.g. ``{"window_influence": [0.3, 0.4], "penalty_k": [0.04, 0.1]}``.
        out_dir: raw results per combination (``results/<label>/``), ``tune.csv`` and ``best.json``.
        metric: the score to maximise (``auc``, ``precision``, ``ao``, ...).
        protocol: scoring protocol; default: the dataset's own.
        device, workers: where and in how many processes the tracker runs (checkpoint source only).

    Returns:
        ``{"best": params, "metrics": the best's metrics, "table": [{**params, **metrics}, ...]}``
    """
    _check_split(dataset)
    if not grid:
        raise ValueError("tune_tracker needs a non-empty grid: {parameter: [values, ...]}")
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Sequence) or not len(grid[k]):
            raise ValueError(f"grid[{k!r}] must be a non-empty list of values, got {grid[k]!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    table: list[dict] = []
    for values in itertools.product(*(list(grid[k]) for k in keys)):
        params = dict(zip(keys, values))
        if isinstance(source, (str, Path)):
            from sot.trackers.build import CheckpointTrackerFactory

            factory = CheckpointTrackerFactory(source, device=device, **params)
            n_workers = workers
        else:
            import functools

            from sot.trackers.build import build_tracker

            model, tracker_cfg = source
            factory = functools.partial(build_tracker, model, tracker_cfg, **params)
            n_workers = 0
        results = run_tracker(factory, dataset, out_dir / "results" / _label(params), workers=n_workers,
                              repetitions=1, result_format="otb", resume=True, progress=progress)
        report = score(dataset, results, protocol=protocol)
        if metric not in report.metrics:
            raise KeyError(f"metric {metric!r} is not among the scores {sorted(report.metrics)}")
        table.append({**params, **{k: float(v) for k, v in report.metrics.items()}})

    best_row = max(table, key=lambda r: r[metric])
    best = {k: best_row[k] for k in keys}
    metrics = {k: v for k, v in best_row.items() if k not in keys}
    with open(out_dir / "tune.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    (out_dir / "best.json").write_text(json.dumps({"best": best, "metrics": metrics, "metric": metric,
                                                   "split": split_name(dataset)}, indent=2))
    return {"best": best, "metrics": metrics, "table": table}


def print_table(result: dict, metric: str) -> str:
    rows = {_label({k: v for k, v in r.items() if k in result["best"]}): {k: v for k, v in r.items()
                                                                           if k not in result["best"]}
            for r in sorted(result["table"], key=lambda r: -r[metric])}
    text = format_table(rows, first="Setting") + f"\nbest ({metric}): {_label(result['best'])}"
    print(text)
    return text


def default_val_dataset(ckpt: str | Path) -> DictConfig:
    """The validation split a checkpoint's own config names: its ``data.val``, else its ``data.test`` node with
    ``split: val``."""
    from sot.training.checkpoint import load_checkpoint

    ckpt_cfg = OmegaConf.create(load_checkpoint(ckpt)["config"])
    if ckpt_cfg.data.get("val") is not None:
        return ckpt_cfg.data.val
    node = ckpt_cfg.data.test.copy()
    if "split" not in node:
        raise KeyError(f"the config of {str(ckpt)!r} has no data.val and its data.test has no `split` to swap for "
                       "`val`; give dataset=... explicitly")
    node.split = "val"
    return node

"""What ``eval.py`` does: run a checkpoint over a dataset and/or score existing raw results, side by side.

(Scoring the model in memory after training is :func:`sot.training.validate.track_and_score`.)
"""
from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from sot.evaluation import run_tracker, score, write_report


def evaluate(cfg: DictConfig, out_dir: str | Path) -> dict:
    """What ``eval.py`` does: run a checkpoint over a dataset and/or score existing results, side by side."""
    from omegaconf import OmegaConf

    from sot.trackers.build import CheckpointTrackerFactory, model_from_checkpoint
    from sot.utils.runtime import import_modules, resolve_device

    out_dir = Path(out_dir)
    import_modules(cfg.get("custom_imports"))
    if cfg.ckpt is None and not cfg.results:
        raise ValueError("eval.py needs ckpt=PATH (run a tracker) and/or results=[DIR,...] (score existing results)")
    train_cfg = None
    if cfg.ckpt is not None:
        _, train_cfg = model_from_checkpoint(cfg.ckpt)
    if cfg.get("dataset") is not None:
        if "${data.root}" in str(OmegaConf.to_container(cfg.dataset, resolve=False)):
            from sot.training.run import prepare_data

            prepare_data(cfg)  # the synthetic split: generated once, then reused
        dataset = instantiate(cfg.dataset)
    elif train_cfg is not None:
        dataset = instantiate(train_cfg.data.test)  # the split train.py scored
    else:
        raise ValueError("eval.py with results=... needs dataset=NAME dataset.root=DIR to score against")
    protocol = cfg.protocol or getattr(dataset, "default_protocol", "otb")
    fmt = cfg.result_format or getattr(dataset, "result_format", "otb")
    reps = cfg.repetitions or getattr(dataset, "repetitions", 1)

    reports = {}
    if cfg.ckpt is not None:
        device = str(resolve_device(cfg.device))
        overrides = OmegaConf.to_container(cfg.tracker) if cfg.tracker else {}
        factory = CheckpointTrackerFactory(cfg.ckpt, device=device, **overrides)
        name = Path(cfg.ckpt).stem if Path(cfg.ckpt).stem not in ("last",) else Path(cfg.ckpt).parent.parent.name
        results = run_tracker(factory, dataset, out_dir / "results" / name, workers=cfg.workers, repetitions=reps,
                              result_format=fmt, resume=cfg.resume, progress=cfg.progress)
        reports[name] = score(dataset, results, protocol=protocol, skip_missing=cfg.skip_missing)
    for i, path in enumerate(cfg.results or []):
        name = cfg.names[i] if cfg.names else Path(path).name
        reports[name] = score(dataset, path, protocol=protocol, skip_missing=cfg.skip_missing)
    write_report(reports, out_dir, title=f"{type(dataset).__name__} ({protocol} protocol)")
    return {n: dict(r.metrics) for n, r in reports.items()}

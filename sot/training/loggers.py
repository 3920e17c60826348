"""Metric sinks: a JSONL file in the run directory (always) and wandb (``logger=wandb``)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path


class JSONLLogger:
    """Appends one JSON object per ``log`` call to ``<run_dir>/metrics.jsonl``."""

    def __init__(self, run_dir: str | Path, filename: str = "metrics.jsonl"):
        self.path = Path(run_dir) / filename
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, metrics: dict, step: int) -> None:
        row = {"step": step, **{k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def log_image(self, key: str, path: str | Path, step: int) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger:
    """Logs to Weights & Biases; falls back to offline mode when no API key is configured.

    Args:
        run_dir: where wandb writes its files (``<run_dir>/wandb``).
        config: the resolved config, logged once.
        project, group, name, tags: wandb run metadata (``group`` names a sweep).
        mode: ``online``, ``offline`` or ``disabled``; ``None`` = online if an API key is set, else offline.
    """

    def __init__(self, run_dir: str | Path, config: dict | None = None, project: str = "sot", group: str | None = None,
                 name: str | None = None, tags: list[str] | None = None, mode: str | None = None):
        import wandb

        if mode is None:
            mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
        self.wandb = wandb
        self.run = wandb.init(project=project, group=group, name=name, tags=tags, config=config, dir=str(run_dir),
                              mode=mode, reinit="finish_previous")
        self.mode = mode

    def log(self, metrics: dict, step: int) -> None:
        self.run.log(metrics, step=step)

    def log_image(self, key: str, path: str | Path, step: int) -> None:
        self.run.log({key: self.wandb.Image(str(path))}, step=step)

    def finish(self) -> None:
        run_dir = getattr(self.run, "dir", None)
        self.run.finish()
        if self.mode == "offline" and run_dir:
            print(f"wandb ran offline; upload with: wandb sync {Path(run_dir).parent}")

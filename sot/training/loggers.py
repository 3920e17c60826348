"""Metric sinks: a JSONL file in the run directory (always), and wandb or TensorBoard (``logger=...``).

Every logger has ``log(metrics, step)``, ``log_image(key, path, step)``, ``log_table(key, columns, rows, step)``
and ``finish()``. Only rank 0 of a distributed run creates loggers.
"""
from __future__ import annotations

import json
import math
import netrc
import os
from pathlib import Path
from urllib.parse import urlparse


def _plain(v):
    return v if not isinstance(v, float) or math.isfinite(v) else str(v)


class JSONLLogger:
    """Appends one JSON object per ``log`` call to ``<run_dir>/metrics.jsonl``."""

    def __init__(self, run_dir: str | Path, filename: str = "metrics.jsonl"):
        self.path = Path(run_dir) / filename
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, metrics: dict, step: int) -> None:
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def log_image(self, key: str, path: str | Path, step: int) -> None:
        pass

    def log_table(self, key: str, columns: list[str], rows: list[list], step: int) -> None:
        pass  # the evaluation folder already holds per_sequence.csv

    def finish(self) -> None:
        pass


def wandb_api_key_available() -> bool:
    """An API key in ``WANDB_API_KEY`` or in ``~/.netrc`` (what ``wandb login`` writes) for the wandb host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        auth = netrc.netrc(os.environ.get("NETRC")).authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return bool(auth and auth[2])


class WandbLogger:
    """Logs to Weights & Biases; offline mode when no API key is configured (``wandb sync`` is printed at the end).

    Args:
        run_dir: where wandb writes its files (``<run_dir>/wandb``).
        config: the resolved config, logged once.
        project, entity, group, name, tags, notes: wandb run metadata. ``group`` names a sweep: pass it on the
            command line (``logger.group=lr_sweep``); in a Hydra multirun it defaults to the sweep folder's name.
        mode: ``online``, ``offline`` or ``disabled``; ``None`` = ``WANDB_MODE`` if set, else online when an API
            key is available and offline when not.

    The wandb run id is kept in ``<run_dir>/wandb_run_id``: a job re-queued into the same run directory
    (``resume=auto``) continues the same wandb run.
    """

    def __init__(self, run_dir: str | Path, config: dict | None = None, project: str = "sot",
                 entity: str | None = None, group: str | None = None, name: str | None = None,
                 tags: list[str] | None = None, notes: str | None = None, mode: str | None = None):
        import wandb

        if mode is None:
            mode = os.environ.get("WANDB_MODE") or ("online" if wandb_api_key_available() else "offline")
        self.wandb = wandb
        id_file = Path(run_dir) / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=project, entity=entity, group=group, name=name, tags=list(tags or []) or None,
                              notes=notes, config=config, dir=str(run_dir), mode=mode, reinit="finish_previous",
                              id=run_id, resume="allow" if run_id else None)
        if mode != "disabled" and run_id is None:
            id_file.write_text(self.run.id)
        self.mode = mode
        if mode != "disabled":
            # every metric plotted against the optimizer step, validation included
            self.run.define_metric("*", step_metric="trainer/step", step_sync=True)

    def log(self, metrics: dict, step: int) -> None:
        self.run.log({**metrics, "trainer/step": step})

    def log_image(self, key: str, path: str | Path, step: int) -> None:
        self.run.log({key: self.wandb.Image(str(path)), "trainer/step": step})

    def log_table(self, key: str, columns: list[str], rows: list[list], step: int) -> None:
        self.run.log({key: self.wandb.Table(columns=list(columns), data=[list(r) for r in rows]),
                      "trainer/step": step})

    def finish(self) -> None:
        run_dir = getattr(self.run, "dir", None)
        self.run.finish()
        if self.mode == "offline":
            # run.finish() leaves closing the run's transaction log (run-*.wandb, what `wandb sync` uploads) to
            # the wandb service, which may not have written it yet when finish() returns (seen: the 7-byte header
            # alone); shutting the service down waits for it, so the offline run is complete when training returns
            self.wandb.teardown()
            if run_dir:
                print(f"wandb ran offline; upload with: wandb sync {Path(run_dir).parent}")


class TensorBoardLogger:
    """Logs scalars, images and tables (as markdown text) to TensorBoard event files.

    Args:
        run_dir: the run directory; events go to ``<run_dir>/<subdir>``.
        config: the resolved config, written once as text.
        subdir: folder of the event files, relative to ``run_dir``.
    """

    def __init__(self, run_dir: str | Path, config: dict | None = None, subdir: str = "tensorboard"):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError("logger=tensorboard needs the tensorboard package: pip install 'sot[tensorboard]'") from e
        self.log_dir = Path(run_dir) / subdir
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        if config is not None:
            import yaml

            self.writer.add_text("config", "```\n" + yaml.safe_dump(config, sort_keys=False) + "\n```", 0)

    def log(self, metrics: dict, step: int) -> None:
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self.writer.add_scalar(k, v, step)

    def log_image(self, key: str, path: str | Path, step: int) -> None:
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is not None:
            self.writer.add_image(key, img[:, :, ::-1].copy(), step, dataformats="HWC")

    def log_table(self, key: str, columns: list[str], rows: list[list], step: int) -> None:
        lines = ["| " + " | ".join(map(str, columns)) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in r) + " |" for r in rows]
        self.writer.add_text(key, "\n".join(lines), step)

    def finish(self) -> None:
        self.writer.close()
        print(f"TensorBoard: tensorboard --logdir {self.log_dir}")

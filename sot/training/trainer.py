"""The training loop. Checkpointing, logging and progress are hooks, not branches in the loop."""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from sot.training.freeze import FreezePlan
from sot.training.checkpoint import load_checkpoint, load_model_state, save_checkpoint


class Hook:
    """Override any of these; ``trainer`` gives access to the loop's state."""

    def before_train(self, trainer: "Trainer") -> None: ...
    def before_epoch(self, trainer: "Trainer") -> None: ...
    def after_step(self, trainer: "Trainer", losses: dict[str, float]) -> None: ...
    def after_epoch(self, trainer: "Trainer") -> None: ...
    def after_train(self, trainer: "Trainer") -> None: ...


class Trainer:
    """Epoch-based training of a :class:`SiameseNet` on pair batches.

    Args:
        model: the network; ``model.loss(batch)`` returns a dict with a total ``loss``.
        optimizer, scheduler: the scheduler is stepped every iteration.
        loader: a DataLoader over a dataset with ``set_epoch(epoch)``.
        epochs: number of epochs.
        device: torch device.
        grad_clip: max gradient norm (0 = off).
        hooks: called around epochs and steps.
        config: the resolved config, stored in every checkpoint.
        freeze: which parameters train at each epoch.
    """

    def __init__(self, model: nn.Module, optimizer, scheduler, loader, epochs: int, device: torch.device,
                 grad_clip: float = 0.0, hooks: list[Hook] | None = None, config: dict | None = None,
                 freeze: FreezePlan | None = None):
        self.model, self.optimizer, self.scheduler, self.loader = model, optimizer, scheduler, loader
        self.epochs, self.device, self.grad_clip = epochs, device, grad_clip
        self.hooks = hooks or []
        self.config = config or {}
        self.freeze = freeze
        self.epoch = 0  # next epoch to run
        self.step = 0  # optimizer steps taken

    # ---- state ----
    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "config": self.config,
        }

    def resume(self, path: str | Path) -> None:
        ckpt = load_checkpoint(path)
        load_model_state(self.model, ckpt["model"], source=f"checkpoint {str(path)!r}")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])

    def _call(self, name: str, *args) -> None:
        for h in self.hooks:
            getattr(h, name)(self, *args)

    # ---- loop ----
    def train(self) -> None:
        self._call("before_train")
        while self.epoch < self.epochs:
            if hasattr(self.loader.dataset, "set_epoch"):
                self.loader.dataset.set_epoch(self.epoch)
            self.model.train()
            if self.freeze is not None and self.freeze.active:
                self.freeze.apply(self.model, self.epoch)
                self.freeze.set_modes(self.model)
            self._call("before_epoch")
            for batch in self.loader:
                losses = self.train_step(batch)
                self._call("after_step", losses)
            self.epoch += 1
            self._call("after_epoch")
        self._call("after_train")

    def train_step(self, batch: dict) -> dict[str, float]:
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        losses = self.model.loss(batch)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss became {loss.item()} at epoch {self.epoch}, step {self.step} "
                f"(terms: { {k: float(v) for k, v in losses.items()} }); the last good checkpoint is kept"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        out = {k: float(v.detach()) for k, v in losses.items()}
        if self.grad_clip > 0:
            out["grad_norm"] = float(nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip))
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return out


class CheckpointHook(Hook):
    """Writes ``<dir>/epoch_XXX.pt`` and ``<dir>/last.pt`` atomically after every epoch."""

    def __init__(self, directory: str | Path, keep_last: int = 0):
        self.dir = Path(directory)
        self.keep_last = keep_last

    def after_epoch(self, trainer: Trainer) -> None:
        state = trainer.state_dict()
        path = save_checkpoint(self.dir / f"epoch_{trainer.epoch:03d}.pt", state)
        save_checkpoint(self.dir / "last.pt", state)
        if self.keep_last > 0:
            for old in sorted(self.dir.glob("epoch_*.pt"))[: -self.keep_last]:
                old.unlink(missing_ok=True)
        self.last_path = path


class LoggerHook(Hook):
    """Progress bar over steps, and every ``interval`` steps the mean losses and lr to each logger."""

    def __init__(self, loggers: list, interval: int = 10, progress: bool = True):
        self.loggers, self.interval, self.progress = loggers, interval, progress
        self._sum: dict[str, float] = {}
        self._n = 0

    def before_train(self, trainer: Trainer) -> None:
        total = trainer.epochs * len(trainer.loader)
        self.bar = tqdm(total=total, initial=trainer.step, desc="train", disable=not self.progress, dynamic_ncols=True)
        self.t0 = time.time()

    def after_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        for k, v in losses.items():
            self._sum[k] = self._sum.get(k, 0.0) + v
        self._n += 1
        self.bar.update(1)
        if trainer.step % self.interval == 0:
            row = {f"train/{k}": v / self._n for k, v in self._sum.items()}
            row["train/lr"] = trainer.optimizer.param_groups[-1]["lr"]
            row["train/epoch"] = trainer.epoch
            self.bar.set_postfix(loss=f"{row['train/loss']:.3f}", lr=f"{row['train/lr']:.2e}")
            for lg in self.loggers:
                lg.log(row, step=trainer.step)
            self._sum, self._n = {}, 0

    def after_train(self, trainer: Trainer) -> None:
        self.bar.close()
        for lg in self.loggers:
            lg.log({"train/time_s": time.time() - self.t0}, step=trainer.step)

"""Build a tracker object from a model and its ``tracker`` config, or from a checkpoint alone."""
from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from sot.models.builder import build_model
from sot.training.checkpoint import load_checkpoint, load_model_state
from sot.utils.runtime import import_modules


def build_tracker(model: torch.nn.Module, tracker_cfg: DictConfig, **overrides):
    """Instantiate ``tracker_cfg`` around ``model``; ``overrides`` replace config keys (e.g. ``device``).

    A dotted key sets a key of a nested part, e.g. ``{"online.weight": 0.5}`` (the key must exist)."""
    nested = {k: v for k, v in overrides.items() if "." in k}
    if nested:
        tracker_cfg = tracker_cfg.copy()
        for key, value in nested.items():
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(tracker_cfg, parent)
            if not isinstance(node, DictConfig) or leaf not in node:
                raise KeyError(f"tracker override {key!r}: the tracker config has no such key "
                               f"(its keys: {sorted(tracker_cfg)})")
            OmegaConf.update(tracker_cfg, key, value, merge=False)
    return instantiate(tracker_cfg, model=model, **{k: v for k, v in overrides.items() if "." not in k})


def model_from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, DictConfig]:
    """The network of a training checkpoint, rebuilt from the resolved config saved inside it."""
    ckpt = load_checkpoint(path)
    if "config" not in ckpt or "model" not in ckpt:
        raise KeyError(f"checkpoint {str(path)!r} holds {sorted(ckpt)}; expected 'model' and 'config' (a sot training checkpoint)")
    cfg = OmegaConf.create(ckpt["config"])
    import_modules(cfg.get("custom_imports"))
    with open_dict(cfg):
        if "pretrained" in cfg.backbone:
            cfg.backbone.pretrained = None  # the checkpoint holds the trained weights
    model = build_model(cfg.backbone, cfg.neck, cfg.head)
    load_model_state(model, ckpt["model"], source=f"checkpoint {str(path)!r}")
    if cfg.get("channels_last"):
        # as the model was trained and scored after training: the NHWC convolutions round differently, and the
        # per-sequence fits (online filter, fine-tuning) carry such last bits into different boxes
        model.to(memory_format=torch.channels_last)
    return model, cfg


def tracker_from_checkpoint(path: str | Path, device: str = "cpu", **overrides):
    """A ready tracker from a checkpoint file alone (its saved config names the parts and settings)."""
    model, cfg = model_from_checkpoint(path)
    return build_tracker(model, cfg.tracker, device=device, **overrides)


class CheckpointTrackerFactory:
    """Picklable ``() -> tracker`` for worker processes: each worker loads the checkpoint once."""

    def __init__(self, path: str | Path, device: str = "cpu", **overrides):
        self.path, self.device, self.overrides = str(path), device, overrides

    def __call__(self):
        return tracker_from_checkpoint(self.path, self.device, **self.overrides)

"""Process set-up shared by train.py and eval.py: custom imports, seeding, device choice."""
from __future__ import annotations

import importlib
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


def set_root_env() -> None:
    """Let ``hydra.searchpath`` find ``experiments/`` from any working directory."""
    os.environ.setdefault("SOT_ROOT", str(REPO_ROOT))


def import_modules(names) -> None:
    """mmcv's ``custom_imports``: import modules (e.g. ones that register timm models) before building.

    A module's directory can be given as ``path/to/dir:module`` to put it on ``sys.path`` first.
    """
    for name in names or []:
        name = str(name)
        if ":" in name:
            path, name = name.rsplit(":", 1)
            if path not in sys.path:
                sys.path.insert(0, path)
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ImportError(f"custom_imports: could not import {name!r}: {e}") from e


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was asked for but CUDA is not available on this machine; use device=cpu")
    return torch.device(device)

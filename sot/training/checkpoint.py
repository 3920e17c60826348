"""Checkpoints: written atomically, loaded with ``weights_only=True``, mismatches reported by key."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's state dict does not fit the model."""


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` to ``path`` via a temporary file and an atomic rename (no half-written file survives)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RuntimeError(f"checkpoint {str(path)!r} could not be read ({type(e).__name__}: {e})") from e


def load_model_state(model: nn.Module, state: dict, source: str = "checkpoint") -> None:
    """Load ``state`` strictly; on mismatch raise an error listing missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        lines = [f"{source} does not match the model:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {missing[:20]}{' ...' if len(missing) > 20 else ''}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {unexpected[:20]}{' ...' if len(unexpected) > 20 else ''}")
        for k in shapes[:20]:
            lines.append(f"  shape of {k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}")
        raise CheckpointMismatchError("\n".join(lines))
    model.load_state_dict(state)

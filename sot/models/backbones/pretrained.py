"""Loading a backbone's weights from a local checkpoint file (never a hub download).

Accepted file forms (``torch.load(path, map_location="cpu", weights_only=True)``):
a raw state dict, or a dict holding it under ``"state_dict"`` or ``"model"``. A ``"module."`` prefix
(DataParallel / DDP) on every key is stripped. The loading is strict: after a backbone's own, explicit
filter (dropping parts it does not build, e.g. a classifier) every remaining mismatch raises
:class:`PretrainedMismatchError` listing the missing, unexpected and wrongly shaped keys.
Only ``*.num_batches_tracked`` may be missing (old torchvision checkpoints lack it; it does not
affect outputs).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import torch
import torch.nn as nn
from torch import Tensor

StateDict = dict[str, Tensor]


class PretrainedMismatchError(RuntimeError):
    """A checkpoint's keys or shapes do not match the module they are loaded into."""


def _listing(keys: Iterable[str], limit: int = 20) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return f"[{shown}{', ...' if len(keys) > limit else ''}] ({len(keys)})"


def read_state_dict(path: str, strip_prefixes: Iterable[str] = ("module.",)) -> StateDict:
    """Read a state dict from ``path``: raw, or under ``"state_dict"`` / ``"model"``.

    Args:
        path: local checkpoint file.
        strip_prefixes: a prefix shared by *every* key is removed (checked in order).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained checkpoint not found: {path!r} (expected a local file written by torch.save)")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        top = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise PretrainedMismatchError(
            f"{path}: expected a state dict (name -> tensor) or a dict holding one under 'state_dict' or 'model'; got {top}"
        )
    sd = dict(obj)
    for prefix in strip_prefixes:
        if all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def load_pretrained(
    module: nn.Module,
    path: str,
    drop: Callable[[str], bool] | None = None,
    remap: Callable[[str], str] | None = None,
    strip_prefixes: Iterable[str] = ("module.",),
    expected_form: str = "",
) -> None:
    """Load ``path`` into ``module`` strictly.

    Args:
        module: the module whose ``state_dict()`` keys the checkpoint must match.
        path: local checkpoint file (see the module docstring for the accepted forms).
        drop: says which checkpoint keys belong to parts the module deliberately does not build
            (classifier, stages after the last output); those are removed, only if the module lacks them.
        remap: renames a checkpoint key that the module lacks (e.g. timm's flattened feature names).
        strip_prefixes: prefixes removed when every key carries them.
        expected_form: a hint appended to the error message (which key naming the module expects).
    """
    sd = read_state_dict(path, strip_prefixes)
    own = module.state_dict()
    if remap is not None:
        sd = {(k if k in own else remap(k)): v for k, v in sd.items()}
    if drop is not None:
        sd = {k: v for k, v in sd.items() if k in own or not drop(k)}
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in sd.items() if k in own and v.shape != own[k].shape]
    if missing or unexpected or shapes:
        msg = f"{path} does not match {type(module).__name__}:"
        if missing:
            msg += f"\n  missing keys {_listing(missing)}"
        if unexpected:
            msg += f"\n  unexpected keys {_listing(unexpected)}"
        if shapes:
            msg += f"\n  shape mismatches {_listing(shapes)}"
        if expected_form:
            msg += f"\n  expected: {expected_form}"
        raise PretrainedMismatchError(msg)
    for k in own:  # fill the tolerated missing counters with the module's own
        sd.setdefault(k, own[k])
    module.load_state_dict(sd, strict=True)

"""Optimizer with a backbone learning-rate multiplier, and per-iteration warmup + step / cosine schedules."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def param_groups(model: nn.Module, lr: float, weight_decay: float, backbone_lr_mult: float = 1.0) -> list[dict]:
    """Backbone parameters at ``lr * backbone_lr_mult``, the rest at ``lr``; no decay on norms and biases."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_bb = name.startswith("backbone.")
        no_decay = p.ndim <= 1
        groups.setdefault((is_bb, no_decay), []).append(p)
    out = []
    for (is_bb, no_decay), params in sorted(groups.items()):
        g_lr = lr * (backbone_lr_mult if is_bb else 1.0)
        out.append({"params": params, "lr": g_lr, "initial_lr": g_lr, "weight_decay": 0.0 if no_decay else weight_decay,
                    "name": ("backbone" if is_bb else "head") + ("_no_decay" if no_decay else "")})
    return out


def build_optimizer(model: nn.Module, name: str = "sgd", lr: float = 0.01, weight_decay: float = 1e-4,
                    momentum: float = 0.9, betas: Sequence[float] = (0.9, 0.999),
                    backbone_lr_mult: float = 1.0) -> torch.optim.Optimizer:
    """SGD (with momentum) or AdamW over :func:`param_groups`.

    Args:
        name: ``sgd`` or ``adamw``.
        lr: base learning rate (head and neck).
        weight_decay: decay of weight matrices; norms and biases get none.
        momentum: SGD momentum.
        betas: AdamW betas.
        backbone_lr_mult: backbone learning rate = ``lr * backbone_lr_mult``.
    """
    groups = param_groups(model, lr, weight_decay, backbone_lr_mult)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas))
    raise ValueError(f"optim.name must be 'sgd' or 'adamw', got {name!r}")


def lr_factor(step: int, total_steps: int, warmup_steps: int = 0, warmup_factor: float = 0.1,
              policy: str = "cosine", milestones: Sequence[float] = (0.8,), gamma: float = 0.1,
              min_factor: float = 0.01) -> float:
    """Multiplier of the base lr at ``step``: linear warmup, then ``cosine``, ``step``, ``log`` or ``constant``.

    ``milestones`` are fractions of ``total_steps`` (0.8 = the lr drops at 80% of training).
    """
    if step < warmup_steps:
        return warmup_factor + (1 - warmup_factor) * step / max(1, warmup_steps)
    if policy == "cosine":
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    if policy == "step":
        return gamma ** sum(step >= m * total_steps for m in milestones)
    if policy == "log":  # pysot: geometric decay from 1 to min_factor
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_factor ** min(1.0, t)
    if policy == "constant":
        return 1.0
    raise ValueError(f"sched.policy must be 'cosine', 'step', 'log' or 'constant', got {policy!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                    warmup_factor: float = 0.1, policy: str = "cosine", milestones: Sequence[float] = (0.8,),
                    gamma: float = 0.1, min_factor: float = 0.01) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-iteration :class:`LambdaLR` over :func:`lr_factor`."""
    lr_factor(0, total_steps, warmup_steps, warmup_factor, policy, milestones, gamma, min_factor)  # validate
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_factor(s, total_steps, warmup_steps, warmup_factor, policy, milestones, gamma, min_factor),
    )

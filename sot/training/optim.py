"""Optimizer with per-group learning rates, and per-iteration warmup + step / cosine schedules."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn


def param_groups(model: nn.Module, lr: float, weight_decay: float, backbone_lr_mult: float = 1.0,
                 lr_mults: Mapping[str, float] | None = None, names: Iterable[str] | None = None) -> list[dict]:
    """Parameter groups with per-prefix learning rates; no weight decay on norms and biases.

    A parameter's lr is ``lr * mult`` where ``mult`` comes from the longest prefix of ``lr_mults`` that its
    name starts with (``backbone_lr_mult`` is the shorthand ``{"backbone.": backbone_lr_mult}``), else 1.
    ``names``: the parameters to optimise (default: those with ``requires_grad``). Groups are named
    ``<prefix or 'default'>`` plus ``_no_decay``.
    """
    mults = {"backbone.": float(backbone_lr_mult)}
    mults.update({str(k): float(v) for k, v in (lr_mults or {}).items()})
    params = dict(model.named_parameters())
    chosen = [n for n, p in params.items() if p.requires_grad] if names is None else list(names)
    for prefix in (lr_mults or {}):
        if not any(n.startswith(str(prefix)) for n in chosen):
            raise ValueError(f"optim.lr_mults: prefix {prefix!r} matches no trained parameter")
    groups: dict[tuple[str, bool], list] = {}
    for name in chosen:
        p = params[name]
        hits = [k for k in mults if name.startswith(k)]
        prefix = max(hits, key=len) if hits else ""
        groups.setdefault((prefix, p.ndim <= 1), []).append(p)
    out = []
    for (prefix, no_decay), ps in sorted(groups.items()):
        g_lr = lr * mults.get(prefix, 1.0)
        out.append({"params": ps, "lr": g_lr, "initial_lr": g_lr, "weight_decay": 0.0 if no_decay else weight_decay,
                    "name": (prefix.rstrip(".") or "default") + ("_no_decay" if no_decay else "")})
    return out


def build_optimizer(model: nn.Module, name: str = "sgd", lr: float = 0.01, weight_decay: float = 1e-4,
                    momentum: float = 0.9, betas: Sequence[float] = (0.9, 0.999),
                    backbone_lr_mult: float = 1.0, lr_mults: Mapping[str, float] | None = None,
                    params: Iterable[str] | None = None) -> torch.optim.Optimizer:
    """SGD (with momentum) or AdamW over :func:`param_groups`.

    Args:
        name: ``sgd`` or ``adamw``.
        lr: base learning rate.
        weight_decay: decay of weight matrices; norms and biases get none.
        momentum: SGD momentum.
        betas: AdamW betas.
        backbone_lr_mult: backbone learning rate = ``lr * backbone_lr_mult``.
        lr_mults: per-group learning rates, ``{name prefix: multiplier}`` (longest prefix wins), e.g.
            ``{"head.cls": 2.0, "backbone.layer4": 0.2}``.
        params: names of the parameters to optimise (default: those with ``requires_grad``); parameters
            that are frozen now but unfreeze later belong here, so the optimizer keeps one layout.
    """
    groups = param_groups(model, lr, weight_decay, backbone_lr_mult, lr_mults, params)
    if not groups:
        raise ValueError("the optimizer has no parameter to train (everything is frozen; check `trainable`/`freeze`)")
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

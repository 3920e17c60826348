"""MMDetection's weighted-loss semantics, shared by every loss.

An element-wise loss is multiplied by ``weight`` (broadcastable to it), then reduced:
``"none"`` keeps it, ``"sum"`` sums it, ``"mean"`` averages it - or, when ``avg_factor`` is given,
divides the sum by ``avg_factor`` (``avg_factor`` with ``"sum"`` is an error). The module multiplies
the result by ``loss_weight``; ``reduction_override`` replaces the module's reduction for one call.
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
from torch import Tensor

REDUCTIONS = ("none", "mean", "sum")


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """Reduce an element-wise loss with ``"none"``, ``"mean"`` or ``"sum"``."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def weight_reduce_loss(
    loss: Tensor, weight: Tensor | None = None, reduction: str = "mean", avg_factor: float | Tensor | None = None
) -> Tensor:
    """Apply an element-wise ``weight`` and reduce (see the module docstring).

    ``mean`` with ``avg_factor`` is ``loss.sum() / (avg_factor + eps)`` (float32 eps, as MMDetection).
    """
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == "mean":
        return loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    if reduction == "none":
        return loss
    raise ValueError(f"avg_factor can not be used with reduction={reduction!r}")


def weighted_loss(loss_func):
    """Turn ``loss_func(pred, target, **kw) -> element-wise loss`` into
    ``f(pred, target, weight=None, reduction="mean", avg_factor=None, **kw)``."""

    @functools.wraps(loss_func)
    def wrapper(pred, target, weight=None, reduction="mean", avg_factor=None, **kwargs):
        return weight_reduce_loss(loss_func(pred, target, **kwargs), weight, reduction, avg_factor)

    return wrapper


class WeightedLoss(nn.Module):
    """Base of the loss modules: holds ``reduction`` and ``loss_weight`` and resolves overrides.

    Args:
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: factor on the reduced loss.
    """

    def __init__(self, reduction: str = "mean", loss_weight: float = 1.0):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction, self.loss_weight = reduction, float(loss_weight)

    def _reduction(self, reduction_override: str | None) -> str:
        if reduction_override is not None and reduction_override not in REDUCTIONS:
            raise ValueError(f"reduction_override must be None or one of {REDUCTIONS}, got {reduction_override!r}")
        return reduction_override or self.reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, loss_weight={self.loss_weight}"

"""L1 and smooth L1 regression losses."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sot.models.losses.utils import WeightedLoss, weight_reduce_loss


class L1Loss(WeightedLoss):
    """``|pred - target|`` element-wise, MMDetection ``weighted_loss`` semantics.

    Args:
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: factor on the reduced loss.

    Shapes: ``pred``, ``target`` any equal shape; ``weight`` broadcastable to it.
    """

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None,
                avg_factor: float | Tensor | None = None, reduction_override: str | None = None) -> Tensor:
        reduction = self._reduction(reduction_override)
        if target.numel() == 0:
            return pred.sum() * 0
        loss = (pred - target).abs()
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)


class SmoothL1Loss(WeightedLoss):
    """Smooth L1 (Huber / beta): ``0.5 d^2 / beta`` where ``d = |pred - target| < beta``, else ``d - 0.5 beta``.

    Args:
        beta: the switch point (> 0).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: factor on the reduced loss.

    Shapes: ``pred``, ``target`` any equal shape; ``weight`` broadcastable to it.
    """

    def __init__(self, beta: float = 1.0, reduction: str = "mean", loss_weight: float = 1.0):
        super().__init__(reduction, loss_weight)
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.beta = float(beta)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None,
                avg_factor: float | Tensor | None = None, reduction_override: str | None = None) -> Tensor:
        reduction = self._reduction(reduction_override)
        if target.numel() == 0:
            return pred.sum() * 0
        loss = F.smooth_l1_loss(pred, target, reduction="none", beta=self.beta)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)

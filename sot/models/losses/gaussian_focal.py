"""Gaussian focal loss (CornerNet / CenterNet): focal loss against a Gaussian-splatted heat map."""
from __future__ import annotations

import torch
from torch import Tensor

from sot.models.losses.utils import WeightedLoss, weight_reduce_loss


class GaussianFocalLoss(WeightedLoss):
    """``-(1 - p)^alpha log p`` where the target is 1, ``-(1 - t)^gamma p^alpha log(1 - p)`` elsewhere.

    The form of OSTrack's ``FocalLoss`` (alpha 2, beta 4) and MMDetection's ``GaussianFocalLoss``. The heads
    divide the sum by the number of peaks through ``avg_factor`` (OSTrack: "num_positive").

    Args:
        alpha: focusing exponent on the prediction.
        gamma: exponent of ``1 - target`` that softens negatives near a peak (OSTrack's ``beta``).
        eps: keeps the logarithms finite.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: factor on the reduced loss.

    Shapes: ``pred`` probabilities in ``(0, 1)`` and ``target`` in ``[0, 1]`` of equal shape; ``weight``
    broadcastable to them.
    """

    def __init__(self, alpha: float = 2.0, gamma: float = 4.0, eps: float = 1e-12, reduction: str = "mean",
                 loss_weight: float = 1.0):
        super().__init__(reduction, loss_weight)
        self.alpha, self.gamma, self.eps = float(alpha), float(gamma), float(eps)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None,
                avg_factor: float | Tensor | None = None, reduction_override: str | None = None) -> Tensor:
        reduction = self._reduction(reduction_override)
        pos = target.eq(1).to(pred.dtype)
        neg = 1.0 - pos
        pos_loss = -torch.log(pred + self.eps) * (1 - pred).pow(self.alpha) * pos
        neg_loss = -torch.log(1 - pred + self.eps) * pred.pow(self.alpha) * (1 - target).pow(self.gamma) * neg
        return self.loss_weight * weight_reduce_loss(pos_loss + neg_loss, weight, reduction, avg_factor)

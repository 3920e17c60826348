"""Sigmoid focal loss (Lin et al. 2017)."""
from __future__ import annotations

from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from sot.models.losses.utils import WeightedLoss, weight_reduce_loss


class FocalLoss(WeightedLoss):
    """``-alpha_t (1 - p_t)^gamma log(p_t)`` on sigmoid probabilities, element-wise.

    Args:
        alpha: weight of positives (``1 - alpha`` for negatives); negative disables it.
        gamma: focusing exponent.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: factor on the reduced loss.

    Shapes: ``pred`` logits and ``target`` in {0, 1} (float) of equal shape; ``weight`` broadcastable to
    them, or ``(N,)`` for 2-D ``(N, C)`` inputs (one weight per row, as MMDetection).
    """

    use_sigmoid = True

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "mean", loss_weight: float = 1.0):
        super().__init__(reduction, loss_weight)
        self.alpha, self.gamma = float(alpha), float(gamma)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None,
                avg_factor: float | Tensor | None = None, reduction_override: str | None = None) -> Tensor:
        reduction = self._reduction(reduction_override)
        loss = sigmoid_focal_loss(pred, target.to(pred.dtype), alpha=self.alpha, gamma=self.gamma, reduction="none")
        if weight is not None and pred.dim() == 2 and weight.dim() == 1 and weight.shape[0] == pred.shape[0]:
            weight = weight.view(-1, 1)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)

"""SiamFC's logistic loss."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sot.models.losses.utils import WeightedLoss, weight_reduce_loss


class LogisticLoss(WeightedLoss):
    """``log(1 + exp(-y v))`` per score ``v``, with labels ``{0, 1}`` mapped to ``y = {-1, +1}``.

    Equal to binary cross-entropy on logits; SiamFC balances positives and negatives through ``weight``
    (built by the head).

    Args:
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: factor on the reduced loss.

    Shapes: ``pred`` scores and ``target`` labels in {0, 1} of equal shape; ``weight`` broadcastable.
    """

    use_sigmoid = True

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None,
                avg_factor: float | Tensor | None = None, reduction_override: str | None = None) -> Tensor:
        reduction = self._reduction(reduction_override)
        y = 2 * target.to(pred.dtype) - 1
        loss = F.softplus(-y * pred)  # log(1 + exp(-y v)), stable for large |v|
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)

"""Generalized IoU loss (Rezatofighi et al. 2019)."""
from __future__ import annotations

from torch import Tensor
from torchvision.ops import generalized_box_iou_loss

from sot.models.losses.utils import WeightedLoss, weight_reduce_loss


class GIoULoss(WeightedLoss):
    """``1 - GIoU(pred, target)`` per box pair.

    Boxes are ``[x1, y1, x2, y2]`` (the ``box_format`` attribute says so to heads): a head converts its
    ``[x, y, w, h]`` ground truth with ``sot.utils.boxes.xywh_to_xyxy`` before calling.

    Args:
        eps: added to the union and enclosing areas.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: factor on the reduced loss.

    Shapes: ``pred``, ``target`` ``(N, 4)``; ``weight`` ``(N,)`` or ``(N, 4)`` (then averaged over the last
    dim, as MMDetection); result ``(N,)`` for ``"none"``.
    """

    box_format = "xyxy"

    def __init__(self, eps: float = 1e-7, reduction: str = "mean", loss_weight: float = 1.0):
        super().__init__(reduction, loss_weight)
        self.eps = float(eps)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None,
                avg_factor: float | Tensor | None = None, reduction_override: str | None = None) -> Tensor:
        reduction = self._reduction(reduction_override)
        if weight is not None and weight.dim() > 1:
            weight = weight.mean(-1)
        if weight is not None and not bool((weight > 0).any()):
            # no weighted box (e.g. only negative pairs): skip GIoU of meaningless boxes, keep the graph
            return pred.sum(-1) * 0 if reduction == "none" else pred.sum() * 0
        loss = generalized_box_iou_loss(pred, target, reduction="none", eps=self.eps)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)

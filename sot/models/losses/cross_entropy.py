"""Cross-entropy loss: sigmoid (binary, per element) or softmax (over classes)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from sot.models.losses.utils import WeightedLoss, weight_reduce_loss


class CrossEntropyLoss(WeightedLoss):
    """Cross-entropy with MMDetection ``weighted_loss`` semantics.

    Sigmoid: ``pred`` logits and ``target`` in {0, 1} of equal shape. Softmax: ``pred`` ``(N, C)`` (or
    ``(N, C, ...)``) logits, ``target`` ``(N,)`` (or ``(N, ...)``) class indices. Entries whose target equals
    ``ignore_index`` contribute 0 and, with ``avg_non_ignore`` and no ``avg_factor``, are left out of the mean.

    Args:
        use_sigmoid: binary cross-entropy on each element instead of softmax over dim 1.
        ignore_index: target value to ignore.
        avg_non_ignore: ``"mean"`` without ``avg_factor`` divides by the number of non-ignored entries
            (what ``F.cross_entropy`` does; MMDetection's default is False, dividing by all entries).
        class_weight: softmax only: per-class weights (``F.cross_entropy(weight=...)``).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        loss_weight: factor on the reduced loss.
    """

    def __init__(
        self,
        use_sigmoid: bool = False,
        ignore_index: int = -100,
        avg_non_ignore: bool = True,
        class_weight: Sequence[float] | None = None,
        reduction: str = "mean",
        loss_weight: float = 1.0,
    ):
        super().__init__(reduction, loss_weight)
        if use_sigmoid and class_weight is not None:
            raise ValueError("class_weight applies to the softmax loss only (use_sigmoid=False)")
        self.use_sigmoid, self.ignore_index, self.avg_non_ignore = use_sigmoid, int(ignore_index), avg_non_ignore
        self.register_buffer(
            "class_weight", None if class_weight is None else torch.tensor(list(class_weight), dtype=torch.float32),
            persistent=False,
        )

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None,
                avg_factor: float | Tensor | None = None, reduction_override: str | None = None) -> Tensor:
        reduction = self._reduction(reduction_override)
        valid = target != self.ignore_index
        if self.use_sigmoid:
            t = torch.where(valid, target, torch.zeros_like(target)).to(pred.dtype)
            loss = F.binary_cross_entropy_with_logits(pred, t, reduction="none") * valid
            if weight is not None and pred.dim() == 2 and weight.dim() == 1 and weight.shape[0] == pred.shape[0]:
                weight = weight.view(-1, 1)  # one weight per row, as MMDetection
        else:
            cw = None if self.class_weight is None else self.class_weight.to(pred.dtype)
            loss = F.cross_entropy(pred, target.long(), weight=cw, reduction="none", ignore_index=self.ignore_index)
        if avg_factor is None and self.avg_non_ignore and reduction == "mean":
            avg_factor = valid.sum()
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)

"""Box refinement by a head's IoU branch: the tracker's box is replaced by the mean of the candidates around it
that the branch rates best (ATOM's idea, with a grid of candidates instead of gradient steps)."""
from __future__ import annotations

import numpy as np
import torch

from sot.utils.boxes import cxcywh_to_xyxy

__all__ = ["IoURefiner"]


class IoURefiner:
    """Re-measures the chosen box with the head's ``predict_iou`` (e.g. :class:`~sot.models.heads.iou_net.BANIoUHead`).

    Candidates: the box's width and height each scaled by ``exp(linspace(-span, span, sizes))`` (all pairs), its
    centre moved by ``linspace(-shift, shift, shifts)`` times ``sqrt(w h)`` in x and y (all pairs); the refined box
    is the mean of the ``topk`` candidates with the highest predicted IoU.

    Args:
        span: largest log change of a side.
        sizes: sizes per side (odd keeps the box's own).
        shift: largest centre move, in units of ``sqrt(w h)``.
        shifts: centre moves per axis (1: the centre is kept).
        topk: candidates averaged.
        require: with a head that has no IoU branch, True refuses to build the tracker; False lets the tracker run
            without the refinement (so that a recipe can turn it on for the heads that have the branch).
    """

    def __init__(self, span: float = 0.15, sizes: int = 5, shift: float = 0.05, shifts: int = 3, topk: int = 3,
                 require: bool = True):
        if not (span >= 0 and shift >= 0 and sizes >= 1 and shifts >= 1 and topk >= 1):
            raise ValueError(f"refine needs span >= 0, shift >= 0, sizes >= 1, shifts >= 1, topk >= 1; got {span}, "
                             f"{shift}, {sizes}, {shifts}, {topk}")
        factors = np.exp(np.linspace(-span, span, int(sizes)))
        moves = np.linspace(-shift, shift, int(shifts)) if shifts > 1 else np.zeros(1)
        fw, fh, dx, dy = np.meshgrid(factors, factors, moves, moves, indexing="ij")
        self.grid = np.stack([dx.ravel(), dy.ravel(), fw.ravel(), fh.ravel()], 1)  # (M, 4) moves and factors
        self.topk = min(int(topk), len(self.grid))
        self.require = bool(require)

    def applies_to(self, head) -> bool:
        """Whether ``head`` has the IoU branch; if not, raises where ``require`` is set."""
        if callable(getattr(head, "predict_iou", None)):
            return True
        if self.require:
            raise ValueError(f"tracker.refine needs a head with an IoU branch (predict_iou, e.g. head=ban_iou); "
                             f"{type(head).__name__} has none (tracker/refine=iou_optional runs such heads "
                             "without the refinement)")
        return False

    def __call__(self, head, outputs: dict, k: int, box: np.ndarray) -> np.ndarray:
        """The refined ``[cx, cy, w, h]`` of ``box`` (crop px of crop ``k`` of ``outputs``)."""
        cx, cy, w, h = (float(v) for v in box)
        g = self.grid
        r = np.sqrt(w * h)
        cand = np.stack([cx + g[:, 0] * r, cy + g[:, 1] * r, w * g[:, 2], h * g[:, 3]], 1)
        xyxy = cxcywh_to_xyxy(cand)
        device = next(iter(outputs.values())).device
        iou = head.predict_iou(outputs, torch.as_tensor(xyxy, dtype=torch.float32, device=device), index=k)
        top = np.argsort(-iou.float().cpu().numpy(), kind="stable")[: self.topk]
        return cand[top].mean(0)

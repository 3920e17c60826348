"""STARK-ST's score head: the STARK head plus a 3-layer MLP that rates whether the target is in the search."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from sot.models.heads.stark import StarkHead
from sot.models.heads.transformer import MLP
from sot.utils.boxes import xyxy_to_cxcywh

__all__ = ["ScoreHead"]


class ScoreHead(StarkHead):
    """STARK-ST: :class:`StarkHead` with a score branch on the decoder output (``score_head``, STARK's
    ``cls_head``: 3-layer MLP, ``d_model`` -> ``d_model`` -> ``d_model`` -> 1).

    Two training stages, one set of parameters (as STARK-ST1 and ST2 share ``STARKST``, so a first-stage checkpoint
    loads strictly into the second stage):

    - ``train_score=False`` (STARK-ST1): box losses only, exactly like :class:`StarkHead`; the score branch is
      carried along untrained.
    - ``train_score=True`` (STARK-ST2): binary cross-entropy of the score against the pair label (positive pair =
      target present) only. The decoder output is detached, so no gradient reaches the transformer or the backbone,
      and the corner predictor is not run (STARK-ST2's ``run_box_head=False``).

    At test time both branches run; the tracker uses ``sigmoid(score)`` to decide template updates.

    Args:
        in_channels, in_strides, box_loss, iou_loss, d_model, nhead, num_encoder_layers, num_decoder_layers,
            dim_feedforward, dropout, corner_channels: as :class:`StarkHead`.
        cls_loss: sigmoid cross-entropy on the score logit.
        score_layers: MLP depth (3).
        train_score: which stage this run trains (see above).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        in_strides: Sequence[int],
        cls_loss: nn.Module,
        box_loss: nn.Module | None = None,
        iou_loss: nn.Module | None = None,
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        corner_channels: int = 256,
        score_layers: int = 3,
        train_score: bool = True,
    ):
        super().__init__(in_channels, in_strides, box_loss, iou_loss, d_model, nhead, num_encoder_layers,
                         num_decoder_layers, dim_feedforward, dropout, corner_channels)
        self.cls_loss = cls_loss
        self.train_score = train_score
        self.score_head = MLP(d_model, d_model, 1, score_layers)

    def forward(self, z_feats: list[Tensor], x_feats: list[Tensor]) -> dict[str, Tensor]:
        hs, enc, hw = self.encode_decode(z_feats, x_feats)
        if self.training and self.train_score:  # STARK-ST2: the score branch alone, on frozen features
            return {"score": self.score_head(hs.detach())[:, 0]}
        out = self.corners(hs, enc, hw)
        out["score"] = self.score_head(hs.detach() if self.training else hs)[:, 0]  # (B,) logits
        return out

    def loss(self, outputs: dict[str, Tensor], boxes: Tensor, positive: Tensor, search_size: int) -> dict[str, Tensor]:
        if not self.train_score:  # STARK-ST1: box losses only
            return super().loss(outputs, boxes, positive, search_size)
        logit = outputs["score"]
        losses = {"loss_score": self.cls_loss(logit, positive.to(logit.dtype))}
        with torch.no_grad():
            losses["score_acc"] = ((logit > 0) == positive).float().mean()
        return losses

    def decode(self, outputs: dict[str, Tensor], search_size: int, prior_size: Tensor) -> tuple[Tensor, Tensor]:
        box = xyxy_to_cxcywh(self.boxes_xyxy(outputs, search_size))[:, None]
        return box, outputs["score"].sigmoid()[:, None]

"""SiamFC head: a cross-correlation score map trained with a logistic loss on a label map."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from sot.models.heads.common import check_equal_channels, check_single_stride, cosine_window, response_grid
from sot.models.xcorr import xcorr_naive


class SiamFCHead(nn.Module):
    """Cross-correlation of template and search features (Bertinetto et al., 2016).

    Args:
        in_channels: channels of each feature level (from the neck).
        in_strides: stride of each level; all must be equal (levels are averaged).
        cls_loss: element-wise loss on the score map (logistic in the paper).
        out_scale: the response is scaled by this factor (0.001 in the paper's PyTorch port).
        radius: positives lie within this distance (search-crop pixels) of the target centre.
        response_up: upsampling factor of the response map at test time (16 in the paper).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        in_strides: Sequence[int],
        cls_loss: nn.Module,
        out_scale: float = 0.001,
        radius: float = 16.0,
        response_up: int = 16,
    ):
        super().__init__()
        check_equal_channels("siamfc", in_channels)
        self.stride = check_single_stride("siamfc", in_strides)
        self.num_levels = len(in_channels)
        self.out_scale = out_scale
        self.radius = radius
        self.response_up = response_up
        self.cls_loss = cls_loss
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, z_feats: list[Tensor], x_feats: list[Tensor]) -> dict[str, Tensor]:
        score = sum(xcorr_naive(z, x) for z, x in zip(z_feats, x_feats)) / self.num_levels
        return {"score": score * self.out_scale + self.bias}  # (B, 1, R, R)

    def targets(self, size: int, boxes: Tensor, positive: Tensor, search_size: int) -> tuple[Tensor, Tensor]:
        """Label map (1 within ``radius`` of the box centre) and balanced weights, each (B, size * size)."""
        grid = response_grid(size, self.stride, search_size, boxes.device)  # (N, 2)
        centre = boxes[:, :2] + boxes[:, 2:] / 2  # (B, 2)
        dist = torch.linalg.norm(grid[None] - centre[:, None], dim=-1)  # (B, N)
        labels = ((dist <= self.radius) & positive[:, None]).float()
        n_pos = labels.sum(1, keepdim=True)
        n_neg = (1 - labels).sum(1, keepdim=True)
        weights = torch.where(labels > 0, 0.5 / n_pos.clamp(min=1), 0.5 / n_neg.clamp(min=1))
        # a sample without positives puts its whole weight on negatives
        weights = torch.where((n_pos == 0) & (labels == 0), 1.0 / n_neg.clamp(min=1), weights)
        return labels, weights

    def loss(self, outputs: dict[str, Tensor], boxes: Tensor, positive: Tensor, search_size: int) -> dict[str, Tensor]:
        score = outputs["score"].flatten(1)  # (B, N)
        labels, weights = self.targets(outputs["score"].shape[-1], boxes, positive, search_size)
        return {"loss_cls": self.cls_loss(score, labels, weight=weights, avg_factor=score.shape[0])}

    def _up_size(self, size: int) -> int:
        return size * self.response_up

    def decode(self, outputs: dict[str, Tensor], search_size: int, prior_size: Tensor) -> tuple[Tensor, Tensor]:
        score = outputs["score"]
        B, _, R, _ = score.shape
        up = self._up_size(R)
        score = F.interpolate(score, size=(up, up), mode="bicubic", align_corners=False).flatten(1)
        grid = response_grid(up, self.stride / self.response_up, search_size, score.device)  # (N, 2)
        wh = prior_size[:, None, :].expand(B, grid.shape[0], 2)
        boxes = torch.cat([grid[None].expand(B, -1, -1), wh], dim=-1)
        return boxes, torch.sigmoid(score)

    def window(self, outputs: dict[str, Tensor]) -> Tensor:
        return cosine_window(self._up_size(outputs["score"].shape[-1]), outputs["score"].device)

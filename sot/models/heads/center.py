"""OSTrack's centre head: a centre score map, a size map and an offset map (CenterNet-style)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from sot.models.heads.box_maps import DepthwiseFusion, box_losses, cell_origins, conv_bn_relu
from sot.models.heads.common import cosine_window
from sot.utils.boxes import cxcywh_to_xyxy, xywh_to_cxcywh

__all__ = ["CenterHead", "CenterPredictor", "gaussian_radius", "gaussian_targets"]


class CenterPredictor(nn.Module):
    """Three towers (``ctr``, ``offset``, ``size``) of four conv-BN-ReLU and a 1x1 conv (OSTrack names:
    ``conv1_ctr.0.weight`` ... ``conv5_size.bias``), Xavier-initialised as OSTrack.

    ``forward``: ``(B, C, H, W)`` -> centre probabilities ``(B, 1, H, W)`` and sizes ``(B, 2, H, W)`` (both sigmoid,
    clamped to ``[1e-4, 1 - 1e-4]``; sizes as fractions of the search side) and raw offsets ``(B, 2, H, W)`` (cells).
    """

    def __init__(self, in_channels: int, channels: int = 256):
        super().__init__()
        widths = [in_channels, channels, channels // 2, channels // 4, channels // 8]
        for branch, out in (("ctr", 1), ("offset", 2), ("size", 2)):
            for i in range(4):
                self.add_module(f"conv{i + 1}_{branch}", conv_bn_relu(widths[i], widths[i + 1]))
            self.add_module(f"conv5_{branch}", nn.Conv2d(widths[4], out, kernel_size=1))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _tower(self, x: Tensor, branch: str) -> Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}_{branch}")(x)
        return x

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        score = self._tower(x, "ctr").sigmoid().clamp(1e-4, 1 - 1e-4)
        size = self._tower(x, "size").sigmoid().clamp(1e-4, 1 - 1e-4)
        return score, size, self._tower(x, "offset")


def gaussian_radius(wh: Tensor, min_overlap: float = 0.7) -> Tensor:
    """CornerNet's Gaussian radius for boxes of size ``wh`` ``(..., 2)`` (in cells), the variant OSTrack uses."""
    w, h = wh[..., 0], wh[..., 1]
    b1, c1 = h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + torch.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return torch.minimum(r1, torch.minimum(r2, r3))


def gaussian_targets(centre_idx: Tensor, radius: Tensor, size: tuple[int, int]) -> Tensor:
    """Heat maps ``(B, H, W)`` with a Gaussian of ``sigma = (2 r + 1) / 6`` cut at ``r`` cells around each
    integer centre ``(B, 2)`` ``(ix, iy)``; ``radius`` ``(B,)`` is truncated to an integer (OSTrack / CenterNet)."""
    h, w = size
    r = radius.clamp(min=0).floor()
    sigma = (2 * r + 1) / 6
    dx = torch.arange(w, device=centre_idx.device)[None, None, :] - centre_idx[:, 0, None, None]
    dy = torch.arange(h, device=centre_idx.device)[None, :, None] - centre_idx[:, 1, None, None]
    g = torch.exp(-(dx ** 2 + dy ** 2).float() / (2 * sigma[:, None, None] ** 2))
    inside = (dx.abs() <= r[:, None, None]) & (dy.abs() <= r[:, None, None])
    g = g * inside
    return torch.where(g < torch.finfo(torch.float64).eps, torch.zeros_like(g), g)


class CenterHead(nn.Module):
    """OSTrack's centre head (Ye et al., 2022).

    A centre score map trained with a Gaussian focal loss against a CenterNet heat map; at the best cell the box
    is ``(cell + offset) * stride`` and ``size * search_size``, trained with GIoU and L1 on normalised coordinates
    (OSTrack takes that cell from the predicted map, also in training). At test time the tracker multiplies the
    score map by a Hanning window (:meth:`window`).

    Args:
        in_channels: channels per level (the last level is used).
        in_strides: stride per level.
        cls_loss: loss on the centre probabilities (``GaussianFocalLoss``; OSTrack weight 1).
        box_loss: L1 term on normalised ``[x1, y1, x2, y2]`` (OSTrack weight 5).
        iou_loss: GIoU term (OSTrack weight 2).
        channels: width of the first conv of each tower (256).
        min_overlap: CornerNet Gaussian radius parameter (0.7).
        box_at: where the box losses read the size and offset maps in training: ``pred`` (the predicted peak,
            OSTrack, which starts from a pretrained backbone) or ``target`` (the ground-truth peak, CenterNet: a
            steady signal from the first step, for training from scratch).
        one_stream: set by the builder from the backbone: False adds the template fusion.
        fusion_channels: width of the fused map (two-stream only).
    """

    two_stream = False  # usable with one-stream backbones

    def __init__(
        self,
        in_channels: Sequence[int],
        in_strides: Sequence[int],
        cls_loss: nn.Module,
        box_loss: nn.Module | None = None,
        iou_loss: nn.Module | None = None,
        channels: int = 256,
        min_overlap: float = 0.7,
        box_at: str = "pred",
        one_stream: bool = True,
        fusion_channels: int = 256,
    ):
        super().__init__()
        if box_at not in ("pred", "target"):
            raise ValueError(f"box_at must be 'pred' (OSTrack) or 'target' (CenterNet), got {box_at!r}")
        self.cls_loss, self.box_loss, self.iou_loss = cls_loss, box_loss, iou_loss
        self.min_overlap, self.box_at = float(min_overlap), box_at
        self.fusion = None if one_stream else DepthwiseFusion(in_channels, in_strides, fusion_channels)
        self.stride = int(in_strides[-1])
        self.box_head = CenterPredictor(int(in_channels[-1]) if one_stream else fusion_channels, channels)

    def forward(self, z_feats: list[Tensor] | None, x_feats: list[Tensor]) -> dict[str, Tensor]:
        feat = x_feats[-1] if self.fusion is None else self.fusion(z_feats, x_feats)
        score, size, offset = self.box_head(feat)
        return {"score": score, "size": size, "offset": offset}

    def _origins(self, outputs: dict[str, Tensor], search_size: int) -> tuple[Tensor, Tensor]:
        h, w = outputs["score"].shape[-2:]
        dev = outputs["score"].device
        centred = self.fusion is not None
        return (cell_origins(w, self.stride, search_size, centred, dev),
                cell_origins(h, self.stride, search_size, centred, dev))

    def all_boxes(self, outputs: dict[str, Tensor], search_size: int) -> Tensor:
        """The box of every cell, ``(B, H * W, 4)`` cxcywh in search-crop px (row-major)."""
        xs, ys = self._origins(outputs, search_size)
        off, size = outputs["offset"], outputs["size"]
        cx = xs[None, None, :] + off[:, 0] * self.stride
        cy = ys[None, :, None] + off[:, 1] * self.stride
        boxes = torch.stack([cx, cy, size[:, 0] * search_size, size[:, 1] * search_size], dim=-1)
        return boxes.flatten(1, 2)

    def targets(self, boxes: Tensor, positive: Tensor, size: tuple[int, int], search_size: int) -> Tensor:
        """Gaussian heat maps ``(B, H, W)`` peaking at the cell nearest each box centre; zeros for negatives."""
        h, w = size
        xs = cell_origins(w, self.stride, search_size, self.fusion is not None, boxes.device)
        ys = cell_origins(h, self.stride, search_size, self.fusion is not None, boxes.device)
        c = xywh_to_cxcywh(boxes)
        ix = torch.round((c[:, 0] - xs[0]) / self.stride).clamp(0, w - 1)
        iy = torch.round((c[:, 1] - ys[0]) / self.stride).clamp(0, h - 1)
        radius = gaussian_radius(c[:, 2:] / self.stride, self.min_overlap)
        maps = gaussian_targets(torch.stack([ix, iy], dim=-1).long(), radius, size)
        return maps * positive.to(maps.dtype)[:, None, None]

    def loss(self, outputs: dict[str, Tensor], boxes: Tensor, positive: Tensor, search_size: int) -> dict[str, Tensor]:
        score = outputs["score"][:, 0]  # (B, H, W)
        target = self.targets(boxes, positive, tuple(score.shape[-2:]), search_size)
        n_peaks = target.eq(1).sum().clamp(min=1)
        losses = {"loss_cls": self.cls_loss(score, target, avg_factor=n_peaks)}
        # OSTrack reads the box at the predicted peak; CenterNet at the ground-truth one
        best = (score if self.box_at == "pred" else target).flatten(1).argmax(dim=1)
        cand = self.all_boxes(outputs, search_size)
        pred = cand[torch.arange(len(best), device=best.device), best]
        losses.update(box_losses(cxcywh_to_xyxy(pred), boxes, positive, search_size, self.iou_loss, self.box_loss))
        return losses

    def decode(self, outputs: dict[str, Tensor], search_size: int, prior_size: Tensor) -> tuple[Tensor, Tensor]:
        return self.all_boxes(outputs, search_size), outputs["score"].flatten(1)

    def window(self, outputs: dict[str, Tensor]) -> Tensor:
        h, w = outputs["score"].shape[-2:]
        if h != w:
            raise ValueError(f"the Hanning window needs a square score map, got {h}x{w}")
        return cosine_window(h, outputs["score"].device)

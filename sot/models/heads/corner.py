"""STARK's corner head: top-left and bottom-right heat maps, box corners by soft-argmax."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from sot.models.heads.box_maps import DepthwiseFusion, box_losses, cell_origins, conv_bn_relu
from sot.utils.boxes import xyxy_to_cxcywh

__all__ = ["CornerHead", "CornerPredictor", "soft_argmax"]


class CornerPredictor(nn.Module):
    """Two towers of four conv-BN-ReLU (``channels``, /2, /4, /8) and a 1x1 conv, one per corner.

    Parameter names are STARK's / OSTrack's ``Corner_Predictor`` (``conv1_tl.0.weight``, ..., ``conv5_br.bias``).
    ``forward``: ``(B, C, H, W)`` -> top-left and bottom-right logits, each ``(B, H * W)``.
    """

    def __init__(self, in_channels: int, channels: int = 256):
        super().__init__()
        widths = [in_channels, channels, channels // 2, channels // 4, channels // 8]
        for corner in ("tl", "br"):
            for i in range(4):
                self.add_module(f"conv{i + 1}_{corner}", conv_bn_relu(widths[i], widths[i + 1]))
            self.add_module(f"conv5_{corner}", nn.Conv2d(widths[4], 1, kernel_size=1))

    def _tower(self, x: Tensor, corner: str) -> Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}_{corner}")(x)
        return x.flatten(1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._tower(x, "tl"), self._tower(x, "br")


def soft_argmax(logits: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """Expected ``(x, y)`` under ``softmax(logits)`` over a ``len(ys) x len(xs)`` grid (row-major): ``(B, 2)``."""
    p = logits.softmax(dim=-1).reshape(-1, len(ys), len(xs))
    return torch.stack([(p.sum(1) * xs).sum(-1), (p.sum(2) * ys).sum(-1)], dim=-1)


def corners_to_box(tl: Tensor, br: Tensor, size: tuple[int, int], stride: float, search_size: int,
                   centred: bool) -> Tensor:
    """``[x1, y1, x2, y2]`` in search-crop px from the two corner logit maps ``(B, H * W)``."""
    h, w = size
    xs = cell_origins(w, stride, search_size, centred, tl.device)
    ys = cell_origins(h, stride, search_size, centred, tl.device)
    return torch.cat([soft_argmax(tl, xs, ys), soft_argmax(br, xs, ys)], dim=-1)


class CornerHead(nn.Module):
    """STARK's corner predictor as a head (Yan et al., 2021; also OSTrack's ``CORNER`` head).

    With a one-stream backbone it reads the search map directly; with a two-stream backbone template and search
    maps are first fused by :class:`~sot.models.heads.box_maps.DepthwiseFusion`. Corners are expectations over the
    cells of the map (soft-argmax), cell ``i`` standing for ``i * stride`` (STARK): for a 320 px search at stride 16
    a 20 x 20 map. Boxes are trained with GIoU and L1 on coordinates normalised by the search size.

    Args:
        in_channels: channels per level (the last level is used).
        in_strides: stride per level.
        box_loss: L1 term on normalised ``[x1, y1, x2, y2]`` (STARK weight 5).
        iou_loss: GIoU term (STARK weight 2).
        channels: width of the first conv of each tower (256).
        one_stream: set by the builder from the backbone: False adds the template fusion.
        fusion_channels: width of the fused map (two-stream only).
    """

    two_stream = False  # usable with one-stream backbones

    def __init__(
        self,
        in_channels: Sequence[int],
        in_strides: Sequence[int],
        box_loss: nn.Module | None = None,
        iou_loss: nn.Module | None = None,
        channels: int = 256,
        one_stream: bool = True,
        fusion_channels: int = 256,
    ):
        super().__init__()
        self.box_loss, self.iou_loss = box_loss, iou_loss
        self.fusion = None if one_stream else DepthwiseFusion(in_channels, in_strides, fusion_channels)
        self.stride = int(in_strides[-1])
        self.box_head = CornerPredictor(int(in_channels[-1]) if one_stream else fusion_channels, channels)

    def forward(self, z_feats: list[Tensor] | None, x_feats: list[Tensor]) -> dict[str, Tensor]:
        feat = x_feats[-1] if self.fusion is None else self.fusion(z_feats, x_feats)
        tl, br = self.box_head(feat)
        return {"tl": tl.unflatten(1, feat.shape[-2:]), "br": br.unflatten(1, feat.shape[-2:])}  # (B, H, W) logits

    def boxes_xyxy(self, outputs: dict[str, Tensor], search_size: int) -> Tensor:
        tl, br = outputs["tl"], outputs["br"]
        return corners_to_box(tl.flatten(1), br.flatten(1), tuple(tl.shape[-2:]), self.stride, search_size,
                              centred=self.fusion is not None)

    def loss(self, outputs: dict[str, Tensor], boxes: Tensor, positive: Tensor, search_size: int) -> dict[str, Tensor]:
        return box_losses(self.boxes_xyxy(outputs, search_size), boxes, positive, search_size,
                          self.iou_loss, self.box_loss)

    def decode(self, outputs: dict[str, Tensor], search_size: int, prior_size: Tensor) -> tuple[Tensor, Tensor]:
        box = xyxy_to_cxcywh(self.boxes_xyxy(outputs, search_size))[:, None]  # one box per image
        return box, torch.ones(box.shape[:2], device=box.device)

    def window(self, outputs: dict[str, Tensor]) -> Tensor:
        return torch.ones(1, device=outputs["tl"].device)

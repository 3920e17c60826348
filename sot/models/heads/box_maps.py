"""Pieces shared by the box-map heads (corner, center, stark): conv blocks, the coordinate grid of a map,
template fusion for two-stream backbones, and the normalised GIoU + L1 box losses of STARK and OSTrack."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor
from torchvision.ops import box_iou

from sot.models.heads.common import check_equal_channels, check_single_stride
from sot.models.xcorr import xcorr_depthwise
from sot.utils.boxes import xywh_to_xyxy

__all__ = ["DepthwiseFusion", "box_losses", "cell_origins", "conv_bn_relu"]


def conv_bn_relu(cin: int, cout: int, kernel_size: int = 3, padding: int = 1) -> nn.Sequential:
    """Conv (with bias) + BatchNorm + ReLU, keys ``0`` / ``1`` as STARK's and OSTrack's ``conv()``."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size, padding=padding, bias=True), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def cell_origins(size: int, stride: float, search_size: int, centred: bool, device=None) -> Tensor:
    """Search-crop coordinate that cell ``i`` of a ``size``-long map stands for: ``(size,)``.

    ``centred=False``: a map that covers the crop from its top-left corner (one-stream backbones, ``i * stride``,
    the convention of STARK's soft-argmax and OSTrack's centre head). ``centred=True``: a correlation map laid on
    the crop centre (:func:`sot.models.heads.common.response_grid` minus half a cell, so that both conventions
    agree when the map covers the whole crop).
    """
    i = torch.arange(size, device=device, dtype=torch.float32)
    if not centred:
        return i * stride
    return (i - (size - 1) / 2.0) * stride + search_size / 2.0 - stride / 2.0


class DepthwiseFusion(nn.Module):
    """Fuses separate template and search feature maps (two-stream backbones) into one search-aligned map.

    Per level: 3x3 conv + BN + ReLU on each side, depthwise cross-correlation, then the levels (and the templates
    of a ``(B, T, C, h, w)`` template stack) are averaged. Output ``(B, out_channels, Hx - hz + 1, ...)``, centred
    on the search crop.

    Args:
        in_channels: channels per level (all equal).
        in_strides: stride per level (all equal).
        out_channels: width of the fused map.
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int], out_channels: int = 256):
        super().__init__()
        c = check_equal_channels("fusion", in_channels)
        self.stride = check_single_stride("fusion", in_strides)
        self.conv_z = nn.ModuleList(conv_bn_relu(c, out_channels, 3, 0) for _ in in_channels)
        self.conv_x = nn.ModuleList(conv_bn_relu(c, out_channels, 3, 0) for _ in in_channels)

    def forward(self, z_feats: list[Tensor], x_feats: list[Tensor]) -> Tensor:
        maps = []
        for cz, cx, z, x in zip(self.conv_z, self.conv_x, z_feats, x_feats):
            xx = cx(x)
            if z.dim() == 5:  # several templates: average their correlations
                B, T = z.shape[:2]
                zz = cz(z.flatten(0, 1))
                xr = xx.repeat_interleave(T, dim=0)
                maps.append(xcorr_depthwise(zz, xr).unflatten(0, (B, T)).mean(1))
            else:
                maps.append(xcorr_depthwise(cz(z), xx))
        return torch.stack(maps).mean(0)


def box_losses(pred_xyxy: Tensor, boxes: Tensor, positive: Tensor, search_size: int,
               iou_loss: nn.Module | None, l1_loss: nn.Module | None) -> dict[str, Tensor]:
    """GIoU and L1 losses on boxes normalised by the search size (STARK / OSTrack), positives only.

    Args:
        pred_xyxy: ``(B, 4)`` predicted ``[x1, y1, x2, y2]`` in search-crop px.
        boxes: ``(B, 4)`` ground truth ``[x, y, w, h]`` in search-crop px; clamped to the crop after normalising.
        positive: ``(B,)``; negative pairs carry no box loss.
        iou_loss: a loss on ``xyxy`` boxes (``GIoULoss``); predicted boxes with inverted corners are left out of it
            (their GIoU is undefined; STARK skips such a batch).
        l1_loss: element-wise loss on the 4 normalised coordinates, averaged over coordinates and positives.

    Returns ``loss_iou``, ``loss_l1`` (those configured) and ``iou`` (mean IoU of the positives, for logging).
    """
    pred = pred_xyxy / search_size
    gt = (xywh_to_xyxy(boxes) / search_size).clamp(0.0, 1.0)
    w = positive.to(pred.dtype)
    n = w.sum().clamp(min=1.0)
    out: dict[str, Tensor] = {}
    if iou_loss is not None:
        valid = w * ((pred[:, 2] > pred[:, 0]) & (pred[:, 3] > pred[:, 1])).to(pred.dtype)
        out["loss_iou"] = iou_loss(pred, gt, weight=valid, avg_factor=n)
    if l1_loss is not None:
        out["loss_l1"] = l1_loss(pred, gt, weight=w[:, None].expand_as(pred), avg_factor=n * 4)
    with torch.no_grad():
        iou = box_iou(pred.detach().float(), gt.float()).diagonal()
        out["iou"] = (iou * w).sum() / n
    return out

"""SiamRPN++'s AdjustAllLayer: per-level 1x1 conv + BN, and a centre crop of the template features."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from torch import Tensor

from sot.models.necks.base import Neck


class AdjustNeck(Neck):
    """Per-level 1x1 conv (no bias) + BatchNorm; the template branch also keeps the centre ``center_size``.

    pysot crops the central 7x7 of the 15x15 template features (``l = (W - 7) // 2``) to cut the
    padding-affected border and the correlation cost.

    Args:
        in_channels: channels of each backbone level (passed by the builder).
        in_strides: total stride of each backbone level (passed by the builder).
        out_channels: width of every level (int) or one width per level.
        center_size: side of the template crop; None keeps the whole template map. A template map
            smaller than ``center_size`` is an error.

    Shapes: level i ``(B, in_channels[i], H, W)`` -> ``(B, out_channels[i], H, W)``;
    template: ``(B, out_channels[i], center_size, center_size)``.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        in_strides: Sequence[int],
        out_channels: int | Sequence[int] = 256,
        center_size: int | None = 7,
    ):
        super().__init__()
        n = len(in_channels)
        if len(in_strides) != n:
            raise ValueError(f"in_channels {list(in_channels)} and in_strides {list(in_strides)} differ in length")
        outs = [int(out_channels)] * n if isinstance(out_channels, int) else [int(c) for c in out_channels]
        if len(outs) != n:
            raise ValueError(f"out_channels {outs} needs one width per input level ({n})")
        self.downsample = nn.ModuleList(
            nn.Sequential(nn.Conv2d(ci, co, 1, bias=False), nn.BatchNorm2d(co)) for ci, co in zip(in_channels, outs)
        )
        self.out_channels = outs
        self.strides = list(in_strides)
        self.center_size = center_size

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        if len(feats) != len(self.downsample):
            raise ValueError(f"expected {len(self.downsample)} feature levels, got {len(feats)}")
        return [m(f) for m, f in zip(self.downsample, feats)]

    def forward_template(self, feats: list[Tensor]) -> list[Tensor]:
        outs = self.forward(feats)
        if self.center_size is None:
            return outs
        c = self.center_size
        cropped = []
        for f in outs:
            H, W = f.shape[-2:]
            if H < c or W < c:
                raise ValueError(f"template feature map {H}x{W} is smaller than center_size={c}; "
                                 f"use a larger template crop or center_size=null")
            top, left = (H - c) // 2, (W - c) // 2
            cropped.append(f[..., top:top + c, left:left + c])
        return cropped

"""Per-level 1x1 convolutions to a common width."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from torch import Tensor

from sot.models.necks.base import Neck


class ChannelMapper(Neck):
    """Maps every level to ``out_channels`` with a 1x1 conv (+ BatchNorm).

    Args:
        in_channels: channels of each backbone level (passed by the builder).
        in_strides: total stride of each backbone level (passed by the builder).
        out_channels: width of every output level.
        norm: 1x1 conv without bias followed by BatchNorm; False: 1x1 conv with bias only.

    Shapes: level i ``(B, in_channels[i], H, W)`` -> ``(B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int], out_channels: int = 256, norm: bool = True):
        super().__init__()
        if len(in_channels) != len(in_strides):
            raise ValueError(f"in_channels {list(in_channels)} and in_strides {list(in_strides)} differ in length")
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
            if norm else nn.Sequential(nn.Conv2d(c, out_channels, 1, bias=True))
            for c in in_channels
        )
        self.out_channels = [out_channels] * len(in_channels)
        self.strides = list(in_strides)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        if len(feats) != len(self.convs):
            raise ValueError(f"expected {len(self.convs)} feature levels, got {len(feats)}")
        return [conv(f) for conv, f in zip(self.convs, feats)]

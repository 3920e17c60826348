"""SiamFC's AlexNet (Bertinetto et al. 2016): five convolutions, no padding, total stride 8."""
from __future__ import annotations

import torch.nn as nn
from torch import Tensor

from sot.models.backbones.pretrained import load_pretrained


def _bn(c: int) -> nn.BatchNorm2d:
    # eps and momentum of the widely used PyTorch port of SiamFC
    return nn.BatchNorm2d(c, eps=1e-6, momentum=0.05)


def _even(c: float) -> int:
    return max(2, int(round(c / 2)) * 2)  # grouped convolutions (groups=2) need even widths


class AlexNet(nn.Module):
    """SiamFC's five-layer AlexNet.

    conv 11x11/2 (96) BN ReLU maxpool 3/2 -> conv 5x5 (256, groups 2) BN ReLU maxpool 3/2 ->
    conv 3x3 (384) BN ReLU -> conv 3x3 (384, groups 2) BN ReLU -> conv 3x3 (256, groups 2).
    No padding: a 127 template gives 6x6, a 255 search region 22x22. Parameter names ``conv1.0.weight``,
    ``conv1.1.weight``, ... (``convK`` is the K-th Sequential: conv, BN, ...).

    Args:
        width_mult: multiplies every width (rounded to an even number); below 1 for tiny CPU variants.
        pretrained: local checkpoint of this module.
    """

    one_stream = False

    def __init__(self, width_mult: float = 1.0, pretrained: str | None = None):
        super().__init__()
        c1, c2, c3, c4, c5 = (_even(c * width_mult) for c in (96, 256, 384, 384, 256))
        self.conv1 = nn.Sequential(nn.Conv2d(3, c1, 11, 2), _bn(c1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.conv2 = nn.Sequential(nn.Conv2d(c1, c2, 5, 1, groups=2), _bn(c2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        self.conv3 = nn.Sequential(nn.Conv2d(c2, c3, 3, 1), _bn(c3), nn.ReLU(inplace=True))
        self.conv4 = nn.Sequential(nn.Conv2d(c3, c4, 3, 1, groups=2), _bn(c4), nn.ReLU(inplace=True))
        self.conv5 = nn.Sequential(nn.Conv2d(c4, c5, 3, 1, groups=2))
        self.out_channels: list[int] = [c5]
        self.strides: list[int] = [8]
        if pretrained:
            load_pretrained(self, pretrained, expected_form="keys conv1.0.weight, conv1.1.weight, ..., conv5.0.bias")

    def forward(self, x: Tensor) -> list[Tensor]:
        # (B, 3, H, W) -> (B, C, (H - 87) / 8 + 1, ...): 127 -> 6, 255 -> 22
        x = self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))
        return [x]

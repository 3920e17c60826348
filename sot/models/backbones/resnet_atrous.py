"""pysot's atrous ResNet (``resnet_atrous.py``), layer for layer: the SiamRPN++ backbone of its checkpoints.

It differs from a torchvision / timm ResNet with dilation (:class:`sot.models.backbones.resnet.ResNet`) in four places,
all of which pysot's released weights depend on:

* the 7x7 stem conv has no padding;
* a stage's first block has a 3x3 downsample conv (not 1x1) unless the stage keeps both stride and dilation at 1
  (``layer1``): stride 2 without padding in ``layer2``; in the dilated stages half the stage's dilation, padded by it;
* a strided 3x3 conv is unpadded (padding ``2 - stride``); a dilated stage's first block uses half the dilation;
* so a 127 / 255 crop gives 15 x 15 / 31 x 31 maps at stride 8 (torchvision-style padding: 16 / 32).

Parameter names are pysot's (``conv1``, ``bn1``, ``layer2.0.downsample.0``, ...), which are also torchvision's.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from torch import Tensor

from sot.models.backbones.frozen import RESNET_STAGES, FrozenStagesMixin, resnet_frozen_modules
from sot.models.backbones.pretrained import load_pretrained

STAGE_NAMES = RESNET_STAGES
# per stage: width (before expansion), stride, dilation -> output stride 8 from layer2 on
STAGES = ((64, 1, 1), (128, 2, 1), (256, 1, 2), (512, 1, 4))


def _conv_geometry(stride: int, dilation: int, first_of_dilated: bool) -> tuple[int, int]:
    """``(dilation, padding)`` of a block's strided / dilated 3x3 conv under pysot's rules.

    Stride 2 is unpadded (``2 - stride``); a dilated stage's first block (the one with a downsample) looks with half
    the stage's dilation, so that it bridges from the previous stage's dilation.
    """
    if dilation > 1:
        d = dilation // 2 if first_of_dilated else dilation
        return d, d
    return 1, 2 - stride


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34); pysot's geometry on ``conv1``, ``conv2`` always at the stage's dilation."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        d, pad = _conv_geometry(stride, dilation, downsample is not None)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=pad, dilation=d, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided / dilated, pysot geometry) -> 1x1 x4 (ResNet-50)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        d, pad = _conv_geometry(stride, dilation, downsample is not None)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=pad, dilation=d, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


DEPTHS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}


def _downsample(inplanes: int, outplanes: int, stride: int, dilation: int) -> nn.Sequential:
    """pysot's shortcut: 1x1 where the stage keeps stride and dilation 1, else 3x3 (unpadded at stride 2;
    at half the stage's dilation, padded by it, in a dilated stage)."""
    if stride == 1 and dilation == 1:
        conv = nn.Conv2d(inplanes, outplanes, 1, bias=False)
    else:
        d = max(dilation // 2, 1)
        conv = nn.Conv2d(inplanes, outplanes, 3, stride=stride, padding=d if dilation > 1 else 0, dilation=d,
                         bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(outplanes))


class ResNetAtrous(FrozenStagesMixin, nn.Module):
    """pysot's SiamRPN++ ResNet (output stride 8, ``layer3`` / ``layer4`` dilated 2 / 4) emitting ``out_indices``.

    Feature indices (pysot ``used_layers``): 0 = the stem after ReLU, before max-pooling (stride 2), 1..4 =
    ``layer1``..``layer4`` (strides 4, 8, 8, 8). Stages after the last requested level are not built.

    Args:
        depth: 18, 34 (basic blocks) or 50 (bottlenecks).
        out_indices: feature levels to return; ``(2, 3, 4)`` for SiamRPN++.
        frozen_stages: -1 nothing frozen; 0 the stem; ``k`` the stem and ``layer1``..``layer{k}``. Frozen
            modules get ``requires_grad=False`` and stay in eval mode.
        norm_eval: keep every BatchNorm in eval mode (running statistics frozen) during ``train()``.
        pretrained: local checkpoint with this module's (= pysot's / torchvision's) key names, e.g. pysot's
            ImageNet ``resnet50.model``; ``fc`` and stages after the last output are dropped. pysot fed its nets raw
            BGR crops in [0, 255]; sot feeds ImageNet-normalised RGB (see ``docs/pysot_compat.md`` for the fold).
            Whole pysot trackers load with :func:`sot.models.convert.pysot.load_pysot_checkpoint` instead.

    Shapes: ``(B, 3, H, W)`` -> a list of ``(B, out_channels[i], h_i, w_i)``: stem ``(H - 7) // 2 + 1``, pooled
    ``(h - 1) // 2 + 1``, levels 2-4 ``(h - 3) // 2 + 1``; 127 -> 61, 31, 15 and 255 -> 125, 63, 31.
    """

    one_stream = False

    def __init__(
        self,
        depth: int = 50,
        out_indices: Sequence[int] = (2, 3, 4),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pretrained: str | None = None,
    ):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth}")
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or any(i < 0 or i > 4 for i in out_indices) or list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f"out_indices must be increasing feature levels in 0..4, got {out_indices}")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f"frozen_stages must be in -1..4, got {frozen_stages}")
        block, layers = DEPTHS[depth]
        self.depth, self.out_indices = depth, out_indices
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval

        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=0, bias=False)  # unpadded, as pysot
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels, strides = [64], [2]
        inplanes, total_stride = 64, 4
        for i in range(max(out_indices)):
            planes, stride, dilation = STAGES[i]
            outplanes = planes * block.expansion
            downsample = None
            if stride != 1 or inplanes != outplanes:
                downsample = _downsample(inplanes, outplanes, stride, dilation)
            blocks = [block(inplanes, planes, stride, dilation, downsample)]
            blocks += [block(outplanes, planes, 1, dilation) for _ in range(1, layers[i])]
            self.add_module(STAGE_NAMES[i], nn.Sequential(*blocks))
            inplanes, total_stride = outplanes, total_stride * stride
            channels.append(outplanes)
            strides.append(total_stride)
        self.out_channels: list[int] = [channels[i] for i in out_indices]
        self.strides: list[int] = [strides[i] for i in out_indices]
        self._init_weights()

        if pretrained:
            built = max(out_indices)
            dropped = ("fc.",) + tuple(f"{s}." for s in STAGE_NAMES[built:])
            load_pretrained(self, pretrained, drop=lambda k: k.startswith(dropped),
                            expected_form=f"keys of pysot's resnet{depth} (conv1.weight, layer2.0.downsample.0.weight, "
                                          f"...); a whole pysot tracker loads with load_pysot_checkpoint")
        self._freeze()

    def _init_weights(self) -> None:
        # pysot's init: N(0, sqrt(2 / fan_out)) convs, unit BatchNorms
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _frozen_modules(self) -> list[nn.Module]:
        return resnet_frozen_modules(self, self.frozen_stages)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 64, (H - 7) // 2 + 1, ...)
        outs = [x] if 0 in self.out_indices else []
        x = self.maxpool(x)
        for i, name in enumerate(STAGE_NAMES[: max(self.out_indices)], start=1):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return outs

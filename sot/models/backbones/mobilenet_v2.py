"""MobileNetV2 backbone (timm blocks) with the feature levels of SiamRPN++-mobile."""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch.nn as nn
from timm.layers import get_act_layer
from timm.models.efficientnet import EfficientNetFeatures
# timm's MobileNetV2 generator fixes its channel rounding; the builder lets us choose it.
from timm.models._efficientnet_builder import decode_arch_def, round_channels as timm_round_channels
from torch import Tensor

from sot.models.backbones.frozen import FrozenStagesMixin
from sot.models.backbones.pretrained import load_pretrained

# timm's mobilenetv2 stages: block type (ds = depthwise-separable, ir = inverted residual), r repeats,
# k kernel, s stride, e expansion, c output channels at width 1.0.
ARCH_DEF = [
    ["ds_r1_k3_s1_c16"],
    ["ir_r2_k3_s2_e6_c24"],
    ["ir_r3_k3_s2_e6_c32"],
    ["ir_r4_k3_s2_e6_c64"],
    ["ir_r3_k3_s1_e6_c96"],
    ["ir_r3_k3_s2_e6_c160"],
    ["ir_r1_k3_s1_e6_c320"],
]


class MobileNetV2(FrozenStagesMixin, nn.Module):
    """MobileNetV2 emitting feature levels (timm indices) ``out_indices``.

    timm feature indices (channels at width 1.0): 0 = ``blocks.0`` 16 ch (stride 2), 1 = ``blocks.1`` 24 ch (4),
    2 = ``blocks.2`` 32 ch (8), 3 = ``blocks.4`` 96 ch (16), 4 = ``blocks.6`` 320 ch (32). SiamRPN++-mobile (pysot ``mobilenetv2``,
    ``used_layers [3, 5, 7]``) uses levels ``(2, 3, 4)`` at output stride 8 (later stages dilated).
    Blocks after the last requested level are not built. Parameter names are timm's
    (``conv_stem``, ``bn1``, ``blocks.i.j...``); with ``round_channels="timm"`` a timm
    ``mobilenetv2_100`` / ``mobilenetv2_140`` checkpoint loads.

    Args:
        width_mult: channel multiplier (1.4 in pysot's ``siamrpn_mobilev2_l234_dwxcorr``).
        out_indices: feature levels to return.
        output_stride: 8 (SiamRPN++), 16 or 32; stages past it keep stride 1 and dilate instead.
        round_channels: ``"timm"`` rounds ``c * width_mult`` to a multiple of 8 like timm/torchvision
            (48, 136, 448 output channels at 1.4); ``"floor"`` takes ``int(c * width_mult)`` like pysot
            (44, 134, 448). Expansion widths are rounded to multiples of 8 in both.
        frozen_stages: -1 nothing frozen; 0 the stem; ``k`` the stem and ``blocks[0..k-1]`` (pysot
            ``layer0``..``layer{k}``). Frozen modules get ``requires_grad=False`` and stay in eval mode.
        norm_eval: keep every BatchNorm in eval mode during ``train()``.
        pretrained: local checkpoint of a timm MobileNetV2 of the same width or of this module; the
            classifier (``conv_head``, ``bn2``, ``classifier``) and unbuilt blocks are dropped.
    """

    one_stream = False

    def __init__(
        self,
        width_mult: float = 1.4,
        out_indices: Sequence[int] = (2, 3, 4),
        output_stride: int = 8,
        round_channels: str = "timm",
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pretrained: str | None = None,
    ):
        super().__init__()
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or any(i < 0 or i > 4 for i in out_indices) or list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f"out_indices must be increasing feature levels in 0..4, got {out_indices}")
        if round_channels == "timm":
            round_fn = partial(timm_round_channels, multiplier=width_mult)
        elif round_channels == "floor":
            round_fn = lambda c: int(c * width_mult)  # noqa: E731
        else:
            raise ValueError(f"round_channels must be 'timm' or 'floor', got {round_channels!r}")
        if not -1 <= frozen_stages <= len(ARCH_DEF):
            raise ValueError(f"frozen_stages must be in -1..{len(ARCH_DEF)}, got {frozen_stages}")
        feats = EfficientNetFeatures(
            block_args=decode_arch_def(ARCH_DEF),
            out_indices=out_indices,
            stem_size=32,
            output_stride=output_stride,
            round_chs_fn=round_fn,
            act_layer=get_act_layer("relu6"),
            norm_layer=nn.BatchNorm2d,
        )
        info = feats.feature_info.get_dicts()
        # feature "stage" s is the output of blocks[s - 1]
        self._out_stages = [d["stage"] for d in info]
        self.conv_stem, self.bn1 = feats.conv_stem, feats.bn1
        self.blocks = nn.Sequential(*list(feats.blocks)[: max(self._out_stages)])
        self.out_channels: list[int] = [d["num_chs"] for d in info]
        self.strides: list[int] = [d["reduction"] for d in info]
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval

        if pretrained:
            n = len(self.blocks)
            unbuilt = tuple(f"blocks.{i}." for i in range(n, len(ARCH_DEF)))
            dropped = ("conv_head.", "bn2.", "classifier.") + unbuilt
            load_pretrained(self, pretrained, drop=lambda k: k.startswith(dropped),
                            expected_form="keys of a timm mobilenetv2 (conv_stem.weight, blocks.0.0.conv_dw.weight, ...)")
        self._freeze()

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        return [self.conv_stem, self.bn1] + list(self.blocks)[: self.frozen_stages]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.bn1(self.conv_stem(x))
        outs = []
        for stage, block in enumerate(self.blocks, start=1):
            x = block(x)
            if stage in self._out_stages:
                outs.append(x)
        return outs

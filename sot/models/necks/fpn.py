"""Feature Pyramid Network (Lin et al. 2017), with MMDetection's arguments and behaviour."""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from sot.models.necks.base import Neck

EXTRA_SOURCES = ("on_input", "on_lateral", "on_output")


class FPN(Neck):
    """Lateral 1x1 convs, a top-down pathway and 3x3 output convs, plus optional extra levels.

    The top-down pathway resizes a level to the size of the one below it, so levels of equal stride
    (a dilated backbone) are simply added.

    Args:
        in_channels: channels of each backbone level (passed by the builder).
        in_strides: total stride of each backbone level (passed by the builder).
        out_channels: width of every output level.
        num_outs: number of output levels; those beyond the used backbone levels are extra levels.
        start_level: first backbone level used.
        end_level: last backbone level used, inclusive; -1 = the last one (MMDetection 3 semantics).
        add_extra_convs: False: extra levels by max-pooling (kernel 1, stride 2) the last output.
            Otherwise stride-2 3x3 convs on ``"on_input"`` (the last used backbone level; also what
            True means), ``"on_lateral"`` (its lateral) or ``"on_output"`` (its FPN output).
        relu_before_extra_convs: apply ReLU before the second and later extra convs.
        upsample_mode: ``F.interpolate`` mode of the top-down pathway.

    Shapes: used level i ``(B, in_channels[i], H_i, W_i)`` -> ``(B, out_channels, H_i, W_i)``; every extra
    level halves the previous one (rounding up) and doubles its stride.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        in_strides: Sequence[int],
        out_channels: int = 256,
        num_outs: int = 3,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool | str = False,
        relu_before_extra_convs: bool = False,
        upsample_mode: str = "nearest",
    ):
        super().__init__()
        num_ins = len(in_channels)
        if len(in_strides) != num_ins:
            raise ValueError(f"in_channels {list(in_channels)} and in_strides {list(in_strides)} differ in length")
        if not 0 <= start_level < num_ins:
            raise ValueError(f"start_level {start_level} outside the {num_ins} input levels")
        if end_level == -1 or end_level == num_ins - 1:
            self.backbone_end_level = num_ins
            if num_outs < num_ins - start_level:
                raise ValueError(f"num_outs {num_outs} < the {num_ins - start_level} used input levels")
        else:
            if not start_level <= end_level < num_ins:
                raise ValueError(f"end_level {end_level} outside {start_level}..{num_ins - 1}")
            self.backbone_end_level = end_level + 1
            if num_outs != end_level - start_level + 1:
                raise ValueError(f"with end_level {end_level}, num_outs must be {end_level - start_level + 1}, got {num_outs}")
        if add_extra_convs is True:
            add_extra_convs = "on_input"
        if add_extra_convs is not False and add_extra_convs not in EXTRA_SOURCES:
            raise ValueError(f"add_extra_convs must be False, True or one of {EXTRA_SOURCES}, got {add_extra_convs!r}")
        self.start_level, self.num_outs = start_level, num_outs
        self.add_extra_convs, self.relu_before_extra_convs = add_extra_convs, relu_before_extra_convs
        self.upsample_mode = upsample_mode

        used = range(start_level, self.backbone_end_level)
        self.lateral_convs = nn.ModuleList(nn.Conv2d(in_channels[i], out_channels, 1) for i in used)
        self.fpn_convs = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in used)
        extra_levels = num_outs - len(used)
        if add_extra_convs and extra_levels > 0:
            for i in range(extra_levels):
                c = in_channels[self.backbone_end_level - 1] if i == 0 and add_extra_convs == "on_input" else out_channels
                self.fpn_convs.append(nn.Conv2d(c, out_channels, 3, stride=2, padding=1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

        strides = [int(in_strides[i]) for i in used]
        for _ in range(extra_levels):
            strides.append(strides[-1] * 2)
        self.strides = strides
        self.out_channels = [out_channels] * num_outs
        self.num_ins = num_ins

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        if len(feats) != self.num_ins:
            raise ValueError(f"expected {self.num_ins} feature levels, got {len(feats)}")
        laterals = [conv(feats[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        n = len(laterals)
        for i in range(n - 1, 0, -1):
            size = laterals[i - 1].shape[-2:]
            top = laterals[i]
            if top.shape[-2:] != size:
                top = F.interpolate(top, size=size, mode=self.upsample_mode)
            laterals[i - 1] = laterals[i - 1] + top
        outs = [self.fpn_convs[i](laterals[i]) for i in range(n)]
        if self.num_outs > n:
            if not self.add_extra_convs:
                for _ in range(self.num_outs - n):
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                source = {
                    "on_input": feats[self.backbone_end_level - 1],
                    "on_lateral": laterals[-1],
                    "on_output": outs[-1],
                }[self.add_extra_convs]
                outs.append(self.fpn_convs[n](source))
                for i in range(n + 1, self.num_outs):
                    x = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                    outs.append(self.fpn_convs[i](x))
        return outs

"""ResNet backbones (timm-built), including the SiamRPN++ output-stride-8 variant and STARK's cut after layer3."""
from __future__ import annotations

from collections.abc import Sequence

import timm
import torch.nn as nn
from torch import Tensor

from sot.models.backbones.frozen import RESNET_STAGES, FrozenStagesMixin, resnet_frozen_modules
from sot.models.backbones.pretrained import load_pretrained

STAGE_NAMES = RESNET_STAGES


class ResNet(FrozenStagesMixin, nn.Module):
    """A timm ResNet emitting the feature levels ``out_indices``.

    timm feature indices: 0 = stem (``act1``, stride 2), 1..4 = ``layer1``..``layer4`` (strides 4, 8, 16, 32).
    Modules after the last requested level are not built. Parameter names are those of timm's and
    torchvision's ResNets (``conv1``, ``bn1``, ``layer1.0.conv1``, ...), so either checkpoint loads.

    Args:
        name: timm ResNet name (``resnet18``, ``resnet50``, ...).
        out_indices: feature levels to return, e.g. ``(2, 3, 4)`` (SiamRPN++) or ``(3,)`` (STARK, stride 16).
        siamrpn_dilation: SiamRPN++ variant: output stride 8; ``layer3`` and ``layer4`` keep stride 1 with
            dilation 2 and 4 (layer strides ``(1, 2, 1, 1)``, dilations ``(1, 1, 2, 4)``).
        frozen_stages: -1 nothing frozen; 0 the stem; ``k`` the stem and ``layer1``..``layer{k}``. Frozen
            modules get ``requires_grad=False`` and stay in eval mode.
        norm_eval: keep every BatchNorm in eval mode (running statistics frozen) during ``train()``.
        pretrained: local checkpoint of a timm/torchvision ResNet or of this module. The classifier ``fc``
            and stages after the last output may be present in the file; they are dropped.

    Shapes: ``(B, 3, H, W)`` -> a list of ``(B, out_channels[i], H / strides[i], W / strides[i])`` (rounded up).
    """

    one_stream = False

    def __init__(
        self,
        name: str = "resnet50",
        out_indices: Sequence[int] = (2, 3, 4),
        siamrpn_dilation: bool = True,
        frozen_stages: int = -1,
        norm_eval: bool = False,
        pretrained: str | None = None,
    ):
        super().__init__()
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or any(i < 0 or i > 4 for i in out_indices) or list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f"out_indices must be increasing feature levels in 0..4, got {out_indices}")
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f"frozen_stages must be in -1..4, got {frozen_stages}")
        feats = timm.create_model(
            name, pretrained=False, features_only=True, out_indices=out_indices,
            output_stride=8 if siamrpn_dilation else 32,
        )
        children = dict(feats.named_children())
        if not {"conv1", "bn1", "layer1"} <= set(children):
            raise ValueError(f"{name!r} is not a timm ResNet (modules: {list(children)})")
        # Adopt timm's modules directly (timm truncates after the last requested level).
        for child_name, module in children.items():
            self.add_module(child_name, module)
        self._out_names = list(feats.feature_info.module_name())
        self.out_channels: list[int] = list(feats.feature_info.channels())
        self.strides: list[int] = list(feats.feature_info.reduction())
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.name = name

        if pretrained:
            last = max(out_indices)
            dropped = ("fc.",) + tuple(f"{s}." for s in STAGE_NAMES[last:])
            load_pretrained(self, pretrained, drop=lambda k: k.startswith(dropped),
                            expected_form=f"keys of timm/torchvision {name} (conv1.weight, layer1.0.conv1.weight, ...)")
        self._freeze()

    def _frozen_modules(self) -> list[nn.Module]:
        return resnet_frozen_modules(self, self.frozen_stages)

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for child_name, module in self.named_children():
            x = module(x)
            if child_name in self._out_names:
                outs.append(x)
        return outs

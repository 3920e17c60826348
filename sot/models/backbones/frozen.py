"""``frozen_stages`` / ``norm_eval`` behaviour shared by the CNN backbones."""
from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


def resnet_frozen_modules(net: nn.Module, frozen_stages: int) -> list[nn.Module]:
    """The stem (``conv1``, ``bn1``) and the first ``frozen_stages`` of a ResNet's stages that it has."""
    if frozen_stages < 0:
        return []
    return [net.conv1, net.bn1] + [getattr(net, s) for s in RESNET_STAGES[:frozen_stages] if hasattr(net, s)]


class FrozenStagesMixin:
    """Mix into an ``nn.Module`` that sets ``self.norm_eval`` and implements ``_frozen_modules()``.

    Frozen modules get no gradients and stay in eval mode; with ``norm_eval`` every BatchNorm stays in eval
    mode (running statistics fixed) while the rest trains.
    """

    norm_eval: bool

    def _frozen_modules(self) -> list[nn.Module]:
        raise NotImplementedError

    def _freeze(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            for m in self._frozen_modules():
                m.eval()
            if self.norm_eval:
                for m in self.modules():
                    if isinstance(m, _BatchNorm):
                        m.eval()
        return self

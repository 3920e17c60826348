"""The neck base class: ``forward_template`` defaults to ``forward``."""
from __future__ import annotations

import torch.nn as nn
from torch import Tensor


class Neck(nn.Module):
    """A neck maps backbone levels to head levels; subclasses set ``out_channels`` and ``strides``."""

    out_channels: list[int]
    strides: list[int]

    def forward_template(self, feats: list[Tensor]) -> list[Tensor]:
        """Template branch; the same as :meth:`forward` unless a neck treats templates differently."""
        return self.forward(feats)

"""A neck that passes the backbone levels through."""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from sot.models.necks.base import Neck


class Identity(Neck):
    """No neck: ``out_channels`` / ``strides`` are the backbone's.

    Args:
        in_channels: channels of each backbone level (passed by the builder).
        in_strides: total stride of each backbone level (passed by the builder).
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int]):
        super().__init__()
        self.out_channels = list(in_channels)
        self.strides = list(in_strides)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        return list(feats)

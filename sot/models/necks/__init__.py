"""Necks: ``forward(feats) -> feats`` and ``forward_template`` (default: ``forward``), built with the
backbone's ``in_channels`` / ``in_strides``."""
from sot.models.necks.adjust import AdjustNeck
from sot.models.necks.base import Neck
from sot.models.necks.channel_mapper import ChannelMapper
from sot.models.necks.fpn import FPN
from sot.models.necks.identity import Identity

__all__ = ["AdjustNeck", "ChannelMapper", "FPN", "Identity", "Neck"]

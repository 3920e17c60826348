"""STARK (researchmm/Stark) checkpoint keys -> sot keys (``ResNet`` cut after layer3 + ``StarkHead`` /
``ScoreHead``, no neck).

Official layout (``STARKS`` / ``STARKST`` ``state_dict()``, saved under ``net``): ``backbone.0.body.`` = the
torchvision-style ResNet up to ``layer3`` with frozen BatchNorms (no ``num_batches_tracked``), ``backbone.1`` = sine
positions (no parameters), ``bottleneck``, ``query_embed``, ``transformer.{encoder,decoder}.layers.N`` (DETR names),
``transformer.decoder.norm``, ``box_head.conv{1-5}_{tl,br}`` and, for STARK-ST, ``cls_head.layers.{0,1,2}``.
"""
from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from sot.models.convert import ConversionReport, convert

RULES = [
    ("backbone.0.body.", "backbone."),
    ("bottleneck.", "head.bottleneck."),
    ("query_embed.", "head.query_embed."),
    ("transformer.", "head.transformer."),
    ("box_head.", "head.box_head."),
    ("cls_head.", "head.score_head."),
]
DROP: dict[str, str] = {}


def convert_stark(sd: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], ConversionReport]:
    return convert(sd, RULES, DROP)

"""OSTrack (botaoye/OSTrack) checkpoint keys -> sot keys (``OneStreamViT`` backbone + ``CenterHead`` /
``CornerHead``, no neck).

Official layout (``OSTrack.state_dict()``, saved under ``net``): ``backbone.`` = ``VisionTransformerCE``
(``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``,
``norm``, and the tracking grids ``pos_embed_z`` / ``pos_embed_x`` made by ``finetune_track``) and ``box_head.`` =
``CenterPredictor`` (``conv{1-4}_{ctr,offset,size}.{0,1}``, ``conv5_*``) or ``Corner_Predictor``.
"""
from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from sot.models.convert import ConversionReport, convert

RULES = [
    ("backbone.pos_embed_z", "backbone.pos_embed_z"),
    ("backbone.pos_embed_x", "backbone.pos_embed_x"),
    ("backbone.patch_embed.", "backbone.patch_embed."),
    ("backbone.blocks.", "backbone.blocks."),
    ("backbone.norm.", "backbone.norm."),
    ("box_head.", "head.box_head."),
]
DROP = {
    "backbone.cls_token": "class token: kept by OSTrack but never used after finetune_track",
    "backbone.pos_embed": "224-px classification grid: pos_embed_z / pos_embed_x replace it",
}


def convert_ostrack(sd: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], ConversionReport]:
    return convert(sd, RULES, DROP)

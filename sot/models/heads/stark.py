"""STARK's head: a DETR-style encoder-decoder over template and search tokens, feeding the corner predictor."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from sot.models.heads.box_maps import box_losses
from sot.models.heads.corner import CornerPredictor, corners_to_box
from sot.models.heads.transformer import Transformer, sine_position_encoding
from sot.utils.boxes import xyxy_to_cxcywh

__all__ = ["StarkHead"]


class StarkHead(nn.Module):
    """STARK-S (Yan et al., 2021): fuses two-stream features with a transformer and predicts one box by corners.

    The last template and search levels are mapped to ``d_model`` by a 1x1 ``bottleneck``, flattened with sine
    positions (each map its own), concatenated (templates first) and encoded; one learned query decodes the target
    embedding, whose similarity to each encoded search token re-weights the search tokens for the corner predictor.
    Several templates (static + dynamic, STARK-ST) come as ``(B, T, C, h, w)`` level tensors and all enter the
    encoder. Parameter names follow STARK (``bottleneck``, ``query_embed``, ``transformer.encoder.layers.N``,
    ``box_head.conv1_tl``).

    Args:
        in_channels: channels per level (the last level is used; 1024 for ResNet-50 cut after layer 3).
        in_strides: stride per level (16).
        box_loss: L1 term on normalised ``[x1, y1, x2, y2]`` (STARK weight 5).
        iou_loss: GIoU term (STARK weight 2).
        d_model: transformer width (256).
        nhead: attention heads (8).
        num_encoder_layers, num_decoder_layers: 6 and 6.
        dim_feedforward: FFN width (2048).
        dropout: transformer dropout (0.1).
        corner_channels: width of the first conv of each corner tower (256).
    """

    two_stream = True  # needs separate template and search maps

    def __init__(
        self,
        in_channels: Sequence[int],
        in_strides: Sequence[int],
        box_loss: nn.Module | None = None,
        iou_loss: nn.Module | None = None,
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        corner_channels: int = 256,
    ):
        super().__init__()
        self.box_loss, self.iou_loss = box_loss, iou_loss
        self.stride = int(in_strides[-1])
        self.bottleneck = nn.Conv2d(int(in_channels[-1]), d_model, kernel_size=1)
        self.transformer = Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout)
        self.query_embed = nn.Embedding(1, d_model)
        self.box_head = CornerPredictor(d_model, corner_channels)

    def _tokens(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, C, h, w)`` -> tokens and sine positions, each ``(h * w, B, d_model)``."""
        f = self.bottleneck(feat)
        B, C, h, w = f.shape
        pos = sine_position_encoding(h, w, C // 2, device=f.device).flatten(1).T[:, None].expand(-1, B, -1)
        return f.flatten(2).permute(2, 0, 1), pos

    def encode_decode(self, z_feats: list[Tensor], x_feats: list[Tensor]) -> tuple[Tensor, Tensor, tuple[int, int]]:
        """Decoder output ``(B, C)``, encoded search tokens ``(B, h * w, C)`` and the search map size."""
        if z_feats is None:
            raise ValueError("StarkHead needs template features (a two-stream backbone)")
        z, x = z_feats[-1], x_feats[-1]
        templates = z.unbind(1) if z.dim() == 5 else (z,)
        parts = [self._tokens(t) for t in templates] + [self._tokens(x)]
        src = torch.cat([p[0] for p in parts])
        pos = torch.cat([p[1] for p in parts])
        hs, memory = self.transformer(src, pos, self.query_embed.weight)
        n_x = x.shape[-2] * x.shape[-1]
        return hs[0], memory[-n_x:].transpose(0, 1), (x.shape[-2], x.shape[-1])

    def corners(self, hs: Tensor, enc: Tensor, hw: tuple[int, int]) -> dict[str, Tensor]:
        att = enc @ hs[:, :, None]  # (B, HW, 1): similarity of each search token to the target query
        feat = (enc * att).transpose(1, 2).unflatten(2, hw)  # (B, C, h, w)
        tl, br = self.box_head(feat)
        return {"tl": tl.unflatten(1, hw), "br": br.unflatten(1, hw)}

    def forward(self, z_feats: list[Tensor], x_feats: list[Tensor]) -> dict[str, Tensor]:
        hs, enc, hw = self.encode_decode(z_feats, x_feats)
        return self.corners(hs, enc, hw)

    def boxes_xyxy(self, outputs: dict[str, Tensor], search_size: int) -> Tensor:
        tl, br = outputs["tl"], outputs["br"]
        return corners_to_box(tl.flatten(1), br.flatten(1), tuple(tl.shape[-2:]), self.stride, search_size, centred=False)

    def loss(self, outputs: dict[str, Tensor], boxes: Tensor, positive: Tensor, search_size: int) -> dict[str, Tensor]:
        return box_losses(self.boxes_xyxy(outputs, search_size), boxes, positive, search_size,
                          self.iou_loss, self.box_loss)

    def decode(self, outputs: dict[str, Tensor], search_size: int, prior_size: Tensor) -> tuple[Tensor, Tensor]:
        box = xyxy_to_cxcywh(self.boxes_xyxy(outputs, search_size))[:, None]
        return box, torch.ones(box.shape[:2], device=box.device)

    def window(self, outputs: dict[str, Tensor]) -> Tensor:
        return torch.ones(1, device=outputs["tl"].device)

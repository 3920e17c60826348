"""DETR-style transformer pieces used by STARK: sine positions, post-norm encoder / decoder, an MLP.

Sequences are ``(L, B, C)`` (sequence first, as ``nn.MultiheadAttention`` without ``batch_first``). Module and
parameter names follow DETR / STARK (``encoder.layers.N.self_attn``, ``linear1``, ``norm1``, ...; ``decoder.norm``),
so released STARK weights map by prefix.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MLP", "Transformer", "TransformerDecoderLayer", "TransformerEncoderLayer", "sine_position_encoding"]


def sine_position_encoding(h: int, w: int, num_pos_feats: int = 128, temperature: float = 10000.0,
                           normalize: bool = True, scale: float = 2 * math.pi, device=None) -> Tensor:
    """DETR's ``PositionEmbeddingSine`` for an unpadded ``h x w`` map: ``(2 * num_pos_feats, h, w)``, y half first.

    Positions are 1-based row / column indices, normalised to ``(0, scale]`` when ``normalize`` (STARK: True).
    """
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device)[:, None].expand(h, w)
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device)[None, :].expand(h, w)
    if normalize:
        eps = 1e-6
        y = y / (h + eps) * scale
        x = x / (w + eps) * scale
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32, device=device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_pos_feats)
    px, py = x[..., None] / dim_t, y[..., None] / dim_t  # (h, w, F)
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=-1).flatten(2)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=-1).flatten(2)
    return torch.cat((py, px), dim=-1).permute(2, 0, 1)


def _with_pos(x: Tensor, pos: Tensor | None) -> Tensor:
    return x if pos is None else x + pos


class TransformerEncoderLayer(nn.Module):
    """Post-norm self-attention + FFN; positions are added to queries and keys only."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1, self.linear2 = nn.Linear(d_model, dim_feedforward), nn.Linear(dim_feedforward, d_model)
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    def forward(self, src: Tensor, pos: Tensor | None = None, key_padding_mask: Tensor | None = None) -> Tensor:
        q = k = _with_pos(src, pos)
        src = self.norm1(src + self.dropout1(self.self_attn(q, k, src, key_padding_mask=key_padding_mask, need_weights=False)[0]))
        src2 = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout2(src2))


class TransformerDecoderLayer(nn.Module):
    """Post-norm query self-attention, cross-attention to the encoder memory, FFN."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1, self.linear2 = nn.Linear(d_model, dim_feedforward), nn.Linear(dim_feedforward, d_model)
        self.dropout = nn.Dropout(dropout)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor | None = None, query_pos: Tensor | None = None,
                key_padding_mask: Tensor | None = None) -> Tensor:
        q = k = _with_pos(tgt, query_pos)
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, tgt, need_weights=False)[0]))
        tgt2 = self.multihead_attn(_with_pos(tgt, query_pos), _with_pos(memory, pos), memory,
                                   key_padding_mask=key_padding_mask, need_weights=False)[0]
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


class _Stack(nn.Module):
    def __init__(self, layer: nn.Module, num_layers: int, norm: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.norm = norm


class Transformer(nn.Module):
    """STARK's encoder-decoder (DETR without the encoder's final norm; the decoder returns its last layer).

    Args:
        d_model: token width (256).
        nhead: attention heads (8).
        num_encoder_layers, num_decoder_layers: 6 and 6.
        dim_feedforward: FFN width (2048).
        dropout: 0.1.
    """

    def __init__(self, d_model: int = 256, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1):
        super().__init__()
        self.encoder = _Stack(TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout), num_encoder_layers)
        self.decoder = _Stack(TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout), num_decoder_layers,
                              nn.LayerNorm(d_model))
        self.d_model = d_model
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src: Tensor, pos: Tensor, query_embed: Tensor,
                key_padding_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``src``, ``pos``: ``(L, B, C)``; ``query_embed``: ``(N, C)``. Returns the decoder output ``(N, B, C)``
        and the encoder memory ``(L, B, C)``."""
        memory = src
        for layer in self.encoder.layers:
            memory = layer(memory, pos, key_padding_mask)
        query_pos = query_embed[:, None].expand(-1, src.shape[1], -1)
        hs = torch.zeros_like(query_pos)
        for layer in self.decoder.layers:
            hs = layer(hs, memory, pos, query_pos, key_padding_mask)
        return self.decoder.norm(hs), memory


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (DETR / STARK ``MLP``; keys ``layers.N``)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x

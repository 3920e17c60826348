"""Anchors of the SiamRPN family, laid on the response grid in search-crop pixels."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from sot.models.heads.common import response_grid


def anchor_shapes(stride: int, ratios: Sequence[float], scales: Sequence[float]) -> Tensor:
    """Anchor widths and heights, (A, 2), in the order of pysot's ``Anchors.generate_anchors``.

    The base area is ``stride * stride``; for ratio ``r`` (h / w) the base width is
    ``int(sqrt(area / r))`` and height ``int(width * r)``, both times the scale.
    """
    area = stride * stride
    shapes = []
    for r in ratios:
        ws = int(math.sqrt(area / r))
        hs = int(ws * r)
        for s in scales:
            shapes.append((ws * s, hs * s))
    return torch.tensor(shapes, dtype=torch.float32)


def grid_anchors(shapes: Tensor, size: int, stride: int, search_size: int) -> Tensor:
    """All anchors as (A * size * size, 4) ``[cx, cy, w, h]`` in search-crop pixels, anchor-major."""
    centres = response_grid(size, stride, search_size, shapes.device)  # (HW, 2)
    A, N = shapes.shape[0], centres.shape[0]
    return torch.cat([centres[None].expand(A, N, 2), shapes[:, None].expand(A, N, 2)], dim=-1).reshape(A * N, 4)


def encode(anchors: Tensor, boxes: Tensor) -> Tensor:
    """Regression targets ``(dx, dy, log dw, log dh)`` of cxcywh ``boxes`` relative to cxcywh ``anchors``."""
    return torch.stack(
        [
            (boxes[..., 0] - anchors[..., 0]) / anchors[..., 2],
            (boxes[..., 1] - anchors[..., 1]) / anchors[..., 3],
            torch.log(boxes[..., 2] / anchors[..., 2]),
            torch.log(boxes[..., 3] / anchors[..., 3]),
        ],
        dim=-1,
    )


def decode(anchors: Tensor, deltas: Tensor) -> Tensor:
    """Inverse of :func:`encode`: cxcywh boxes."""
    return torch.stack(
        [
            deltas[..., 0] * anchors[..., 2] + anchors[..., 0],
            deltas[..., 1] * anchors[..., 3] + anchors[..., 1],
            torch.exp(deltas[..., 2].clamp(max=10)) * anchors[..., 2],
            torch.exp(deltas[..., 3].clamp(max=10)) * anchors[..., 3],
        ],
        dim=-1,
    )

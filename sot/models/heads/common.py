"""Helpers shared by the dense Siamese heads: grids of response positions in crop pixels."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from sot.models.errors import IncompatiblePartsError


def check_single_stride(head: str, in_strides: Sequence[int], expected: int | None = None) -> int:
    """Heads that fuse levels by summation need one stride for every level."""
    strides = sorted(set(int(s) for s in in_strides))
    if len(strides) != 1:
        raise IncompatiblePartsError(
            f"head {head!r} fuses feature levels by weighted sum, so every level needs the same stride, "
            f"but the backbone + neck give strides {list(in_strides)}. Use a backbone with dilated stages "
            f"(e.g. backbone=resnet18, siamrpn_dilation) or a neck that keeps one stride (channel_mapper, adjust), "
            f"or select one level with backbone.out_indices."
            + (" (The main recipe's backbone=resnet18_layer12 adds layer1 at stride 4 for the ban_iou head's IoU "
               "branch; with another head use backbone=resnet18_layer2.)" if strides[:2] == [4, 8] else "")
        )
    if expected is not None and strides[0] != expected:
        raise IncompatiblePartsError(
            f"head {head!r} is set up for stride {expected} but the backbone + neck give stride {strides[0]}"
        )
    return strides[0]


def check_equal_channels(head: str, in_channels: Sequence[int]) -> int:
    if len(set(int(c) for c in in_channels)) != 1:
        raise IncompatiblePartsError(
            f"head {head!r} shares one width across levels, but the neck gives channels {list(in_channels)}; "
            f"use a neck that maps every level to one width (channel_mapper, adjust, fpn)"
        )
    return int(in_channels[0])


def response_grid(size: int, stride: float, search_size: int, device=None) -> Tensor:
    """Centres (in continuous search-crop coordinates) of a ``size x size`` response map laid on the crop
    centre ``search_size / 2`` (the image point the crop is centred on, see :mod:`sot.data.crop`).

    Returns (size * size, 2) ``[cx, cy]`` in row-major order.
    """
    c = search_size / 2.0
    offs = (torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2.0) * stride + c
    yy, xx = torch.meshgrid(offs, offs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=-1)


def cosine_window(size: int, device=None) -> Tensor:
    """Outer product of two Hanning windows, flattened row-major: (size * size,)."""
    h = torch.hann_window(size + 2, periodic=False, device=device)[1:-1] if size > 1 else torch.ones(1, device=device)
    return torch.outer(h, h).reshape(-1)

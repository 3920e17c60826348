"""Box conversions. House convention: boxes are ``[x, y, w, h]`` (top-left corner and size, pixels).

Other forms appear only inside a function and are converted at the edges with these helpers.
Every function accepts numpy arrays or torch tensors of shape ``(..., 4)``.
"""
from __future__ import annotations

import numpy as np
import torch

ArrayLike = "np.ndarray | torch.Tensor"


def _stack(parts, like):
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=-1)
    return np.stack(parts, axis=-1)


def xywh_to_xyxy(b):
    """``[x, y, w, h]`` -> ``[x1, y1, x2, y2]`` with ``x2 = x + w``."""
    x, y, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([x, y, x + w, y + h], b)


def xyxy_to_xywh(b):
    """``[x1, y1, x2, y2]`` -> ``[x, y, w, h]``."""
    x1, y1, x2, y2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([x1, y1, x2 - x1, y2 - y1], b)


def xywh_to_cxcywh(b):
    """``[x, y, w, h]`` -> ``[cx, cy, w, h]`` (centre at ``x + w / 2``)."""
    x, y, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([x + w / 2, y + h / 2, w, h], b)


def cxcywh_to_xywh(b):
    """``[cx, cy, w, h]`` -> ``[x, y, w, h]``."""
    cx, cy, w, h = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack([cx - w / 2, cy - h / 2, w, h], b)


def cxcywh_to_xyxy(b):
    return xywh_to_xyxy(cxcywh_to_xywh(b))


def xyxy_to_cxcywh(b):
    return xywh_to_cxcywh(xyxy_to_xywh(b))


def box_iou_xywh(a, b):
    """Element-wise IoU of two ``(..., 4)`` sets of ``[x, y, w, h]`` boxes (same shape).

    Boxes with non-positive width or height have IoU 0; NaN boxes give NaN.
    """
    if isinstance(a, torch.Tensor):
        ax1, ay1, ax2, ay2 = xywh_to_xyxy(a).unbind(-1)
        bx1, by1, bx2, by2 = xywh_to_xyxy(b).unbind(-1)
        iw = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
        ih = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
        inter = iw * ih
        union = a[..., 2].clamp(min=0) * a[..., 3].clamp(min=0) + b[..., 2].clamp(min=0) * b[..., 3].clamp(min=0) - inter
        return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union))
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ax2, ay2 = a[..., 0] + a[..., 2], a[..., 1] + a[..., 3]
    bx2, by2 = b[..., 0] + b[..., 2], b[..., 1] + b[..., 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = np.clip(a[..., 2], 0, None) * np.clip(a[..., 3], 0, None) + np.clip(b[..., 2], 0, None) * np.clip(b[..., 3], 0, None) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), np.where(np.isnan(union), np.nan, 0.0))


def clip_box_xywh(b, width: float, height: float, min_size: float = 1.0):
    """Clip ``[x, y, w, h]`` boxes to an image of ``width x height``, keeping at least ``min_size``."""
    x1, y1, x2, y2 = (xywh_to_xyxy(b)[..., i] for i in range(4))
    if isinstance(b, torch.Tensor):
        x1, x2 = x1.clamp(0, width - min_size), x2.clamp(min_size, width)
        y1, y2 = y1.clamp(0, height - min_size), y2.clamp(min_size, height)
        x2, y2 = torch.maximum(x2, x1 + min_size), torch.maximum(y2, y1 + min_size)
    else:
        x1, x2 = np.clip(x1, 0, width - min_size), np.clip(x2, min_size, width)
        y1, y2 = np.clip(y1, 0, height - min_size), np.clip(y2, min_size, height)
        x2, y2 = np.maximum(x2, x1 + min_size), np.maximum(y2, y1 + min_size)
    return xyxy_to_xywh(_stack([x1, y1, x2, y2], b))

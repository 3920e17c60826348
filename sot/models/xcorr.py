"""Cross-correlation between template and search features, batched with grouped convolution."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def xcorr_naive(z: Tensor, x: Tensor) -> Tensor:
    """Full cross-correlation: each template is one filter over its own search map.

    z: (B, C, Hz, Wz), x: (B, C, Hx, Wx) -> (B, 1, Hx - Hz + 1, Wx - Wz + 1)
    """
    B, C, Hx, Wx = x.shape
    out = F.conv2d(x.reshape(1, B * C, Hx, Wx), z, groups=B)
    return out.reshape(B, 1, out.shape[-2], out.shape[-1])


def xcorr_depthwise(z: Tensor, x: Tensor) -> Tensor:
    """Depthwise cross-correlation (SiamRPN++): channel c of z filters channel c of x.

    z: (B, C, Hz, Wz), x: (B, C, Hx, Wx) -> (B, C, Hx - Hz + 1, Wx - Wz + 1)
    """
    B, C, Hx, Wx = x.shape
    kernel = z.reshape(B * C, 1, z.shape[2], z.shape[3])
    out = F.conv2d(x.reshape(1, B * C, Hx, Wx), kernel, groups=B * C)
    return out.reshape(B, C, out.shape[-2], out.shape[-1])

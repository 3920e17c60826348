"""ATOM-style IoU prediction on top of the SiamBAN head: a branch that scores how well a box fits the target.

ATOM (Danelljan et al., CVPR 2019) estimates the box by maximising a learned IoU predictor over candidate boxes
instead of regressing it: the predictor is trained on many jittered proposals per pair, so it learns to compare a
box's extent with the object's, a judgement a regression head trained on crops scaled from the true box rarely
has to make (it sees the object at nearly one size).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from sot.models.errors import IncompatiblePartsError
from sot.models.heads.ban import BANHead
from sot.models.heads.box_maps import conv_bn_relu
from sot.utils.boxes import box_iou_xywh, cxcywh_to_xyxy, xywh_to_cxcywh, xyxy_to_cxcywh, xyxy_to_xywh

__all__ = ["IoUPredictor", "BANIoUHead", "jitter_boxes", "pool_boxes", "box_offsets", "kl_box_loss"]


def pool_boxes(x: Tensor, boxes: Tensor, pool: int, stride: float, samples: int = 2) -> Tensor:
    """Average-pools each box of ``boxes`` ``(B, P, 4)`` ``[x1, y1, x2, y2]`` (crop px) from the maps ``x``
    ``(B, C, H, W)`` into ``pool x pool`` bins: ``(B * P, C, pool, pool)``.

    The values of ``torchvision.ops.roi_align(..., aligned=True, sampling_ratio=samples)``: the mean of
    ``samples x samples`` bilinear samples per bin, except that samples beyond the map fade to zero (as
    ``grid_sample``'s zero padding) instead of repeating its border. Bilinear sampling is separable, so each
    box is two small weight matrices, ``(pool, H)`` and ``(pool, W)``, applied with two batched products: about
    ten times faster than ``roi_align`` forward and backward on the CPU, where its backward is a scatter loop.
    Computed in float32 (under autocast too).
    """
    B, P = boxes.shape[:2]
    H, W = x.shape[-2:]
    n = pool * samples
    t = (torch.arange(n, device=x.device, dtype=torch.float32) + 0.5) / n
    b = boxes.float() / stride - 0.5  # map coordinates of the box edges (cell centres at integers)

    def weights(lo: Tensor, hi: Tensor, size: int) -> Tensor:  # (B, P, pool, size): mean of the bilinear hats
        s = lo[..., None] + (hi - lo)[..., None] * t
        w = (1 - (s[..., None] - torch.arange(size, device=x.device, dtype=torch.float32)).abs()).clamp(min=0)
        return w.reshape(B, P, pool, samples, size).mean(3)

    with torch.autocast(x.device.type, enabled=False):  # float32, as roi_align's autocast rule has it
        wy, wx = weights(b[..., 1], b[..., 3], H), weights(b[..., 0], b[..., 2], W)
        rows = torch.einsum("bpih,bchw->bpciw", wy, x.float())
        return torch.einsum("bpciw,bpjw->bpcij", rows, wx).reshape(B * P, x.shape[1], pool, pool)


class IoUPredictor(nn.Module):
    """Predicts the IoU of boxes in the search crop with the template's object.

    Per feature level, the template map's centre (where the object lies) is pooled into a channel modulation
    vector; each candidate box is pooled from that level's search map (:func:`pool_boxes`, ``pool x pool``) and
    multiplied by the vector; the levels' pooled cells are concatenated and mapped to one IoU estimate by two
    linear layers (ATOM's modulation scheme; ATOM pools two levels too, its backbone's strides 8 and 16).

    Args:
        in_channels: width of the template and search maps, one per level (or an int: one level).
        stride: the maps' strides in crop px, one per level (or a number); the last level is the coarsest.
        hidden: width of the last level's pooled features.
        pool: side of the pooled grid per box.
        fine_hidden: width of the pooled features of the other (finer) levels: their maps are larger, so a
            narrow width keeps pooling them cheap.
        fine_pool: side of the pooled grid per box on the finer levels (None: ``pool``).
    """

    def __init__(self, in_channels: Sequence[int] | int, stride: Sequence[float] | float, hidden: int = 64,
                 pool: int = 5, fine_hidden: int = 16, fine_pool: int | None = None):
        super().__init__()
        in_channels = [in_channels] if isinstance(in_channels, int) else list(in_channels)
        strides = [stride] if isinstance(stride, (int, float)) else list(stride)
        if len(strides) != len(in_channels):
            raise ValueError(f"IoUPredictor: {len(in_channels)} channel counts but {len(strides)} strides")
        self.strides, self.pool = [float(s) for s in strides], int(pool)
        self.pools = [int(pool if fine_pool is None else fine_pool)] * (len(strides) - 1) + [self.pool]
        self.stride = self.strides[-1]
        if len(in_channels) == 1:  # one level: the module names of checkpoints from before the finer levels
            self.z_conv = conv_bn_relu(in_channels[0], hidden)
            self.x_conv = conv_bn_relu(in_channels[0], hidden)
            widths = [hidden]
        else:
            widths = [int(fine_hidden)] * (len(in_channels) - 1) + [hidden]
            self.z_convs = nn.ModuleList(conv_bn_relu(c, w) for c, w in zip(in_channels, widths))
            self.x_convs = nn.ModuleList(conv_bn_relu(c, w) for c, w in zip(in_channels, widths))
        # a linear layer over the flattened pooled cells (a pool x pool convolution without padding, as a matrix
        # product: the CPU's convolution kernels take ~15x longer on these 1-cell outputs)
        cells = sum(w * p * p for w, p in zip(widths, self.pools))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(cells, 2 * hidden), nn.ReLU(inplace=True),
                                nn.Linear(2 * hidden, 1))

    def _convs(self) -> tuple[list[nn.Module], list[nn.Module]]:
        if hasattr(self, "z_conv"):
            return [self.z_conv], [self.x_conv]
        return list(self.z_convs), list(self.x_convs)

    def embed(self, z: list[Tensor] | Tensor, x: list[Tensor] | Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Per level, ``(B, hidden)`` modulation vectors and ``(B, hidden, H, W)`` search maps. The modulation
        window is the coarsest level's centre ``2 (h // 4) + 1`` cells, the same crop px at every level."""
        z = [z] if isinstance(z, Tensor) else list(z)
        x = [x] if isinstance(x, Tensor) else list(x)
        zc, xc = self._convs()
        zs = [m(f) for m, f in zip(zc, z)]
        hc = zs[-1].shape[-2]
        extent = (2 * (hc // 4) + 1) * self.stride  # window side in crop px
        mods = []
        for f, s in zip(zs, self.strides):
            h, w = f.shape[-2:]
            k = int(round(extent / s))
            k = min(k + 1 - k % 2, h - 1 + h % 2, w - 1 + w % 2)  # odd, within the map
            t, l = h // 2 - k // 2, w // 2 - k // 2
            mods.append(f[..., t:t + k, l:l + k].mean((-2, -1)))
        return mods, [m(f) for m, f in zip(xc, x)]

    def forward(self, mod: list[Tensor], x: list[Tensor], boxes: Tensor) -> Tensor:
        """IoU estimates ``(B, P)`` of ``boxes`` ``(B, P, 4)`` ``[x1, y1, x2, y2]`` in crop px."""
        B, P = boxes.shape[:2]
        fs = []
        for m, f, s, k in zip(mod, x, self.strides, self.pools):
            p = pool_boxes(f, boxes, k, s)
            fs.append((p * m.repeat_interleave(P, 0)[:, :, None, None]).flatten(1))
        return self.fc(torch.cat(fs, 1) if len(fs) > 1 else fs[0]).reshape(B, P)


PROPOSAL_SIGMAS = (0.05, 0.1, 0.2, 0.3)


def jitter_boxes(boxes: Tensor, num: int, sigmas: Sequence[float] = PROPOSAL_SIGMAS,
                 generator: torch.Generator | None = None) -> Tensor:
    """``num`` proposals per ``[x, y, w, h]`` box ``(B, 4)`` -> ``(B, num, 4)`` ``[x1, y1, x2, y2]``: centre moved by
    ``N(0, s)`` box sides, each side scaled by ``exp(N(0, 2 s))``, ``s`` drawn per proposal from ``sigmas``."""
    c = xywh_to_cxcywh(boxes)[:, None].expand(-1, num, 4)
    s = torch.as_tensor(sigmas, dtype=boxes.dtype, device=boxes.device)
    s = s[torch.randint(len(sigmas), (boxes.shape[0], num, 1), generator=generator, device=boxes.device)]
    n = torch.randn(boxes.shape[0], num, 4, generator=generator, device=boxes.device, dtype=boxes.dtype) * s
    ctr = c[..., :2] + n[..., :2] * c[..., 2:]
    wh = c[..., 2:] * torch.exp(2 * n[..., 2:])
    return cxcywh_to_xyxy(torch.cat([ctr, wh], dim=-1))


def box_offsets(boxes: Tensor, props: Tensor) -> Tensor:
    """Offsets ``(B, P, 4)`` of proposals ``(B, P, 4)`` ``[x1, y1, x2, y2]`` from ``[x, y, w, h]`` boxes ``(B, 4)``:
    centre moves in box sides and log side ratios, the coordinates :func:`jitter_boxes` draws in."""
    gt = xywh_to_cxcywh(boxes)[:, None]
    p = xyxy_to_cxcywh(props)
    return torch.cat([(p[..., :2] - gt[..., :2]) / gt[..., 2:], torch.log(p[..., 2:] / gt[..., 2:])], dim=-1)


def _log_normal(d: Tensor, sd: Tensor) -> Tensor:
    return (-0.5 * (d / sd) ** 2 - torch.log(sd) - 0.5 * math.log(2 * math.pi)).sum(-1)


def kl_box_loss(scores: Tensor, offsets: Tensor, sigmas: Sequence[float] = PROPOSAL_SIGMAS,
                label_sigma: Sequence[float] = (0.05, 0.05, 0.1, 0.1)) -> Tensor:
    """PrDiMP's KL regression loss (Danelljan et al., CVPR 2020) per image ``(B,)``: ``scores`` ``(B, P)`` are
    unnormalised log densities of the proposals with ``offsets`` ``(B, P, 4)`` (:func:`box_offsets`), which were
    drawn by :func:`jitter_boxes` with ``sigmas``; the label density is a Gaussian around the true box with
    ``label_sigma`` per offset. Monte-Carlo estimate of KL(label || softmax of the scores), up to a constant:
    ``log mean(exp(s) / q) - mean(p / q * s)``, with ``q`` the proposals' mixture density."""
    sig = torch.as_tensor(sigmas, dtype=offsets.dtype, device=offsets.device)
    sd = torch.stack([sig, sig, 2 * sig, 2 * sig], dim=-1)  # jitter_boxes' deviations per mixture component
    log_q = torch.logsumexp(_log_normal(offsets[..., None, :], sd), dim=-1) - math.log(len(sigmas))
    log_p = _log_normal(offsets, torch.as_tensor(label_sigma, dtype=offsets.dtype, device=offsets.device))
    return (torch.logsumexp(scores - log_q, dim=1) - math.log(scores.shape[1])
            - (torch.exp(log_p - log_q) * scores).mean(1))


class BANIoUHead(BANHead):
    """:class:`~sot.models.heads.ban.BANHead` plus an :class:`IoUPredictor` trained on jittered proposals.

    The box is still decoded by the BAN head; a tracker may then pick among candidate boxes around it the ones
    the IoU branch rates best (``SiameseTracker(refine=IoURefiner(...))``, ``tracker/refine=iou``).

    Feature levels: the BAN part fuses the levels at the coarsest stride (one stride, as
    :class:`~sot.models.heads.ban.BANHead`); levels at finer strides, which must come first, feed only the IoU
    branch, which pools them beside the last level (e.g. ResNet-18's ``layer1`` at stride 4 with ``layer2`` at
    stride 8: ``backbone=resnet18_layer12``). A finer map resolves a small target's extent better: with the main
    recipe's ~28 px targets, a stride-8 box spans ~3.5 cells.

    Args (besides :class:`~sot.models.heads.ban.BANHead`'s):
        iou_hidden: width of the IoU branch.
        iou_fine_hidden: width of the IoU branch's features of the finer levels.
        iou_fine_pool: side of the IoU branch's pooled grid per box on the finer levels (the coarsest: 5).
        iou_proposals: proposals per positive pair in training.
        iou_weight: weight of the IoU branch's loss.
        iou_loss: ``mse``: the branch regresses each proposal's IoU with the true box (ATOM); ``kl``: its outputs
            are scores trained as log densities of the box (PrDiMP's KL loss, :func:`kl_box_loss`). The tracker
            uses only their ranking either way.
        iou_sigmas: the proposals' jitter scales (:func:`jitter_boxes`), one drawn per proposal.
    """

    def __init__(self, in_channels: Sequence[int], in_strides: Sequence[int], cls_loss: nn.Module,
                 box_loss: nn.Module, iou_hidden: int = 64, iou_fine_hidden: int = 16, iou_fine_pool: int = 5,
                 iou_proposals: int = 16, iou_weight: float = 1.0, iou_loss: str = "mse",
                 iou_sigmas: Sequence[float] = PROPOSAL_SIGMAS, **kwargs):
        strides = [int(v) for v in in_strides]
        n_fine = sum(v < max(strides) for v in strides)
        if strides[:n_fine] != sorted(strides[:n_fine]) or any(v != max(strides) for v in strides[n_fine:]):
            raise IncompatiblePartsError(
                f"head 'ban_iou' fuses the levels at the coarsest stride and gives finer levels to its IoU branch; "
                f"it needs the finer levels first, in increasing stride, then the coarsest ones, but the backbone + "
                f"neck give strides {strides}")
        super().__init__(list(in_channels[n_fine:]), strides[n_fine:], cls_loss, box_loss, **kwargs)
        self.n_fine = n_fine
        self.iou = IoUPredictor(list(in_channels[:n_fine]) + [in_channels[-1]], strides[:n_fine] + [strides[-1]],
                                iou_hidden, fine_hidden=iou_fine_hidden, fine_pool=iou_fine_pool)
        self.iou_proposals, self.iou_weight = int(iou_proposals), float(iou_weight)
        if iou_loss not in ("mse", "kl"):
            raise ValueError(f"ban_iou head: iou_loss must be 'mse' or 'kl', got {iou_loss!r}")
        self.iou_loss = iou_loss
        self.iou_sigmas = tuple(float(v) for v in iou_sigmas)
        if not self.iou_sigmas or min(self.iou_sigmas) <= 0:
            raise ValueError(f"ban_iou head: iou_sigmas must be positive numbers, got {list(iou_sigmas)}")

    def forward(self, z_feats: list[Tensor], x_feats: list[Tensor]) -> dict[str, Tensor]:
        k = self.n_fine
        out = super().forward(z_feats[k:], x_feats[k:])
        mods, xs = self.iou.embed(z_feats[:k] + z_feats[-1:], x_feats[:k] + x_feats[-1:])
        for j, (m, f) in enumerate(zip(mods, xs)):  # per IoU level j: modulation vectors, search maps
            out[f"iou_mod{j}"], out[f"iou_x{j}"] = m, f
        return out

    def _iou_inputs(self, outputs: dict[str, Tensor], sl: slice = slice(None)) -> tuple[list[Tensor], list[Tensor]]:
        n = self.n_fine + 1
        return [outputs[f"iou_mod{j}"][sl] for j in range(n)], [outputs[f"iou_x{j}"][sl] for j in range(n)]

    def predict_iou(self, outputs: dict[str, Tensor], boxes: Tensor, index: int | None = None) -> Tensor:
        """IoU estimates (``iou_loss="kl"``: scores, higher for a better fit) of ``[x1, y1, x2, y2]`` boxes in crop
        px: ``(B, P, 4)`` -> ``(B, P)``, one row per crop of ``outputs``, or ``(P, 4)`` -> ``(P,)`` for crop ``index``
        alone."""
        if index is None:
            return self.iou(*self._iou_inputs(outputs), boxes)
        return self.iou(*self._iou_inputs(outputs, slice(index, index + 1)), boxes[None])[0]

    def loss(self, outputs: dict[str, Tensor], boxes: Tensor, positive: Tensor, search_size: int) -> dict[str, Tensor]:
        losses = super().loss(outputs, boxes, positive, search_size)
        props = jitter_boxes(boxes.float(), self.iou_proposals, self.iou_sigmas)
        pred = self.predict_iou(outputs, props).float()
        if self.iou_loss == "kl":
            wb = positive.float()
            kl = kl_box_loss(pred, box_offsets(boxes.float(), props), self.iou_sigmas)
            losses["loss_iou"] = self.iou_weight * (kl * wb).sum() / wb.sum().clamp(min=1)
            return losses
        target = box_iou_xywh(boxes.float()[:, None].expand_as(props), xyxy_to_xywh(props))
        w = positive.float()[:, None].expand_as(pred)
        losses["loss_iou"] = self.iou_weight * (F.mse_loss(pred, target, reduction="none") * w).sum() / (
            w.sum().clamp(min=1))
        return losses

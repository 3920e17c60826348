"""SiamRPN++ head: depthwise cross-correlation per level, weighted fusion, anchors at one stride."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor
from torchvision.ops import box_iou

from sot.models.heads import anchors as anc
from sot.models.heads.common import check_equal_channels, check_single_stride, cosine_window
from sot.models.xcorr import xcorr_depthwise
from sot.utils.boxes import cxcywh_to_xyxy, xywh_to_cxcywh


def _conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DepthwiseXCorr(nn.Module):
    """Embed template and search with a 3x3 conv each, correlate depthwise, map to ``out_channels``."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.conv_kernel = _conv_bn_relu(in_channels, hidden, 3)
        self.conv_search = _conv_bn_relu(in_channels, hidden, 3)
        self.head = nn.Sequential(_conv_bn_relu(hidden, hidden, 1), nn.Conv2d(hidden, out_channels, 1))

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        return self.head(xcorr_depthwise(self.conv_kernel(z), self.conv_search(x)))


class RPNHead(nn.Module):
    """SiamRPN++ region proposal head (Li et al., 2019; pysot ``MultiRPN``).

    Args:
        in_channels: channels per level (all equal).
        in_strides: stride per level (all equal to ``anchor_stride``).
        cls_loss: classification term. A loss with ``use_sigmoid=False`` gets 2-way softmax logits
            per anchor (pysot); any other gets one sigmoid logit per anchor.
        box_loss: regression term on ``(dx, dy, log dw, log dh)`` deltas (``l1``, ``smooth_l1``), or on
            decoded ``[x1, y1, x2, y2]`` boxes when the loss has ``box_format = "xyxy"`` (``giou``).
        anchor_stride: anchor spacing in search-crop pixels.
        anchor_ratios: height / width ratios.
        anchor_scales: scales of the ``stride x stride`` base anchor.
        weighted: learn softmax-normalised fusion weights across levels (otherwise average).
        pos_iou: anchors with IoU above this are positive.
        neg_iou: anchors with IoU below this are negative.
        num_samples: anchors sampled per image for the classification loss.
        pos_fraction: at most this fraction of the samples are positive.
        hidden: width of the correlation embedding (default: the input width).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        in_strides: Sequence[int],
        cls_loss: nn.Module,
        box_loss: nn.Module,
        anchor_stride: int = 8,
        anchor_ratios: Sequence[float] = (0.33, 0.5, 1.0, 2.0, 3.0),
        anchor_scales: Sequence[float] = (8.0,),
        weighted: bool = True,
        pos_iou: float = 0.6,
        neg_iou: float = 0.3,
        num_samples: int = 64,
        pos_fraction: float = 0.25,
        hidden: int | None = None,
    ):
        super().__init__()
        width = check_equal_channels("rpn", in_channels)
        self.stride = check_single_stride("rpn", in_strides, expected=anchor_stride)
        self.cls_loss, self.box_loss = cls_loss, box_loss
        self.softmax = getattr(cls_loss, "use_sigmoid", True) is False
        self.register_buffer("anchor_wh", anc.anchor_shapes(anchor_stride, anchor_ratios, anchor_scales), persistent=False)
        A = self.num_anchors = self.anchor_wh.shape[0]
        cls_out = 2 * A if self.softmax else A
        hidden = hidden or width
        self.cls = nn.ModuleList(DepthwiseXCorr(width, hidden, cls_out) for _ in in_channels)
        self.loc = nn.ModuleList(DepthwiseXCorr(width, hidden, 4 * A) for _ in in_channels)
        self.weighted = weighted
        if weighted:
            self.cls_weight = nn.Parameter(torch.ones(len(in_channels)))
            self.loc_weight = nn.Parameter(torch.ones(len(in_channels)))
        self.pos_iou, self.neg_iou = pos_iou, neg_iou
        self.num_samples, self.pos_fraction = num_samples, pos_fraction

    def forward(self, z_feats: list[Tensor], x_feats: list[Tensor]) -> dict[str, Tensor]:
        n = len(z_feats)
        cw = torch.softmax(self.cls_weight, 0) if self.weighted else torch.full((n,), 1.0 / n, device=x_feats[0].device)
        lw = torch.softmax(self.loc_weight, 0) if self.weighted else cw
        cls = sum(w * m(z, x) for w, m, z, x in zip(cw, self.cls, z_feats, x_feats))
        loc = sum(w * m(z, x) for w, m, z, x in zip(lw, self.loc, z_feats, x_feats))
        return {"cls": cls, "loc": loc}  # (B, A or 2A, R, R), (B, 4A, R, R)

    # ---- outputs in anchor-major flat order: index = a * R * R + i * R + j ----
    def _flat(self, outputs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        cls, loc = outputs["cls"], outputs["loc"]
        B, _, R, _ = loc.shape
        A = self.num_anchors
        loc = loc.reshape(B, 4, A, R, R).permute(0, 2, 3, 4, 1).reshape(B, A * R * R, 4)
        if self.softmax:
            cls = cls.reshape(B, 2, A, R, R).permute(0, 2, 3, 4, 1).reshape(B, A * R * R, 2)
        else:
            cls = cls.reshape(B, A * R * R)
        return cls, loc

    def anchors(self, size: int, search_size: int) -> Tensor:
        return anc.grid_anchors(self.anchor_wh, size, self.stride, search_size)

    def targets(self, anchors: Tensor, boxes: Tensor, positive: Tensor) -> tuple[Tensor, Tensor]:
        """Per-anchor labels (1 pos, 0 neg, -1 ignored) and IoU-based positives, both (B, N).

        Negative pairs (``positive`` False) get up to ``num_samples * (1 - pos_fraction) / 3`` negatives
        (16 of 64, as pysot) drawn among anchors within 3 cells of the search frame's target.
        """
        iou = box_iou(cxcywh_to_xyxy(xywh_to_cxcywh(boxes)), cxcywh_to_xyxy(anchors))  # (B, N)
        pos = (iou > self.pos_iou) & positive[:, None]
        neg = (iou < self.neg_iou) & positive[:, None]
        # negative pairs: anchors near the (other object's) location are hard negatives
        centre = boxes[:, :2] + boxes[:, 2:] / 2
        near = ((anchors[None, :, :2] - centre[:, None]).abs() <= 3 * self.stride + self.stride / 2).all(-1)
        neg = neg | (near & ~positive[:, None])
        labels = sample_labels(pos, neg, positive, self.num_samples, self.pos_fraction)
        return labels, labels == 1

    def loss(self, outputs: dict[str, Tensor], boxes: Tensor, positive: Tensor, search_size: int) -> dict[str, Tensor]:
        cls, loc = self._flat(outputs)
        B = loc.shape[0]
        anchors = self.anchors(outputs["loc"].shape[-1], search_size)
        labels, pos = self.targets(anchors, boxes, positive)
        n_pos = (labels == 1).sum(1, keepdim=True).clamp(min=1)
        loss_cls = balanced_cls_loss(self.cls_loss, cls, labels, self.softmax)
        gt = xywh_to_cxcywh(boxes)[:, None].expand_as(loc)
        bw = (pos.float() / n_pos)[..., None].expand_as(loc)
        if getattr(self.box_loss, "box_format", "delta") == "xyxy":
            pred = cxcywh_to_xyxy(anc.decode(anchors[None], loc))
            loss_box = self.box_loss(pred.reshape(-1, 4), cxcywh_to_xyxy(gt).reshape(-1, 4), weight=bw[..., 0].reshape(-1), avg_factor=B)
        else:
            target = anc.encode(anchors[None].expand_as(loc), gt)
            loss_box = self.box_loss(loc, target, weight=bw, avg_factor=B)
        return {"loss_cls": loss_cls, "loss_box": loss_box}

    def decode(self, outputs: dict[str, Tensor], search_size: int, prior_size: Tensor) -> tuple[Tensor, Tensor]:
        cls, loc = self._flat(outputs)
        anchors = self.anchors(outputs["loc"].shape[-1], search_size)
        score = torch.softmax(cls, -1)[..., 1] if self.softmax else torch.sigmoid(cls)
        return anc.decode(anchors[None], loc), score

    def window(self, outputs: dict[str, Tensor]) -> Tensor:
        return cosine_window(outputs["loc"].shape[-1], outputs["loc"].device).repeat(self.num_anchors)


def sample_labels(pos: Tensor, neg: Tensor, positive: Tensor, num_samples: int, pos_fraction: float) -> Tensor:
    """pysot's sampling of ``(B, N)`` candidate masks into labels (1 positive, 0 negative, -1 ignored).

    At most ``num_samples * pos_fraction`` positives per image, negatives fill the rest of ``num_samples``;
    negative pairs (``positive`` False) get ``num_samples * (1 - pos_fraction) / 3`` negatives (16 of 64).
    """
    max_pos = int(num_samples * pos_fraction)
    pos = _subsample(pos, max_pos)
    n_pos = pos.sum(1, keepdim=True)
    neg_quota = torch.where(positive[:, None], num_samples - n_pos, torch.full_like(n_pos, (num_samples - max_pos) // 3))
    neg = _subsample(neg, neg_quota)
    labels = torch.full(pos.shape, -1.0, device=pos.device)
    labels[neg] = 0.0
    labels[pos] = 1.0
    return labels


def balanced_cls_loss(cls_loss: nn.Module, cls: Tensor, labels: Tensor, softmax: bool) -> Tensor:
    """Classification loss of sampled ``labels`` ``(B, N)``: half the weight on each image's positives, half on
    its negatives (all of it on the negatives without positives), as pysot; ``cls`` is ``(B, N, 2)`` softmax
    logits or ``(B, N)`` sigmoid logits; averaged over the batch."""
    B = labels.shape[0]
    valid = labels >= 0
    n_pos = (labels == 1).sum(1, keepdim=True).clamp(min=1)
    n_neg = (labels == 0).sum(1, keepdim=True).clamp(min=1)
    has_pos = (labels == 1).any(1, keepdim=True)
    w = torch.where(labels == 1, 0.5 / n_pos, torch.where(has_pos, 0.5 / n_neg, 1.0 / n_neg)) * valid
    if softmax:
        tgt = labels.clamp(min=0).long()
        return cls_loss(cls.reshape(-1, 2), tgt.reshape(-1), weight=w.reshape(-1), avg_factor=B)
    return cls_loss(cls, labels.clamp(min=0), weight=w, avg_factor=B)


def _subsample(mask: Tensor, k) -> Tensor:
    """Keep at most ``k`` (int or (B, 1) tensor) random True entries per row of a (B, N) mask."""
    r = torch.rand(mask.shape, device=mask.device).masked_fill(~mask, -1.0)
    rank = r.argsort(dim=1, descending=True).argsort(dim=1)
    return mask & (rank < k)

"""SiamBAN head: anchor-free, one box per response cell, ellipse labels (Chen et al., CVPR 2020)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from sot.models.heads.common import check_equal_channels, check_single_stride, cosine_window, response_grid
from sot.models.heads.rpn import DepthwiseXCorr, balanced_cls_loss, sample_labels
from sot.utils.boxes import cxcywh_to_xyxy, xywh_to_cxcywh, xyxy_to_cxcywh


class BANHead(nn.Module):
    """SiamBAN box adaptive head (hqucms/siamban ``MultiBAN``).

    Per level, depthwise cross-correlation towers (as in :class:`~sot.models.heads.rpn.RPNHead`) predict a
    classification map and the distances ``(l, t, r, b)`` from each cell to the four sides of the box,
    ``exp(s * x) * stride`` with a learned ``s`` per level; levels are fused with learned softmax weights.
    Every cell carries one box, so the cell the classifier picks always has a trained regression, and no anchor
    shapes are assumed.

    Labels (SiamBAN's ellipses, in search-crop px): a cell is positive when it lies inside the ellipse with
    semi-axes ``(w / 4, h / 4)`` around the box centre, negative outside ``(w / 2, h / 2)``, ignored between.
    ``num_samples`` cells per image are drawn for the classification loss (at most ``pos_fraction`` positive);
    the box loss covers every positive cell.

    Args:
        in_channels: channels per level (all equal).
        in_strides: stride per level (all equal).
        cls_loss: classification term: ``use_sigmoid=False`` gives 2-way softmax logits per cell (SiamBAN),
            any other one sigmoid logit per cell.
        box_loss: box term. A loss with ``box_format = "xyxy"`` (``giou``) compares ``[x1, y1, x2, y2]`` boxes;
            an element-wise one (``l1``, ``smooth_l1``) compares the four distances divided by the stride.
        weighted: learn softmax-normalised fusion weights across levels (otherwise average).
        num_samples: cells sampled per image for the classification loss.
        pos_fraction: at most this fraction of the samples are positive.
        hidden: width of the correlation embedding (default: the input width).
        box_region: the box loss covers the positive-pair cells inside the ellipse with semi-axes
            ``(box_region * w, box_region * h)``; 0.25 is SiamBAN's (the positive cells), 0.5 adds the ignored band.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        in_strides: Sequence[int],
        cls_loss: nn.Module,
        box_loss: nn.Module,
        weighted: bool = True,
        num_samples: int = 64,
        pos_fraction: float = 0.25,
        hidden: int | None = None,
        box_region: float = 0.25,
    ):
        super().__init__()
        width = check_equal_channels("ban", in_channels)
        self.stride = check_single_stride("ban", in_strides)
        self.cls_loss, self.box_loss = cls_loss, box_loss
        self.softmax = getattr(cls_loss, "use_sigmoid", True) is False
        hidden = hidden or width
        self.cls = nn.ModuleList(DepthwiseXCorr(width, hidden, 2 if self.softmax else 1) for _ in in_channels)
        self.loc = nn.ModuleList(DepthwiseXCorr(width, hidden, 4) for _ in in_channels)
        self.loc_scale = nn.Parameter(torch.ones(len(in_channels)))
        self.weighted = weighted
        if weighted:
            self.cls_weight = nn.Parameter(torch.ones(len(in_channels)))
            self.loc_weight = nn.Parameter(torch.ones(len(in_channels)))
        self.num_samples, self.pos_fraction = int(num_samples), float(pos_fraction)
        if not box_region > 0:
            raise ValueError(f"ban head: box_region must be > 0, got {box_region}")
        self.box_region = float(box_region)

    def forward(self, z_feats: list[Tensor], x_feats: list[Tensor]) -> dict[str, Tensor]:
        n = len(z_feats)
        cw = torch.softmax(self.cls_weight, 0) if self.weighted else torch.full((n,), 1.0 / n, device=x_feats[0].device)
        lw = torch.softmax(self.loc_weight, 0) if self.weighted else cw
        cls = sum(w * m(z, x) for w, m, z, x in zip(cw, self.cls, z_feats, x_feats))
        loc = sum(w * torch.exp((s * m(z, x)).clamp(max=10)) for w, s, m, z, x in
                  zip(lw, self.loc_scale, self.loc, z_feats, x_feats))
        return {"cls": cls, "loc": loc * self.stride}  # (B, 2 or 1, R, R), (B, 4, R, R) distances in crop px

    def points(self, size: int, search_size: int, device=None) -> Tensor:
        """Cell centres ``(R * R, 2)`` in search-crop px, row-major (the RPN anchor centres)."""
        return response_grid(size, self.stride, search_size, device)

    def _flat(self, outputs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        cls, loc = outputs["cls"], outputs["loc"]
        cls = cls.flatten(2).transpose(1, 2) if self.softmax else cls.flatten(1)  # (B, N, 2) or (B, N)
        return cls, loc.flatten(2).transpose(1, 2)  # (B, N, 4) l, t, r, b

    @staticmethod
    def _boxes(points: Tensor, ltrb: Tensor) -> Tensor:
        """``[x1, y1, x2, y2]`` of every cell from its centre and distances."""
        return torch.cat([points - ltrb[..., :2], points + ltrb[..., 2:]], dim=-1)

    def targets(self, points: Tensor, boxes: Tensor, positive: Tensor) -> tuple[Tensor, Tensor]:
        """Per-cell labels (1 pos, 0 neg, -1 ignored, sampled) and the cells the box loss covers, both ``(B, N)``.

        Negative pairs get ``num_samples * (1 - pos_fraction) / 3`` negatives drawn among the cells inside the
        (other object's) outer ellipse: hard negatives, as the RPN head does.
        """
        c = xywh_to_cxcywh(boxes)  # (B, 4)
        d = (points[None] - c[:, None, :2]) / c[:, None, 2:].clamp(min=1e-6)  # offsets in box widths / heights
        r2 = (d ** 2).sum(-1)  # inside the ellipse with semi-axes (w k, h k) <=> r2 < k^2
        inner, outer = r2 < 1.0 / 16.0, r2 < 1.0 / 4.0  # semi-axes (w / 4, h / 4) and (w / 2, h / 2)
        pos_all = inner & positive[:, None]
        neg = (~outer & positive[:, None]) | (outer & ~positive[:, None])
        box_cells = (r2 < self.box_region ** 2) & positive[:, None]
        return sample_labels(pos_all, neg, positive, self.num_samples, self.pos_fraction), box_cells

    def loss(self, outputs: dict[str, Tensor], boxes: Tensor, positive: Tensor, search_size: int) -> dict[str, Tensor]:
        cls, ltrb = self._flat(outputs)
        B = ltrb.shape[0]
        pts = self.points(outputs["loc"].shape[-1], search_size, ltrb.device)
        labels, box_cells = self.targets(pts, boxes, positive)
        loss_cls = balanced_cls_loss(self.cls_loss, cls, labels, self.softmax)
        gt = xywh_to_cxcywh(boxes)
        gt_xyxy = cxcywh_to_xyxy(gt)[:, None].expand(B, pts.shape[0], 4)
        bw = box_cells.float() / box_cells.sum(1, keepdim=True).clamp(min=1)  # each image's cells share weight 1
        if getattr(self.box_loss, "box_format", "delta") == "xyxy":
            pred = self._boxes(pts[None], ltrb)
            loss_box = self.box_loss(pred.reshape(-1, 4), gt_xyxy.reshape(-1, 4), weight=bw.reshape(-1), avg_factor=B)
        else:
            target = torch.cat([pts[None] - gt_xyxy[..., :2], gt_xyxy[..., 2:] - pts[None]], dim=-1)
            loss_box = self.box_loss(ltrb / self.stride, target / self.stride, weight=bw[..., None].expand_as(ltrb),
                                     avg_factor=B)
        return {"loss_cls": loss_cls, "loss_box": loss_box}

    def decode(self, outputs: dict[str, Tensor], search_size: int, prior_size: Tensor) -> tuple[Tensor, Tensor]:
        cls, ltrb = self._flat(outputs)
        pts = self.points(outputs["loc"].shape[-1], search_size, ltrb.device)
        score = torch.softmax(cls, -1)[..., 1] if self.softmax else torch.sigmoid(cls)
        return xyxy_to_cxcywh(self._boxes(pts[None], ltrb)), score

    def window(self, outputs: dict[str, Tensor]) -> Tensor:
        return cosine_window(outputs["loc"].shape[-1], outputs["loc"].device)

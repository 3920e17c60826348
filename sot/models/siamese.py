"""A tracker network: backbone + neck + head, with normalisation in one place."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class SiameseNet(nn.Module):
    """Backbone + neck + head.

    Two-stream backbones embed template and search separately and the head correlates them;
    one-stream backbones (``backbone.one_stream``) take both crops and fuse them themselves, and the
    head then sees only search features (``z_feats`` is None).

    Inputs are RGB float crops in ``[0, 255]``, shape (B, 3, S, S); they are normalised here only.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head
        self.one_stream = bool(getattr(backbone, "one_stream", False))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def normalize(self, img: Tensor) -> Tensor:
        return (img - self.mean) / self.std

    def forward_template(self, template: Tensor) -> list[Tensor] | Tensor:
        """Template features, computed once per sequence by the tracker (or the normalised crop for one-stream)."""
        z = self.normalize(template)
        if self.one_stream:
            return z
        feats = self.backbone(z)
        fwd = getattr(self.neck, "forward_template", self.neck)
        return fwd(feats)

    def search_features(self, search: Tensor) -> list[Tensor] | Tensor:
        """Neck output for search crops (two-stream models: it does not depend on the template)."""
        if self.one_stream:
            raise TypeError("search_features: a one-stream backbone embeds the search crop with the template")
        return self.neck(self.backbone(self.normalize(search)))

    def forward_search(self, z_feats, search: Tensor) -> dict[str, Tensor]:
        if self.one_stream:
            return self.head(None, self.neck(self.backbone(z_feats, self.normalize(search))))
        return self.head(z_feats, self.search_features(search))

    def forward(self, template: Tensor, search: Tensor) -> dict[str, Tensor]:
        return self.forward_search(self.forward_template(template), search)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Training step losses for a batch from :class:`sot.data.pair_dataset.PairDataset`."""
        outputs = self(batch["template"], batch["search"])
        losses = self.head.loss(outputs, batch["search_box"], batch["positive"], batch["search"].shape[-1])
        losses["loss"] = sum(v for k, v in losses.items() if k.startswith("loss"))
        return losses

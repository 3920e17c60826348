"""Any timm model as a multi-level feature backbone (``features_only=True``)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import timm
import torch
import torch.nn as nn
from torch import Tensor

from sot.models.backbones.pretrained import load_pretrained


class TimmBackbone(nn.Module):
    """``timm.create_model(name, features_only=True, ...)``; channels and strides from its ``feature_info``.

    Args:
        name: a timm model name (``timm.list_models()``).
        out_indices: feature levels to return (timm indices); None = timm's default (all levels).
        output_stride: dilate later stages to reach this total stride (8, 16); None = the model's own.
        pretrained: local checkpoint, either of this module (``TimmBackbone.state_dict()``) or of the full
            timm model ``timm.create_model(name).state_dict()``. For the latter, parts the feature
            extractor does not build (classifier head, later stages) are dropped, and names that timm's
            feature wrapper flattens (``stages.0`` -> ``stages_0``) are mapped. timm's own
            ``checkpoint_filter_fn`` conversions of foreign (e.g. original-repo) checkpoints are not
            applied: convert such a file with timm first.
        **kwargs: passed to ``timm.create_model`` (``drop_path_rate``, ``norm_layer``, ...).
    """

    one_stream = False

    def __init__(
        self,
        name: str,
        out_indices: Sequence[int] | None = None,
        output_stride: int | None = None,
        pretrained: str | None = None,
        **kwargs: Any,
    ):
        super().__init__()
        extra: dict[str, Any] = dict(kwargs)
        if out_indices is not None:
            extra["out_indices"] = tuple(int(i) for i in out_indices)
        if output_stride is not None:
            extra["output_stride"] = int(output_stride)
        self.body = timm.create_model(name, pretrained=False, features_only=True, **extra)
        self.out_channels: list[int] = list(self.body.feature_info.channels())
        self.strides: list[int] = list(self.body.feature_info.reduction())
        self.name = name
        if pretrained:
            self._load(pretrained, {k: v for k, v in extra.items() if k != "out_indices"})

    def _load(self, path: str, model_kwargs: dict[str, Any]) -> None:
        own = set(self.body.state_dict())

        def remap(key: str) -> str:
            # timm feature wrappers rename modules: flattened sequentials ("stages.0" -> "stages_0") or a
            # "model." prefix (FeatureGetterNet)
            for cand in (key.replace(".", "_", 1), "model." + key):
                if cand in own:
                    return cand
            return key

        with torch.device("meta"):  # parameter names only: nothing allocated
            full_keys = set(timm.create_model(self.name, pretrained=False, **model_kwargs).state_dict())
        unbuilt = {k for k in full_keys if remap(k) not in own}
        load_pretrained(self.body, path, drop=unbuilt.__contains__, remap=remap, strip_prefixes=("module.", "body."),
                        expected_form=f"keys of timm.create_model({self.name!r}).state_dict() or of this TimmBackbone")

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.body(x))

"""pysot (STVIR/pysot) SiamRPN++ checkpoints -> sot keys (recipe ``siamrpn_r50_pysot_255_ep20``).

Official layout (``ModelBuilder.state_dict()``, a bare dict or under ``state_dict``): ``backbone.`` = the atrous ResNet
(:class:`sot.models.backbones.resnet_atrous.ResNetAtrous` has the same names), ``neck.downsample{2,3,4}.downsample.{0,1}``
(``AdjustAllLayer``), ``rpn_head.rpn{2,3,4}.{cls,loc}.`` (``MultiRPN``) with ``conv_kernel``, ``conv_search`` and
``head.{0,1,3}``, and ``rpn_head.{cls,loc}_weight``. Single-level models (``AdjustLayer`` / ``DepthwiseRPN`` without a
level number) are not mapped.

Output channel order needs no permutation: pysot reads its ``2A`` classification channels as ``(2, A)``
(``ModelBuilder.log_softmax``: ``cls.view(b, 2, a2 // 2, h, w)``; tracker: ``score.view(2, -1)``) and its ``4A``
regression channels as ``(4, A)`` (tracker: ``delta.view(4, -1)``), as :meth:`sot.models.heads.rpn.RPNHead._flat` does
(``reshape(B, 2, A, R, R)``, ``reshape(B, 4, A, R, R)``); the anchors come in the same ratio order and anchor-major.

Input: pysot feeds its nets raw BGR crops in [0, 255]; sot feeds ImageNet-normalised RGB (``SiameseNet.normalize``).
:func:`fold_bgr255_input` folds the difference into the stem (exact, because pysot's 7x7 stem conv is unpadded), so the
converted model gives pysot's outputs on sot's inputs. pysot's MobileNetV2 is not supported (see
``docs/pysot_compat.md``): it differs from :class:`sot.models.backbones.mobilenet_v2.MobileNetV2` in layers, not names.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from sot.models.convert import ConversionError, ConversionReport, check_against, convert, official_state_dict
from sot.models.siamese import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["RULES", "convert_pysot", "fold_bgr255_input", "load_pysot_checkpoint"]


def _rpn_rules(src: str, dst: str) -> list[tuple[str, str]]:
    # pysot DepthwiseXCorr.head = [conv, bn, relu, conv]; sot's = [[conv, bn, relu], conv]
    return [(src + "head.0.", dst + "head.0.0."), (src + "head.1.", dst + "head.0.1."),
            (src + "head.3.", dst + "head.1."), (src, dst)]


def _rules(max_levels: int = 5) -> list[tuple[str, str]]:
    rules = [("backbone.", "backbone.")]
    for i in range(max_levels):  # pysot numbers the levels from 2 (layer2)
        rules.append((f"neck.downsample{i + 2}.downsample.", f"neck.downsample.{i}."))
        for branch in ("cls", "loc"):
            rules += _rpn_rules(f"rpn_head.rpn{i + 2}.{branch}.", f"head.{branch}.{i}.")
    rules += [("rpn_head.cls_weight", "head.cls_weight"), ("rpn_head.loc_weight", "head.loc_weight")]
    return rules


RULES = _rules()
DROP: dict[str, str] = {}
UNSUPPORTED = {
    "backbone.layer0.": "pysot's MobileNetV2 (an extra 1x1 conv in layer1, expansion widths not rounded to 8, unpadded "
                        "stride-2 convs) has no sot counterpart; see docs/pysot_compat.md",
    "mask_head.": "SiamMask heads have no sot counterpart",
    "refine_head.": "SiamMask heads have no sot counterpart",
}


@torch.no_grad()
def fold_bgr255_input(sd: Mapping[str, Tensor], prefix: str = "backbone.") -> dict[str, Tensor]:
    """Rewrite an unpadded stem (``{prefix}conv1.weight`` then ``{prefix}bn1``) trained on raw BGR [0, 255] input so
    that it gives the same outputs on ImageNet-normalised RGB input ``n = (rgb - mean) / std``.

    ``conv1(bgr) = conv1'(n) + b`` with ``W'[:, c] = W[:, 2 - c] * std[c]`` and ``b = sum_c mean[c] * sum W[:, 2 - c]``;
    the constant ``b`` moves into ``bn1.running_mean`` (and cancels under batch statistics). Exact only where conv1
    has no padding (a padded border would see ``-mean / std`` instead of 0): true of pysot's ResNets.
    """
    keys = [f"{prefix}conv1.weight", f"{prefix}bn1.running_mean"]
    if any(k not in sd for k in keys):
        raise ConversionError(f"folding the BGR [0, 255] input into the stem needs {keys}; missing "
                              f"{[k for k in keys if k not in sd]} (pass fold_input=False to skip the fold)")
    out = dict(sd)
    w, rm = sd[keys[0]], sd[keys[1]]
    if w.shape[1] != 3:
        raise ConversionError(f"{keys[0]} has {w.shape[1]} input channels, expected 3 (an image stem)")
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float64, device=w.device)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64, device=w.device)
    w_rgb = w.double().flip(1)  # pysot's input channel k is BGR: channel 2 - k of RGB
    out[keys[0]] = (w_rgb * std.view(1, 3, 1, 1)).to(w.dtype)
    shift = (w_rgb.sum((2, 3)) * mean.view(1, 3)).sum(1)  # (C_out,)
    out[keys[1]] = (rm.double() - shift).to(rm.dtype)
    return out


def convert_pysot(sd: Mapping[str, Tensor], fold_input: bool = True) -> tuple[dict[str, Tensor], ConversionReport]:
    """Rename a pysot ``siamrpn_r50_l234_dwxcorr``-style state dict to sot keys.

    Args:
        sd: pysot state dict (``official_state_dict`` unwraps ``{'state_dict': ...}`` and ``module.``).
        fold_input: fold pysot's raw BGR [0, 255] input into the stem (:func:`fold_bgr255_input`), so that the
            converted weights work on sot's normalised RGB crops. Off: the keys are renamed only.

    Returns:
        ``(sot state dict, report)``; ``report.unmapped`` lists the pysot keys no rule covers, ``report.mapped`` maps
        each pysot key to its sot key.
    """
    for prefix, why in UNSUPPORTED.items():
        if any(k.startswith(prefix) for k in sd):
            raise ConversionError(f"pysot checkpoint with {prefix}* keys: {why}")
    out, report = convert(sd, RULES, DROP)
    if fold_input:
        out = fold_bgr255_input(out, prefix="backbone.")
    return out, report


def load_pysot_checkpoint(model: nn.Module, path_or_sd, fold_input: bool = True) -> ConversionReport:
    """Convert a pysot checkpoint (a path, or an already loaded object) and load it into ``model`` strictly.

    ``model`` is a sot model built from ``experiments=siamrpn_r50_pysot_255_ep20`` (or any model with the same
    parts). Raises :class:`ConversionError` with the report (unmapped, missing, wrongly shaped keys) on a mismatch.
    """
    obj = path_or_sd
    if isinstance(path_or_sd, (str, os.PathLike)):
        obj = torch.load(path_or_sd, map_location="cpu", weights_only=True)
    converted, report = convert_pysot(official_state_dict(obj), fold_input=fold_input)
    own = model.state_dict()
    check_against(own, converted, report)
    if not report.ok:
        raise ConversionError(f"pysot checkpoint does not fit {type(model).__name__}:\n{report.summary()}")
    for k in own:  # num_batches_tracked counters an old checkpoint may lack
        converted.setdefault(k, own[k])
    model.load_state_dict(converted, strict=True)
    return report

"""Losses against hand-computed values, with MMDetection weighted-loss semantics."""
from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from sot.models.losses import (CrossEntropyLoss, FocalLoss, GIoULoss, L1Loss, LogisticLoss, SmoothL1Loss,
                               weight_reduce_loss, weighted_loss)

CONF = Path(__file__).resolve().parents[2] / "conf" / "loss"
EPS = torch.finfo(torch.float32).eps


def close(a, b, tol=1e-5):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32), atol=tol)


# ---- weight_reduce_loss -----------------------------------------------------------------------------------

def test_weight_reduce_loss_semantics():
    loss = torch.tensor([1.0, 2.0, 3.0, 4.0])
    w = torch.tensor([1.0, 0.0, 2.0, 1.0])
    assert close(weight_reduce_loss(loss, reduction="none"), loss)
    assert close(weight_reduce_loss(loss, reduction="mean"), 2.5)
    assert close(weight_reduce_loss(loss, reduction="sum"), 10.0)
    assert close(weight_reduce_loss(loss, w, "none"), [1.0, 0.0, 6.0, 4.0])
    assert close(weight_reduce_loss(loss, w, "mean"), 11.0 / 4)  # mean over all elements, zeros included
    assert close(weight_reduce_loss(loss, w, "mean", avg_factor=2), 11.0 / (2 + EPS))
    assert close(weight_reduce_loss(loss, w, "none", avg_factor=2), [1.0, 0.0, 6.0, 4.0])
    with pytest.raises(ValueError):
        weight_reduce_loss(loss, w, "sum", avg_factor=2)
    with pytest.raises(ValueError):
        weight_reduce_loss(loss, w, "max")
    # broadcasting weight
    l2 = torch.ones(2, 3)
    assert close(weight_reduce_loss(l2, torch.tensor([[1.0], [3.0]]), "sum"), 12.0)


def test_weighted_loss_decorator():
    @weighted_loss
    def sq(pred, target):
        return (pred - target) ** 2

    assert close(sq(torch.tensor([1.0, 3.0]), torch.zeros(2), torch.tensor([1.0, 2.0]), reduction="sum"), 19.0)


# ---- L1 / SmoothL1 ----------------------------------------------------------------------------------------

def test_l1_weight_avg_factor_override_loss_weight():
    pred = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    target = torch.tensor([[0.0, 2.5], [1.0, 1.0]])  # |d| = 1, .5, 2, 2
    w = torch.tensor([[1.0, 1.0], [0.0, 2.0]])
    assert close(L1Loss()(pred, target), 5.5 / 4)
    assert close(L1Loss(reduction="sum")(pred, target), 5.5)
    assert close(L1Loss()(pred, target, weight=w), (1 + 0.5 + 0 + 4) / 4)
    assert close(L1Loss()(pred, target, weight=w, avg_factor=3), 5.5 / (3 + EPS))
    assert close(L1Loss(loss_weight=2.0)(pred, target, reduction_override="sum"), 11.0)
    assert close(L1Loss()(pred, target, reduction_override="none"), [[1.0, 0.5], [2.0, 2.0]])
    with pytest.raises(ValueError):
        L1Loss()(pred, target, avg_factor=2, reduction_override="sum")
    empty = torch.zeros(0, 4, requires_grad=True)
    out = L1Loss()(empty, torch.zeros(0, 4))
    assert out.item() == 0 and out.requires_grad


def test_smooth_l1():
    pred = torch.tensor([0.0, 0.0, 0.0])
    target = torch.tensor([0.25, 1.0, 3.0])  # beta .5: 0.5*.0625/.5 = .0625 ; 1 - .25 = .75 ; 3 - .25 = 2.75
    assert close(SmoothL1Loss(beta=0.5, reduction="none")(pred, target), [0.0625, 0.75, 2.75])
    assert close(SmoothL1Loss(beta=0.5, loss_weight=2.0)(pred, target, avg_factor=2), 2 * 3.5625 / 2)
    assert close(SmoothL1Loss()(pred, target, reduction_override="sum"), 0.03125 + 0.5 + 2.5)
    with pytest.raises(ValueError):
        SmoothL1Loss(beta=0.0)


# ---- GIoU ---------------------------------------------------------------------------------------------------

def test_giou_hand_computed():
    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
    target = torch.tensor([[1.0, 1.0, 3.0, 3.0], [2.0, 0.0, 3.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
    # 1: inter 1, union 7, hull 9: giou = 1/7 - 2/9 ; 2: inter 0, union 2, hull 3: giou = -1/3 ; 3: identical
    expected = torch.tensor([1 - (1 / 7 - 2 / 9), 1 + 1 / 3, 0.0])
    loss = GIoULoss(reduction="none")
    assert GIoULoss.box_format == "xyxy"
    assert close(loss(pred, target), expected)
    w = torch.tensor([1.0, 2.0, 1.0])
    assert close(GIoULoss(loss_weight=3.0)(pred, target, weight=w, avg_factor=2),
                 3 * (expected[0] + 2 * expected[1]) / 2)
    w4 = w[:, None].expand(3, 4)  # (N, 4) weights are averaged over the coordinates
    assert close(GIoULoss()(pred, target, weight=w4, reduction_override="sum"), expected[0] + 2 * expected[1])
    zero = GIoULoss()(pred.requires_grad_(), target, weight=torch.zeros(3))
    assert zero.item() == 0 and zero.requires_grad


# ---- focal --------------------------------------------------------------------------------------------------

def manual_focal(x, t, alpha, gamma):
    p = torch.sigmoid(x)
    pt = torch.where(t == 1, p, 1 - p)
    at = torch.where(t == 1, torch.full_like(p, alpha), torch.full_like(p, 1 - alpha))
    return -at * (1 - pt) ** gamma * torch.log(pt)


def test_focal_against_manual_formula():
    torch.manual_seed(0)
    x = torch.randn(6, 3)
    t = (torch.rand(6, 3) > 0.5).float()
    ref = manual_focal(x, t, 0.25, 2.0)
    assert close(FocalLoss(reduction="none")(x, t), ref)
    assert close(FocalLoss()(x, t), ref.mean())
    assert close(FocalLoss(alpha=0.5, gamma=1.0, loss_weight=2.0)(x, t, avg_factor=4),
                 2 * manual_focal(x, t, 0.5, 1.0).sum() / 4)
    w = torch.arange(6.0)  # one weight per row of an (N, C) input
    assert close(FocalLoss()(x, t, weight=w, reduction_override="sum"), (ref * w[:, None]).sum())
    # a single logit: x = 0, t = 1: 0.25 * 0.5^2 * log 2
    assert close(FocalLoss()(torch.zeros(1), torch.ones(1)), 0.25 * 0.25 * math.log(2))


# ---- cross-entropy ------------------------------------------------------------------------------------------

def test_softmax_cross_entropy_ignore_index_and_weights():
    pred = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 3.0], [5.0, -5.0]])
    target = torch.tensor([0, 1, 1, -100])
    nll = torch.tensor([math.log(1 + math.exp(-2)), math.log(2), math.log(1 + math.exp(-2)), 0.0])
    ce = CrossEntropyLoss()
    assert ce.use_sigmoid is False
    assert close(ce(pred, target, reduction_override="none"), nll)
    assert close(ce(pred, target), nll.sum() / 3)  # the ignored entry is left out of the mean
    assert close(CrossEntropyLoss(avg_non_ignore=False)(pred, target), nll.sum() / 4)
    w = torch.tensor([1.0, 0.0, 2.0, 1.0])
    assert close(ce(pred, target, weight=w, avg_factor=2), (nll[0] + 2 * nll[2]) / 2)
    assert close(CrossEntropyLoss(loss_weight=0.5, reduction="sum")(pred, target), 0.5 * nll.sum())
    cw = CrossEntropyLoss(class_weight=[1.0, 3.0])(pred, target, reduction_override="none")
    assert close(cw, nll * torch.tensor([1.0, 3.0, 3.0, 0.0]))


def test_sigmoid_cross_entropy():
    pred = torch.tensor([[0.0, 2.0], [-1.0, 1.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, -100.0]])
    bce = torch.tensor([[math.log(2), math.log(1 + math.exp(2))], [math.log(1 + math.exp(-1)), 0.0]])
    ce = CrossEntropyLoss(use_sigmoid=True)
    assert close(ce(pred, target, reduction_override="none"), bce)
    assert close(ce(pred, target), bce.sum() / 3)
    assert close(ce(pred, target, weight=torch.tensor([2.0, 1.0])), (2 * bce[0].sum() + bce[1].sum()) / 3)
    with pytest.raises(ValueError):
        CrossEntropyLoss(use_sigmoid=True, class_weight=[1.0, 2.0])


# ---- logistic -----------------------------------------------------------------------------------------------

def test_logistic_loss():
    v = torch.tensor([2.0, -1.0, 0.0, 50.0, -50.0])
    t = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])  # y = +1, +1, -1, -1, +1
    expected = torch.tensor([math.log1p(math.exp(-2)), math.log1p(math.exp(1)), math.log(2), 50.0, 50.0])
    assert close(LogisticLoss(reduction="none")(v, t), expected)
    w = torch.tensor([0.5, 0.5, 0.25, 0.25, 0.0])
    assert close(LogisticLoss()(v, t, weight=w, reduction_override="sum"), (w * expected).sum())
    assert close(LogisticLoss(loss_weight=2.0)(v, t, avg_factor=5), 2 * expected.sum() / 5)
    assert close(LogisticLoss()(v, t), CrossEntropyLoss(use_sigmoid=True)(v, t))


# ---- yamls --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted((CONF / "cls").glob("*.yaml")) + sorted((CONF / "box").glob("*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_loss_yaml_instantiates_and_lists_every_argument(path):
    cfg = OmegaConf.load(path)
    params = inspect.signature(get_class(cfg._target_).__init__).parameters
    assert set(cfg) - {"_target_"} == set(params) - {"self"}
    for k, p in params.items():
        if k != "self" and not (path.stem == "cross_entropy" and k == "use_sigmoid"):  # the sigmoid variant
            assert cfg[k] == p.default, k
    loss = instantiate(cfg)
    if path.parent.name == "box":
        a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], requires_grad=True)
        out = loss(a, torch.tensor([[1.0, 1.0, 3.0, 3.0]]))
    elif path.stem == "gaussian_focal":  # probabilities against a heat map
        a = torch.rand(4, 2).clamp(0.05, 0.95).requires_grad_()
        out = loss(a, torch.tensor([[1.0, 0.5], [0.0, 0.2], [0.9, 0.0], [0.0, 0.0]]))
    elif cfg.get("use_sigmoid", True):
        a = torch.randn(4, 2, requires_grad=True)
        out = loss(a, (torch.rand(4, 2) > 0.5).float())
    else:
        a = torch.randn(4, 2, requires_grad=True)
        out = loss(a, torch.tensor([0, 1, 1, 0]))
    out.backward()
    assert out.dim() == 0 and torch.isfinite(out) and torch.isfinite(a.grad).all()
    assert path.stem != "cross_entropy" or loss.use_sigmoid is True
    assert path.stem != "cross_entropy_softmax" or loss.use_sigmoid is False

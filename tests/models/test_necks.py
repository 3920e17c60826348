"""Necks: declared channels/strides match outputs, FPN semantics, the AdjustNeck template crop, yamls."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from sot.models.backbones import ResNet
from sot.models.necks import FPN, AdjustNeck, ChannelMapper, Identity, Neck

CONF = Path(__file__).resolve().parents[2] / "conf" / "neck"
CH = [8, 16, 32]
PYRAMID = ([8, 16, 32], (16, 8, 4))  # strides, spatial sizes of a 128 input
DILATED = ([8, 8, 8], (16, 16, 16))  # SiamRPN++: every level at stride 8


def feats(sizes, channels=CH, batch=2):
    return [torch.randn(batch, c, s, s, requires_grad=True) for c, s in zip(channels, sizes)]


NECKS = {
    "identity": lambda st: Identity(CH, st),
    "channel_mapper": lambda st: ChannelMapper(CH, st, out_channels=12),
    "channel_mapper_nonorm": lambda st: ChannelMapper(CH, st, out_channels=12, norm=False),
    "adjust": lambda st: AdjustNeck(CH, st, out_channels=[4, 6, 8], center_size=None),
    "fpn": lambda st: FPN(CH, st, out_channels=12, num_outs=3),
    "fpn_extra_pool": lambda st: FPN(CH, st, out_channels=12, num_outs=5),
    "fpn_on_input": lambda st: FPN(CH, st, out_channels=12, num_outs=5, add_extra_convs="on_input"),
    "fpn_on_lateral": lambda st: FPN(CH, st, out_channels=12, num_outs=4, add_extra_convs="on_lateral"),
    "fpn_on_output": lambda st: FPN(CH, st, out_channels=12, num_outs=5, add_extra_convs="on_output",
                                    relu_before_extra_convs=True),
    "fpn_start1": lambda st: FPN(CH, st, out_channels=12, num_outs=3, start_level=1),
}


@pytest.mark.parametrize("layout", [PYRAMID, DILATED], ids=["pyramid", "dilated"])
@pytest.mark.parametrize("name", list(NECKS))
def test_forward_backward_matches_declared_levels(name, layout):
    strides, sizes = layout
    neck = NECKS[name](strides).train()
    assert isinstance(neck, Neck)
    xs = feats(sizes)
    outs = neck(xs)
    assert len(outs) == len(neck.out_channels) == len(neck.strides)
    base_stride, base_size = neck.strides[0], outs[0].shape[-1]
    for o, c, s in zip(outs, neck.out_channels, neck.strides):
        assert o.shape[:2] == (2, c) and torch.isfinite(o).all()
        assert o.shape[-1] == -(-base_size * base_stride // s)  # size follows the declared stride
    sum(o.pow(2).mean() for o in outs).backward()
    used = [x for x in xs if x.grad is not None]
    assert used and all(torch.isfinite(x.grad).all() for x in used)
    assert len(neck.forward_template(feats(sizes))) == len(outs)  # base default: same as forward


def test_fpn_strides_and_equal_size_top_down():
    fpn = FPN(CH, [8, 8, 8], out_channels=4, num_outs=5)
    assert fpn.strides == [8, 8, 8, 16, 32]
    fpn = FPN(CH, [4, 8, 16], out_channels=4, num_outs=3, start_level=1)
    assert fpn.strides == [8, 16, 16 * 2]
    # equal sizes: the top-down pathway adds the laterals unchanged
    fpn = FPN(CH, [8, 8, 8], out_channels=4, num_outs=3).eval()
    xs = feats((5, 5, 5))
    with torch.no_grad():
        lat = [conv(x) for conv, x in zip(fpn.lateral_convs, xs)]
        expected0 = fpn.fpn_convs[0](lat[0] + lat[1] + lat[2])
        assert torch.allclose(fpn(xs)[0], expected0, atol=1e-6)


def test_fpn_top_down_upsamples_nearest():
    fpn = FPN([2, 2], [8, 16], out_channels=2, num_outs=2).eval()
    xs = [torch.randn(1, 2, 6, 6), torch.randn(1, 2, 3, 3)]
    with torch.no_grad():
        lat0, lat1 = fpn.lateral_convs[0](xs[0]), fpn.lateral_convs[1](xs[1])
        expected = fpn.fpn_convs[0](lat0 + F.interpolate(lat1, size=(6, 6), mode="nearest"))
        assert torch.allclose(fpn(xs)[0], expected, atol=1e-6)


def test_fpn_extra_levels():
    xs = feats((16, 8, 4))
    pooled = FPN(CH, [8, 16, 32], out_channels=4, num_outs=5).eval()
    with torch.no_grad():
        outs = pooled(xs)
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2, 1]
    assert torch.equal(outs[3], outs[2][..., ::2, ::2])  # max-pool kernel 1 stride 2
    conv = FPN(CH, [8, 16, 32], out_channels=4, num_outs=5, add_extra_convs=True)
    assert conv.add_extra_convs == "on_input" and conv.fpn_convs[3].in_channels == 32
    assert FPN(CH, [8, 16, 32], out_channels=4, num_outs=5, add_extra_convs="on_output").fpn_convs[3].in_channels == 4


def test_fpn_end_level_is_inclusive_and_validated():
    fpn = FPN(CH, [8, 16, 32], out_channels=4, num_outs=2, end_level=1)
    assert fpn.strides == [8, 16] and len(fpn(feats((16, 8, 4)))) == 2
    with pytest.raises(ValueError):
        FPN(CH, [8, 16, 32], num_outs=3, end_level=1)
    with pytest.raises(ValueError):
        FPN(CH, [8, 16, 32], num_outs=2)
    with pytest.raises(ValueError):
        FPN(CH, [8, 16, 32], num_outs=4, add_extra_convs="on_top")


def test_adjust_crops_template_centre():
    neck = AdjustNeck(CH, [8, 8, 8], out_channels=4, center_size=7).eval()
    xs = [torch.randn(1, c, 15, 15) for c in CH]
    with torch.no_grad():
        full, tmpl = neck(xs), neck.forward_template(xs)
    for f, t in zip(full, tmpl):
        assert f.shape[-2:] == (15, 15) and t.shape[-2:] == (7, 7)
        assert torch.equal(t, f[..., 4:11, 4:11])  # l = (15 - 7) // 2
    assert neck.forward_template([torch.randn(1, c, 8, 8) for c in CH])[0].shape[-2:] == (7, 7)
    with pytest.raises(ValueError, match="center_size"):
        neck.forward_template([torch.randn(1, c, 6, 6) for c in CH])
    assert all(not m.bias for m in neck.modules() if isinstance(m, nn.Conv2d))
    with pytest.raises(ValueError):
        AdjustNeck(CH, [8, 8, 8], out_channels=[4, 4])


def test_channel_mapper_norm_option():
    with_norm = ChannelMapper(CH, [8, 8, 8], out_channels=4)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in with_norm.modules()) == 3
    no_norm = ChannelMapper(CH, [8, 8, 8], out_channels=4, norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in no_norm.modules())


def test_necks_on_siamrpn_backbone():
    bb = ResNet("resnet18", out_indices=(2, 3, 4), siamrpn_dilation=True).eval()
    neck = AdjustNeck(bb.out_channels, bb.strides, out_channels=16)
    with torch.no_grad():
        z = neck.forward_template(bb(torch.randn(1, 3, 64, 64)))
        x = neck(bb(torch.randn(1, 3, 128, 128)))
    assert [t.shape[-1] for t in z] == [7, 7, 7] and [t.shape[-1] for t in x] == [16, 16, 16]


@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_neck_yaml_instantiates_and_mirrors_signature(path):
    # neck widths follow the top-level model.width of conf/train.yaml
    cfg = OmegaConf.merge({"model": {"width": 32}}, {"neck": OmegaConf.load(path)}).neck
    assert "in_channels" not in cfg and "in_strides" not in cfg
    params = inspect.signature(get_class(cfg._target_).__init__).parameters
    assert set(cfg) - {"_target_"} == set(params) - {"self", "in_channels", "in_strides"}
    neck = instantiate(cfg, in_channels=[64, 128, 256], in_strides=[8, 8, 8])
    outs = neck([torch.randn(1, c, 15, 15) for c in (64, 128, 256)])
    assert [o.shape[1] for o in outs] == neck.out_channels and len(neck.strides) == len(outs)

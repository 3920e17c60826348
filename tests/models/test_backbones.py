"""Backbones: declared levels match outputs, SiamRPN++ dilation, freezing, local pretrained loading, yamls."""
from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import timm
import torch
import torch.nn as nn
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from sot.models.backbones import AlexNet, MobileNetV2, PretrainedMismatchError, ResNet, TimmBackbone

CONF = Path(__file__).resolve().parents[2] / "conf" / "backbone"
S = 64  # input side for the timm-built nets (padded convs: level size = ceil(S / stride))


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def bns(m: nn.Module) -> list[nn.BatchNorm2d]:
    return [x for x in m.modules() if isinstance(x, nn.BatchNorm2d)]


SMALL = {
    "resnet18_siamrpn": lambda: ResNet("resnet18", out_indices=(2, 3, 4), siamrpn_dilation=True),
    "resnet18_cut_layer3": lambda: ResNet("resnet18", out_indices=(3,), siamrpn_dilation=False),
    "mobilenet_v2_floor": lambda: MobileNetV2(width_mult=0.5, round_channels="floor"),
    "mobilenet_v2_timm": lambda: MobileNetV2(width_mult=0.5, out_indices=(1, 2), output_stride=32),
    "timm_convnext_atto": lambda: TimmBackbone("convnext_atto", out_indices=(1, 2, 3)),
}


@pytest.mark.parametrize("name", list(SMALL))
def test_forward_backward_matches_declared_levels(name):
    torch.manual_seed(0)
    net = SMALL[name]().train()
    assert net.one_stream is False
    assert len(net.out_channels) == len(net.strides)
    x = torch.randn(2, 3, S, S, requires_grad=True)
    outs = net(x)
    assert isinstance(outs, list) and len(outs) == len(net.out_channels)
    for o, c, s in zip(outs, net.out_channels, net.strides):
        assert o.shape == (2, c, math.ceil(S / s), math.ceil(S / s))
        assert torch.isfinite(o).all()
    sum(o.mean() for o in outs).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_alexnet_sizes_and_stride():
    net = AlexNet(width_mult=0.25)
    z, x = net(torch.randn(1, 3, 127, 127))[0], net(torch.randn(1, 3, 255, 255))[0]
    assert z.shape == (1, net.out_channels[0], 6, 6) and x.shape == (1, net.out_channels[0], 22, 22)
    assert net.strides == [8]
    (z.sum() + x.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_alexnet_full_width_matches_siamfc_reference():
    net = AlexNet()
    assert net.out_channels == [256]
    # siamfc-pytorch AlexNetV1: convs 2,334,080 weights+biases and 4 BNs 2,240 affine parameters
    assert n_params(net) == 2_336_320
    groups = [m.groups for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert groups == [1, 2, 1, 2, 2]


def test_resnet_siamrpn_dilation():
    net = ResNet("resnet18", out_indices=(2, 3, 4), siamrpn_dilation=True).eval()
    assert net.strides == [8, 8, 8] and net.out_channels == [128, 256, 512]
    outs = net(torch.randn(1, 3, 127, 127))
    assert outs[0].shape[-2:] == outs[1].shape[-2:] == outs[2].shape[-2:]
    for layer, stride, dilation in (("layer2", 2, 1), ("layer3", 1, 2), ("layer4", 1, 4)):
        convs = [m for m in getattr(net, layer).modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
        assert max(m.stride[0] for m in convs) == stride
        assert max(m.dilation[0] for m in convs) == dilation


def test_resnet_cut_after_layer3_does_not_build_layer4():
    net = ResNet("resnet18", out_indices=(3,), siamrpn_dilation=False)
    assert net.strides == [16] and net.out_channels == [256]
    assert not hasattr(net, "layer4") and not hasattr(net, "fc")


def test_resnet_frozen_stages():
    net = ResNet("resnet18", out_indices=(2, 3), frozen_stages=1).train()
    frozen, trained = [net.conv1, net.bn1, net.layer1], [net.layer2, net.layer3]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in trained for p in m.parameters())
    assert all(not bn.training for m in frozen for bn in bns(m))
    assert all(bn.training for m in trained for bn in bns(m))
    before = net.bn1.running_mean.clone()
    sum(o.mean() for o in net(torch.randn(2, 3, S, S))).backward()
    assert torch.equal(before, net.bn1.running_mean)
    assert net.layer1[0].conv1.weight.grad is None and net.layer2[0].conv1.weight.grad is not None
    net.eval().train()  # train() again keeps them in eval
    assert not net.layer1[0].bn1.training and net.layer2[0].bn1.training


def test_mobilenet_frozen_stages_and_norm_eval():
    net = MobileNetV2(width_mult=0.5, frozen_stages=2).train()
    assert not any(p.requires_grad for p in net.conv_stem.parameters())
    assert not any(p.requires_grad for p in net.blocks[1].parameters())
    assert all(p.requires_grad for p in net.blocks[2].parameters())
    assert not net.blocks[1].training and net.blocks[2].training
    net = MobileNetV2(width_mult=0.5, norm_eval=True).train()
    assert all(not bn.training for bn in bns(net)) and net.blocks[2].training


def test_resnet_norm_eval():
    net = ResNet("resnet18", out_indices=(2,), norm_eval=True).train()
    assert net.training and all(not bn.training for bn in bns(net))
    assert all(p.requires_grad for p in net.parameters())
    before = net.layer2[0].bn1.running_var.clone()
    net(torch.randn(2, 3, S, S))
    assert torch.equal(before, net.layer2[0].bn1.running_var)


def test_mobilenet_channels_follow_pysot_levels():
    assert MobileNetV2(width_mult=1.4, round_channels="floor").out_channels == [44, 134, 448]
    assert MobileNetV2(width_mult=1.4).out_channels == [48, 136, 448]
    assert MobileNetV2(width_mult=1.4).strides == [8, 8, 8]


def test_mobilenet_timm_rounding_has_timm_parameter_layout():
    with torch.device("meta"):
        ref = timm.create_model("mobilenetv2_140").state_dict()
        own = MobileNetV2(width_mult=1.4, out_indices=(2, 3, 4)).state_dict()
    head = ("conv_head.", "bn2.", "classifier.")
    assert {k: v.shape for k, v in ref.items() if not k.startswith(head)} == {k: v.shape for k, v in own.items()}


# ---- pretrained -------------------------------------------------------------------------------------------

def _same_outputs(a: nn.Module, b: nn.Module, side: int = S) -> bool:
    x = torch.randn(1, 3, side, side)
    with torch.no_grad():
        return all(torch.equal(p, q) for p, q in zip(a.eval()(x), b.eval()(x)))


@pytest.mark.parametrize("wrap", ["raw", "state_dict", "model", "module_prefix"])
def test_resnet_pretrained_round_trip(tmp_path, wrap):
    src = ResNet("resnet18", out_indices=(2,))
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    sd = src.state_dict()
    obj = {"raw": sd, "state_dict": {"state_dict": sd, "epoch": 3}, "model": {"model": sd},
           "module_prefix": {"module." + k: v for k, v in sd.items()}}[wrap]
    torch.save(obj, tmp_path / "w.pth")
    dst = ResNet("resnet18", out_indices=(2,), pretrained=str(tmp_path / "w.pth"))
    assert _same_outputs(src, dst)


def test_resnet_loads_full_classifier_checkpoint_into_cut_net(tmp_path):
    full = timm.create_model("resnet18")  # has layer3, layer4 and fc: dropped for a net cut after layer2
    torch.save(full.state_dict(), tmp_path / "resnet18.pth")
    net = ResNet("resnet18", out_indices=(2,), siamrpn_dilation=False, pretrained=str(tmp_path / "resnet18.pth"))
    assert torch.equal(net.layer2[0].conv1.weight, full.layer2[0].conv1.weight)


def test_pretrained_mismatch_lists_keys(tmp_path):
    sd = ResNet("resnet18", out_indices=(2,)).state_dict()
    sd.pop("layer2.0.conv1.weight")
    sd["head.bogus"] = torch.zeros(1)
    sd["layer1.0.bn1.weight"] = torch.zeros(3)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(PretrainedMismatchError) as err:
        ResNet("resnet18", out_indices=(2,), pretrained=str(tmp_path / "bad.pth"))
    msg = str(err.value)
    assert "missing keys" in msg and "layer2.0.conv1.weight" in msg
    assert "unexpected keys" in msg and "head.bogus" in msg
    assert "layer1.0.bn1.weight" in msg and str(tmp_path / "bad.pth") in msg


def test_pretrained_missing_file_and_non_state_dict(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        AlexNet(width_mult=0.25, pretrained=str(tmp_path / "nope.pth"))
    torch.save({"epoch": 1}, tmp_path / "x.pth")
    with pytest.raises(PretrainedMismatchError, match="state_dict"):
        AlexNet(width_mult=0.25, pretrained=str(tmp_path / "x.pth"))


def test_alexnet_and_mobilenet_round_trip(tmp_path):
    a = AlexNet(width_mult=0.25)
    torch.save(a.state_dict(), tmp_path / "a.pth")
    assert _same_outputs(a, AlexNet(width_mult=0.25, pretrained=str(tmp_path / "a.pth")), side=127)
    full = timm.create_model("mobilenetv2_050")  # full timm model: classifier dropped
    torch.save(full.state_dict(), tmp_path / "m.pth")
    m = MobileNetV2(width_mult=0.5, out_indices=(1, 2), pretrained=str(tmp_path / "m.pth"))
    assert torch.equal(m.blocks[2][0].conv_pw.weight, full.blocks[2][0].conv_pw.weight)


def test_timm_backbone_pretrained_full_and_round_trip(tmp_path):
    full = timm.create_model("convnext_atto")  # stem.0 / stages.0 are flattened to stem_0 / stages_0 in features
    torch.save({"state_dict": full.state_dict()}, tmp_path / "full.pth")
    net = TimmBackbone("convnext_atto", out_indices=(0, 1), pretrained=str(tmp_path / "full.pth"))
    assert torch.equal(net.body.stem_0.weight, full.stem[0].weight)
    torch.save(net.state_dict(), tmp_path / "own.pth")
    again = TimmBackbone("convnext_atto", out_indices=(0, 1), pretrained=str(tmp_path / "own.pth"))
    assert _same_outputs(net, again)


# ---- yamls ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(CONF.glob("*.yaml")), ids=lambda p: p.stem)
def test_backbone_yaml_instantiates_and_mirrors_signature(path):
    cfg = OmegaConf.load(path)
    params = inspect.signature(get_class(cfg._target_).__init__).parameters
    named = {k for k, p in params.items() if k != "self" and p.kind is not p.VAR_KEYWORD}
    assert set(cfg) - {"_target_"} == named
    if getattr(get_class(cfg._target_), "one_stream", False):
        pytest.skip("one-stream backbones take (template, search): tests/models/test_transformer_parts.py")
    net = instantiate(cfg).eval()
    side = 127 if path.stem == "alexnet" else S
    with torch.no_grad():
        outs = net(torch.randn(1, 3, side, side))
    assert [o.shape[1] for o in outs] == net.out_channels
    if path.stem in ("resnet18", "resnet50", "mobilenet_v2"):
        assert net.strides == [8, 8, 8]
    if path.stem == "resnet50":  # SiamRPN++ ResNet-50 up to layer4 (no fc)
        assert n_params(net) == 23_508_032

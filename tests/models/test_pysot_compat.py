"""pysot compatibility: the atrous ResNet's geometry and size, and pysot SiamRPN++ checkpoints mapping onto sot.

pysot's key names and shapes are written out here from its module layout (``resnet_atrous.py``, ``AdjustAllLayer``,
``MultiRPN`` of STVIR/pysot); its code is not needed. Its depthwise RPN is re-implemented functionally below to check
that converted heads give pysot's outputs, and pysot's tracker-side reading of them.
"""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from omegaconf import OmegaConf

from sot.models.backbones.resnet_atrous import ResNetAtrous
from sot.models.builder import build_model
from sot.models.convert import ConversionError, check_against
from sot.models.convert.pysot import convert_pysot, fold_bgr255_input, load_pysot_checkpoint
from sot.models.heads.rpn import RPNHead
from sot.models.losses import CrossEntropyLoss, L1Loss
from sot.models.siamese import IMAGENET_MEAN, IMAGENET_STD
from tests.helpers import compose_train

RECIPE = "siamrpn_r50_pysot_255_ep20"
PYSOT_BACKBONE_PARAMS = 45_528_128  # resnet50(used_layers=[2, 3, 4]) of pysot
PYSOT_MODEL_PARAMS = 53_950_624  # siamrpn_r50_l234_dwxcorr: + neck 919,040 + rpn_head 7,503,456


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------- pysot's siamrpn_r50_l234_dwxcorr keys, written out
def _bn(prefix, c):
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def pysot_r50_shapes(width=256, anchors=5):
    """``ModelBuilder.state_dict()`` names and shapes of pysot's siamrpn_r50_l234_dwxcorr."""
    d = {"backbone.conv1.weight": (64, 3, 7, 7), **_bn("backbone.bn1", 64)}
    inplanes = 64
    for li, (planes, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=1):
        for j in range(blocks):
            p = f"backbone.layer{li}.{j}"
            d[f"{p}.conv1.weight"] = (planes, inplanes if j == 0 else 4 * planes, 1, 1)
            d[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            d[f"{p}.conv3.weight"] = (4 * planes, planes, 1, 1)
            for b, c in (("bn1", planes), ("bn2", planes), ("bn3", 4 * planes)):
                d.update(_bn(f"{p}.{b}", c))
            if j == 0:  # 1x1 shortcut in layer1 only, 3x3 in layer2-4
                k = 1 if li == 1 else 3
                d[f"{p}.downsample.0.weight"] = (4 * planes, inplanes, k, k)
                d.update(_bn(f"{p}.downsample.1", 4 * planes))
        inplanes = 4 * planes
    for lvl, cin in zip((2, 3, 4), (512, 1024, 2048)):
        d[f"neck.downsample{lvl}.downsample.0.weight"] = (width, cin, 1, 1)
        d.update(_bn(f"neck.downsample{lvl}.downsample.1", width))
    d.update(pysot_rpn_shapes(width, anchors))
    return d


def pysot_rpn_shapes(width, anchors, levels=(2, 3, 4)):
    d = {}
    for lvl in levels:
        for branch, out in (("cls", 2 * anchors), ("loc", 4 * anchors)):
            p = f"rpn_head.rpn{lvl}.{branch}"
            for tower in ("conv_kernel", "conv_search"):
                d[f"{p}.{tower}.0.weight"] = (width, width, 3, 3)
                d.update(_bn(f"{p}.{tower}.1", width))
            d[f"{p}.head.0.weight"] = (width, width, 1, 1)
            d.update(_bn(f"{p}.head.1", width))
            d[f"{p}.head.3.weight"] = (out, width, 1, 1)
            d[f"{p}.head.3.bias"] = (out,)
    d["rpn_head.cls_weight"] = (len(levels),)
    d["rpn_head.loc_weight"] = (len(levels),)
    return d


def random_state(shapes, seed=0):
    """Random weights with BatchNorm statistics and scales that keep activations O(1)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, s in shapes.items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(s, generator=g) + 0.5
        elif k.endswith("running_mean") or k.endswith("bias"):
            sd[k] = torch.randn(s, generator=g) * 0.1
        elif len(s) == 1 and not k.endswith("_weight"):  # BatchNorm scale
            sd[k] = torch.rand(s, generator=g) * 0.3 + 0.05
        elif len(s) == 4:
            sd[k] = torch.randn(s, generator=g) * math.sqrt(2.0 / (s[1] * s[2] * s[3]))
        else:
            sd[k] = torch.randn(s, generator=g)
    return sd


def _recipe_cfg(*overrides):
    return compose_train([f"experiments={RECIPE}", *overrides])


# ---------------------------------------------------------------- backbone
def test_resnet_atrous_parameter_count_matches_pysot():
    with torch.device("meta"):
        net = ResNetAtrous(50, out_indices=(2, 3, 4))
        model = build_model(*(_recipe_cfg()[k] for k in ("backbone", "neck", "head")))
    assert n_params(net) == PYSOT_BACKBONE_PARAMS
    assert n_params(model) == PYSOT_MODEL_PARAMS
    assert n_params(model.backbone) == PYSOT_BACKBONE_PARAMS
    assert (n_params(model.neck), n_params(model.head)) == (919_040, 7_503_456)
    assert net.out_channels == [512, 1024, 2048] and net.strides == [8, 8, 8] and net.one_stream is False


def test_resnet_atrous_geometry_is_pysots():
    """(kernel, stride, padding, dilation) of the convs where pysot's atrous ResNet differs from torchvision's."""
    with torch.device("meta"):
        net = ResNetAtrous(50)
    expected = {
        "conv1": (7, 2, 0, 1),
        "layer1.0.downsample.0": (1, 1, 0, 1),
        "layer2.0.conv2": (3, 2, 0, 1), "layer2.0.downsample.0": (3, 2, 0, 1), "layer2.1.conv2": (3, 1, 1, 1),
        "layer3.0.conv2": (3, 1, 1, 1), "layer3.0.downsample.0": (3, 1, 1, 1), "layer3.1.conv2": (3, 1, 2, 2),
        "layer4.0.conv2": (3, 1, 2, 2), "layer4.0.downsample.0": (3, 1, 2, 2), "layer4.2.conv2": (3, 1, 4, 4),
    }
    mods = dict(net.named_modules())
    for name, (k, s, p, d) in expected.items():
        m = mods[name]
        assert (m.kernel_size[0], m.stride[0], m.padding[0], m.dilation[0]) == (k, s, p, d), name
    own = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert own == {k[len("backbone."):]: s for k, s in pysot_r50_shapes().items() if k.startswith("backbone.")}


def test_resnet_atrous_output_sizes_127_and_255():
    torch.manual_seed(0)
    net = ResNetAtrous(50).eval()
    with torch.no_grad():
        z = net(torch.randn(1, 3, 127, 127))
    assert [tuple(f.shape) for f in z] == [(1, 512, 15, 15), (1, 1024, 15, 15), (1, 2048, 15, 15)]
    # layer3 / layer4 keep layer2's size (stride 1, padding = dilation), so 255 is checked up to layer2 (cheap)
    net = ResNetAtrous(50, out_indices=(0, 1, 2)).eval()
    with torch.no_grad():
        x = net(torch.randn(1, 3, 255, 255))
    assert [tuple(f.shape[-2:]) for f in x] == [(125, 125), (63, 63), (31, 31)]
    assert net.strides == [2, 4, 8] and net.out_channels == [64, 256, 512]


def test_resnet_atrous_freezing_and_pretrained(tmp_path):
    net = ResNetAtrous(18, out_indices=(1, 2), frozen_stages=1, norm_eval=True).train()
    assert not any(p.requires_grad for p in net.layer1.parameters()) and not net.conv1.weight.requires_grad
    assert all(p.requires_grad for p in net.layer2.parameters())
    assert not any(m.training for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    assert not hasattr(net, "layer3")
    full = ResNetAtrous(18, out_indices=(4,)).state_dict()
    full["fc.weight"] = torch.zeros(10, 512)
    torch.save({"state_dict": full}, tmp_path / "resnet18.model")
    net = ResNetAtrous(18, out_indices=(1, 2), pretrained=str(tmp_path / "resnet18.model"))
    assert torch.equal(net.layer2[1].conv2.weight, full["layer2.1.conv2.weight"])


# ---------------------------------------------------------------- converter: keys
def test_every_pysot_key_maps_onto_the_recipe():
    shapes = pysot_r50_shapes()
    assert sum(math.prod(s) for k, s in shapes.items() if "running" not in k and "num_batches" not in k) \
        == PYSOT_MODEL_PARAMS
    cfg = _recipe_cfg()
    with torch.device("meta"):
        model = build_model(cfg.backbone, cfg.neck, cfg.head)
    meta = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    converted, report = convert_pysot(meta)
    check_against(model.state_dict(), converted, report)
    assert report.ok, report.summary()
    assert len(report.mapped) == len(shapes) and not report.dropped
    assert set(converted) == set(model.state_dict())  # every key maps, none left over
    assert report.mapped["rpn_head.rpn3.loc.head.3.weight"] == "head.loc.1.head.1.weight"
    assert report.mapped["neck.downsample4.downsample.1.running_var"] == "neck.downsample.2.1.running_var"


def test_load_pysot_checkpoint_strictly():
    sd = random_state(pysot_r50_shapes())
    cfg = _recipe_cfg()
    model = build_model(cfg.backbone, cfg.neck, cfg.head).eval()
    report = load_pysot_checkpoint(model, {"state_dict": sd, "epoch": 20})
    assert report.ok and len(report.mapped) == len(sd)
    assert torch.equal(model.head.cls[1].head[1].bias, sd["rpn_head.rpn3.cls.head.3.bias"])
    assert torch.equal(model.head.loc_weight, sd["rpn_head.loc_weight"])
    assert torch.equal(model.backbone.layer4[2].conv3.weight, sd["backbone.layer4.2.conv3.weight"])
    assert torch.equal(model.neck.downsample[0][0].weight, sd["neck.downsample2.downsample.0.weight"])
    assert not torch.equal(model.backbone.conv1.weight, sd["backbone.conv1.weight"])  # folded input transform

    sd["rpn_head.rpn2.cls.extra.weight"] = torch.zeros(1)
    with pytest.raises(ConversionError, match="rpn_head.rpn2.cls.extra.weight"):
        load_pysot_checkpoint(model, sd)


def test_mobilenet_checkpoints_are_refused_with_the_reason():
    with pytest.raises(ConversionError, match="MobileNetV2"):
        convert_pysot({"backbone.layer0.0.weight": torch.zeros(44, 3, 3, 3)})


def test_recipe_is_the_r50_recipe_with_pysots_backbone():
    ours = OmegaConf.to_container(_recipe_cfg(), resolve=False)
    base = OmegaConf.to_container(compose_train(["experiments=siamrpn_r50_255_ep20"]), resolve=False)
    assert ours.pop("backbone")["_target_"].endswith("ResNetAtrous")
    base.pop("backbone")
    assert ours == base


# ---------------------------------------------------------------- converter: numbers
def test_folded_stem_on_normalised_rgb_equals_pysot_stem_on_raw_bgr():
    torch.manual_seed(0)
    raw = ResNetAtrous(18, out_indices=(0,))
    sd = {f"backbone.{k}": v for k, v in random_state({k: tuple(v.shape) for k, v in raw.state_dict().items()}).items()}
    raw.load_state_dict({k[len("backbone."):]: v for k, v in sd.items()})
    folded = ResNetAtrous(18, out_indices=(0,))
    folded.load_state_dict({k[len("backbone."):]: v for k, v in fold_bgr255_input(sd).items()})
    rgb = torch.rand(2, 3, 39, 39) * 255
    norm = (rgb - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for mode in (False, True):  # running statistics, then batch statistics
        raw.train(mode), folded.train(mode)
        with torch.no_grad():
            torch.testing.assert_close(folded(norm)[0], raw(rgb.flip(1))[0], rtol=1e-4, atol=1e-4)


def _pysot_conv_bn(x, sd, p, relu=True):
    x = F.conv2d(x, sd[f"{p}.0.weight"])
    x = F.batch_norm(x, sd[f"{p}.1.running_mean"], sd[f"{p}.1.running_var"], sd[f"{p}.1.weight"], sd[f"{p}.1.bias"])
    return F.relu(x) if relu else x


def pysot_multi_rpn(sd, z_fs, x_fs):
    """pysot ``MultiRPN(weighted=True)`` in eval mode, from its state dict (``DepthwiseXCorr`` per level and branch)."""
    outs = {"cls": [], "loc": []}
    for lvl, (z, x) in enumerate(zip(z_fs, x_fs), start=2):
        for branch in ("cls", "loc"):
            p = f"rpn_head.rpn{lvl}.{branch}"
            kernel, search = _pysot_conv_bn(z, sd, f"{p}.conv_kernel"), _pysot_conv_bn(x, sd, f"{p}.conv_search")
            B, C, H, W = search.shape  # pysot xcorr_depthwise(search, kernel)
            h, w = kernel.shape[-2:]
            feat = F.conv2d(search.reshape(1, B * C, H, W), kernel.reshape(B * C, 1, h, w), groups=B * C)
            feat = feat.reshape(B, C, H - h + 1, W - w + 1)
            h = F.relu(F.batch_norm(F.conv2d(feat, sd[f"{p}.head.0.weight"]), sd[f"{p}.head.1.running_mean"],
                                    sd[f"{p}.head.1.running_var"], sd[f"{p}.head.1.weight"], sd[f"{p}.head.1.bias"]))
            outs[branch].append(F.conv2d(h, sd[f"{p}.head.3.weight"], sd[f"{p}.head.3.bias"]))
    cw, lw = F.softmax(sd["rpn_head.cls_weight"], 0), F.softmax(sd["rpn_head.loc_weight"], 0)
    return sum(w * c for w, c in zip(cw, outs["cls"])), sum(w * l for w, l in zip(lw, outs["loc"]))


def pysot_tracker_decode(cls, loc, stride=8, ratios=(0.33, 0.5, 1, 2, 3), scale=8):
    """pysot ``SiamRPNTracker``: anchors (``generate_anchor``), ``_convert_score``, ``_convert_bbox`` for batch 1;
    boxes are cxcywh relative to the search-crop centre."""
    R, A = cls.shape[-1], len(ratios)
    wh = []
    for r in ratios:  # pysot Anchors.generate_anchors
        ws = int(math.sqrt(stride * stride / r))
        wh.append((ws * scale, int(ws * r) * scale))
    wh = torch.tensor(wh, dtype=torch.float32).repeat_interleave(R * R, 0)  # anchor-major
    offs = torch.tensor([-(R // 2) * stride + stride * d for d in range(R)], dtype=torch.float32)
    yy, xx = torch.meshgrid(offs, offs, indexing="ij")
    ctr = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1).repeat(A, 1)
    score = F.softmax(cls.permute(1, 2, 3, 0).reshape(2, -1).permute(1, 0), dim=1)[:, 1]
    delta = loc.permute(1, 2, 3, 0).reshape(4, -1)
    boxes = torch.stack([delta[0] * wh[:, 0] + ctr[:, 0], delta[1] * wh[:, 1] + ctr[:, 1],
                         delta[2].exp() * wh[:, 0], delta[3].exp() * wh[:, 1]], 1)
    return boxes, score


def test_converted_rpn_head_gives_pysots_outputs_and_readout():
    width, A, S = 8, 5, 63
    sd = random_state(pysot_rpn_shapes(width, A), seed=3)
    head = RPNHead([width] * 3, [8] * 3, cls_loss=CrossEntropyLoss(use_sigmoid=False), box_loss=L1Loss()).eval()
    converted, report = convert_pysot(sd, fold_input=False)
    check_against(head.state_dict(), {k[len("head."):]: v for k, v in converted.items()}, report)
    assert not report.missing and not report.shapes
    head.load_state_dict({k[len("head."):]: v for k, v in converted.items()}, strict=True)

    g = torch.Generator().manual_seed(4)
    z = [torch.randn(2, width, 7, 7, generator=g) for _ in range(3)]
    x = [torch.randn(2, width, 11, 11, generator=g) for _ in range(3)]
    with torch.no_grad():
        cls_ref, loc_ref = pysot_multi_rpn(sd, z, x)
        out = head(z, x)
    assert out["cls"].shape == cls_ref.shape == (2, 2 * A, 5, 5)
    torch.testing.assert_close(out["cls"], cls_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out["loc"], loc_ref, rtol=1e-5, atol=1e-6)

    # the same channels read as pysot's tracker reads them: scores and boxes agree candidate by candidate
    boxes, scores = head.decode(out, S, torch.full((2, 2), 20.0))
    for b in range(2):
        ref_boxes, ref_scores = pysot_tracker_decode(cls_ref[b:b + 1], loc_ref[b:b + 1])
        torch.testing.assert_close(scores[b], ref_scores, rtol=1e-5, atol=1e-6)
        shifted = boxes[b] - torch.tensor([S / 2, S / 2, 0.0, 0.0])
        torch.testing.assert_close(shifted, ref_boxes, rtol=1e-4, atol=1e-4)

"""Released STARK / OSTrack checkpoints map onto the sot models key by key.

The official state dicts are rebuilt here from the official module layouts (names and shapes written out from
botaoye/OSTrack ``lib/models`` and researchmm/Stark ``lib/models/stark``; ResNet keys from torchvision, whose layout
STARK's ResNet copies, without ``num_batches_tracked`` because STARK's BatchNorms are frozen ones).
"""
import pytest
import torch
import torchvision

from sot.models.builder import build_model
from sot.models.convert import ConversionError, check_against, convert_ostrack, convert_stark, load_official
from tests.helpers import compose_train


def _bn(prefix, c, tracked=True):
    d = {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,), f"{prefix}.running_var": (c,)}
    if tracked:
        d[f"{prefix}.num_batches_tracked"] = ()
    return d


def _tower(prefix, branch, cin, ch, out):
    """OSTrack / STARK ``conv()`` blocks: Conv2d(bias) + BatchNorm2d + ReLU, then a 1x1 conv."""
    d, widths = {}, [cin, ch, ch // 2, ch // 4, ch // 8]
    for i in range(4):
        d[f"{prefix}.conv{i + 1}_{branch}.0.weight"] = (widths[i + 1], widths[i], 3, 3)
        d[f"{prefix}.conv{i + 1}_{branch}.0.bias"] = (widths[i + 1],)
        d.update(_bn(f"{prefix}.conv{i + 1}_{branch}.1", widths[i + 1]))
    d[f"{prefix}.conv5_{branch}.weight"] = (out, ch // 8, 1, 1)
    d[f"{prefix}.conv5_{branch}.bias"] = (out,)
    return d


def ostrack_official_shapes(dim=768, depth=12, z=128, x=256, patch=16, head_ch=256):
    """``OSTrack(VisionTransformerCE, CenterPredictor).state_dict()`` names and shapes."""
    d = {"backbone.cls_token": (1, 1, dim), "backbone.pos_embed": (1, 197, dim),
         "backbone.patch_embed.proj.weight": (dim, 3, patch, patch), "backbone.patch_embed.proj.bias": (dim,),
         "backbone.norm.weight": (dim,), "backbone.norm.bias": (dim,),
         "backbone.pos_embed_z": (1, (z // patch) ** 2, dim), "backbone.pos_embed_x": (1, (x // patch) ** 2, dim)}
    for i in range(depth):
        b = f"backbone.blocks.{i}"
        d.update({f"{b}.norm1.weight": (dim,), f"{b}.norm1.bias": (dim,),
                  f"{b}.attn.qkv.weight": (3 * dim, dim), f"{b}.attn.qkv.bias": (3 * dim,),
                  f"{b}.attn.proj.weight": (dim, dim), f"{b}.attn.proj.bias": (dim,),
                  f"{b}.norm2.weight": (dim,), f"{b}.norm2.bias": (dim,),
                  f"{b}.mlp.fc1.weight": (4 * dim, dim), f"{b}.mlp.fc1.bias": (4 * dim,),
                  f"{b}.mlp.fc2.weight": (dim, 4 * dim), f"{b}.mlp.fc2.bias": (dim,)})
    for branch, out in (("ctr", 1), ("offset", 2), ("size", 2)):
        d.update(_tower("box_head", branch, dim, head_ch, out))
    return d


def stark_official_shapes(score_head=True, d_model=256, ffn=2048, enc=6, dec=6):
    """``STARKST(Backbone(resnet50, last_layer='layer3'), Transformer, Corner_Predictor, MLP).state_dict()``."""
    tv = torchvision.models.resnet50(weights=None).state_dict()
    d = {f"backbone.0.body.{k}": tuple(v.shape) for k, v in tv.items()
         if not k.startswith(("layer4.", "fc.")) and not k.endswith("num_batches_tracked")}
    d.update({"bottleneck.weight": (d_model, 1024, 1, 1), "bottleneck.bias": (d_model,), "query_embed.weight": (1, d_model)})

    def attn(p):
        return {f"{p}.in_proj_weight": (3 * d_model, d_model), f"{p}.in_proj_bias": (3 * d_model,),
                f"{p}.out_proj.weight": (d_model, d_model), f"{p}.out_proj.bias": (d_model,)}

    def ffn_norms(p, n):
        out = {f"{p}.linear1.weight": (ffn, d_model), f"{p}.linear1.bias": (ffn,),
               f"{p}.linear2.weight": (d_model, ffn), f"{p}.linear2.bias": (d_model,)}
        for j in range(1, n + 1):
            out.update({f"{p}.norm{j}.weight": (d_model,), f"{p}.norm{j}.bias": (d_model,)})
        return out

    for i in range(enc):
        p = f"transformer.encoder.layers.{i}"
        d.update(attn(f"{p}.self_attn"))
        d.update(ffn_norms(p, 2))
    for i in range(dec):
        p = f"transformer.decoder.layers.{i}"
        d.update(attn(f"{p}.self_attn"))
        d.update(attn(f"{p}.multihead_attn"))
        d.update(ffn_norms(p, 3))
    d.update({"transformer.decoder.norm.weight": (d_model,), "transformer.decoder.norm.bias": (d_model,)})
    for corner in ("tl", "br"):
        d.update(_tower("box_head", corner, d_model, 256, 1))
    if score_head:
        for i in range(3):
            d.update({f"cls_head.layers.{i}.weight": (1 if i == 2 else d_model, d_model),
                      f"cls_head.layers.{i}.bias": (1 if i == 2 else d_model,)})
    return d


def _meta_model(experiment, *overrides):
    cfg = compose_train([f"experiments={experiment}", *overrides])
    with torch.device("meta"):
        return build_model(cfg.backbone, cfg.neck, cfg.head)


def _meta(shapes):
    return {k: torch.empty(s, device="meta") for k, s in shapes.items()}


@pytest.mark.parametrize("experiment,z,x", [("ostrack_vitb_256", 128, 256), ("ostrack_vitb_384", 192, 384)])
def test_ostrack_keys_all_map(experiment, z, x):
    official = ostrack_official_shapes(z=z, x=x)
    converted, report = convert_ostrack(_meta(official))
    check_against(_meta_model(experiment).state_dict(), converted, report)
    assert report.ok, report.summary()
    assert set(report.dropped) == {"backbone.cls_token", "backbone.pos_embed"}
    assert len(report.mapped) + len(report.dropped) == len(official)


@pytest.mark.parametrize("experiment,score_head", [("stark_s50", False), ("stark_st50_stage1", True), ("stark_st50", True)])
def test_stark_keys_all_map(experiment, score_head):
    official = stark_official_shapes(score_head=score_head)
    converted, report = convert_stark(_meta(official))
    check_against(_meta_model(experiment, "init_weights=null").state_dict(), converted, report)
    assert report.ok, report.summary()
    assert not report.dropped and len(report.mapped) == len(official)


def test_leftover_or_missing_keys_are_reported():
    official = stark_official_shapes(score_head=True)
    official["transformer.encoder.norm.weight"] = (256,)  # a pre-norm variant's extra key
    del official["query_embed.weight"]
    converted, report = convert_stark(_meta(official))
    check_against(_meta_model("stark_st50", "init_weights=null").state_dict(), converted, report)
    assert not report.ok
    assert "transformer.encoder.norm.weight" in report.unmapped and "head.query_embed.weight" in report.missing


def test_load_official_tiny_ostrack_checkpoint(tmp_path):
    """Real tensors through the whole path: file under 'net', converted, loaded strictly, forward runs."""
    shapes = ostrack_official_shapes(dim=48, depth=2, z=32, x=64, head_ch=16)
    g = torch.Generator().manual_seed(0)
    sd = {k: (torch.randn(s, generator=g) if s else torch.tensor(3)) for k, s in shapes.items()}
    path = tmp_path / "OSTrack_ep0300.pth.tar"
    torch.save({"net": sd, "epoch": 300}, path)
    cfg = compose_train(["~experiments", "backbone=vit_tiny", "+backbone.model_kwargs={depth:2,embed_dim:48,num_heads:3}",
                         "neck=identity", "head=center", "head.channels=16", "data.template_size=32", "data.search_size=64"])
    model = build_model(cfg.backbone, cfg.neck, cfg.head).eval()
    report = load_official(model, str(path), "ostrack")
    assert report.ok
    assert torch.equal(model.backbone.blocks[1].attn.qkv.weight, sd["backbone.blocks.1.attn.qkv.weight"])
    assert torch.equal(model.head.box_head.conv3_size[1].running_var, sd["box_head.conv3_size.1.running_var"])
    out = model(torch.rand(1, 3, 32, 32) * 255, torch.rand(1, 3, 64, 64) * 255)
    assert out["score"].shape == (1, 1, 4, 4)
    bad = dict(sd)
    bad["box_head.extra.weight"] = torch.zeros(1)
    torch.save({"net": bad}, path)
    with pytest.raises(ConversionError, match="box_head.extra.weight"):
        load_official(model, str(path), "ostrack")

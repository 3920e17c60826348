"""Transformer-tracker parts: one-stream ViT with candidate elimination, corner / center / stark / score heads,
their losses, the sine positions, and the build-time rules. Small widths and crops throughout."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sot.models.backbones.vit import OneStreamViT, ce_keep_rate
from sot.models.builder import build_model
from sot.models.errors import IncompatiblePartsError
from sot.models.heads.center import CenterHead, gaussian_radius
from sot.models.heads.corner import CornerHead, soft_argmax
from sot.models.heads.score import ScoreHead
from sot.models.heads.stark import StarkHead
from sot.models.heads.transformer import sine_position_encoding
from sot.models.losses.cross_entropy import CrossEntropyLoss
from sot.models.losses.gaussian_focal import GaussianFocalLoss
from sot.models.losses.giou import GIoULoss
from sot.models.losses.l1 import L1Loss
from tests.helpers import compose_train

torch.set_num_threads(1)


def tiny_vit(**kw):
    args = dict(name="vit_tiny_patch16_224", template_size=32, search_size=64, drop_path_rate=0.0,
                model_kwargs={"depth": 4, "embed_dim": 48, "num_heads": 3})
    args.update(kw)
    return OneStreamViT(**args)


def crops(B=2, z=32, x=64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, 3, z, z, generator=g), torch.randn(B, 3, x, x, generator=g)


BOXES = torch.tensor([[20.0, 24.0, 16.0, 12.0], [30.0, 10.0, 20.0, 30.0]])  # xywh in a 64 px search crop
POS = torch.tensor([True, True])


# ------------------------------------------------------------------------------------------------------ ViT
def test_vit_shapes_and_contract():
    m = tiny_vit().eval()
    z, x = crops()
    (out,) = m(z, x)
    assert out.shape == (2, 48, 4, 4)
    assert m.one_stream and m.out_channels == [48] and m.strides == [16]
    # other crop sizes: positional grids are resized on the fly
    (out2,) = m(torch.randn(1, 3, 48, 48), torch.randn(1, 3, 96, 96))
    assert out2.shape == (1, 48, 6, 6)


def test_ce_keep_rate_follows_ostrack_schedule():
    # OSTrack: start 20, warm 80, base 0.7 -> 1 before 20, cosine to 0.7 at 100
    assert ce_keep_rate(0, 20, 80, 0.7) == 1.0
    assert ce_keep_rate(19, 20, 80, 0.7) == 1.0
    assert ce_keep_rate(20, 20, 80, 0.7) == pytest.approx(1.0)
    assert ce_keep_rate(60, 20, 80, 0.7) == pytest.approx(0.85)
    assert ce_keep_rate(100, 20, 80, 0.7) == 0.7
    m = tiny_vit(ce_loc=[1, 2], ce_start_epoch=20, ce_warm_epochs=80)
    m.train()
    m.set_epoch(0)
    assert m.keep_rate() == 1.0
    m.set_epoch(60)
    assert m.keep_rate() == pytest.approx(0.85)
    m.eval()
    assert m.keep_rate() == 0.7  # test time: the final ratio, whatever the epoch


def _reference_kept(m: OneStreamViT, z, x, ce_block: int, keep: float):
    """Naive OSTrack candidate elimination at one block: explicit attention matrix, CTR_POINT rows, sort."""
    with torch.no_grad():
        tz, _ = m._embed(z, m.pos_embed_z)
        tx, _ = m._embed(x, m.pos_embed_x)
        t = torch.cat([tz, tx], 1)
        for blk in m.blocks[:ce_block]:
            t = blk(t)
        blk = m.blocks[ce_block]
        a = blk.attn
        y = blk.norm1(t)
        B, N, C = y.shape
        q, k, _ = a.qkv(y).reshape(B, N, 3, a.num_heads, C // a.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) * a.scale).softmax(-1)  # (B, h, N, N)
        lens_t = tz.shape[1]
        side = int(math.isqrt(lens_t))
        ctr = ((side - 1) // 2) * side + (side - 1) // 2
        score = attn[:, :, ctr:ctr + 1, lens_t:].mean(2).mean(1)
        n_keep = math.ceil(keep * tx.shape[1])
        return score.sort(dim=1, descending=True).indices[:, :n_keep]


def test_candidate_elimination_matches_naive_reference():
    torch.manual_seed(0)
    m = tiny_vit(ce_loc=[1], ce_keep_ratio=0.5).eval()
    z, x = crops()
    (out,) = m(z, x)
    kept = (out.flatten(2).abs().sum(1) > 0)  # eliminated tokens are zero on the output grid
    ref = _reference_kept(m, z, x, ce_block=1, keep=0.5)
    for b in range(2):
        assert set(kept[b].nonzero().flatten().tolist()) == set(ref[b].tolist())
    assert kept.sum(1).tolist() == [8, 8]  # ceil(0.5 * 16)


def test_ce_attention_path_equals_timm_block():
    m = tiny_vit().eval()
    blk = m.blocks[0]
    t = torch.randn(2, 20, 48)
    out, score = m._attention(blk, t, lens_t=4, votes=torch.tensor([0]))
    assert torch.allclose(out, blk.attn(blk.norm1(t)), atol=1e-5)
    assert score.shape == (2, 16) and torch.all(score >= 0)


def test_ce_warm_up_keeps_everything_and_three_stages_shrink():
    torch.manual_seed(0)
    z, x = crops()
    plain = tiny_vit().eval()
    ce = tiny_vit(ce_loc=[0, 1, 2], ce_keep_ratio=0.7)
    ce.load_state_dict(plain.state_dict())
    ce.train()
    ce.set_epoch(0)  # warm-up: nothing eliminated in training yet
    assert torch.allclose(ce(z, x)[0], plain(z, x)[0], atol=1e-5)
    ce.eval()
    kept = (ce(z, x)[0].flatten(2).abs().sum(1) > 0).sum(1)
    assert kept.tolist() == [7, 7]  # ceil(.7 * 16) = 12, ceil(.7 * 12) = 9, ceil(.7 * 9) = 7


def test_vit_several_templates_and_stateless_training_forward():
    torch.manual_seed(0)
    m = tiny_vit(ce_loc=[1], ce_start_epoch=0, ce_warm_epochs=1).train()
    z, x = crops()
    (a,) = m(torch.stack([z, z.flip(-1)], dim=1), x)  # (B, T, 3, H, W)
    assert a.shape == (2, 48, 4, 4)
    first = m(z, x)[0]
    m(z * 2, x.flip(-1))  # another batch in between
    again = m(z, x)[0]
    assert torch.equal(first, again)  # nothing carried from one batch to the next


def test_vit_loads_a_timm_checkpoint(tmp_path):
    import timm

    src = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, depth=4, embed_dim=48, num_heads=3)
    path = tmp_path / "vit.pth"
    torch.save({"model": src.state_dict()}, path)
    m = tiny_vit(pretrained=str(path))
    assert torch.equal(m.blocks[2].mlp.fc1.weight, src.blocks[2].mlp.fc1.weight)
    grid = src.pos_embed[:, 1:].reshape(1, 14, 14, 48).permute(0, 3, 1, 2)
    want = F.interpolate(grid, size=(4, 4), mode="bicubic", align_corners=False).flatten(2).transpose(1, 2)
    assert torch.allclose(m.pos_embed_x, want, atol=1e-6)


# ---------------------------------------------------------------------------------------------- positions
def test_sine_positions_match_detr_formula():
    h, w, F_ = 3, 5, 8
    pos = sine_position_encoding(h, w, F_)
    assert pos.shape == (2 * F_, h, w)
    # DETR PositionEmbeddingSine(normalize=True) with no padding, written out for one cell
    y, x = 2, 4
    ye, xe = (y + 1) / (h + 1e-6) * 2 * math.pi, (x + 1) / (w + 1e-6) * 2 * math.pi
    dim_t = [10000 ** (2 * (i // 2) / F_) for i in range(F_)]
    want_y = [math.sin(ye / dim_t[i]) if i % 2 == 0 else math.cos(ye / dim_t[i]) for i in range(F_)]
    want_x = [math.sin(xe / dim_t[i]) if i % 2 == 0 else math.cos(xe / dim_t[i]) for i in range(F_)]
    # DETR interleaves sin of the even and cos of the odd frequencies: stack((sin[0::2], cos[1::2]), -1).flatten
    inter = lambda v: [v[j] for pair in zip(range(0, F_, 2), range(1, F_, 2)) for j in pair]  # noqa: E731
    assert torch.allclose(pos[:F_, y, x], torch.tensor(inter(want_y)), atol=1e-5)
    assert torch.allclose(pos[F_:, y, x], torch.tensor(inter(want_x)), atol=1e-5)


# ----------------------------------------------------------------------------------------------- corner
def test_soft_argmax_of_a_peak_is_the_cell_coordinate():
    logits = torch.full((1, 20 * 20), -1e4)
    logits[0, 7 * 20 + 12] = 0.0
    xs = torch.arange(20.0) * 16
    assert soft_argmax(logits, xs, xs).tolist() == [[12 * 16.0, 7 * 16.0]]


@pytest.mark.parametrize("one_stream", [True, False])
def test_corner_head_loss_backward_decode(one_stream):
    head = CornerHead([32], [16], box_loss=L1Loss(loss_weight=5.0), iou_loss=GIoULoss(loss_weight=2.0),
                      channels=32, one_stream=one_stream, fusion_channels=16)
    z = None if one_stream else [torch.randn(2, 32, 4, 4)]
    out = head(z, [torch.randn(2, 32, 8, 8)])
    R = 8 if one_stream else 5  # fusion: 3x3 convs without padding, then correlation: 6 - 2 + 1
    assert out["tl"].shape == (2, R, R)
    losses = head.loss(out, BOXES, POS, 128)
    assert {"loss_l1", "loss_iou", "iou"} <= set(losses)
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)
    boxes, scores = head.decode(out, 128, torch.ones(2, 2))
    assert boxes.shape == (2, 1, 4) and scores.shape == (2, 1)


def test_corner_head_normalises_boxes_by_search_size():
    head = CornerHead([8], [16], box_loss=L1Loss(), iou_loss=GIoULoss(), channels=16)
    out = {"tl": torch.full((1, 4, 4), -1e4), "br": torch.full((1, 4, 4), -1e4)}
    out["tl"][0, 1, 1] = 0  # (16, 16)
    out["br"][0, 3, 2] = 0  # (32, 48)
    losses = head.loss(out, torch.tensor([[16.0, 16.0, 16.0, 32.0]]), torch.tensor([True]), 64)
    assert losses["loss_l1"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["iou"].item() == pytest.approx(1.0)
    # 4 px off on x2 -> L1 = 4 / 64 / 4 coordinates
    losses = head.loss(out, torch.tensor([[16.0, 16.0, 20.0, 32.0]]), torch.tensor([True]), 64)
    assert losses["loss_l1"].item() == pytest.approx(4 / 64 / 4, rel=1e-4)


# ----------------------------------------------------------------------------------------------- center
def test_gaussian_radius_and_targets_follow_ostrack():
    # CornerNet radius (OSTrack's variant) for a 4 x 4 cell box at min_overlap 0.7
    w = h = 4.0
    b1, c1 = h + w, w * h * 0.3 / 1.7
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), 0.3 * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 2.8, -1.4 * (h + w), -0.3 * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    assert gaussian_radius(torch.tensor([[w, h]]))[0].item() == pytest.approx(min(r1, r2, r3), rel=1e-5)

    head = CenterHead([8], [16], GaussianFocalLoss(), channels=16)
    # centre (100, 70) in a 256 crop, stride 16: round(6.25) = 6, round(4.375) = 4
    t = head.targets(torch.tensor([[100.0 - 32, 70.0 - 32, 64.0, 64.0]]), torch.tensor([True]), (16, 16), 256)
    assert t.shape == (1, 16, 16)
    assert t[0, 4, 6].item() == 1.0 and (t == 1).sum().item() == 1
    r = int(gaussian_radius(torch.tensor([[4.0, 4.0]]))[0])
    sigma = (2 * r + 1) / 6
    assert t[0, 4, 7].item() == pytest.approx(math.exp(-1 / (2 * sigma ** 2)), rel=1e-5)
    assert t[0, 4, 6 + r + 1].item() == 0.0
    assert head.targets(torch.tensor([[10.0, 10.0, 20.0, 20.0]]), torch.tensor([False]), (16, 16), 256).sum() == 0


def test_gaussian_focal_loss_matches_ostrack_formula():
    pred = torch.rand(2, 5, 5).clamp(0.01, 0.99)
    target = torch.rand(2, 5, 5) * 0.9
    target[0, 2, 2] = target[1, 1, 3] = 1.0
    pos = target.eq(1).float()
    neg = target.lt(1).float()
    want = -(torch.log(pred) * (1 - pred) ** 2 * pos + torch.log(1 - pred) * pred ** 2 * (1 - target) ** 4 * neg).sum() / 2
    got = GaussianFocalLoss()(pred, target, avg_factor=pos.sum())
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


@pytest.mark.parametrize("one_stream", [True, False])
def test_center_head_loss_backward_decode_window(one_stream):
    head = CenterHead([32], [16], GaussianFocalLoss(), box_loss=L1Loss(loss_weight=5.0),
                      iou_loss=GIoULoss(loss_weight=2.0), channels=32, one_stream=one_stream, fusion_channels=16)
    z = None if one_stream else [torch.randn(2, 32, 4, 4)]
    out = head(z, [torch.randn(2, 32, 8, 8)])
    losses = head.loss(out, BOXES, torch.tensor([True, False]), 128)
    assert {"loss_cls", "loss_l1", "loss_iou"} <= set(losses)
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)
    boxes, scores = head.decode(out, 128, torch.ones(2, 2))
    R = out["score"].shape[-1]
    assert boxes.shape == (2, R * R, 4) and scores.shape == (2, R * R)
    win = head.window(out)
    # OSTrack hann2d(centered=True): 0.5 * (1 - cos(2 pi k / (R + 1))), k = 1..R, outer product
    h = 0.5 * (1 - torch.cos(2 * math.pi / (R + 1) * torch.arange(1, R + 1).float()))
    assert torch.allclose(win, torch.outer(h, h).flatten(), atol=1e-6)


def test_center_box_at_a_cell_is_ostrack_cal_bbox():
    head = CenterHead([8], [16], GaussianFocalLoss(), channels=16)
    R, S = 16, 256
    out = {"score": torch.zeros(1, 1, R, R), "size": torch.full((1, 2, R, R), 0.25), "offset": torch.full((1, 2, R, R), 0.5)}
    boxes, _ = head.decode(out, S, torch.ones(1, 2))
    # cell (row 3, col 5): cx = (5 + 0.5) / 16 * 256, cy = (3 + 0.5) / 16 * 256, w = h = 0.25 * 256
    assert boxes[0, 3 * R + 5].tolist() == pytest.approx([88.0, 56.0, 64.0, 64.0])


# ------------------------------------------------------------------------------------------- stark, score
def small_stark(cls=StarkHead, **kw):
    args = dict(box_loss=L1Loss(loss_weight=5.0), iou_loss=GIoULoss(loss_weight=2.0), d_model=32, nhead=4,
                num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64, dropout=0.0, corner_channels=16)
    args.update(kw)
    return cls([24], [16], **args)


def test_stark_head_one_and_two_templates():
    head = small_stark().eval()
    x = [torch.randn(2, 24, 4, 4)]
    z = [torch.randn(2, 24, 2, 2)]
    out1 = head(z, x)
    out2 = head([torch.stack([z[0], z[0] * 0.5], dim=1)], x)  # static + dynamic template
    assert out1["tl"].shape == out2["tl"].shape == (2, 4, 4)
    assert not torch.allclose(out1["tl"], out2["tl"])
    boxes, scores = head.decode(out1, 64, torch.ones(2, 2))
    assert boxes.shape == (2, 1, 4) and torch.all(scores == 1)
    head.train()
    losses = head.loss(head(z, x), BOXES, POS, 64)
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    assert head.transformer.encoder.layers[0].linear1.weight.grad is not None


def test_score_head_trains_only_the_score_branch():
    head = small_stark(ScoreHead, cls_loss=CrossEntropyLoss(use_sigmoid=True), train_score=True).train()
    z, x = [torch.randn(2, 24, 2, 2)], [torch.randn(2, 24, 4, 4)]
    out = head(z, x)
    assert set(out) == {"score"}  # no corner branch in training (STARK-ST2)
    losses = head.loss(out, BOXES, torch.tensor([True, False]), 64)
    losses["loss_score"].backward()
    assert head.score_head.layers[0].weight.grad is not None
    assert all(p.grad is None for n, p in head.named_parameters() if not n.startswith("score_head."))
    head.eval()
    out = head(z, x)
    boxes, scores = head.decode(out, 64, torch.ones(2, 2))
    assert boxes.shape == (2, 1, 4) and torch.all((scores > 0) & (scores < 1))


def test_score_head_first_stage_trains_boxes_like_stark():
    head = small_stark(ScoreHead, cls_loss=CrossEntropyLoss(use_sigmoid=True), train_score=False).train()
    z, x = [torch.randn(2, 24, 2, 2)], [torch.randn(2, 24, 4, 4)]
    losses = head.loss(head(z, x), BOXES, POS, 64)
    assert {"loss_iou", "loss_l1"} <= set(losses) and "loss_score" not in losses
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    assert head.transformer.encoder.layers[0].linear1.weight.grad is not None
    assert head.score_head.layers[0].weight.grad is None
    # same parameters in both stages: a first-stage state dict loads strictly into the second
    ScoreHead([24], [16], CrossEntropyLoss(use_sigmoid=True), d_model=32, nhead=4, num_encoder_layers=1,
              num_decoder_layers=1, dim_feedforward=64, corner_channels=16).load_state_dict(head.state_dict())


# ---------------------------------------------------------------------------------------------- building
def _cfg(*ov):
    return compose_train(["~experiments", "data.template_size=32", "data.search_size=64", *ov])


TINY_VIT = ["backbone=vit_tiny", "+backbone.model_kwargs={depth:2,embed_dim:48,num_heads:3}", "neck=identity"]


def test_two_stream_head_refused_for_one_stream_backbone():
    cfg = _cfg(*TINY_VIT, "head=stark")
    with pytest.raises(IncompatiblePartsError, match="one-stream backbone fuses them itself"):
        build_model(cfg.backbone, cfg.neck, cfg.head)


@pytest.mark.parametrize("head", ["center", "corner"])
def test_box_heads_on_one_and_two_stream_backbones(head):
    vit = _cfg(*TINY_VIT, f"head={head}", "head.channels=16")
    m = build_model(vit.backbone, vit.neck, vit.head)
    assert m.head.fusion is None  # the ViT fuses template and search itself
    res = _cfg("backbone=resnet18", "backbone.out_indices=[2]", "backbone.siamrpn_dilation=false", "neck.out_channels=16",
               "neck.center_size=null", f"head={head}", "head.channels=16", "head.fusion_channels=16")
    m2 = build_model(res.backbone, res.neck, res.head)
    assert m2.head.fusion is not None
    for model in (m, m2):
        model.train()
        batch = {"template": torch.rand(2, 3, 32, 32) * 255, "search": torch.rand(2, 3, 64, 64) * 255,
                 "search_box": BOXES, "positive": POS}
        losses = model.loss(batch)
        assert torch.isfinite(losses["loss"])


def test_set_epoch_hook_reaches_the_vit():
    from types import SimpleNamespace

    from sot.models.backbones.vit import SetEpochHook

    vit = tiny_vit(ce_loc=[1], ce_start_epoch=2, ce_warm_epochs=2)
    SetEpochHook().before_epoch(SimpleNamespace(model=nn.Sequential(vit), epoch=3))
    vit.train()
    assert vit.epoch == 3 and vit.keep_rate() == pytest.approx(ce_keep_rate(3, 2, 2, 0.7))


def test_center_box_losses_read_the_predicted_or_the_target_peak():
    R, S = 8, 128
    boxes = torch.tensor([[40.0, 56.0, 32.0, 16.0]])  # centre (56, 64): peak cell (col 4 (3.5 -> 4), row 4)
    out = {"score": torch.full((1, 1, R, R), 1e-3), "size": torch.full((1, 2, R, R), 0.9),
           "offset": torch.zeros(1, 2, R, R)}
    out["score"][0, 0, 0, 0] = 0.9  # the predicted peak is elsewhere
    out["size"][0, :, 4, 4] = torch.tensor([0.25, 0.125])
    out["offset"][0, :, 4, 4] = torch.tensor([-0.5, 0.0])
    target = CenterHead([8], [16], GaussianFocalLoss(), box_loss=L1Loss(), channels=16, box_at="target")
    assert target.loss(out, boxes, torch.tensor([True]), S)["loss_l1"].item() == pytest.approx(0.0, abs=1e-6)
    pred = CenterHead([8], [16], GaussianFocalLoss(), box_loss=L1Loss(), channels=16, box_at="pred")
    assert pred.loss(out, boxes, torch.tensor([True]), S)["loss_l1"].item() > 0.1

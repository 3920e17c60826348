"""Heads: shapes, training targets, losses (forward and backward), decoding."""
import pytest
import torch

from sot.models.errors import IncompatiblePartsError
from sot.models.heads import anchors as anc
from sot.models.heads.rpn import RPNHead
from sot.models.heads.siamfc import SiamFCHead
from sot.models.losses.cross_entropy import CrossEntropyLoss
from sot.models.losses.focal import FocalLoss
from sot.models.losses.giou import GIoULoss
from sot.models.losses.l1 import L1Loss
from sot.models.losses.logistic import LogisticLoss


def rpn(cls_loss=None, box_loss=None, levels=2, width=16):
    return RPNHead([width] * levels, [8] * levels, cls_loss or CrossEntropyLoss(use_sigmoid=False),
                   box_loss or L1Loss(loss_weight=1.2))


def feats(B=2, levels=2, width=16, zs=7, xs=31):
    return [torch.randn(B, width, zs, zs) for _ in range(levels)], [torch.randn(B, width, xs, xs) for _ in range(levels)]


BOXES = torch.tensor([[100.0, 110.0, 60.0, 40.0], [90.0, 80.0, 64.0, 64.0]])


def test_anchor_shapes_follow_pysot():
    wh = anc.anchor_shapes(8, [0.33, 0.5, 1, 2, 3], [8])
    # pysot: ws = int(sqrt(64 / r)), hs = int(ws * r), times scale 8
    assert wh.tolist() == [[104, 32], [88, 40], [64, 64], [40, 80], [32, 96]]


def test_encode_decode_roundtrip():
    a = torch.tensor([[100.0, 120.0, 64.0, 32.0]])
    b = torch.tensor([[110.0, 100.0, 50.0, 70.0]])
    assert torch.allclose(anc.decode(a, anc.encode(a, b)), b, atol=1e-4)


@pytest.mark.parametrize("cls_loss", [CrossEntropyLoss(use_sigmoid=False), CrossEntropyLoss(use_sigmoid=True), FocalLoss()])
@pytest.mark.parametrize("box_loss", [L1Loss(), GIoULoss()])
def test_rpn_forward_loss_backward(cls_loss, box_loss):
    head = rpn(cls_loss, box_loss)
    z, x = feats()
    out = head(z, x)
    A = 5
    assert out["loc"].shape == (2, 4 * A, 25, 25)
    assert out["cls"].shape[1] == (2 * A if cls_loss.use_sigmoid is False else A)
    losses = head.loss(out, BOXES, torch.tensor([True, True]), 255)
    total = sum(losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_rpn_targets_sampling_limits():
    head = rpn()
    anchors = head.anchors(25, 255)
    labels, pos = head.targets(anchors, BOXES, torch.tensor([True, False]))
    n_pos, n_neg = (labels == 1).sum(1), (labels == 0).sum(1)
    assert 0 < n_pos[0] <= 16 and n_pos[0] + n_neg[0] == 64  # 64 samples, at most 25% positive
    assert n_pos[1] == 0 and n_neg[1] == 16  # negative pair: 16 hard negatives
    iou_pos = anc.decode(anchors, torch.zeros_like(anchors))[labels[0] == 1]
    assert len(iou_pos) == n_pos[0]


def test_rpn_decode_recovers_a_box():
    """Feeding the encoded ground truth as the regression output decodes the ground truth."""
    head = rpn()
    anchors = head.anchors(25, 255)
    gt = torch.tensor([[127.5, 127.5, 50.0, 70.0]])
    deltas = anc.encode(anchors, gt.expand_as(anchors))  # (A*R*R, 4), anchor-major
    loc = deltas.reshape(5, 25, 25, 4).permute(3, 0, 1, 2).reshape(1, 20, 25, 25)
    cls = torch.zeros(1, 10, 25, 25)
    boxes, scores = head.decode({"cls": cls, "loc": loc}, 255, torch.tensor([[50.0, 70.0]]))
    assert torch.allclose(boxes[0], gt.expand(boxes.shape[1], 4), atol=1e-3)
    assert scores.shape == (1, 5 * 625) and head.window({"cls": cls, "loc": loc}).shape == (5 * 625,)


def test_rpn_refuses_mixed_strides():
    with pytest.raises(IncompatiblePartsError, match="same stride"):
        RPNHead([16, 16], [8, 16], CrossEntropyLoss(), L1Loss())
    with pytest.raises(IncompatiblePartsError, match="one width"):
        RPNHead([16, 32], [8, 8], CrossEntropyLoss(), L1Loss())


def test_siamfc_label_map_and_loss():
    head = SiamFCHead([8], [8], LogisticLoss(), radius=16)
    z, x = [torch.randn(2, 8, 6, 6)], [torch.randn(2, 8, 22, 22)]
    out = head(z, x)
    assert out["score"].shape == (2, 1, 17, 17)
    centred = torch.tensor([[127.5 - 20, 127.5 - 20, 40.0, 40.0]])
    labels, weights = head.targets(17, centred, torch.tensor([True]), 255)
    lab = labels.reshape(17, 17)
    # positives: the cells within 16 px (2 cells at stride 8) of the centre cell
    assert lab[8, 8] == 1 and lab[8, 10] == 1 and lab[8, 11] == 0 and lab[6, 6] == 0
    assert torch.isclose(weights[labels > 0].sum(), torch.tensor(0.5)) and torch.isclose(weights.sum(), torch.tensor(1.0))
    loss = head.loss(out, BOXES, torch.tensor([True, False]), 255)["loss_cls"]
    loss.backward()
    assert torch.isfinite(loss)


def test_siamfc_decode_upsamples():
    head = SiamFCHead([8], [8], LogisticLoss(), response_up=4)
    score = torch.zeros(1, 1, 17, 17)
    score[0, 0, 8, 12] = 5.0  # 4 cells right of the centre = 32 px
    boxes, scores = head.decode({"score": score}, 255, torch.tensor([[40.0, 30.0]]))
    best = boxes[0, scores[0].argmax()]
    assert abs(best[0].item() - (127.5 + 32)) < 4 and abs(best[1].item() - 127.5) < 4
    assert best[2:].tolist() == [40.0, 30.0]


# ---- ban (SiamBAN, anchor-free) ----
def ban(cls_loss=None, box_loss=None, levels=2, width=16, **kw):
    from sot.models.heads.ban import BANHead
    return BANHead([width] * levels, [8] * levels, cls_loss or CrossEntropyLoss(use_sigmoid=False),
                   box_loss or GIoULoss(), **kw)


@pytest.mark.parametrize("cls_loss", [CrossEntropyLoss(use_sigmoid=False), FocalLoss()])
@pytest.mark.parametrize("box_loss", [GIoULoss(), L1Loss()])
def test_ban_forward_loss_backward(cls_loss, box_loss):
    head = ban(cls_loss, box_loss)
    z, x = feats()
    out = head(z, x)
    R = 31 - 7 + 1
    assert out["loc"].shape == (2, 4, R, R) and out["cls"].shape[-2:] == (R, R)
    assert (out["loc"] > 0).all()  # distances are positive by construction
    losses = head.loss(out, BOXES, torch.tensor([True, False]), 255)
    total = losses["loss_cls"] + losses["loss_box"]
    total.backward()
    assert torch.isfinite(total) and losses["loss_box"] > 0
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_ban_ellipse_labels_and_sampling():
    head = ban()
    pts = head.points(25, 255)
    box = torch.tensor([[97.5, 107.5, 64.0, 40.0]])  # centre (129.5, 127.5)
    labels, pos_all = head.targets(pts, box.expand(2, 4), torch.tensor([True, False]))
    c = torch.tensor([129.5, 127.5])
    d = (pts - c) / torch.tensor([64.0, 40.0])
    r2 = (d ** 2).sum(-1)
    assert torch.equal(pos_all[0], r2 < 1 / 16) and not pos_all[1].any()  # inner ellipse (w/4, h/4)
    assert (r2[labels[0] == 0] >= 1 / 4).all()  # negatives lie outside the outer ellipse (w/2, h/2)
    n_pos, n_neg = (labels == 1).sum(1), (labels == 0).sum(1)
    assert 0 < n_pos[0] <= 16 and n_pos[0] + n_neg[0] == 64
    assert n_pos[1] == 0 and n_neg[1] == 16 and (r2[labels[1] == 0] < 1 / 4).all()  # hard negatives, near


def test_ban_decode_recovers_a_box():
    """Distances that point every cell at the ground truth decode to the ground truth."""
    head = ban()
    pts = head.points(25, 255)
    x1, y1, x2, y2 = 100.0, 90.0, 150.0, 170.0
    ltrb = torch.stack([pts[:, 0] - x1, pts[:, 1] - y1, x2 - pts[:, 0], y2 - pts[:, 1]], -1)
    loc = ltrb.T.reshape(1, 4, 25, 25)
    boxes, scores = head.decode({"cls": torch.zeros(1, 2, 25, 25), "loc": loc}, 255, torch.tensor([[50.0, 80.0]]))
    expect = torch.tensor([125.0, 130.0, 50.0, 80.0])
    assert torch.allclose(boxes[0], expect.expand(625, 4), atol=1e-3)
    assert scores.shape == (1, 625) and head.window({"loc": loc}).shape == (625,)


def test_ban_box_region_sets_the_cells_the_box_loss_covers():
    pts = ban().points(25, 255)
    box = torch.tensor([[97.5, 107.5, 64.0, 40.0]]).expand(2, 4)
    r2 = (((pts - torch.tensor([129.5, 127.5])) / torch.tensor([64.0, 40.0])) ** 2).sum(-1)
    for region in (0.25, 0.5):
        _, cells = ban(box_region=region).targets(pts, box, torch.tensor([True, False]))
        assert torch.equal(cells[0], r2 < region ** 2) and not cells[1].any()
    with pytest.raises(ValueError, match="box_region"):
        ban(box_region=0.0)


# ---- ban_iou (SiamBAN + ATOM-style IoU branch) ----
def ban_iou(width=16, **kw):
    from sot.models.heads.iou_net import BANIoUHead
    return BANIoUHead([width], [8], CrossEntropyLoss(use_sigmoid=False), GIoULoss(), iou_hidden=8, **kw)


def test_ban_iou_forward_loss_backward_and_per_crop_prediction():
    head = ban_iou()
    z, x = feats(levels=1)
    out = head(z, x)
    losses = head.loss(out, BOXES, torch.tensor([True, False]), 255)
    assert set(losses) == {"loss_cls", "loss_box", "loss_iou"} and losses["loss_iou"] > 0
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.iou.parameters())
    head.eval()
    with torch.no_grad():
        out = head(z, x)
        boxes = torch.tensor([[60.0, 70.0, 120.0, 110.0], [80.0, 80.0, 150.0, 140.0], [0.0, 0.0, 30.0, 30.0]])
        both = head.predict_iou(out, boxes.expand(2, 3, 4))
        assert both.shape == (2, 3)
        assert torch.allclose(head.predict_iou(out, boxes, index=1), both[1], atol=1e-6)

    with pytest.raises(ValueError, match="iou_loss"):
        ban_iou(iou_loss="l2")


def test_ban_iou_finer_levels_feed_only_the_iou_branch():
    """Levels at a finer stride (first in the list) go to the IoU branch beside the coarsest level; the BAN part
    sees the coarse level alone, so its outputs do not depend on the fine maps and the branch's do."""
    from sot.models.heads.iou_net import BANIoUHead
    head = BANIoUHead([12, 16], [4, 8], CrossEntropyLoss(use_sigmoid=False), GIoULoss(), iou_hidden=8,
                      iou_fine_hidden=4)
    assert len(head.cls) == 1 and head.stride == 8
    torch.manual_seed(0)
    z = [torch.randn(2, 12, 14, 14), torch.randn(2, 16, 7, 7)]
    x = [torch.randn(2, 12, 62, 62), torch.randn(2, 16, 31, 31)]
    out = head(z, x)
    assert out["iou_x0"].shape == (2, 4, 62, 62) and out["iou_x1"].shape == (2, 8, 31, 31)
    losses = head.loss(out, BOXES, torch.tensor([True, True]), 255)
    sum(losses.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.iou.x_convs[0].parameters())
    head.eval()
    boxes = torch.tensor([[60.0, 70.0, 120.0, 110.0], [80.0, 80.0, 150.0, 140.0]])
    with torch.no_grad():
        out = head(z, x)
        x2 = [x[0] + torch.randn_like(x[0]), x[1]]
        out2 = head(z, x2)
        assert torch.equal(out["cls"], out2["cls"]) and torch.equal(out["loc"], out2["loc"])
        assert not torch.allclose(head.predict_iou(out, boxes, index=0), head.predict_iou(out2, boxes, index=0))
        assert torch.allclose(head.predict_iou(out, boxes, index=1), head.predict_iou(out, boxes.expand(2, 2, 4))[1],
                              atol=1e-6)
    with pytest.raises(IncompatiblePartsError, match=r"finer levels first.*\[8, 4\]"):
        BANIoUHead([16, 12], [8, 4], CrossEntropyLoss(use_sigmoid=False), GIoULoss())


def test_ban_iou_proposals_follow_iou_sigmas():
    """With proposals jittered by a negligible scale, every proposal is the true box: the branch's training loss is
    the squared error of its prediction on the true box against an IoU of 1."""
    from sot.utils.boxes import cxcywh_to_xyxy, xywh_to_cxcywh
    head = ban_iou(iou_sigmas=[1e-7], iou_proposals=4)
    z, x = feats(levels=1)
    out = head(z, x)
    losses = head.loss(out, BOXES, torch.tensor([True, True]), 255)
    pred = head.predict_iou(out, cxcywh_to_xyxy(xywh_to_cxcywh(BOXES))[:, None])
    assert torch.allclose(losses["loss_iou"], ((pred - 1) ** 2).mean(), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="iou_sigmas"):
        ban_iou(iou_sigmas=[0.1, 0.0])


def test_ban_iou_fine_pool_sets_the_finer_levels_grid():
    """``iou_fine_pool`` pools the finer levels on their own grid (the coarsest keeps 5x5): the branch's first linear
    layer takes fine width x 7 x 7 + coarse width x 5 x 5 cells, and a box still gets one IoU per crop."""
    from sot.models.heads.iou_net import BANIoUHead
    head = BANIoUHead([12, 16], [4, 8], CrossEntropyLoss(use_sigmoid=False), GIoULoss(), iou_hidden=8,
                      iou_fine_hidden=4, iou_fine_pool=7)
    assert head.iou.pools == [7, 5] and head.iou.fc[1].in_features == 4 * 49 + 8 * 25
    z = [torch.randn(2, 12, 14, 14), torch.randn(2, 16, 7, 7)]
    x = [torch.randn(2, 12, 62, 62), torch.randn(2, 16, 31, 31)]
    out = head(z, x)
    losses = head.loss(out, BOXES, torch.tensor([True, True]), 255)
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.iou.parameters())
    assert head.predict_iou(out, torch.tensor([[60.0, 70.0, 120.0, 110.0]]), index=1).shape == (1,)


def test_ban_iou_kl_loss_trains_the_branch():
    head = ban_iou(iou_loss="kl")
    z, x = feats(levels=1)
    losses = head.loss(head(z, x), BOXES, torch.tensor([True, False]), 255)
    assert torch.isfinite(losses["loss_iou"])
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.iou.parameters())
    assert any(p.grad.abs().sum() > 0 for p in head.iou.parameters())


def test_kl_box_loss_is_smallest_at_the_label_density():
    """PrDiMP's KL loss, estimated on the proposals jitter_boxes draws, is minimised by scores equal to the label
    density's log (any other shape of scores costs more)."""
    from sot.models.heads.iou_net import box_offsets, jitter_boxes, kl_box_loss
    g = torch.Generator().manual_seed(0)
    props = jitter_boxes(BOXES, 4000, generator=g)
    d = box_offsets(BOXES, props)
    assert torch.allclose(box_offsets(BOXES, jitter_boxes(BOXES, 2, sigmas=(0.0,))), torch.zeros(2, 2, 4), atol=1e-6)
    log_label = (-0.5 * (d / torch.tensor([0.05, 0.05, 0.1, 0.1])) ** 2).sum(-1)
    best = kl_box_loss(log_label, d)
    for other in (torch.zeros_like(log_label), 2 * log_label, 0.5 * log_label,
                  log_label + torch.randn(log_label.shape, generator=g)):
        assert (kl_box_loss(other, d) > best + 0.05).all()


def test_jitter_boxes():
    from sot.models.heads.iou_net import jitter_boxes
    g = torch.Generator().manual_seed(0)
    p = jitter_boxes(BOXES, 2000, generator=g)
    assert p.shape == (2, 2000, 4) and (p[..., 2:] > p[..., :2]).all()
    ctr = (p[..., :2] + p[..., 2:]) / 2
    assert torch.allclose(ctr.mean(1), BOXES[:, :2] + BOXES[:, 2:] / 2, atol=2.0)  # centred on the box
    logw = torch.log((p[..., 2] - p[..., 0]) / BOXES[:, None, 2])
    assert 0.1 < logw.std() < 0.6 and abs(float(logw.median())) < 0.05  # sizes spread both ways
    exact = jitter_boxes(BOXES, 3, sigmas=(0.0,), generator=g)
    assert torch.allclose(exact, torch.cat([BOXES[:, :2], BOXES[:, :2] + BOXES[:, 2:]], 1)[:, None].expand(2, 3, 4))


def test_pool_boxes_equals_roi_align_inside_the_map_and_fades_outside():
    from torchvision.ops import roi_align

    from sot.models.heads.iou_net import pool_boxes
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 15, 15, generator=g)
    ctr, wh = torch.rand(3, 7, 2, generator=g) * 40 + 44, torch.rand(3, 7, 2, generator=g) * 30 + 8
    boxes = torch.cat([ctr - wh / 2, ctr + wh / 2], -1)  # inside the 120 px the 15 cells of stride 8 cover
    rois = torch.cat([torch.arange(3.0).repeat_interleave(7)[:, None], boxes.reshape(-1, 4)], 1)
    ref = roi_align(x, rois, 5, spatial_scale=1 / 8, sampling_ratio=2, aligned=True)
    out = pool_boxes(x, boxes, 5, 8)
    assert out.shape == (21, 5, 5, 5)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # a box wholly beyond the map pools zeros (roi_align would repeat the border cells there)
    far = torch.tensor([[[200.0, 200.0, 240.0, 230.0]]])
    assert pool_boxes(torch.ones(1, 2, 15, 15), far, 3, 8).abs().max() == 0
    # gradients reach the map
    xg = x.clone().requires_grad_()
    pool_boxes(xg, boxes, 5, 8).sum().backward()
    assert xg.grad.abs().sum() > 0


def test_iou_branch_learns_which_box_fits():
    """On maps where the object is a block of one feature, a few hundred steps teach the branch to rate the
    object's own box above boxes 40% too large or too small."""
    from sot.models.heads.iou_net import IoUPredictor, jitter_boxes
    torch.manual_seed(0)
    net = IoUPredictor(4, stride=8, hidden=8)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    def batch(n=16):
        x = torch.zeros(n, 4, 16, 16)
        wh = torch.randint(3, 8, (n, 2))
        x0 = torch.randint(0, 8, (n, 2))
        for b in range(n):
            x[b, 0, x0[b, 1]:x0[b, 1] + wh[b, 1], x0[b, 0]:x0[b, 0] + wh[b, 0]] = 1.0
        boxes = torch.cat([x0 * 8.0, wh * 8.0], 1)  # [x, y, w, h] crop px
        return torch.zeros(n, 4, 7, 7) + 1.0, x, boxes

    from sot.utils.boxes import box_iou_xywh, xyxy_to_xywh
    for _ in range(300):
        z, x, boxes = batch()
        props = jitter_boxes(boxes, 16)
        mod, xm = net.embed(z, x)
        target = box_iou_xywh(boxes[:, None].expand_as(props), xyxy_to_xywh(props))
        loss = ((net(mod, xm, props) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    z, x, boxes = batch(32)
    c = boxes[:, :2] + boxes[:, 2:] / 2

    def rate(f):
        wh = boxes[:, 2:] * f
        with torch.no_grad():
            return net(*net.embed(z, x), torch.cat([c - wh / 2, c + wh / 2], 1)[:, None])[:, 0]

    own = rate(1.0)
    assert (own > rate(1.4)).float().mean() > 0.8 and (own > rate(1 / 1.4)).float().mean() > 0.8

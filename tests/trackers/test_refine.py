"""Box refinement by the head's IoU branch (tracker/refine=iou)."""
import numpy as np
import pytest
import torch

from sot.trackers.build import build_tracker
from sot.trackers.refine import IoURefiner
from sot.utils.boxes import box_iou_xywh, cxcywh_to_xywh, xyxy_to_xywh
from tests.helpers import compose_train, tiny_model
from tests.trackers.test_siamese_tracker import moving_square

TRUE = torch.tensor([40.0, 50.0, 30.0, 20.0])  # [x, y, w, h] in crop px


class OracleHead:
    """A head whose IoU branch is exact for crop 1 (and wrong for crop 0), to see which crop the refiner asks."""

    def predict_iou(self, outputs, boxes, index=None):
        assert index is not None and boxes.dim() == 2
        iou = box_iou_xywh(TRUE.expand(len(boxes), 4), xyxy_to_xywh(boxes))
        return iou if index == 1 else -iou


def test_refiner_moves_the_box_to_the_best_rated_candidates():
    c = TRUE[:2] + TRUE[2:] / 2
    off = np.array([c[0] + 3.0, c[1] - 2.0, 30.0 * 1.2, 20.0 / 1.2])  # off in centre, width and height
    refine = IoURefiner(span=0.3, sizes=7, shift=0.2, shifts=5, topk=1)
    got = refine(OracleHead(), {"iou_x": torch.zeros(2, 1, 4, 4)}, 1, off)
    before = box_iou_xywh(cxcywh_to_xywh(off), TRUE.numpy())
    after = box_iou_xywh(cxcywh_to_xywh(got), TRUE.numpy())
    assert after > 0.9 > 0.7 > before
    assert np.allclose(got[2:], [30.0, 20.0], rtol=0.06)
    # span 0 and one centre: the box itself, whatever the branch says
    assert np.allclose(IoURefiner(span=0.0, sizes=1, shifts=1, topk=1)(OracleHead(), {"iou_x": torch.zeros(2, 1, 4, 4)}, 1, off), off)


def test_refiner_needs_an_iou_branch():
    cfg = compose_train(["debug=smoke", "device=cpu", "head=ban", "backbone=resnet18_layer2", "tracker/refine=iou"])
    with pytest.raises(Exception, match="IoU branch.*BANHead"):  # hydra wraps the ValueError
        build_tracker(tiny_model(cfg), cfg.tracker)
    with pytest.raises(ValueError, match="topk"):
        IoURefiner(topk=0)


def test_optional_refinement_runs_heads_without_the_branch_unrefined():
    """The main recipe's tracker/refine=iou_optional: head=ban_iou is refined, any other head tracks without it."""
    cfg = compose_train(["debug=smoke", "device=cpu", "head=ban", "backbone=resnet18_layer2",
                         "tracker/refine=iou_optional"])
    assert cfg.tracker.refine.require is False and cfg.tracker.refine.span == 0.15  # iou.yaml's settings
    tracker = build_tracker(tiny_model(cfg), cfg.tracker)
    assert tracker.refine is None
    frames, boxes = moving_square(n=3)
    tracker.init(frames[0], boxes[0])
    assert np.all(np.isfinite(tracker.track(frames[1])[0]))
    cfg = compose_train(["debug=smoke", "device=cpu", "head=ban_iou", "tracker/refine=iou_optional"])
    assert isinstance(build_tracker(tiny_model(cfg), cfg.tracker).refine, IoURefiner)


def test_tracker_with_iou_head_and_refinement_runs():
    cfg = compose_train(["debug=smoke", "device=cpu", "head=ban_iou", "tracker/refine=iou"])
    tracker = build_tracker(tiny_model(cfg), cfg.tracker)
    plain = build_tracker(tiny_model(cfg), cfg.tracker, refine=None)
    frames, boxes = moving_square(n=4)
    assert isinstance(tracker.refine, IoURefiner)
    out = []
    for t in (tracker, plain):
        t.init(frames[0], boxes[0])
        out.append([t.track(img)[0] for img in frames[1:]])
    assert all(np.all(np.isfinite(b)) and b[2] > 0 and b[3] > 0 for b in out[0])
    assert not np.allclose(out[0], out[1])  # the refinement changed the boxes

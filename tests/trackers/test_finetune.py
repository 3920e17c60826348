"""First-frame fine-tuning of the head (tracker/finetune=first_frame): what it tunes, what it leaves alone, and
that it is repeatable."""
import numpy as np
import pytest
import torch

from sot.trackers.build import build_tracker
from sot.trackers.finetune import HeadTuner
from sot.trackers.siamese import SiameseTracker
from tests.helpers import compose_train, tiny_model
from tests.trackers.test_siamese_tracker import moving_square


def head_state(head):
    return {k: v.clone() for k, v in head.state_dict().items()}


# the plain SiamBAN head; it needs a one-level backbone (the main recipe's gives layer1 too, for ban_iou)
BAN = ("head=ban", "backbone=resnet18_layer2")


def smoke_tracker(*overrides, **tracker_overrides):
    cfg = compose_train(["debug=smoke", "device=cpu", "tracker/finetune=first_frame", *overrides])
    model = tiny_model(cfg)
    return model, build_tracker(model, cfg.tracker, **tracker_overrides)


def test_init_tunes_a_copy_of_the_head_for_the_sequence():
    model, tracker = smoke_tracker(**{"finetune.steps": 3})
    assert isinstance(tracker.finetune, HeadTuner)
    trained = head_state(model.head)
    others = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    frames, boxes = moving_square(n=4)
    tracker.init(frames[0], boxes[0])
    assert tracker.head is not model.head
    tuned = head_state(tracker.head)
    assert any(not torch.equal(trained[k], tuned[k]) for k in trained)
    for img in frames[1:]:
        box, score = tracker.track(img)
        assert np.all(np.isfinite(box)) and 0.0 <= score <= 1.0
    # the model is untouched (it may still be training, e.g. validation during training)
    assert all(torch.equal(trained[k], v) for k, v in head_state(model.head).items())
    assert all(torch.equal(others[k], v) for k, v in model.state_dict().items() if not k.startswith("head."))
    assert all(not p.requires_grad or p.grad is None for p in model.parameters())
    # a second sequence: tuned from the trained weights again, so the same first frame gives the same head,
    # whatever the global RNG state
    torch.manual_seed(123)
    tracker.init(frames[0], boxes[0])
    assert all(torch.equal(tuned[k], v) for k, v in head_state(tracker.head).items())
    tracker.init(frames[2], boxes[2])
    assert any(not torch.equal(tuned[k], v) for k, v in head_state(tracker.head).items())
    tracker.finetune.steps = 0
    tracker.init(frames[2], boxes[2])
    assert all(torch.equal(trained[k], v) for k, v in head_state(tracker.head).items())


def test_tracking_uses_the_tuned_head():
    """Without the online filter the tracker normally runs model.forward_search; with a tuned head it must
    run that head, so its output differs from the untuned tracker's on the same frames."""
    model, tuned = smoke_tracker(*BAN, "tracker.online=null", **{"finetune.steps": 10, "finetune.lr": 1e-2})
    plain = build_tracker(model, compose_train(["debug=smoke", "device=cpu", *BAN, "tracker.online=null"]).tracker)
    frames, boxes = moving_square(n=3)
    tuned.init(frames[0], boxes[0])
    plain.init(frames[0], boxes[0])
    assert tuned.online is None
    a, b = tuned.track(frames[1]), plain.track(frames[1])
    assert a[1] != b[1] or not np.allclose(a[0], b[0])


def test_box_only_leaves_the_classification_branch():
    model, tracker = smoke_tracker(*BAN, **{"finetune.steps": 3, "finetune.params": "box"})
    trained = head_state(model.head)
    frames, boxes = moving_square(n=2)
    tracker.init(frames[0], boxes[0])
    tuned = head_state(tracker.head)
    changed = {k for k in trained if not torch.equal(trained[k], tuned[k])}
    assert changed and all(k.startswith("loc") for k in changed)


def test_tuning_lowers_the_heads_loss_on_the_first_frame():
    model, tracker = smoke_tracker(*BAN, **{"finetune.steps": 10, "finetune.lr": 1e-3})
    tuner = tracker.finetune
    frames, boxes = moving_square(n=1)
    x, y, w, h = boxes[0]
    center, size = np.array([x + w / 2, y + h / 2]), np.array([w, h])
    side = tracker._search_side(w, h)
    S = tracker.instance_size
    crops, crop_boxes = tuner._crops(frames[0], center, size, side, S)
    assert crops.shape == (tuner.crops, S, S, 3)
    # the crops' boxes are where the target is: its centre moved by at most `shift` from the crop centre
    c = crop_boxes[:, :2] + crop_boxes[:, 2:] / 2
    assert np.all(np.abs(c - S / 2) <= tuner.shift + 1e-6)

    def loss(head):
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            xin = torch.from_numpy(crops.transpose(0, 3, 1, 2)).float()
            z = model.forward_template(torch.from_numpy(
                tracker_template(tracker, frames[0], boxes[0])).float())
            z = [f.expand(len(crops), *f.shape[1:]) for f in z]
            out = head(z, model.search_features(xin))
            b = torch.as_tensor(crop_boxes, dtype=torch.float32)
            return float(sum(head.loss(out, b, torch.ones(len(crops), dtype=torch.bool), S).values()))

    before = loss(model.head)
    tracker.init(frames[0], boxes[0])
    assert loss(tracker.head) < before


def tracker_template(tracker, image, box):
    from sot.data.crop import crop_and_resize

    x, y, w, h = box
    crop, _ = crop_and_resize(image, (x + w / 2, y + h / 2), tracker._template_side(w, h), tracker.exemplar_size)
    return crop.transpose(2, 0, 1)[None].copy()


def test_bad_settings_are_refused():
    for kw, msg in [({"params": "neck"}, "params"), ({"steps": -1}, "steps"), ({"lr": 0.0}, "lr"),
                    ({"scale": 1.0}, "scale"), ({"flip": 2.0}, "flip")]:
        with pytest.raises(ValueError, match=msg):
            HeadTuner(**kw)


def test_one_stream_models_are_refused():
    cfg = compose_train(["debug=smoke", "device=cpu"])
    model = tiny_model(cfg)
    model.one_stream = True
    with pytest.raises(ValueError, match="two-stream"):
        SiameseTracker(model, finetune=HeadTuner())

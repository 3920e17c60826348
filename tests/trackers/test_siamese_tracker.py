"""The tracker object on a generated sequence: init/track API, post-processing, robustness."""
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from sot.trackers.siamese import InvalidBoxError, SiameseTracker
from tests.helpers import compose_train, tiny_model


def moving_square(n=6, W=160, H=120, size=24, step=6):
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    frames, boxes = [], []
    for i in range(n):
        img = np.full((H, W, 3), 90, np.uint8)
        x, y = 20 + i * step, 40 + i * step // 2
        img[y : y + size, x : x + size] = tex
        frames.append(img)
        boxes.append([x, y, size, size])
    return frames, np.array(boxes, float)


@pytest.mark.parametrize("border", ["clip", "keep_size"])
@pytest.mark.parametrize("tracker_name", ["siamrpn", "siamfc"])
def test_tracker_runs_and_stays_in_image(tracker_name, border):
    head = "rpn" if tracker_name == "siamrpn" else "siamfc"
    cfg = compose_train([f"head={head}", "backbone=resnet18_layer2", f"tracker={tracker_name}", "debug=smoke",
                         "device=cpu", f"tracker.border={border}"])
    model = tiny_model(cfg)
    tracker = instantiate(cfg.tracker, model=model)
    frames, boxes = moving_square()
    tracker.init(frames[0], boxes[0])
    for img in frames[1:]:
        box, score = tracker.track(img)
        assert box.shape == (4,) and np.all(np.isfinite(box)) and 0.0 <= score <= 1.0
        assert box[2] >= 10 and box[3] >= 10
    # a target that leaves the image does not crash the tracker: clip keeps the centre inside, keep_size a part of
    # the box
    blank = np.full_like(frames[0], 90)
    for _ in range(3):
        box, _ = tracker.track(blank[:, :40])  # a narrower frame: the old centre lies outside it
        if border == "clip":
            assert 0 <= box[0] + box[2] / 2 <= 40
        else:
            assert box[0] < 40 and box[0] + box[2] > 0 and box[1] < 120 and box[1] + box[3] > 0


def test_init_box_errors():
    cfg = compose_train(["debug=smoke", "device=cpu"])
    tracker = instantiate(cfg.tracker, model=tiny_model(cfg))
    img = np.zeros((100, 100, 3), np.uint8)
    for bad, msg in [([0, 0, 0, 10], "non-positive"), ([np.nan, 0, 5, 5], "finite"), ([200, 200, 10, 10], "outside")]:
        with pytest.raises(InvalidBoxError, match=msg):
            tracker.init(img, bad)


def test_rpn_post_processing_follows_a_perfect_head():
    """With a head whose best candidate is the true box, the tracker output converges to it."""
    cfg = compose_train(["debug=smoke", "device=cpu"])
    model = tiny_model(cfg)
    true_box = np.array([60.0, 40.0, 30.0, 20.0])

    tracker = SiameseTracker(model, exemplar_size=87, instance_size=127, penalty_k=0.0, window_influence=0.0, lr=1.0,
                             lr_mode="fixed")
    img = np.zeros((120, 160, 3), np.uint8)
    tracker.init(img, [50.0, 35.0, 30.0, 20.0])

    def decode(outputs, search_size, prior_size):
        # the crop maps the image around tracker.center with scale S / side
        side = tracker._search_side(*tracker.size)
        s = search_size / side
        c = (true_box[:2] + true_box[2:] / 2 - tracker.center) * s + search_size / 2
        boxes = torch.tensor([[[c[0], c[1], true_box[2] * s, true_box[3] * s], [0.0, 0.0, 5.0, 5.0]]])
        return boxes, torch.tensor([[0.9, 0.1]])

    model.head.decode = decode
    model.head.window = lambda outputs: torch.ones(2)
    box, score = tracker.track(img)
    assert np.allclose(box, true_box, atol=1e-6) and score == pytest.approx(0.9)


@pytest.mark.parametrize("border, expected", [("clip", [0.0, 40.0, 20.0, 20.0]), ("keep_size", [-10.0, 40.0, 30.0, 20.0])])
def test_border_keep_size_extends_a_leaving_target_past_the_image(border, expected):
    """The head sees only the part of the target inside the image. ``clip`` reports that part; ``keep_size`` keeps
    the state's width on the cut axis and places the box against the measured inner side, as the ground truth of a
    target half out of the frame is (GOT-10k writes boxes reaching outside the image)."""
    cfg = compose_train(["debug=smoke", "device=cpu"])
    model = tiny_model(cfg)
    visible = np.array([0.0, 40.0, 20.0, 20.0])  # the true box [-10, 40, 30, 20] cut at x = 0
    tracker = SiameseTracker(model, exemplar_size=87, instance_size=127, penalty_k=0.0, window_influence=0.0, lr=1.0,
                             lr_mode="fixed", border=border)
    img = np.zeros((120, 160, 3), np.uint8)
    tracker.init(img, [0.0, 40.0, 30.0, 20.0])

    def decode(outputs, search_size, prior_size):
        s = search_size / tracker._search_side(*tracker.size)
        c = (visible[:2] + visible[2:] / 2 - tracker.center) * s + search_size / 2
        return torch.tensor([[[c[0], c[1], visible[2] * s, visible[3] * s]]]), torch.tensor([[0.9]])

    model.head.decode = decode
    model.head.window = lambda outputs: torch.ones(1)
    box, _ = tracker.track(img)
    assert np.allclose(box, expected, atol=1e-6)
    if border == "keep_size":  # the target gone further: the box may leave the image but for a sliver
        visible = np.array([0.0, 40.0, 0.5, 20.0])
        box, _ = tracker.track(img)
        assert box[2] == pytest.approx(30.0) and -30.0 < box[0] < -28.0


def test_border_option_is_checked():
    cfg = compose_train(["debug=smoke", "device=cpu"])
    with pytest.raises(ValueError, match="tracker.border must be 'clip' or 'keep_size'"):
        SiameseTracker(tiny_model(cfg), border="extend")

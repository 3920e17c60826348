"""The per-sequence colour model: what it learns, how it scores candidates and refines a box, its invariance to a
global illumination change, and the tracker and config plumbing around it."""
import numpy as np
import pytest

from sot.evaluation.ope import rect_iou
from sot.trackers.build import build_tracker
from sot.trackers.color import ColorModel
from tests.helpers import compose_train, tiny_model

S = 96


TARGET, LOOK_ALIKE = ([210, 40, 40], [230, 200, 40]), ([40, 190, 60], [40, 60, 210])


def checker(colours, size=20) -> np.ndarray:
    """A ``size``-pixel square checkered in two colours (4-pixel cells)."""
    cells = (np.add.outer(np.arange(size) // 4, np.arange(size) // 4) % 2).astype(bool)
    return np.where(cells[..., None], colours[0], colours[1]).astype(np.uint8)


def background(H, W, seed):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(110, 12, (H, W, 3)), 0, 255).astype(np.uint8)


def scene(target_at, distractor_at=None, size=20, seed=0):
    """A noisy grey ``S x S`` image with a red-and-yellow checkered square centred at ``target_at`` and
    optionally the same checker in green and blue (a look-alike in other colours) at ``distractor_at``."""
    img = background(S, S, seed)
    for at, colours in ((target_at, TARGET), (distractor_at, LOOK_ALIKE)):
        if at is not None:
            x, y = at[0] - size // 2, at[1] - size // 2
            img[y:y + size, x:x + size] = checker(colours, size)
    return img


def learned(**kw):
    cm = ColorModel(**kw)
    img = scene((48, 48))
    cm.init(img, img, [48, 48, 20, 20])
    return cm


def candidates(points):
    return np.array([[[x, y, 20.0, 20.0] for x, y in points]])


def test_scores_prefer_the_target_over_a_look_alike_in_other_colours():
    cm = learned()
    img = scene((30, 62), distractor_at=(68, 30), seed=1)  # next frame: the target moved, a look-alike came in
    cm.set_frame(img)
    c = cm.scores([img], candidates([(30, 62), (68, 30), (48, 48), (80, 80)]), np.array([[20.0, 20.0]]))
    assert c.shape == (1, 4)
    # the target's colours are object colours; the look-alike's were never seen (neutral 0.5), the grey is background
    assert c[0, 0] > 0.9 and c[0, 1] == pytest.approx(0.5) and c[0, 3] < 0.1
    w = cm.weights(c)
    assert w[0, 0] == 1.0 and w.min() == 0.0
    assert w[0, 2] == pytest.approx(((c[0, 2] - c.min()) / (c.max() - c.min())) ** 3)


def test_a_global_gain_and_offset_per_channel_changes_nothing():
    """Colours are standardised by the frame, so an illumination change of the whole frame leaves the
    probabilities as they were (values chosen so that 2 v + 10 and v + 30 stay exact in uint8)."""
    cm = learned()
    img = scene((40, 50), distractor_at=(70, 30), seed=2)
    img = (img.astype(np.int64) * 120 // 255).astype(np.uint8)  # room for the gain below
    lit = img.astype(np.int64)
    lit[..., 0] = 2 * lit[..., 0] + 10
    lit[..., 1] = lit[..., 1] + 30
    lit = lit.astype(np.uint8)
    cm.set_frame(img)
    before = cm.probability(img)
    cm.set_frame(lit)
    np.testing.assert_array_equal(cm.probability(lit), before)
    assert before[50, 40] > 0.9 and before[30, 70] == 0.5 and before[5, 5] < 0.1  # target, look-alike, background


def test_refine_box_moves_toward_the_object_pixels():
    cm = learned(refine=1.0, refine_percentile=0.0)
    img = scene((44, 52), seed=3)
    cm.set_frame(img)
    cm.scores([img], candidates([(44, 52)]), np.array([[20.0, 20.0]]))
    box = cm.refine_box(0, np.array([48.0, 48.0, 26.0, 26.0]))  # off by 4 px and too large
    np.testing.assert_allclose(box, [44, 52, 20, 20], atol=1.0)
    cm.refine = 0.5
    np.testing.assert_allclose(cm.refine_box(0, np.array([48.0, 48.0, 26.0, 26.0])), [46, 50, 23, 23], atol=0.5)
    empty = scene((44, 52), seed=3)
    empty[:] = 110  # no object pixels near the box: unchanged
    cm.set_frame(empty)
    cm.scores([empty], candidates([(44, 52)]), np.array([[20.0, 20.0]]))
    np.testing.assert_array_equal(cm.refine_box(0, np.array([48.0, 48.0, 26.0, 26.0])), [48.0, 48.0, 26.0, 26.0])


def test_updates_only_with_a_rate_and_from_confident_frames():
    img = scene((30, 40), seed=4)
    frozen = learned()
    fg = frozen.fg.copy()
    frozen.set_frame(img)
    frozen.update(img, [30, 40, 20, 20], score=1.0)
    np.testing.assert_array_equal(frozen.fg, fg)
    live = learned(update_rate=0.5, update_threshold=0.8)
    live.set_frame(img)
    off = [36, 46, 20, 20]  # a box that takes in some background: other object colours
    live.update(img, off, score=0.5)
    np.testing.assert_array_equal(live.fg, fg)
    live.update(img, off, score=0.9)
    assert not np.array_equal(live.fg, fg) and live.fg.sum() == pytest.approx(1.0)


def test_bad_settings_are_refused():
    for kw, msg in [({"bins": 1}, "bins"), ({"inner": 0}, "inner"), ({"power": -1}, "power"),
                    ({"refine": 1.5}, "refine"), ({"unseen": 2}, "unseen"), ({"refine_percentile": 50}, "percentile")]:
        with pytest.raises(ValueError, match=msg):
            ColorModel(**kw)
    with pytest.raises(RuntimeError, match="call init"):
        ColorModel().probability(scene((48, 48)))


def moving_pair(n=8, W=160, H=120):
    """A target square moving right past a look-alike in other colours, on a noisy grey background."""
    frames, boxes = [], []
    for i in range(n):
        img = background(H, W, seed=i)
        x, y = 20 + 9 * i, 50
        img[y:y + 20, x:x + 20] = checker(TARGET)
        img[y - 22:y - 2, 70:90] = checker(LOOK_ALIKE)
        frames.append(img)
        boxes.append([x, y, 20, 20])
    return frames, np.array(boxes, float)


def test_the_colour_model_alone_tracks_with_an_untrained_network():
    """tracker/color=histogram on a random tiny model, with the colour score weighing heavily (power 8, no
    window): the tracker stays on the target as it passes a look-alike in other colours; with the box taken from
    the colour pixels (refine 1, in a window wide enough for the random network's boxes) it is the target's box."""
    cfg = compose_train(["debug=smoke", "device=cpu", "tracker/color=histogram"])
    model = tiny_model(cfg)
    frames, boxes = moving_pair()
    for refine, min_iou in ((0.0, 0.4), (1.0, 0.6)):
        tracker = build_tracker(model, cfg.tracker, window_influence=0.0, penalty_k=0.0, lr=0.0,
                                **{"color.power": 8.0, "color.refine": refine, "color.refine_window": 3.0})
        assert isinstance(tracker.color, ColorModel)
        tracker.init(frames[0], boxes[0])
        for img, gt in zip(frames[1:], boxes[1:]):
            box, score = tracker.track(img)
            assert rect_iou(box[None], gt[None])[0] > min_iou


def test_a_neutral_colour_model_leaves_the_tracker_unchanged():
    """power 0 and refine 0: the boxes are exactly those of the tracker without the model."""
    cfg = compose_train(["debug=smoke", "device=cpu"])
    model = tiny_model(cfg)
    frames, boxes = moving_pair()
    runs = []
    for color in (None, ColorModel(power=0.0, refine=0.0)):
        tracker = build_tracker(model, cfg.tracker, color=color)
        tracker.init(frames[0], boxes[0])
        runs.append(np.array([tracker.track(img)[0] for img in frames[1:]]))
    np.testing.assert_array_equal(runs[0], runs[1])


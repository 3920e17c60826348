"""The per-sequence online filter: what it learns, how its response is read, when it updates, and the
tracker and config plumbing around it."""
import numpy as np
import pytest
import torch

from sot.trackers.build import build_tracker
from sot.trackers.online import OnlineClassifier
from sot.trackers.siamese import SiameseTracker
from tests.helpers import compose_train, tiny_model
from tests.trackers.test_siamese_tracker import moving_square

S, STRIDE, H = 127, 8.0, 16  # a 16 x 16 feature map of a 127 px crop at stride 8


def cell_centre(i: int) -> float:
    return (i - (H - 1) / 2) * STRIDE + S / 2


def scene(target_at, distractor_at=None, seed=0, C=8):
    """Noise features with a target pattern (a fixed C-vector on 3 x 3 cells) and optionally a distractor
    that shares half of it."""
    rng = np.random.default_rng(seed)
    f = rng.normal(0, 0.3, (1, C, H, H)).astype(np.float32)
    pattern = np.linspace(-1, 1, C).astype(np.float32)
    for at, p in ((target_at, pattern), (distractor_at, np.where(np.arange(C) < C // 2, pattern, -pattern))):
        if at is not None:
            r, c = at
            f[0, :, r - 1:r + 2, c - 1:c + 2] += 2 * p[:, None, None]
    return torch.from_numpy(f)


def fitted(target_at, **kw):
    oc = OnlineClassifier(**kw)
    r, c = target_at
    oc.init(scene(target_at), np.array([[cell_centre(c), cell_centre(r)]]), np.array([[24.0, 24.0]]), STRIDE, S)
    return oc


def response(oc, feats):
    n, _, h, w = feats.shape
    return (oc._samples(feats) @ oc.w).reshape(n, h, w)


def test_filter_peaks_on_the_target_not_on_a_look_alike():
    oc = fitted((5, 9))
    r = response(oc, scene((11, 4), distractor_at=(4, 12), seed=1))  # a new frame: the target moved
    assert np.unravel_index(int(r.argmax()), r.shape)[1:] == (11, 4)
    assert float(r[0, 11, 4]) > 2 * float(r[0, 4, 12])


def test_scores_read_the_response_at_the_candidate_centres():
    oc = fitted((5, 9))
    feats = scene((8, 8), seed=2)
    r = response(oc, feats).clamp(min=0)
    r = r / r.max()
    rows, cols = np.meshgrid(np.arange(H), np.arange(H), indexing="ij")
    centres = torch.tensor(np.stack([cell_centre(cols.ravel()), cell_centre(rows.ravel())], -1), dtype=torch.float32)
    got = oc.scores(feats, centres[None], STRIDE, S)
    torch.testing.assert_close(got[0], r.reshape(-1), atol=1e-5, rtol=1e-5)
    half = torch.tensor([[[cell_centre(8) + STRIDE / 2, cell_centre(8)]]])  # between two cells: the mean
    assert float(oc.scores(feats, half, STRIDE, S)) == pytest.approx(float(r[0, 8, 8] + r[0, 8, 9]) / 2, abs=1e-5)


def test_updates_only_from_confident_frames():
    oc = fitted((5, 9), update_threshold=0.8)
    w0 = oc.w.clone()
    args = (scene((9, 9), seed=3), np.array([cell_centre(9)] * 2), np.array([24.0, 24.0]), STRIDE, S)
    oc.update(*args, score=0.5)
    assert torch.equal(oc.w, w0)
    oc.update(*args, score=0.95)
    assert not torch.equal(oc.w, w0)
    frozen = fitted((5, 9), update_rate=0.0)
    w0 = frozen.w.clone()
    frozen.update(*args, score=1.0)
    assert torch.equal(frozen.w, w0)


def test_bad_settings_are_refused():
    for kw, msg in [({"weight": 1.5}, "weight"), ({"kernel_size": 2}, "kernel_size"), ({"reg": 0}, "reg"),
                    ({"update_rate": -0.1}, "update_rate")]:
        with pytest.raises(ValueError, match=msg):
            OnlineClassifier(**kw)


def test_tracker_with_the_filter_follows_a_moving_square():
    """The default recipe's tracker (tracker/online=filter) on an untrained tiny model: the filter is fitted at
    init and refreshed, and its weight decides between candidates (weight 1: the Siamese score is ignored)."""
    cfg = compose_train(["debug=smoke", "device=cpu", "tracker/online=filter"])
    model = tiny_model(cfg)
    tracker = build_tracker(model, cfg.tracker, **{"online.update_threshold": 0.0, "online.weight": 1.0})
    assert isinstance(tracker.online, OnlineClassifier) and tracker.online.weight == 1.0
    frames, boxes = moving_square(n=8)
    tracker.init(frames[0], boxes[0])
    w0 = tracker.online.w.clone()
    assert len(w0) == model.neck.out_channels[-1] * 9 + 1  # C k k weights and a bias
    for img in frames[1:]:
        box, score = tracker.track(img)
        assert np.all(np.isfinite(box)) and 0.0 <= score <= 1.0
    assert not torch.equal(tracker.online.w, w0)  # threshold 0: every frame updated it
    with pytest.raises(KeyError, match="online.nope"):
        build_tracker(model, cfg.tracker, **{"online.nope": 1})


def test_one_stream_models_are_refused():
    cfg = compose_train(["debug=smoke", "device=cpu"])
    model = tiny_model(cfg)
    model.one_stream = True
    with pytest.raises(ValueError, match="two-stream"):
        SiameseTracker(model, online=OnlineClassifier())

"""VOT overlaps, reset-based and anchor-based runs and their scores."""
import numpy as np
import pytest

from sot.datasets.base import Sequence
from sot.evaluation import run_tracker, score
from sot.evaluation.vot import FAILURE, INIT, REGION, UNKNOWN, read_trajectory, score_supervised, vot_overlap


def raster_iou(a, b, size):
    """Brute-force masks, the toolkit's way: rounded float32 corners, pixel-inclusive, image-clipped."""
    W, H = size
    bnds = [(0, 0, 0, 0) if np.isnan(r).any() else tuple(np.round(np.float32(r)).astype(float) @ np.array(
        [[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]]) - [0, 0, 1, 1]) for r in (a, b)]
    u = (min(bnds[0][0], bnds[1][0]), min(bnds[0][1], bnds[1][1]), max(bnds[0][2], bnds[1][2]), max(bnds[0][3], bnds[1][3]))
    if u[0] >= u[2] or u[1] >= u[3]:
        return 1.0  # the toolkit's "two empty regions" test on the joint extent
    if max(0, u[0]) >= min(W - 1, u[2]) or max(0, u[1]) >= min(H - 1, u[3]):
        return 0.0  # joint extent clipped to a line or nothing: 0
    masks = []
    for r in (a, b):
        m = np.zeros((H, W), bool)
        if not np.isnan(r).any():
            x, y, w, h = np.round(np.float32(r)).astype(float)
            x0, y0, x1, y1 = int(max(x, 0)), int(max(y, 0)), int(min(x + w - 1, W - 1)), int(min(y + h - 1, H - 1))
            if x1 >= x0 and y1 >= y0:
                m[y0:y1 + 1, x0:x1 + 1] = True
        masks.append(m)
    u = (masks[0] | masks[1]).sum()
    return (masks[0] & masks[1]).sum() / u if u else 0.0


def test_overlap_matches_rasterisation():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(-10, 60, (400, 2)), rng.uniform(2, 30, (400, 2))], 1)
    b = a + rng.normal(0, 6, a.shape)
    got = vot_overlap(a, b, (64, 48))
    want = [raster_iou(x, y, (64, 48)) for x, y in zip(a, b)]
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert vot_overlap(np.full((1, 4), np.nan), np.full((1, 4), np.nan))[0] == 1.0  # two empty regions
    assert vot_overlap(np.array([[100.0, 100, 5, 5]]), np.array([[120.0, 100, 5, 5]]), (64, 48))[0] == 0.0


class FlakyTracker:
    """Follows the white target but jumps away on the 3rd frame after every initialisation."""

    def init(self, image, box):
        self.k = 0

    def track(self, image):
        self.k += 1
        ys, xs = np.nonzero(image[..., 0] > 128)
        box = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
        return (box + [200, 200, 0, 0] if self.k == 3 else box), 1.0


@pytest.fixture
def vot_seq(tmp_path):
    import cv2

    n, frames, boxes = 30, [], []
    for f in range(n):
        x, y = 5 + f % 20, 8
        img = np.zeros((48, 64, 3), np.uint8)
        img[y:y + 12, x:x + 15] = 255
        cv2.imwrite(str(tmp_path / f"{f:08d}.jpg"), img)
        frames.append(str(tmp_path / f"{f:08d}.jpg"))
        boxes.append([x, y, 15, 12])
    anchor = np.zeros(n)
    anchor[[0, 12]] = 1
    anchor[25] = -1
    return Sequence("v", frames, boxes, np.ones(n, bool), {"resolution": (64, 48), "anchor": anchor})


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
def test_reset_based_run_and_score(tmp_path, vot_seq):
    out = tmp_path / "res"
    res = run_tracker(FlakyTracker, [vot_seq], out, repetitions=1, experiment="supervised", progress=False)
    boxes, flags = read_trajectory(out / "v" / "v_001.txt")
    # init 0, fail at 3, re-init at 3 + 5 = 8, fail at 11, init 16, fail 19, init 24, fail 27
    assert list(np.nonzero(flags == INIT)[0]) == [0, 8, 16, 24]
    assert list(np.nonzero(flags == FAILURE)[0]) == [3, 11, 19, 27]
    assert (flags[4:8] == UNKNOWN).all() and flags[1] == REGION
    r = score([vot_seq], res["v"] and {"v": res["v"]}, "vot2018")
    assert r["failures"] == 4 and r["accuracy"] == 0.0  # every tracked frame is inside a burn-in
    # four failed segments [init, 1, 1]: running means 0, 1, 1; the 30-frame sequence is shorter than
    # the VOT2018 range (100-356), so EAO is undefined there (NaN, as in the toolkit)
    np.testing.assert_allclose(r.curves["eao"][1], [0, 1, 1])
    assert np.isnan(r["eao"])
    assert score_supervised([vot_seq], res, 1, 2, "short")["eao"] == 1.0
    assert score([vot_seq], out, "vot2018").metrics["failures"] == 4  # from the trajectory files


def test_anchor_based_run_and_score(tmp_path, vot_seq):
    out = tmp_path / "ms"
    res = run_tracker(FlakyTracker, [vot_seq], out, experiment="multistart", progress=False)
    assert (out / "v" / "v_00000012.txt").is_file() and (out / "v" / "v_00000025.txt").is_file()
    assert len(res["v"].boxes[2]) == 26  # backwards from frame 25 to 0
    r = score([vot_seq], out, "vot2020")
    # one bad frame never reaches 10 consecutive failures: no run fails, accuracy = mean overlap
    assert r["robustness"] == 1.0
    n_frames = 30 + 18 + 26
    assert r["accuracy"] == pytest.approx((n_frames - 3 - 3) / n_frames)  # 3 init frames + 3 jumps score 0

"""The rules that differ between toolkits, each pinned by a small hand-checked case."""
import warnings

import numpy as np
import pytest

from sot.datasets.base import Sequence
from sot.evaluation import ResultFormatError, score
from sot.evaluation.protocols import LASOT_OVERLAP_THRESHOLDS, matlab_colon


def seq(gt, visible=None, **attrs):
    gt = np.asarray(gt, float)
    vis = np.ones(len(gt), bool) if visible is None else np.asarray(visible, bool)
    return Sequence(attrs.pop("name", "s"), ["f"] * len(gt), gt, vis, attrs)


GT = [[10, 10, 20, 20], [12, 10, 20, 20], [14, 10, 20, 20], [16, 10, 20, 20]]


def test_matlab_colon_differs_from_linspace_in_the_last_bit():
    assert len(LASOT_OVERLAP_THRESHOLDS) == 21 and LASOT_OVERLAP_THRESHOLDS[-1] == 1.0
    assert matlab_colon(0, 0.05, 1)[12] == 1 - 8 * 0.05 != np.linspace(0, 1, 21)[12]
    np.testing.assert_array_equal(matlab_colon(1, 0.5, 4), [1, 1.5, 2, 2.5, 3, 3.5, 4])


def test_lasot_absent_frames_fail_and_invalid_boxes_take_the_previous_one():
    pred = np.array(GT, float)
    pred[1] = np.nan  # replaced by frame 0's prediction (= ground truth of frame 0)
    s = seq(GT, visible=[1, 1, 0, 1])
    r = score([s], {"s": pred}, "lasot")
    # frame 0 exact, frame 1 = GT[0] vs GT[1]: 2 px shift, frame 2 absent (fails), frame 3 exact
    assert r["precision"] == pytest.approx(3 / 4 + 1e-16, abs=1e-12)
    iou1 = (18 * 20) / (2 * 400 - 18 * 20)  # a 2 px shift of a 20 px box
    want = np.mean([(1 > LASOT_OVERLAP_THRESHOLDS).sum() * 2 + (iou1 > LASOT_OVERLAP_THRESHOLDS).sum()]) / 21 / 4
    assert r["auc"] == pytest.approx(want, abs=1e-12)


def test_lasot_drops_sequences_whose_curve_is_all_zero():
    """``aa(sum(aa,2)>eps,:)``: a sequence with an all-zero curve leaves the average (frame 0 normally
    prevents that, so it only happens when the target is absent in every scored frame)."""
    good, gone = seq(GT, name="good"), seq(GT, visible=[0, 0, 0, 0], name="gone")
    pred = np.array(GT, float) + [3, 0, 0, 0]
    both = score([good, gone], {"good": pred, "gone": pred}, "lasot")
    alone = score([good], {"good": pred}, "lasot")
    assert both.per_sequence["gone"]["auc"] == 0
    assert both["auc"] == alone["auc"] and both["precision"] == alone["precision"]


def test_lasot_ground_truth_touching_the_border_is_invalid():
    gt = [[0, 10, 20, 20], [0, 10, 20, 20]]  # x = 0: the toolkit treats it as invalid ground truth
    r = score([seq(gt)], {"s": np.array(gt, float) + [300, 0, 0, 0]}, "lasot")
    assert r["precision"] == pytest.approx(1.0, abs=1e-12)  # centre error -1 passes ...
    assert r["auc"] == 0.0  # ... IoU -1 fails


def _lasot_one_sequence(gt, visible, pred):
    """calc_seq_err_robust.m for one sequence, transcribed frame by frame (the reference for the vectorised
    protocol): invalid predictions take the previous box, frame 0 the ground truth, absent frames removed,
    invalid ground truth IoU -1 / centre error -1."""
    from sot.evaluation.protocols import otb_rect_iou

    pred = np.array(pred[: len(gt)], float)
    for i in range(1, len(pred)):
        if (np.isnan(pred[i]).any() or pred[i, 2] <= 0 or pred[i, 3] <= 0) and not np.isnan(gt[i]).any():
            pred[i] = pred[i - 1]
    pred[0] = gt[0]
    p, g = pred[visible], gt[visible]
    with np.errstate(invalid="ignore", divide="ignore"):
        cp, cg = p[:, :2] + (p[:, 2:] - 1) / 2, g[:, :2] + (g[:, 2:] - 1) / 2
        ce = np.sqrt(((cp - cg) ** 2).sum(1))
        nce = np.sqrt(((cp / g[:, 2:] - cg / g[:, 2:]) ** 2).sum(1))
        valid = (g > 0).all(1)
        iou = np.where(valid, otb_rect_iou(p, g), -1.0)
    ce[~valid], nce[~valid] = -1.0, -1.0
    n = len(gt) + np.finfo(float).eps
    return ((iou[:, None] > LASOT_OVERLAP_THRESHOLDS).sum(0) / n, (ce[:, None] <= np.arange(51.0)).sum(0) / n,
            (nce[:, None] <= np.arange(51.0) / 100).sum(0) / n)


def test_lasot_scores_all_sequences_at_once_as_the_toolkit_does_one_by_one():
    """Repetitions, longer results, NaN / zero-size / negative boxes (also in frame 0), absent frames, ground
    truth with NaN or on the border: the per-sequence curves equal a frame-by-frame transcription, bit for bit."""
    rng = np.random.default_rng(5)
    seqs, results, want = [], {}, {}
    for k in range(30):
        n = int(rng.integers(1, 120))
        gt = np.concatenate([rng.uniform(-3, 60, (n, 2)), rng.uniform(0, 50, (n, 2))], 1)  # overlapping
        gt[rng.random(n) < 0.1, 0] = 0
        gt[rng.random(n) < 0.05] = np.nan
        visible = rng.random(n) > rng.choice([0.0, 0.3])
        reps = []
        for r in range(int(rng.integers(1, 4))):
            m = n + int(rng.integers(0, 3))
            pred = np.concatenate([gt[np.minimum(np.arange(m), n - 1), :2] + rng.normal(0, 8, (m, 2)),
                                   rng.uniform(-5, 50, (m, 2))], 1)
            pred[rng.random(m) < 0.1] = np.nan
            pred[rng.random(m) < 0.1, 3] = 0
            if k % 7 == 0:  # an invalid first box: frame 1 takes it, not the previous sequence's last box
                pred[:2] = np.nan
            reps.append(pred)
        seqs.append(seq(gt, visible, name=f"s{k}"))
        results[f"s{k}"] = reps
        want[f"s{k}"] = [np.mean(c, 0) for c in zip(*(_lasot_one_sequence(gt, visible, p) for p in reps))]
    r = score(seqs, results, "lasot")
    for name, (s, p, q) in want.items():
        got = r.per_sequence[name]
        assert got["auc"] == float(s.mean()) and got["success_rate"] == float(s[10])
        assert got["precision"] == float(p[20]) and got["norm_precision"] == float(q[20])


def test_pytracking_rules():
    s = seq(GT)
    with pytest.raises(ResultFormatError, match="NaN or negative"):
        score([s], {"s": np.array(GT, float) * [1, 1, -1, 1]}, "pytracking")
    pred = np.array(GT, float)
    pred[2, 2] = 0  # zero width: replaced by frame 1's box
    r = score([s], {"s": pred}, "pytracking")
    assert r.per_sequence["s"]["precision"] == 1.0  # the 2 px error of frame 2 passes 20 px
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = score([s], {"s": pred[:3]}, "pytracking")  # short: padded with zero boxes
        assert any("padded" in str(x.message) for x in w)
    assert r["precision"] == pytest.approx(3 / 4)
    with pytest.raises(ResultFormatError, match="rows"):
        score([seq(GT, dataset="lasot")], {"s": pred[:3]}, "pytracking")


def test_pytracking_uav_invalid_frames_pass_precision_but_fail_success():
    gt = np.array(GT, float)
    gt[2] = np.nan
    s = seq(gt, dataset="uav")
    r = score([s], {"s": np.array(GT, float) + [100, 0, 0, 0]}, "pytracking")
    assert r["precision"] == pytest.approx(2 / 4)  # frame 0 and the NaN frame pass
    assert r.curves["success"][1][0] == pytest.approx(1 / 4)


def test_trackingnet_rounds_boxes_and_integrates_the_curves():
    s = seq(GT)
    r = score([s], {"s": np.array(GT, float) + 0.4}, "trackingnet")  # rounds back onto the ground truth
    assert r["auc"] == pytest.approx(19.5 / 20)  # trapezoid: IoU 1 fails only t = 1
    assert r["precision"] == pytest.approx(1.0) and r["norm_precision"] == pytest.approx(1.0)
    assert score([s], {"s": np.array(GT, float)}, "otb")["auc"] == pytest.approx(20 / 21)


def test_trackingnet_scores_all_sequences_at_once_as_the_devkit_does_one_by_one():
    """Repetitions, NaN rows, fractional boxes: each sequence's areas equal the devkit's per-sequence
    arithmetic (rounded boxes, frame 0 from the ground truth, pixel-inclusive IoU with the intersection
    rounded), repetitions averaged."""
    rng = np.random.default_rng(9)
    seqs, results, want = [], {}, {}
    x = np.linspace(0, 1, 21)
    for k in range(20):
        n = int(rng.integers(1, 80))
        gt = np.concatenate([rng.uniform(0, 60, (n, 2)), rng.uniform(1, 50, (n, 2))], 1)
        reps = [gt + rng.normal(0, 6, (n, 4)) for _ in range(int(rng.integers(1, 4)))]
        for pred in reps:
            pred[rng.random(n) < 0.1] = np.nan
        seqs.append(seq(gt, name=f"s{k}"))
        results[f"s{k}"] = reps
        curves = []
        for pred in reps:
            g, q = np.round(gt), np.round(pred)
            q[0] = g[0]
            inter = [max(0.0, np.round(min(a[0] + a[2] - 1, b[0] + b[2] - 1) - max(a[0], b[0]) + 1))
                     * max(0.0, np.round(min(a[1] + a[3] - 1, b[1] + b[3] - 1) - max(a[1], b[1]) + 1))
                     if not np.isnan(b).any() else np.nan for a, b in zip(g, q)]
            iou = np.array(inter) / (g[:, 2] * g[:, 3] + q[:, 2] * q[:, 3] - np.array(inter))
            d = (g[:, :2] + (g[:, 2:] + 1) / 2) - (q[:, :2] + (q[:, 2:] + 1) / 2)
            dist, ndist = np.hypot(d[:, 0], d[:, 1]), np.hypot(d[:, 0] / g[:, 2], d[:, 1] / g[:, 3])
            curves.append([(iou[:, None] > x).mean(0), (dist[:, None] <= x * 50).mean(0),
                           (ndist[:, None] <= x / 2).mean(0)])
        want[f"s{k}"] = [np.trapezoid(c, x=x) for c in np.mean(curves, 0)]
    r = score(seqs, results, "trackingnet")
    for name, (a, p, q) in want.items():
        got = r.per_sequence[name]
        assert [got["auc"], got["precision"], got["norm_precision"]] == pytest.approx([a, p, q], abs=1e-12)


def test_uav123_drops_nan_ground_truth_but_otb_counts_it():
    gt = np.array(GT, float)
    gt[3] = np.nan
    s = seq(gt)
    pred = np.array(GT, float)
    assert score([s], {"s": pred}, "uav123")["precision"] == 1.0
    assert score([s], {"s": pred}, "otb")["precision"] == 0.75

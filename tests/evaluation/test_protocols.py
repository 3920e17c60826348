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


def test_uav123_drops_nan_ground_truth_but_otb_counts_it():
    gt = np.array(GT, float)
    gt[3] = np.nan
    s = seq(gt)
    pred = np.array(GT, float)
    assert score([s], {"s": pred}, "uav123")["precision"] == 1.0
    assert score([s], {"s": pred}, "otb")["precision"] == 0.75

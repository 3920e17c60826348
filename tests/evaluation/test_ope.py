import numpy as np
import pytest

from sot.datasets.base import Sequence
from sot.evaluation import ResultFormatError, score
from sot.evaluation import ope


def test_threshold_counts_equals_brute_force():
    from sot.evaluation.protocols import LASOT_OVERLAP_THRESHOLDS, _torch_thresholds

    rng = np.random.default_rng(0)
    grids = [ope.IOU_THRESHOLDS, ope.CENTER_THRESHOLDS, ope.NORM_CENTER_THRESHOLDS, LASOT_OVERLAP_THRESHOLDS,
             _torch_thresholds(), np.linspace(0, 50, 21), np.array([0.1, 0.3, 0.35])]
    exact = np.concatenate(grids)
    v = np.concatenate([rng.random(500), rng.random(500) * 60, exact, np.nextafter(exact, -1), np.nextafter(exact, 2),
                        [np.nan, -1, 2, np.inf, -np.inf]])
    seg = rng.integers(0, 7, len(v))
    for thr, above in [(g, a) for g in grids for a in (True, False)]:
        got = ope.threshold_counts(v, seg, 7, thr, above)
        cmp = np.greater(v[:, None], thr[None]) if above else np.less_equal(v[:, None], thr[None])
        want = np.stack([cmp[seg == s].sum(0) for s in range(7)])
        np.testing.assert_array_equal(got, want)


def test_perfect_and_failed_tracker():
    gt = np.array([[10, 10, 20, 20], [12, 11, 20, 22], [15, 14, 19, 20]], float)
    seq = Sequence("s", ["a", "b", "c"], gt, np.ones(3, bool))
    r = score([seq], {"s": gt}, "otb")
    assert r["auc"] == pytest.approx(20 / 21) and r["precision"] == 1 and r["norm_precision"] == 1
    far = gt + [500, 500, 0, 0]
    r = score([seq], {"s": far}, "otb")  # frame 0 is replaced by the ground truth
    assert r["precision"] == pytest.approx(1 / 3)


def test_row_count_mismatch_and_missing_sequence_are_errors():
    gt = np.array([[10, 10, 20, 20]] * 3, float)
    seq = Sequence("s", ["a", "b", "c"], gt, np.ones(3, bool))
    with pytest.raises(ResultFormatError, match="2 rows, ground truth has 3"):
        score([seq], {"s": gt[:2]}, "otb")
    with pytest.raises(ResultFormatError, match="missing"):
        score([seq], {}, "otb")

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


def _special_values(rng):
    from sot.evaluation.protocols import LASOT_OVERLAP_THRESHOLDS, _torch_thresholds

    grids = [ope.IOU_THRESHOLDS, ope.CENTER_THRESHOLDS, ope.NORM_CENTER_THRESHOLDS, LASOT_OVERLAP_THRESHOLDS,
             _torch_thresholds(), np.linspace(0, 50, 21), np.linspace(-1, 1, 9), np.array([0.1, 0.3, 0.35])]
    exact = np.concatenate(grids)
    v = np.concatenate([rng.random(500), rng.random(500) * 60 - 5, exact, np.nextafter(exact, -1),
                        np.nextafter(exact, 2), [np.nan, -1, 2, np.inf, -np.inf, -0.0, 1e300, -1e300]])
    return grids, v


def test_threshold_grid_bins_equal_searchsorted():
    grids, v = _special_values(np.random.default_rng(1))
    for thr in grids:
        g = ope.grid(thr)
        want = np.searchsorted(thr, v, side="left").astype(float)
        for nan_bin in (0, g.T):
            w = want.copy()
            w[np.isnan(v)] = nan_bin
            np.testing.assert_array_equal(g.bins(v, nan_bin), w, err_msg=f"{g.kind} {thr}")
            out = np.empty_like(v)
            assert g.bins(v, nan_bin, out=out) is out
        pos = v[~(v < 0)]  # non-negative values and NaN (distances)
        w = np.searchsorted(thr, pos, side="left").astype(float)
        w[np.isnan(pos)] = g.T
        np.testing.assert_array_equal(g.bins(pos, g.T, nonneg=True), w)
    assert [ope.grid(g).kind for g in grids[:3]] == ["mul", "int", "div"]
    assert ope.grid(grids[-1]).kind == "search"  # uneven grid: binary search


def _brute_counts(preds, gts, first_from_gt=True):
    out = ([], [], [])
    for p, g in zip(preds, gts):
        p = p.copy()
        if first_from_gt and len(p):
            p[0] = g[0]
        with np.errstate(all="ignore"):
            iou, ce, nce = ope.frame_metrics(p, g)
            grids = (ope.IOU_THRESHOLDS, ope.CENTER_THRESHOLDS, ope.NORM_CENTER_THRESHOLDS)
            for o, v, thr, cmp in zip(out, (iou, ce, nce), grids, (np.greater, np.less_equal, np.less_equal)):
                o.append(cmp(v[:, None], thr[None]).sum(0))
    return [np.array(o).reshape(len(preds), -1) for o in out]


@pytest.mark.parametrize("chunk", [1, 7, 64, ope.CHUNK_FRAMES])
def test_box_pair_counts_equal_the_toolkit_frame_by_frame(chunk):
    rng = np.random.default_rng(chunk)
    preds, gts = [], []
    for n in [0, 1, 5, 40, 3, 90, 2]:
        gt = np.concatenate([rng.uniform(-20, 300, (n, 2)), rng.uniform(0, 80, (n, 2))], 1)
        gt[rng.random(n) < 0.1] = np.nan
        gt[rng.random(n) < 0.05, 2:] = 0
        p = gt + rng.normal(0, 1, (n, 4)) * rng.choice([0, 0.5, 5, 40], (n, 1))
        r = rng.random(n)
        p[r < 0.1] = np.nan
        p[(r > 0.1) & (r < 0.2), 2] *= -1
        p[(r > 0.2) & (r < 0.25)] = [np.inf, 0, 1, 1]
        p[(r > 0.25) & (r < 0.35)] = np.round(p[(r > 0.25) & (r < 0.35)])  # exact ties
        if n > 3:  # centre errors of exactly k px and IoU on the grid
            p[1] = gt[1] + [3, 4, 0, 0]
            p[2] = [0, 0, 10, 10]
            gt[2] = [0, 0, 10, 20]  # IoU exactly 0.5
        preds.append(p if n % 2 else np.asfortranarray(p))  # strided inputs too
        gts.append(gt)
    got = ope.box_pair_counts(preds, gts, chunk_frames=chunk)
    want = _brute_counts(preds, gts)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert not np.isnan(preds[3]).all()  # inputs untouched (frame 0 replaced on a copy)
    assert not np.array_equal(preds[3][0], gts[3][0])
    for a, b in zip(ope.box_pair_counts(preds, gts, first_from_gt=False, chunk_frames=chunk),
                    _brute_counts(preds, gts, first_from_gt=False)):
        np.testing.assert_array_equal(a, b)

"""Cross-check: sot's OTB / UAV123 / GOT-10k protocols against the got10k toolkit's own ``report()``.

The toolkit experiments run unchanged on result files written to disk; only their dataset object is
replaced by an in-memory one (the real classes insist on the full benchmark on disk) and plotting is
switched off. Random box sets include boxes outside the image, zero-size and negative boxes, and NaN rows.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

got10k = pytest.importorskip("got10k")
from got10k.experiments import ExperimentGOT10k, ExperimentOTB, ExperimentUAV123  # noqa: E402

from sot.datasets.base import Sequence  # noqa: E402
from sot.evaluation import TrackerResult, score  # noqa: E402

TOL = 1e-9
W, H = 320.0, 240.0


def random_gt(rng, n, nan_rows=False):
    wh = rng.uniform(2, 80, (n, 2))
    xy = rng.uniform(-30, [W - 10, H - 10], (n, 2))  # some boxes stick out of the image
    gt = np.concatenate([xy, wh], 1)
    gt[rng.random(n) < 0.03, 2:] = 0.0  # zero-size ground truth
    if nan_rows:
        gt[1:][rng.random(n - 1) < 0.1] = np.nan
    return gt


def random_pred(rng, gt, allow_nan=True):
    n = len(gt)
    base = np.where(np.isnan(gt), 50.0, gt)
    pred = base + rng.normal(0, 1, (n, 4)) * rng.choice([0.5, 3, 15, 60], (n, 1))
    r = rng.random(n)
    pred[r < 0.05] = rng.uniform(-500, 900, ((r < 0.05).sum(), 4))  # anywhere, negative sizes too
    pred[(r >= 0.05) & (r < 0.08), 2:] = 0.0  # zero-size
    pred[(r >= 0.08) & (r < 0.10), 0] = W + 50  # fully outside the image
    pred[(r >= 0.10) & (r < 0.12), 2] *= -1  # negative width
    if allow_nan:
        pred[(r >= 0.12) & (r < 0.15)] = np.nan
    if rng.random() < 0.3:
        pred = np.round(pred)  # exact ties with the thresholds
    return pred


def save(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savetxt(path, arr, fmt="%.17g", delimiter=",")


class _FakeOTB:
    """What ExperimentOTB.report() needs from its dataset: names, length, (img_files, anno) items."""

    def __init__(self, seqs):
        self.seqs = seqs
        self.seq_names = [s.name for s in seqs]

    def __len__(self):
        return len(self.seqs)

    def __iter__(self):
        return iter([(s.frames, s.boxes.copy()) for s in self.seqs])


class _FakeGOT10k(_FakeOTB):
    return_meta = True

    def __getitem__(self, i):
        s = self.seqs[self.seq_names.index(i) if isinstance(i, str) else i]
        meta = {"cover": s.attributes["cover"].copy(), "resolution": s.attributes["resolution"]}
        return s.frames, s.boxes.copy(), meta

    def __iter__(self):
        return iter([self[i] for i in range(len(self))])


def _make_seqs(rng, nan_gt):
    seqs = []
    for i in range(int(rng.integers(3, 9))):
        n = int(rng.integers(2, 60))
        gt = random_gt(rng, n, nan_rows=nan_gt)
        cover = rng.integers(0, 9, n) * (rng.random(n) < 0.85)
        seqs.append(Sequence(f"seq{i}", [f"{j:08d}.jpg" for j in range(n)], gt, cover > 0,
                             {"cover": cover, "resolution": f"({int(W)}, {int(H)})"}))
    return seqs


def _toolkit(cls, tmp_path, dataset, **attrs):
    exp = cls.__new__(cls)
    exp.dataset = dataset
    exp.result_dir = str(tmp_path / "results")
    exp.report_dir = str(tmp_path / "reports")
    exp.plot_curves = lambda *a, **k: None
    for k, v in attrs.items():
        setattr(exp, k, v)
    return exp


@pytest.mark.parametrize("cls,protocol,nan_gt", [(ExperimentOTB, "otb", False), (ExperimentOTB, "otb", True),
                                                 (ExperimentUAV123, "uav123", True)])
def test_ope_matches_got10k_toolkit(tmp_path, monkeypatch, cls, protocol, nan_gt):
    monkeypatch.setenv("SOT_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(hash(protocol) % 1000 + nan_gt)
    worst = 0.0
    for trial in range(12):
        seqs = _make_seqs(rng, nan_gt)
        results = {}
        d = tmp_path / f"t{trial}"
        for s in seqs:
            pred = random_pred(rng, s.boxes)
            times = rng.uniform(0.001, 0.05, len(s)) * (rng.random(len(s)) < 0.9)
            results[s.name] = TrackerResult([pred], [times])
            save(str(d / "results" / "trk" / f"{s.name}.txt"), pred)
            save(str(d / "results" / "trk" / "times" / f"{s.name}_time.txt"), times[:, None])
        exp = _toolkit(cls, d, _FakeOTB(seqs), nbins_iou=21, nbins_ce=51)
        perf = exp.report(["trk"])["trk"]
        ours = score(seqs, results, protocol)
        pairs = [(ours["auc"], perf["overall"]["success_score"]),
                 (ours["precision"], perf["overall"]["precision_score"]),
                 (ours["success_rate"], perf["overall"]["success_rate"]),
                 (ours["fps"], perf["overall"]["speed_fps"])]
        for name, sw in perf["seq_wise"].items():
            pairs += [(ours.per_sequence[name]["auc"], sw["success_score"]),
                      (ours.per_sequence[name]["precision"], sw["precision_score"])]
        np.testing.assert_allclose(ours.curves["success"][1], perf["overall"]["success_curve"], atol=TOL, rtol=0)
        np.testing.assert_allclose(ours.curves["precision"][1], perf["overall"]["precision_curve"], atol=TOL, rtol=0)
        for a, b in pairs:
            assert abs(a - b) <= TOL * max(1.0, abs(b)), (a, b)
            worst = max(worst, abs(a - b))
        # the toolkit's operations in its order: the same bits, also when sot reads the same files
        # (parsed, then again from its parse cache)
        np.testing.assert_array_equal(ours.curves["success"][1], perf["overall"]["success_curve"])
        np.testing.assert_array_equal(ours.curves["precision"][1], perf["overall"]["precision_curve"])
        for _ in range(2):
            from_files = score(seqs, d / "results" / "trk", protocol)
            np.testing.assert_equal(from_files.metrics, ours.metrics)
            np.testing.assert_equal(from_files.per_sequence, ours.per_sequence)
    assert worst == 0


def _no_nan(pred):
    return np.where(np.isnan(pred).any(1, keepdims=True), 0.0, pred)


def test_got10k_protocol_matches_toolkit(tmp_path, recwarn):
    rng = np.random.default_rng(7)
    for trial in range(12):
        seqs = _make_seqs(rng, nan_gt=False)
        reps = int(rng.integers(1, 4))
        results = {}
        d = tmp_path / f"t{trial}"
        for s in seqs:
            preds = [random_pred(rng, s.boxes) for _ in range(reps)]
            times = [rng.uniform(0.001, 0.05, len(s)) for _ in range(reps)]
            results[s.name] = TrackerResult(preds, times)
            for r, p in enumerate(preds):
                # NaN rows: the toolkit's AO becomes NaN; sot scores them IoU 0, like an empty box
                save(str(d / "results" / "trk" / s.name / f"{s.name}_{r + 1:03d}.txt"), _no_nan(p))
            save(str(d / "results" / "trk" / s.name / f"{s.name}_time.txt"), np.stack(times, 1))
        exp = _toolkit(ExperimentGOT10k, d, _FakeGOT10k(seqs), subset="val", nbins_iou=101, repetitions=3)
        perf = exp.report(["trk"])["trk"]
        ours = score(seqs, results, "got10k")
        assert abs(ours["ao"] - perf["overall"]["ao"]) <= TOL
        assert abs(ours["sr50"] - perf["overall"]["sr"]) <= TOL
        assert abs(ours["fps"] - perf["overall"]["speed_fps"]) <= TOL * ours["fps"]
        np.testing.assert_allclose(ours.curves["success"][1], perf["overall"]["succ_curve"], atol=TOL, rtol=0)
        for name, sw in perf["seq_wise"].items():
            # a sequence with no visible frame after frame 0 has AO NaN in both
            np.testing.assert_allclose(ours.per_sequence[name]["ao"], sw["ao"], atol=TOL, rtol=0)
            np.testing.assert_allclose(ours.per_sequence[name]["sr50"], sw["sr"], atol=TOL, rtol=0)


def test_got10k_nan_prediction_rule(tmp_path):
    """The toolkit turns one NaN row into a NaN AO; sot scores that frame IoU 0 (documented rule)."""
    gt = np.array([[10, 10, 20, 20]] * 4, float)
    seq = Sequence("a", ["f"] * 4, gt, np.ones(4, bool), {"cover": np.full(4, 8), "resolution": "(100, 100)"})
    pred = gt.copy()
    pred[2] = np.nan
    d = tmp_path
    save(str(d / "results" / "trk" / "a" / "a_001.txt"), pred)
    save(str(d / "results" / "trk" / "a" / "a_time.txt"), np.full((4, 1), 0.01))
    exp = _toolkit(ExperimentGOT10k, d, _FakeGOT10k([seq]), subset="val", nbins_iou=101, repetitions=3)
    assert np.isnan(exp.report(["trk"])["trk"]["overall"]["ao"])
    ours = score([seq], {"a": pred}, "got10k")
    assert ours["ao"] == pytest.approx(2 / 3) and ours["sr50"] == pytest.approx(2 / 3)

"""run_tracker -> files in each toolkit layout -> score -> write_report, with a tracker that finds a white box."""
import json
import zipfile

import cv2
import numpy as np
import pytest

from sot.datasets.base import Sequence
from sot.evaluation import load_results, run_tracker, score, write_report, write_submission_zip


class WhiteBoxTracker:
    """Returns the bounding box of the bright pixels, plus Gaussian noise."""

    def __init__(self, noise=1.0, seed=0):
        self.noise, self.rng = noise, np.random.default_rng(seed)

    def init(self, image, box):
        assert image.dtype == np.uint8 and image.shape[2] == 3 and image[..., 0].max() > 200  # RGB, red channel

    def track(self, image):
        ys, xs = np.nonzero(image[..., 0] > 128)
        box = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
        return box + self.rng.normal(0, self.noise, 4), 1.0


class FailingTracker:
    def init(self, image, box):
        raise AssertionError("resume should not run the tracker")


def make_sequences(root, n_seq=4, n_frames=6):
    rng = np.random.default_rng(1)
    seqs = []
    for s in range(n_seq):
        d = root / f"seq{s}"
        d.mkdir(parents=True)
        frames, boxes = [], []
        for f in range(n_frames):
            x, y, w, h = int(rng.integers(0, 30)), int(rng.integers(0, 20)), int(rng.integers(8, 20)), int(rng.integers(8, 20))
            img = np.zeros((48, 64, 3), np.uint8)
            img[y:y + h, x:x + w, 2] = 255  # BGR on disk: red target
            cv2.imwrite(str(d / f"{f:08d}.png"), img)
            frames.append(str(d / f"{f:08d}.png"))
            boxes.append([x, y, w, h])
        seqs.append(Sequence(f"seq{s}", frames, boxes, np.ones(n_frames, bool), {"resolution": (64, 48)}))
    return seqs


def test_run_score_report_and_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("SOT_CACHE_DIR", str(tmp_path / "cache"))
    seqs = make_sequences(tmp_path / "data")
    out = tmp_path / "results" / "white"
    res = run_tracker(WhiteBoxTracker, seqs, out, progress=False)
    assert sorted(p.name for p in out.glob("*.txt")) == [f"seq{i}.txt" for i in range(4)]
    assert (out / "times" / "seq0_time.txt").is_file()
    rep = score(seqs, res, "otb")
    assert rep["auc"] > 0.6 and rep["precision"] == 1.0 and rep["fps"] > 0
    assert score(seqs, out, "otb").metrics == rep.metrics  # from disk: the same numbers
    # resume: nothing left to run, so the tracker is never built
    again = run_tracker(FailingTracker, seqs, out, progress=False)
    np.testing.assert_array_equal(again["seq1"].boxes[0], res["seq1"].boxes[0])
    (out / "seq2.txt").unlink()
    with pytest.raises(RuntimeError, match="seq2"):
        run_tracker(FailingTracker, seqs, out, progress=False)
    run_tracker(WhiteBoxTracker, seqs, out, progress=False)

    other = {s.name: s.boxes + 3.0 for s in seqs}
    text = write_report({"white": rep, "shifted": score(seqs, other, "otb")}, tmp_path / "report", print_table=False)
    assert "white" in text and "AUC" in text
    data = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert data["auc"] == pytest.approx(rep["auc"]) and set(data["trackers"]) == {"white", "shifted"}
    for f in ("success_plot.png", "precision_plot.png", "norm_precision_plot.png", "per_sequence.csv"):
        assert (tmp_path / "report" / f).stat().st_size > 0


def test_got10k_layout_workers_repetitions_and_zip(tmp_path, monkeypatch):
    monkeypatch.setenv("SOT_CACHE_DIR", str(tmp_path / "cache"))
    seqs = make_sequences(tmp_path / "data", n_seq=3, n_frames=4)
    out = tmp_path / "got"
    res = run_tracker(WhiteBoxTracker, seqs, out, workers=2, repetitions=2, result_format="got10k", progress=False)
    assert (out / "seq0" / "seq0_001.txt").is_file() and (out / "seq0" / "seq0_002.txt").is_file()
    times = np.loadtxt(out / "seq0" / "seq0_time.txt", delimiter=",")
    assert times.shape == (4, 2)
    assert len(res["seq2"].boxes) == 2
    loaded = load_results(out, [s.name for s in seqs])
    np.testing.assert_array_equal(loaded["seq1"].boxes[1], res["seq1"].boxes[1])
    rep = score(seqs, out, "got10k")
    assert 0.5 < rep["ao"] <= 1 and rep.per_sequence["seq0"]["length"] == 3
    z = write_submission_zip(out, "got10k", tmp_path / "sub.zip")
    assert "seq0/seq0_002.txt" in zipfile.ZipFile(z).namelist()
    assert "seq0/seq0_time.txt" in zipfile.ZipFile(z).namelist()

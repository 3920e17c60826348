import math
import os

import numpy as np
import pytest

from sot.data import synthetic
from sot.data.crop import transform_points
from sot.data.synthetic import MARKER, generate_synthetic
from sot.datasets.got10k import GOT10k

TINY = dict(num_sequences={"train": 2, "val": 1, "test": 1}, frames_per_sequence=8, image_size=(64, 48),
            target_size=(10.0, 18.0), progress=False)


def _files(folder):
    return {p: os.stat(p).st_mtime_ns for p in sorted(str(q) for q in folder.rglob("*") if q.is_file())}


def test_deterministic_and_readable(tmp_path):
    a = generate_synthetic(tmp_path / "a", **TINY)
    b = generate_synthetic(tmp_path / "b", **TINY, num_workers=2)  # worker processes: same bytes
    assert a.name == b.name and (a / MARKER).is_file()
    for split in ("train", "val", "test"):
        ds = GOT10k(a, split)
        assert len(ds) == TINY["num_sequences"][split]
        for s in ds:
            assert len(s) == 8 and os.path.isfile(s.frames[-1])
    seq = "train/GOT-10k_Train_000002"
    assert (a / seq / "groundtruth.txt").read_bytes() == (b / seq / "groundtruth.txt").read_bytes()
    assert (a / seq / "00000005.jpg").read_bytes() == (b / seq / "00000005.jpg").read_bytes()
    c = generate_synthetic(tmp_path / "a", **{**TINY, "seed": 1})
    assert c != a and (c / seq / "groundtruth.txt").read_bytes() != (a / seq / "groundtruth.txt").read_bytes()


def test_sequences_independent_of_other_splits_and_counts(tmp_path):
    a = generate_synthetic(tmp_path, **TINY)
    b = generate_synthetic(tmp_path, **{**TINY, "num_sequences": {"train": 3}}, num_workers=0)
    seq = "train/GOT-10k_Train_000002/groundtruth.txt"
    assert a != b and (a / seq).read_bytes() == (b / seq).read_bytes()


def test_second_call_reuses_without_writing(tmp_path):
    out = generate_synthetic(tmp_path, **TINY)
    before = _files(out)
    assert generate_synthetic(tmp_path, **TINY) == out
    assert _files(out) == before


def test_incomplete_folder_is_regenerated(tmp_path):
    out = generate_synthetic(tmp_path, **TINY)
    gt = out / "train" / "GOT-10k_Train_000001" / "groundtruth.txt"
    good = gt.read_bytes()
    (out / MARKER).unlink()  # as if the run had stopped before its last write
    gt.write_text("garbage\n")
    assert generate_synthetic(tmp_path, **TINY) == out
    assert (out / MARKER).is_file() and gt.read_bytes() == good


def test_interrupted_run_leaves_nothing_reusable(tmp_path, monkeypatch):
    real, calls = synthetic._write_sequence, []

    def dying(task):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(task)

    monkeypatch.setattr(synthetic, "_write_sequence", dying)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic(tmp_path, **TINY)
    assert list(tmp_path.iterdir()) == []  # neither the final folder nor the temporary one
    monkeypatch.undo()
    out = generate_synthetic(tmp_path, **TINY)
    assert (out / MARKER).is_file() and len(GOT10k(out, "train")) == 2


def test_labels_consistent(tmp_path):
    out = generate_synthetic(tmp_path, **{**TINY, "num_sequences": {"train": 6}, "frames_per_sequence": 40,
                                          "exit_prob": 1.0, "occluder_prob": 1.0})
    ds = GOT10k(out, "train")
    W, H = TINY["image_size"]
    n_absent = 0
    for s in ds:
        cover, absence, cut = (s.attributes[k] for k in ("cover", "absence", "cut_by_image"))
        b = s.boxes
        assert np.isfinite(b).all() and (b[:, 2:] > 0).all()  # boxes written for every frame
        assert ((cover >= 0) & (cover <= 8)).all()
        assert (cover[absence == 1] == 0).all()
        np.testing.assert_array_equal(s.visible, (absence == 0) & (cover > 0))
        outside = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 0] + b[:, 2] > W) | (b[:, 1] + b[:, 3] > H)
        np.testing.assert_array_equal(cut == 1, outside)
        no_overlap = (b[:, 0] >= W) | (b[:, 1] >= H) | (b[:, 0] + b[:, 2] <= 0) | (b[:, 1] + b[:, 3] <= 0)
        assert (absence[no_overlap] == 1).all() and outside[absence == 1].all()
        n_absent += int(absence.sum())
        assert s.attributes["meta"]["root_class"] == "synthetic"
    assert n_absent > 0  # exit_prob=1: targets do leave the frame


def test_test_split_like_got10k(tmp_path):
    out = generate_synthetic(tmp_path, **{**TINY, "test_first_row_only": True})
    s = GOT10k(out, "test")[0]
    assert len(s) == 8 and np.isfinite(s.boxes[0]).all() and np.isnan(s.boxes[1:]).all()


def test_box_is_bound_of_rendered_shape():
    rng = np.random.default_rng(0)
    for shape in ("rectangle", "ellipse", "polygon"):
        _, pts = synthetic._shape_points(rng, shape)
        sprite, _ = synthetic._sprite(rng, synthetic._recipe(rng), pts)
        A = synthetic._object_affine((40.0, 30.0), 30.0, 18.0, math.radians(25))
        x0, y0, layer = synthetic._render_layer(sprite, A, 80, 60, None)
        q = transform_points(pts, A)
        box = np.r_[q.min(0), q.max(0) - q.min(0)]
        alpha = layer[..., 3]
        ys, xs = np.nonzero(alpha > 0.5)
        pix = np.array([xs.min() + x0, ys.min() + y0, xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()], float)
        np.testing.assert_allclose(pix, box, atol=1.5)

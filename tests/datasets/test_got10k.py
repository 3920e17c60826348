import os
import time

import cv2
import numpy as np
import pytest

from sot.datasets import got10k as got10k_mod
from sot.datasets.base import DatasetFormatError
from sot.datasets.got10k import GOT10k, FramePaths

META = """[METAINFO]
url: https://youtu.be/xxxx
begin: 00:00:28
end: 00:00:34
anno_fps: 10Hz
object_class: ichneumon
motion_class: walking
major_class: viverrine
root_class: animal
motion_adverb: slowly
resolution: (1920, 1080)
"""


def _write_seq(d, boxes, absence=None, cover=None, cut=None, meta=META, n_frames=None):
    d.mkdir(parents=True)
    n = len(boxes) if n_frames is None else n_frames
    img = np.zeros((6, 8, 3), np.uint8)
    for i in range(1, n + 1):
        cv2.imwrite(str(d / f"{i:08d}.jpg"), img)
    (d / "groundtruth.txt").write_text("".join(",".join(f"{v:.4f}" for v in b) + "\n" for b in boxes))
    for name, arr in (("absence", absence), ("cover", cover), ("cut_by_image", cut)):
        if arr is not None:
            (d / f"{name}.label").write_text("".join(f"{v}\n" for v in arr))
    if meta is not None:
        (d / "meta_info.ini").write_text(meta)


@pytest.fixture
def got(tmp_path):
    """A tiny GOT-10k: train (2 sequences, full labels), val (no list.txt), test (first box only)."""
    root = tmp_path / "GOT-10k"
    boxes = [[1, 2, 3, 4], [2, 3, 3, 4], [3, 4, 3, 4], [4, 5, 3, 4]]
    _write_seq(root / "train" / "GOT-10k_Train_000001", boxes,
               absence=[0, 0, 1, 0], cover=[8, 0, 0, 5], cut=[0, 0, 0, 1])
    _write_seq(root / "train" / "GOT-10k_Train_000002", boxes[:3], absence=[0, 0, 0], cover=[8, 8, 8], cut=[0, 0, 0])
    (root / "train" / "list.txt").write_text("GOT-10k_Train_000002\nGOT-10k_Train_000001\n")
    _write_seq(root / "val" / "GOT-10k_Val_000002", [[1, 1, 2, 2], [1, 1, 0, 2]], meta=None)
    _write_seq(root / "val" / "GOT-10k_Val_000001", [[1, 1, 2, 2], [1, 1, 2, 2]], meta=None)
    _write_seq(root / "test" / "GOT-10k_Test_000001", [[5, 6, 7, 8]], meta=None, n_frames=5)
    (root / "test" / "list.txt").write_text("GOT-10k_Test_000001\n")
    return root


def test_train_split(got):
    ds = GOT10k(got, "train")
    assert ds.names == ["GOT-10k_Train_000002", "GOT-10k_Train_000001"]  # list.txt order
    s = ds[1]
    assert len(s) == 4
    assert s.frames[0] == os.path.join(str(got / "train" / "GOT-10k_Train_000001"), "00000001.jpg")
    assert s.frames[-1].endswith("00000004.jpg") and all(os.path.isfile(f) for f in s.frames)
    np.testing.assert_allclose(s.boxes[2], [3, 4, 3, 4])
    np.testing.assert_array_equal(s.visible, [True, False, False, True])  # absence == 0 & cover > 0
    np.testing.assert_array_equal(s.attributes["cover"], [8, 0, 0, 5])
    np.testing.assert_array_equal(s.attributes["absence"], [0, 0, 1, 0])
    np.testing.assert_array_equal(s.attributes["cut_by_image"], [0, 0, 0, 1])
    meta = s.attributes["meta"]
    assert meta["object_class"] == "ichneumon" and meta["motion_adverb"] == "slowly"
    assert meta["resolution"] == "(1920, 1080)" and meta["anno_fps"] == "10Hz" and meta["root_class"] == "animal"


def test_val_split_without_list_or_labels(got):
    ds = GOT10k(got, "val")
    assert ds.names == ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]  # sorted folders
    np.testing.assert_array_equal(ds[1].visible, [True, False])  # no labels: finite, positive-size boxes
    assert "cover" not in ds[1].attributes and ds[1].attributes["meta"] == {}


def test_test_split_first_row_only(got):
    s = GOT10k(got, "test")[0]
    assert len(s) == 5 and s.frames[4].endswith("00000005.jpg")
    np.testing.assert_allclose(s.boxes[0], [5, 6, 7, 8])
    assert np.isnan(s.boxes[1:]).all()
    np.testing.assert_array_equal(s.visible, [True, False, False, False, False])


def test_malformed_row_names_file_and_line(got):
    gt = got / "train" / "GOT-10k_Train_000001" / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    lines[2] = "3.0,4.0;3.0,4.0"
    gt.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError) as e:
        GOT10k(got, "train", cache_dir=got / "c1")
    msg = str(e.value)
    assert str(gt) in msg and "line 3" in msg and "3.0,4.0;3.0,4.0" in msg
    assert "4 comma-separated numbers x,y,w,h" in msg


def test_missing_files_and_count_mismatch(got):
    seq = got / "train" / "GOT-10k_Train_000001"
    (seq / "cover.label").write_text("8\n8\n")
    with pytest.raises(DatasetFormatError, match="cover.label") as e:
        GOT10k(got, "train", cache_dir=got / "c1")
    assert "2 rows" in str(e.value) and "4" in str(e.value)
    (seq / "groundtruth.txt").unlink()
    with pytest.raises(DatasetFormatError, match=str(seq / "groundtruth.txt")):
        GOT10k(got, "train", cache_dir=got / "c2")
    with pytest.raises(DatasetFormatError, match="nowhere"):
        GOT10k(got / "nowhere", "train")


def test_missing_frame(got):
    seq = got / "train" / "GOT-10k_Train_000001"
    (seq / "00000004.jpg").unlink()  # fewer frames than groundtruth rows: caught at parse time
    with pytest.raises(DatasetFormatError, match=str(seq / "00000004.jpg")):
        GOT10k(got, "train", cache_dir=got / "c1")
    cv2.imwrite(str(seq / "00000004.jpg"), np.zeros((6, 8, 3), np.uint8))
    (seq / "00000002.jpg").unlink()  # a hole in the middle is not stat-ed: it is listed, and fails on reading
    s = GOT10k(got, "train", cache_dir=got / "c2")[1]
    assert s.frames[1] == str(seq / "00000002.jpg")
    from sot.data.crop import read_rgb
    with pytest.raises(DatasetFormatError, match="00000002.jpg"):
        read_rgb(s.frames[1])


def test_cache_reused_and_invalidated(got, monkeypatch):
    first = GOT10k(got, "train")
    cache = list((got / ".sot_cache").glob("got10k_train_*.pkl"))
    assert len(cache) == 1

    def no_parse(*a, **k):
        raise AssertionError("parsed again despite the cache")

    monkeypatch.setattr(got10k_mod, "_parse_sequence", no_parse)
    t = time.perf_counter()
    second = GOT10k(got, "train")
    assert time.perf_counter() - t < 0.5
    assert second.names == first.names
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.visible, b.visible)
        assert a.frames == b.frames and a.attributes["meta"] == b.attributes["meta"]
    # a changed list.txt changes the key: the split is parsed again
    lst = got / "train" / "list.txt"
    lst.write_text("GOT-10k_Train_000001\n")
    with pytest.raises(AssertionError, match="parsed again"):
        GOT10k(got, "train")
    monkeypatch.undo()
    assert GOT10k(got, "train").names == ["GOT-10k_Train_000001"]
    # an explicit cache_dir is used instead of root/.sot_cache
    GOT10k(got, "val", cache_dir=got / "elsewhere")
    assert list((got / "elsewhere").glob("got10k_val_*.pkl"))


def test_unwritable_cache_warns(got):
    blocker = got / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.warns(UserWarning, match="cache"):
        ds = GOT10k(got, "val", cache_dir=blocker / "sub")
    assert len(ds) == 2


def test_frame_paths():
    f = FramePaths("/d", 3)
    assert list(f) == ["/d/00000001.jpg", "/d/00000002.jpg", "/d/00000003.jpg"]
    assert f[-1] == "/d/00000003.jpg" and f[1:] == ["/d/00000002.jpg", "/d/00000003.jpg"]
    assert f == list(f) and len(f) == 3
    with pytest.raises(IndexError):
        f[3]


def test_bad_label_value_names_file_and_line(got):
    cover = got / "train" / "GOT-10k_Train_000002" / "cover.label"
    cover.write_text("8\n9\n8\n")
    with pytest.raises(DatasetFormatError, match=r"cover.label.* line 2: '9' is not one integer in 0..8"):
        GOT10k(got, "train")

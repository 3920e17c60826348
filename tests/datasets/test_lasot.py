import numpy as np
import pytest

from sot.datasets.base import DatasetFormatError
from sot.datasets.lasot import LaSOT, official_test_set


def make_lasot(root, names, n=5):
    for name in names:
        d = root / name.rsplit("-", 1)[0] / name
        (d / "img").mkdir(parents=True)
        for f in range(1, n + 1):
            (d / "img" / f"{f:08d}.jpg").touch()
        (d / "groundtruth.txt").write_text("".join(f"{10 + f},20,30,40\n" for f in range(n)))
        (d / "full_occlusion.txt").write_text(",".join(["0", "1"] + ["0"] * (n - 2)))
        (d / "out_of_view.txt").write_text(",".join(["0"] * (n - 1) + ["1"]))
        (d / "nlp.txt").write_text("the plane")


def test_splits_visibility_and_cache(tmp_path):
    assert len(official_test_set()) == 280 and "airplane-1" in official_test_set()
    make_lasot(tmp_path, ["airplane-1", "airplane-2", "bear-2", "bear-3"])
    (tmp_path / "att").mkdir()
    for n in ["airplane-1", "airplane-2", "bear-2", "bear-3"]:
        (tmp_path / "att" / f"{n}.txt").write_text("1,0,0,0,0,0,0,0,0,1,0,0,0,0")
    ds = LaSOT(tmp_path, split="train", cache=tmp_path / "cache")
    assert ds.names == ["airplane-2", "bear-3"]  # airplane-1 and bear-2 are test sequences
    s = ds[0]
    assert s.frames[0].endswith("airplane/airplane-2/img/00000001.jpg") and len(s.frames) == 5
    np.testing.assert_array_equal(s.visible, [1, 0, 1, 1, 0])
    assert s.attributes["tags"] == ["IV", "FOC"] and s.attributes["language"] == "the plane"
    assert ds.default_protocol == "lasot"
    again = LaSOT(tmp_path, split="train", cache=tmp_path / "cache")  # from the cache
    np.testing.assert_array_equal(again[0].boxes, s.boxes)
    # editing an annotation file invalidates the cache
    (tmp_path / "airplane" / "airplane-2" / "groundtruth.txt").write_text("1,2,3,4\n" * 5)
    assert LaSOT(tmp_path, split="train", cache=tmp_path / "cache")[0].boxes[0, 0] == 1


def test_bad_files_name_path_and_line(tmp_path):
    make_lasot(tmp_path, ["cat-5"])
    (tmp_path / "cat" / "cat-5" / "groundtruth.txt").write_text("1,2,3,4\n1,2,3\n1,2,3,4\n1,2,3,4\n1,2,3,4\n")
    with pytest.raises(DatasetFormatError, match=r"groundtruth.txt:2: expected 4 values, found 3"):
        LaSOT(tmp_path, sequences=["cat-5"], cache=False)
    with pytest.raises(DatasetFormatError, match="cat-9"):
        LaSOT(tmp_path, sequences=["cat-9"], cache=False)

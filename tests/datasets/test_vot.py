import numpy as np

from sot.datasets.vot import VOT


def test_vot_polygons_anchors_and_tags(tmp_path):
    (tmp_path / "list.txt").write_text("ants1\nball\n")
    a = tmp_path / "ants1" / "color"
    a.mkdir(parents=True)
    (a / "00000001.jpg").touch()
    (tmp_path / "ants1" / "groundtruth.txt").write_text("10,20,30,20,30,40,10,40\n1,2,3,4\n")
    (tmp_path / "ants1" / "anchor.value").write_text("1\n-1\n")
    (tmp_path / "ants1" / "occlusion.tag").write_text("0\n1\n")
    (tmp_path / "ball").mkdir()
    (tmp_path / "ball" / "00000001.jpg").touch()
    (tmp_path / "ball" / "groundtruth.txt").write_text("1,2,3,4\n")
    ds = VOT(tmp_path, edition="vot2020", cache=False)
    s = ds[0]
    np.testing.assert_array_equal(s.boxes, [[10, 20, 20, 20], [1, 2, 3, 4]])
    assert s.attributes["anchor"].tolist() == [1, -1] and s.attributes["occlusion"].tolist() == [0, 1]
    assert s.frames[0].endswith("ants1/color/00000001.jpg") and ds[1].frames[0].endswith("ball/00000001.jpg")
    assert ds.default_protocol == "vot2020"

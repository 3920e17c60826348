import numpy as np
import pytest

from sot.datasets.base import DatasetFormatError
from sot.datasets.uav import UAV, parse_config_seqs


def write_anno(root, version, name, n, nan_rows=()):
    d = root / "anno" / version
    d.mkdir(parents=True, exist_ok=True)
    rows = ["NaN,NaN,NaN,NaN" if i in nan_rows else f"{i},2,30,40" for i in range(n)]
    (d / f"{name}.txt").write_text("\n".join(rows) + "\n")


def test_uav123_subsequence_ranges_and_nan_rows(tmp_path):
    (tmp_path / "data_seq" / "UAV123" / "bird1").mkdir(parents=True)
    write_anno(tmp_path, "UAV123", "bird1_2", 1477 - 775 + 1, nan_rows=(3, 4))
    write_anno(tmp_path, "UAV123", "bike2", 553)
    (tmp_path / "anno" / "UAV123" / "att").mkdir()
    (tmp_path / "anno" / "UAV123" / "att" / "bike2.txt").write_text("1,0,0,1,0,0,0,0,0,0,0,0")
    ds = UAV(tmp_path, cache=tmp_path / "cache")
    s = {x.name: x for x in ds}["bird1_2"]
    assert s.frames[0].endswith("data_seq/UAV123/bird1/000775.jpg") and s.frames[-1].endswith("001477.jpg")
    assert np.isnan(s.boxes[3]).all() and not s.visible[3] and s.visible[2]
    assert {x.name: x for x in ds}["bike2"].attributes["tags"] == ["SV", "FM"]
    assert ds.default_protocol == "uav123"


def test_uav10fps_needs_config_and_reads_it(tmp_path):
    write_anno(tmp_path, "UAV123_10fps", "car1_2", 543 - 251 + 1)
    with pytest.raises(DatasetFormatError, match="configSeqs.m"):
        UAV(tmp_path, version="UAV123_10fps", cache=False)
    (tmp_path / "configSeqs.m").write_text(
        "seqs = {struct('name','car1_2','path','D:\\\\data_seq\\\\UAV123_10fps\\\\car1\\\\','startFrame',251,"
        "'endFrame',543,'nz',6,'ext','jpg','init_rect',[0,0,0,0]),...\n};\n")
    assert parse_config_seqs(tmp_path / "configSeqs.m") == {"car1_2": ("car1", 251, 543)}
    s = UAV(tmp_path, version="UAV123_10fps", cache=False)[0]
    assert s.frames[0].endswith("data_seq/UAV123_10fps/car1/000251.jpg")


def test_uav_row_count_must_match_range(tmp_path):
    write_anno(tmp_path, "UAV20L", "bike1", 10)
    with pytest.raises(DatasetFormatError, match="bike1.txt: 10 rows but frames 1-3085"):
        UAV(tmp_path, version="UAV20L", cache=False)

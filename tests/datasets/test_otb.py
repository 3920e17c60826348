import json

import numpy as np

from sot.datasets.otb import OTB


def make_seq(root, name, gt_files, n_img, digits=4, img="img"):
    d = root / name
    (d / img).mkdir(parents=True)
    for f in range(1, n_img + 1):
        (d / img / f"{f:0{digits}d}.jpg").touch()
    for fname, text in gt_files.items():
        (d / fname).write_text(text)


def test_otb_quirks(tmp_path):
    make_seq(tmp_path, "David", {"groundtruth_rect.txt": "1,2,3,4\n" * 471}, 770)
    make_seq(tmp_path, "Tiger1", {"groundtruth_rect.txt": "".join(f"{i},2,3,4\n" for i in range(354))}, 354)
    make_seq(tmp_path, "Jogging", {"groundtruth_rect.1.txt": "1 2 3 4\n" * 307,
                                   "groundtruth_rect.2.txt": "1\t2\t3\t4\n" * 307}, 307)
    make_seq(tmp_path, "Human4", {"groundtruth_rect.1.txt": "", "groundtruth_rect.2.txt": "1,2,3,4\n" * 10}, 12)
    make_seq(tmp_path, "Board", {"groundtruth_rect.txt": "1,2,3,4\n" * 5}, 5, digits=5)
    make_seq(tmp_path, "Mixed", {"groundtruth_rect.txt": "1,2,3,4\n5\t6\t7\t8\n9 10 11 12\n"}, 3)
    att = tmp_path / "attrs.json"
    att.write_text(json.dumps({"Jogging-1": {"attr": ["OCC", "DEF"]}}))
    ds = OTB(tmp_path, attributes_file=str(att), cache=tmp_path / "cache")
    assert ds.names == ["Board", "David", "Human4-2", "Jogging-1", "Jogging-2", "Mixed", "Tiger1"]
    by = {s.name: s for s in ds}
    assert by["David"].frames[0].endswith("David/img/0300.jpg") and by["David"].frames[-1].endswith("0770.jpg")
    assert by["Tiger1"].frames[0].endswith("0006.jpg") and len(by["Tiger1"]) == 349 and by["Tiger1"].boxes[0, 0] == 5
    assert by["Board"].frames[0].endswith("00001.jpg")
    np.testing.assert_array_equal(by["Mixed"].boxes[1], [5, 6, 7, 8])
    assert by["Jogging-1"].attributes["tags"] == ["OCC", "DEF"]
    assert ds.default_protocol == "otb"

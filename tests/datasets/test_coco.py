import json

import pytest

from sot.datasets.base import DatasetFormatError
from sot.datasets.coco import COCO


def test_instances_become_one_frame_sequences(tmp_path):
    (tmp_path / "annotations").mkdir()
    data = {"images": [{"id": 9, "file_name": "000000000009.jpg", "width": 640, "height": 480}],
            "categories": [{"id": 1, "name": "person"}],
            "annotations": [{"id": 1, "image_id": 9, "bbox": [1, 2, 30, 40], "category_id": 1, "iscrowd": 0},
                            {"id": 2, "image_id": 9, "bbox": [1, 2, 3, 40], "category_id": 1, "iscrowd": 0},
                            {"id": 3, "image_id": 9, "bbox": [1, 2, 30, 40], "category_id": 1, "iscrowd": 1}]}
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    ds = COCO(tmp_path, split="val", min_size=8, cache=tmp_path / "c")
    assert ds.names == ["9_1"] and ds[0].frames == [str(tmp_path / "val2017" / "000000000009.jpg")]
    assert ds[0].attributes["object_class"] == "person" and ds[0].boxes.tolist() == [[1, 2, 30, 40]]
    with pytest.raises(DatasetFormatError, match="instances_train2017.json"):
        COCO(tmp_path, split="train", cache=False)

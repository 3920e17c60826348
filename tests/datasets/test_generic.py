import pytest

from sot.datasets.base import DatasetFormatError
from sot.datasets.generic import FolderDataset


def test_generic_folder(tmp_path):
    d = tmp_path / "walk"
    (d / "img").mkdir(parents=True)
    for f in range(3):
        (d / "img" / f"{f:04d}.jpg").touch()
    (d / "groundtruth.txt").write_text("1,2,3,4\nnan,nan,nan,nan\n1,2,3,4\n")
    ds = FolderDataset(tmp_path)
    assert ds.names == ["walk"] and ds[0].visible.tolist() == [True, False, True]
    (d / "img" / "0003.jpg").touch()
    with pytest.raises(DatasetFormatError, match="3 rows but 4 images"):
        FolderDataset(tmp_path)

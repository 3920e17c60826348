import numpy as np

from sot.datasets.trackingnet import TrackingNet


def test_chunks_and_test_split(tmp_path):
    for chunk, name, rows, frames in [("TRAIN_0", "a1", 3, 3), ("TRAIN_1", "b1", 2, 2), ("TEST", "t1", 1, 4)]:
        (tmp_path / chunk / "anno").mkdir(parents=True)
        (tmp_path / chunk / "frames" / name).mkdir(parents=True)
        (tmp_path / chunk / "anno" / f"{name}.txt").write_text("1,2,3,4\n" * rows)
        for f in range(frames):
            (tmp_path / chunk / "frames" / name / f"{f}.jpg").touch()
    tr = TrackingNet(tmp_path, chunks=["TRAIN_0", "TRAIN_1"], cache=tmp_path / "c")
    assert tr.names == ["a1", "b1"] and tr[0].frames[0].endswith("TRAIN_0/frames/a1/0.jpg")
    te = TrackingNet(tmp_path, chunks="test", cache=tmp_path / "c")
    assert len(te[0]) == 4 and np.isnan(te[0].boxes[1:]).all() and te.default_protocol == "trackingnet"

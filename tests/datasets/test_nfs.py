import numpy as np

from sot.datasets.nfs import NfS


def test_nfs_30_and_240(tmp_path):
    d = tmp_path / "airboard_1"
    rows = "".join(f'1 {10 + i} 20 {40 + i} 60 {i + 1} {int(i == 2)} 0 0 "board"\n' for i in range(16))
    for fps, n in ((240, 16), (30, 2)):
        (d / str(fps) / "airboard_1").mkdir(parents=True)
        for f in range(1, n + 1):
            (d / str(fps) / "airboard_1" / f"{f:05d}.jpg").touch()
        (d / str(fps) / "airboard_1.txt").write_text(rows)  # the 30 fps file holds 240 fps rows
    s240 = NfS(tmp_path, fps=240, cache=False)[0]
    assert len(s240) == 16 and not s240.visible[2] and s240.boxes[0].tolist() == [10, 20, 30, 40]
    s30 = NfS(tmp_path, fps=30, cache=False)[0]
    assert len(s30) == 2 and s30.boxes[1, 0] == 18  # every 8th row

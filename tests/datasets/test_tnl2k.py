from sot.datasets.tnl2k import TNL2K


def test_tnl2k(tmp_path):
    d = tmp_path / "Arrow_Video_ZZ04_done"
    (d / "imgs").mkdir(parents=True)
    for f in range(1, 4):
        (d / "imgs" / f"{f:05d}.png").touch()
    (d / "groundtruth.txt").write_text("1,2,3,4\n0,0,0,0\n1,2,3,4\n")
    (d / "language.txt").write_text("the arrow on the left")
    ds = TNL2K(tmp_path, cache=tmp_path / "c")
    assert ds[0].visible.tolist() == [True, False, True] and ds[0].attributes["language"].startswith("the arrow")
    assert ds.default_protocol == "tnl2k"

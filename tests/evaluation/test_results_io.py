"""Raw-result reading: the fast parser, its errors, and the parse cache."""
import os

import numpy as np
import pytest

from sot.datasets.base import DatasetFormatError, Sequence
from sot.evaluation import TrackerResult, load_results, score
from sot.evaluation import results_io


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("text", ["1,2.5,3,4\n5,6,7,-8.25\n", "1\t2.5\t3\t4\n5\t6\t7\t-8.25",
                                  "1 2.5 3 4\n\n5, 6,7\t-8.25\n", "1,2.5,3,4\r\n5,6,7,-8.25\r\n"])
def test_read_rows_accepts_every_delimiter(tmp_path, text):
    p = tmp_path / "a.txt"
    p.write_text(text)
    np.testing.assert_array_equal(results_io.read_rows(p, 4), [[1, 2.5, 3, 4], [5, 6, 7, -8.25]])


def test_read_rows_single_row_nan_and_errors(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("1,nan,3,4\n")
    got = results_io.read_rows(p, 4)
    assert got.shape == (1, 4) and np.isnan(got[0, 1])
    p.write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(DatasetFormatError, match=r"a\.txt:2: expected 4 values, found 3"):
        results_io.read_rows(p, 4)
    p.write_text("1,2,3,4\n1,2,x,4\n")
    with pytest.raises(DatasetFormatError, match=r"a\.txt:2: not a number"):
        results_io.read_rows(p, 4)
    p.write_text("")
    with pytest.raises(DatasetFormatError, match="empty"):
        results_io.read_rows(p, 4)
    with pytest.raises(DatasetFormatError, match="not found"):
        results_io.read_rows(tmp_path / "missing.txt", 4)


def _result_set(rng, names, reps=1):
    return {n: TrackerResult([np.round(rng.uniform(0, 100, (7 + i, 4)), 4) for _ in range(reps)],
                             [np.round(rng.uniform(0.01, 0.1, 7 + i), 8) for _ in range(reps)])
            for i, n in enumerate(names)}


def _write(out, fmt, results):
    for n, r in results.items():
        results_io.write_sequence(out, fmt, n, r)


def _same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for n in a:
        assert len(a[n].boxes) == len(b[n].boxes)
        for x, y in zip(a[n].boxes, b[n].boxes):
            np.testing.assert_array_equal(x, y)
        assert (a[n].times is None) == (b[n].times is None)
        for x, y in zip(a[n].times or [], b[n].times or []):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("fmt,reps", [("otb", 1), ("otb", 2), ("got10k", 3)])
def test_cache_returns_what_the_files_hold_and_skips_the_parse(tmp_path, monkeypatch, fmt, reps):
    names = ["a", "b", "c"]
    out = tmp_path / "res"
    _write(out, fmt, _result_set(np.random.default_rng(0), names, reps))
    parsed = load_results(out, names + ["absent"], cache=False)
    _same(load_results(out, names + ["absent"]), parsed)  # cold: parses, writes the cache

    def no_parse(*a, **k):
        raise AssertionError("the warm cache should not parse")

    monkeypatch.setattr(results_io, "read_sequence", no_parse)
    warm = load_results(out, names + ["absent"])
    _same(warm, parsed)
    assert warm["a"].boxes[0].shape == (7, 4)


def test_cache_follows_changed_added_and_requested_files(tmp_path):
    rng = np.random.default_rng(1)
    out = tmp_path / "res"
    first = _result_set(rng, ["a", "b"])
    _write(out, "otb", first)
    _same(load_results(out, ["a"]), {"a": first["a"]})
    _same(load_results(out, ["a", "b"]), first)  # a name the cache did not hold yet
    changed = _result_set(rng, ["b"])
    _write(out, "otb", changed)
    st = os.stat(out / "b.txt")
    os.utime(out / "b.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    _same(load_results(out, ["a", "b"]), {"a": first["a"], "b": changed["b"]})
    results_io.flush_cache_writes()  # the cache is written in the background: damage it only once it is there
    for f in (tmp_path / "cache" / "results").iterdir():  # a damaged cache file is parsed again
        f.write_bytes(f.read_bytes()[:100])
    _same(load_results(out, ["a", "b"]), {"a": first["a"], "b": changed["b"]})


def test_score_from_files_equals_score_from_memory(tmp_path):
    rng = np.random.default_rng(2)
    names = [f"s{i}" for i in range(5)]
    results = _result_set(rng, names)
    seqs = [Sequence(n, ["f"] * len(results[n].boxes[0]),
                     results[n].boxes[0] + rng.normal(0, 3, results[n].boxes[0].shape), np.ones(7 + i, bool))
            for i, n in enumerate(names)]
    _write(tmp_path / "res", "otb", results)
    mem = score(seqs, results, "otb")
    for _ in range(2):  # cold, then warm cache
        disk = score(seqs, tmp_path / "res", "otb")
        assert disk.metrics == mem.metrics and disk.per_sequence == mem.per_sequence
        for k in mem.curves:
            np.testing.assert_array_equal(disk.curves[k][1], mem.curves[k][1])


def test_cache_holds_the_files_even_if_the_caller_changes_the_arrays(tmp_path):
    """The cache is written in the background from a copy: changing what the first load returned must not
    reach it."""
    out = tmp_path / "res"
    results = _result_set(np.random.default_rng(3), ["a", "b"])
    _write(out, "otb", results)
    parsed = load_results(out, ["a", "b"], cache=False)
    first = load_results(out, ["a", "b"])
    first["a"].boxes[0][:] = -1.0
    first["a"].times[0][:] = -1.0
    results_io._wait_for_write(results_io._cache_file(out, "otb")[1])
    _same(load_results(out, ["a", "b"]), parsed)


def test_parallel_parse_keeps_the_order_and_names_the_bad_file(tmp_path, monkeypatch):
    """Many sequences are parsed by several threads: the same results as one thread, and a malformed file
    still raises the error that names its path and line."""
    monkeypatch.setattr(results_io, "_usable_cpus", lambda: 3)
    monkeypatch.setattr(results_io, "PARALLEL_MIN_FILES", 4)
    names = [f"s{i:02d}" for i in range(40)]
    out = tmp_path / "res"
    _write(out, "otb", _result_set(np.random.default_rng(4), names))
    serial = load_results(out, names, cache=False)
    par = load_results(out, names)
    assert list(par) == names
    _same(par, serial)
    with open(out / "s17.txt", "a") as f:
        f.write("1,2,3\n")
    with pytest.raises(DatasetFormatError, match=r"s17\.txt:\d+: expected 4 values, found 3"):
        load_results(out, names)

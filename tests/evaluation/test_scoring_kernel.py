"""The compiled (numba) scoring kernel against the numpy path of ``ope.box_pair_counts``: the same counts on
awkward inputs, bit-identical per-frame values, exact threshold bins; and the numpy fallback."""
import sys

import numpy as np
import pytest

from sot.evaluation import ope

GRIDS = (ope.IOU_THRESHOLDS, ope.CENTER_THRESHOLDS, ope.NORM_CENTER_THRESHOLDS)


def _numpy_counts(preds, gts, first_from_gt=True, chunk_frames=ope.CHUNK_FRAMES):
    return ope._box_pair_counts_numpy(preds, gts, first_from_gt, chunk_frames)


def _numba_counts(monkeypatch, preds, gts, first_from_gt=True):
    monkeypatch.delenv("SOT_NO_NUMBA", raising=False)
    assert ope.scoring_backend() == "numba"
    return ope.box_pair_counts(preds, gts, first_from_gt)


def _brute_counts(preds, gts, first_from_gt=True):
    """Frame by frame with the toolkit's comparisons (``iou > t`` after clipping, ``error <= t``)."""
    out = ([], [], [])
    for p, g in zip(preds, gts):
        p = np.array(p, dtype=np.float64)
        if first_from_gt and len(p):
            p[0] = g[0]
        with np.errstate(all="ignore"):
            iou, ce, nce = ope.frame_metrics(p, g)
        for o, v, thr, cmp in zip(out, (iou, ce, nce), GRIDS, (np.greater, np.less_equal, np.less_equal)):
            o.append(cmp(v[:, None], thr[None]).sum(0))
    return [np.array(o, dtype=np.int64).reshape(len(preds), -1) for o in out]


def _awkward_rows(rng, lengths=(0, 1, 2, 7, 40, 300, 1, 0, 1000, 3)):
    """Row sets with NaN rows, inf, negative and zero sizes, boxes far outside, exact ties, values exactly on
    the thresholds, empty and one-frame rows, in several memory layouts."""
    preds, gts = [], []
    for n in lengths:
        gt = np.concatenate([rng.uniform(-20, 400, (n, 2)), rng.uniform(0, 120, (n, 2))], 1)
        r = rng.random(n)
        gt[r < 0.05] = np.nan
        gt[(r > 0.05) & (r < 0.08), 2:] = 0  # zero-size ground truth: normalized error inf / NaN
        gt[(r > 0.08) & (r < 0.1), 3] = -5
        gt[(r > 0.1) & (r < 0.12)] = np.round(gt[(r > 0.1) & (r < 0.12)])
        p = gt + rng.normal(0, 1, (n, 4)) * rng.choice([0, 0.25, 1, 5, 30, 1e4], (n, 1))
        r = rng.random(n)
        p[r < 0.05] = np.nan
        p[(r > 0.05) & (r < 0.1), 2] *= -1  # negative width
        p[(r > 0.1) & (r < 0.13), 2:] = 0  # zero size
        p[(r > 0.13) & (r < 0.16)] = rng.choice([np.inf, -np.inf, 1e300, -1e300, 0.0, -0.0, 5e-324], (1, 4))
        p[(r > 0.16) & (r < 0.2), :2] += 1e6  # far outside
        p[(r > 0.2) & (r < 0.3)] = np.round(p[(r > 0.2) & (r < 0.3)])
        sel = (r > 0.3) & (r < 0.45)  # centre errors of exactly k px (3-4-5 triangles and axis shifts), k <= 50
        k = rng.integers(0, 11, sel.sum())
        p[sel] = gt[sel] + np.stack([3.0 * k, 4.0 * k, np.zeros_like(k), np.zeros_like(k)], 1)
        sel = (r > 0.45) & (r < 0.5)
        shift = np.zeros((sel.sum(), 4))
        shift[:, 0] = rng.integers(0, 52, sel.sum())  # centre error of exactly 0..51 px along x
        p[sel] = gt[sel] + shift
        # IoU k / 20 (exactly 0, 0.25, 0.5, 0.75, 1 among them): [0, 0, k, 1] against [0, 0, 20, 1]
        sel = np.flatnonzero((r > 0.5) & (r < 0.6))
        k = rng.integers(0, 21, len(sel))
        gt[sel] = [0, 0, 20, 1]
        p[sel] = np.stack([np.zeros_like(k), np.zeros_like(k), k, np.ones_like(k)], 1)
        sel = np.flatnonzero((r > 0.6) & (r < 0.63))  # IoU exactly 0.5 on boxes of other sizes
        gt[sel] = [10, 10, 10, 20]
        p[sel] = [10, 10, 10, 10]
        preds.append(p)
        gts.append(gt)
    # layouts: C rows, Fortran order, every other row of a bigger array, views of a (4, N) column block (the
    # parse cache's layout), read-only
    for i in range(len(preds)):
        kind = i % 6
        if kind == 1:
            preds[i] = np.asfortranarray(preds[i])
        elif kind == 2:
            big = np.repeat(preds[i], 2, axis=0)
            preds[i] = big[::2]
            gts[i] = np.asfortranarray(gts[i])
        elif kind == 3:
            block = np.ascontiguousarray(np.concatenate([np.zeros((4, 3)), preds[i].T, np.zeros((4, 2))], 1))
            preds[i] = block[:, 3:3 + len(preds[i])].T
        elif kind == 4:
            preds[i].flags.writeable = False
            gts[i].flags.writeable = False
    return preds, gts


@pytest.mark.parametrize("seed", range(12))
def test_numba_and_numpy_give_identical_counts(monkeypatch, seed):
    pytest.importorskip("numba")
    rng = np.random.default_rng(seed)
    lengths = tuple(rng.integers(0, 400, rng.integers(1, 12))) if seed % 2 else (0, 1, 2, 7, 40, 300, 1, 0, 1000, 3)
    preds, gts = _awkward_rows(rng, lengths)
    before = [np.array(p, copy=True) for p in preds]
    for first in (True, False):
        got = _numba_counts(monkeypatch, preds, gts, first)
        want = _numpy_counts(preds, gts, first, chunk_frames=int(rng.integers(1, 2000)))
        for a, b in zip(got, want):
            assert a.dtype == np.int64 and a.shape == b.shape
            assert np.array_equal(a, b)
        if seed < 3:
            for a, b in zip(got, _brute_counts(preds, gts, first)):
                assert np.array_equal(a, b)
    for p, b in zip(preds, before):  # inputs untouched (frame 0 is replaced on a copy)
        assert np.array_equal(p, b, equal_nan=True)


def test_numba_kernel_accepts_lists_and_float32(monkeypatch):
    pytest.importorskip("numba")
    rng = np.random.default_rng(5)
    gt = rng.uniform(1, 100, (30, 4))
    p = gt + rng.normal(0, 3, gt.shape)
    preds, gts = [p.astype(np.float32), p.tolist(), p[:0]], [gt, gt, gt[:0]]
    got = _numba_counts(monkeypatch, preds, gts)
    want = _numpy_counts([np.asarray(x, np.float64) for x in preds], gts)
    for a, b in zip(got, want):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="shapes differ"):
        ope.box_pair_counts([p[:5]], [gt])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        ope.box_pair_counts([p[:, :3]], [gt[:, :3]])


def test_numba_frame_values_are_bit_identical_to_numpy():
    """No FMA contraction, no reassociation: every IoU, centre error and normalized centre error has the
    bits of ``ope._otb_pass`` (the got10k toolkit's operations)."""
    pytest.importorskip("numba")
    from sot.evaluation import _ope_numba

    rng = np.random.default_rng(7)
    preds, gts = _awkward_rows(rng, (5000, 1, 333))
    p = np.concatenate([np.asarray(x, np.float64) for x in preds])
    g = np.concatenate(gts)
    p[:: 7] = rng.normal(0, 1, p[:: 7].shape) * 10.0 ** rng.integers(-300, 300, p[:: 7].shape)  # any magnitude
    g[3:: 11] = rng.normal(0, 1, g[3:: 11].shape) * 10.0 ** rng.integers(-300, 300, g[3:: 11].shape)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 3.5, 1e308, -1e308, 5e-324])
    p = np.concatenate([p, rng.choice(special, (4000, 4)), rng.choice(special, (500, 4))])  # every mix of them
    g = np.concatenate([g, rng.choice(special, (4000, 4)), g[:500]])
    n = len(p)
    got = np.empty((3, n))
    _ope_numba.frame_values(p, g, False, got)
    P, G = np.ascontiguousarray(p.T), np.ascontiguousarray(g.T)
    with np.errstate(all="ignore"):
        want = ope._otb_pass(P, G, np.empty((3, 2, n)), np.empty((3, n)))
    for a, b in zip(got, want):
        nan = np.isnan(b)
        assert np.array_equal(np.isnan(a), nan)
        assert np.array_equal(a[~nan], b[~nan])
        nonzero = ~nan & (b != 0)  # the same bits; a zero's sign (numpy's tie rule of np.maximum) passes no threshold
        assert np.array_equal(a[nonzero].view(np.int64), b[nonzero].view(np.int64))


def test_numba_bins_are_exact_at_and_next_to_every_threshold():
    pytest.importorskip("numba")
    from sot.evaluation import _ope_numba

    rng = np.random.default_rng(3)
    exact = np.concatenate(GRIDS + (np.arange(21) / 20.0, np.arange(51) * 0.01))  # also the other roundings
    special = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, -1.0, 1.0, 2.0, 50.5, 51.0, 1e300, -1e300, 5e-324]
    v = np.concatenate([exact, np.nextafter(exact, -np.inf), np.nextafter(exact, np.inf), rng.random(4000),
                        rng.random(4000) * 60, rng.random(1000) * 0.6, special])
    out = np.empty((3, len(v)))
    _ope_numba.frame_bins(np.stack([v, v, v]), out)
    iou = np.clip(v, 0.0, 1.0)  # the toolkit's clip (NaN stays NaN)
    k_iou = np.searchsorted(ope.IOU_THRESHOLDS, iou, side="left")
    k_iou[np.isnan(v)] = 0
    assert np.array_equal(out[0], k_iou)
    for row, thr in ((1, ope.CENTER_THRESHOLDS), (2, ope.NORM_CENTER_THRESHOLDS)):
        k = np.searchsorted(thr, v, side="left")
        k[np.isnan(v)] = len(thr)
        assert np.array_equal(out[row], k)


def test_numpy_fallback_when_switched_off(monkeypatch):
    monkeypatch.setenv("SOT_NO_NUMBA", "1")
    assert ope.scoring_backend() == "numpy"
    preds, gts = _awkward_rows(np.random.default_rng(11))
    for a, b in zip(ope.box_pair_counts(preds, gts), _brute_counts(preds, gts)):
        assert np.array_equal(a, b)


def test_numpy_fallback_without_numba(monkeypatch):
    monkeypatch.delenv("SOT_NO_NUMBA", raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    monkeypatch.delitem(sys.modules, "sot.evaluation._ope_numba", raising=False)
    monkeypatch.delattr(sys.modules["sot.evaluation"], "_ope_numba", raising=False)
    monkeypatch.setattr(ope, "_KERNEL", None)
    assert ope.scoring_backend() == "numpy"
    preds, gts = _awkward_rows(np.random.default_rng(12), (0, 4, 90))
    for a, b in zip(ope.box_pair_counts(preds, gts), _brute_counts(preds, gts)):
        assert np.array_equal(a, b)


# ------------------------------------------------------------------------------ compiled result parser
def _decimal_strings(rng, count):
    """Plain decimals of every length the parser takes (and some it does not): ``[-]int[.frac]``."""
    out = []
    for _ in range(count):
        n_int, n_frac = int(rng.integers(0, 12)), int(rng.integers(0, 12))
        s = "".join(rng.choice(list("0123456789"), n_int)) + (
            "." + "".join(rng.choice(list("0123456789"), n_frac)) if n_frac or rng.random() < 0.1 else "")
        if not s.strip(".") or s == ".":
            s = "0"
        out.append(("-" if rng.random() < 0.3 else "") + s)
    return out


def _digits(v: str) -> int:
    return len(v.replace("-", "").replace(".", ""))


@pytest.mark.parametrize("fields,newline,last", [(4, "\n", "\n"), (4, "\r\n", "\r\n"), (1, "\n", ""), (3, "\n", "")])
def test_parser_gives_the_bits_of_np_loadtxt(monkeypatch, tmp_path, fields, newline, last):
    pytest.importorskip("numba")
    from sot.evaluation import _parse_numba, results_io

    monkeypatch.delenv("SOT_NO_NUMBA", raising=False)
    rng = np.random.default_rng(fields)
    vals = [v for v in _decimal_strings(rng, 4000 * fields) if _digits(v) <= 15][:3000 * fields]
    vals[:6] = ["-0.000", "0", "-0", "9007199254740992", "0.30000000000000004"[:17], "-.5"]  # -0.0, 2**53
    edge = ["9007199254740993", "123456789012345678", "1.7976931348623157", "0.1000000000000000055511151231257827"]
    rows = [",".join(vals[i:i + fields]) for i in range(0, len(vals) - len(vals) % fields, fields)]
    edge_rows = [",".join([e] * fields) for e in edge]
    tables = [np.round(rng.normal(300, 100, (2500, fields)), 3), rng.uniform(0.01, 0.03, (2500, fields))]
    files = [(newline.join(rows) + last, True), (newline.join(rows + edge_rows) + last, False)]
    files += [(np.savetxt, fmt) for fmt in ("%.3f", "%.8f")]
    for i, (text, compiled) in enumerate(files):
        p = tmp_path / f"t{i}.txt"
        if text is np.savetxt:
            np.savetxt(p, tables[i - 2], fmt=compiled, delimiter=",", newline=newline)
            compiled = True  # what trackers write goes the compiled way
        else:
            p.write_bytes(text.encode())
        want = np.loadtxt(p, delimiter=",", ndmin=2)
        got = results_io.read_rows(p, fields)
        assert got.shape == want.shape
        assert np.array_equal(got.view(np.int64), want.view(np.int64))  # same bits, -0.0 included
        ok, values, n = _parse_numba.parse_rows(_parse_numba.read_padded(p), fields)
        assert ok == compiled
        if ok:
            assert np.array_equal(values[:n].view(np.int64), want.view(np.int64))
    # against Python's correctly rounded float(), one file and value by value (edge cases rejected)
    ok, values, n = _parse_numba.parse_rows(_parse_numba.padded("\n".join(vals).encode()), 1)
    assert ok and np.array_equal(values[:n, 0].view(np.int64), np.array([float(v) for v in vals]).view(np.int64))
    for v in _decimal_strings(rng, 3000) + edge:
        ok, values, n = _parse_numba.parse_rows(_parse_numba.padded(v.encode()), 1)
        assert ok == (_digits(v) <= 18 and int(v.replace("-", "").replace(".", "") or 0) <= 2 ** 53), v
        if ok:
            assert n == 1 and values[0, 0].view(np.int64) == np.float64(float(v)).view(np.int64), v


@pytest.mark.parametrize("text", [
    "", "\n", "1,2,3,4\n\n5,6,7,8\n", " 1,2,3,4\n", "1, 2,3,4\n", "1\t2\t3\t4\n", "1;2;3;4\n", "1 2 3 4\n",
    "nan,2,3,4\n", "NaN,2,3,4\n", "inf,2,3,4\n", "1e3,2,3,4\n", "+1,2,3,4\n", "1,2,3,4,\n", "1,2,3,4,5\n",
    "1,2,3\n", "1,,3,4\n", "1,2,3,4\r5,6,7,8\n", "# c\n1,2,3,4\n", "1,2,3,x\n", "1.2.3,2,3,4\n", "-,2,3,4\n",
    "1234567890123456789,2,3,4\n", "0.1234567890123456789,2,3,4\n", "\ufeff1,2,3,4\n", "1,2,3,4\n\n",
    "12345678901234567,2,3,4\n"])
def test_parser_hands_everything_else_to_the_old_readers(monkeypatch, tmp_path, text):
    """Whatever the compiled parser rejects reads (or fails, naming the file and line) exactly as before."""
    pytest.importorskip("numba")
    from sot.datasets.base import DatasetFormatError
    from sot.evaluation import _parse_numba, results_io

    p = tmp_path / "a.txt"
    p.write_bytes(text.encode("utf-8"))
    ok, _, _ = _parse_numba.parse_rows(_parse_numba.padded(p.read_bytes()), 4)
    assert not ok

    def read(no_numba):
        if no_numba:
            monkeypatch.setenv("SOT_NO_NUMBA", "1")
        else:
            monkeypatch.delenv("SOT_NO_NUMBA", raising=False)
        try:
            return results_io.read_rows(p, 4)
        except DatasetFormatError as e:
            return str(e)

    a, b = read(False), read(True)
    if isinstance(b, str):
        assert a == b and str(p) in a
    else:
        assert np.array_equal(a, b, equal_nan=True)


def test_numba_threads_give_the_counts_of_one_thread(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.delenv("SOT_NO_NUMBA", raising=False)
    monkeypatch.setattr(ope, "_KERNEL", None)
    rng = np.random.default_rng(11)
    preds, gts = _awkward_rows(rng, tuple(rng.integers(0, 300, 17)))
    one = ope.box_pair_counts(preds, gts, workers=1)
    assert ope.scoring_backend() == "numba"
    for w in (2, 3, 40):
        for a, b in zip(ope.box_pair_counts(preds, gts, workers=w), one):
            assert np.array_equal(a, b)


# ------------------------------------------------------------------------------ speeds (mean of 1 / t)
def _toolkit_speed(times):
    """got10k ExperimentOTB: ``times = times[times > 0]; np.mean(1. / times)`` (0 where none)."""
    t = np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for x in times])
    t = t[t > 0]
    return np.mean(1.0 / t) if len(t) else 0.0


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_speeds_are_bit_identical_to_the_toolkit(monkeypatch, backend):
    """Lengths around numpy's pairwise-sum leaves (8, 128) and splits, NaN / zero / negative times,
    repetitions joined, sequences without times."""
    from sot.evaluation.protocols import _speeds

    if backend == "numpy":
        monkeypatch.setenv("SOT_NO_NUMBA", "1")
    else:
        monkeypatch.delenv("SOT_NO_NUMBA", raising=False)
    rng = np.random.default_rng(21)
    lengths = [0, 1, 7, 8, 9, 15, 16, 17, 127, 128, 129, 136, 255, 256, 257, 1000, 2500, 4099, 20000]
    per_seq = []
    for i, n in enumerate(lengths * 2):
        t = rng.uniform(1e-4, 0.2, n) * rng.choice([1e-3, 1, 1e3], n)
        if i % 3 == 1:
            t[rng.random(n) < 0.1] = rng.choice([np.nan, 0.0, -0.0, -1.0, np.inf])
        per_seq.append([t] if i % 4 else [t, t[: n // 2].copy()])
    per_seq += [None, [], [np.full(5, np.nan)], [np.zeros(3)], [np.ones((4, 1))]]
    got = _speeds(per_seq)
    want = np.array([_toolkit_speed(x) if x else 0.0 for x in per_seq])
    assert got.tobytes() == want.tobytes()


def test_parser_buffer_ends_in_one_zero_byte(tmp_path):
    """The parser's input is the file's bytes plus a terminating 0 (its digit loops stop there); a buffer
    without it, or a text holding a 0 byte, is refused rather than read past its end."""
    pytest.importorskip("numba")
    from sot.evaluation import _parse_numba

    p = tmp_path / "a.txt"
    p.write_bytes(b"1.5,2,3,4\n-5,6,7,8.25")
    buf = _parse_numba.read_padded(p)
    assert bytes(buf) == p.read_bytes() + b"\0"
    ok, values, n = _parse_numba.parse_rows(buf, 4)
    assert ok and n == 2 and values.tolist() == [[1.5, 2, 3, 4], [-5, 6, 7, 8.25]]
    assert not _parse_numba.parse_rows(np.frombuffer(bytearray(b"1,2,3,4"), np.uint8), 4)[0]  # no terminator
    assert not _parse_numba.parse_rows(_parse_numba.padded(b"1,2\x003,4"), 4)[0]
    assert not _parse_numba.parse_rows(_parse_numba.padded(b""), 4)[0]

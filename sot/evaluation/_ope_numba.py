"""Compiled (numba) kernel of :func:`sot.evaluation.ope.box_pair_counts`: one pass over the frames of each
row, no temporaries beyond a few L1-sized block buffers. Imported lazily by :mod:`sot.evaluation.ope`;
importing this module raises ``ImportError`` where numba is not installed, and ``ope`` then keeps its numpy
path. Importing it compiles the kernel once (about 1.5 s) or loads it from numba's on-disk cache (the
``__pycache__`` folder next to this file, else numba's user cache folder, ``NUMBA_CACHE_DIR``).

Exactness: every value is computed with the floating-point operations of ``ope._otb_pass`` (the got10k
toolkit's), in the same order, each rounded to float64: no ``fastmath``, so LLVM neither reassociates nor
contracts a multiply and an add into an FMA (the tests compare the values bit for bit with numpy's);
``error_model="numpy"``, so a division by zero gives inf / NaN as in numpy instead of raising.
``np.minimum`` / ``np.maximum`` propagate NaN, and so do :func:`_nmin` / :func:`_nmax`. Threshold bins
``k(v) = #{j: thr[j] < v}`` are exact: a rounded guess settled by one comparison with the grid value,
recomputed by a formula (or read from a constant table) that reproduces the grid bit for bit (checked by
:func:`grids_match`).

The frame speeds (``mean(1 / t)``) are summed by :func:`inverse_time_sums` in numpy's pairwise order, so they
too are bit-identical to the toolkit's ``np.mean``.

Cost: the box pass reads 64 bytes per frame (two float64 boxes); at LaSOT size (700k frames, 45 MB) about half
of a thread's time goes to that memory stream and half to the arithmetic (five divisions and two square
roots per frame).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types

EPS = np.finfo(np.float64).eps

_OPTS = dict(nogil=True, error_model="numpy", fastmath=False)

# The threshold grids of ``ope.box_pair_counts`` as formulas that reproduce them bit for bit (``ope`` checks
# :func:`grids_match` before it uses this kernel): compile-time constants, so that the bins cost no table
# lookup and no division by 1.
IOU_T, IOU_STEP = 21, 0.05  # thr[j] = j * 0.05 == np.linspace(0, 1, 21)
CE_T = 51  # thr[j] = j == np.arange(51.0)
NCE_T, NCE_DEN = 51, 100.0  # thr[j] = j / 100 == np.arange(51.0) / 100


def grids_match(iou_thr, ce_thr, nce_thr) -> bool:
    """Whether the three grids are the ones this kernel computes (exactly, every value)."""
    return (np.array_equal(np.arange(IOU_T, dtype=np.float64) * IOU_STEP, iou_thr)
            and np.array_equal(np.arange(CE_T, dtype=np.float64), ce_thr)
            and np.array_equal(np.arange(NCE_T, dtype=np.float64) / NCE_DEN, nce_thr))


def _jit(fn=None, sig=None, **kw):
    if fn is None:
        return lambda f: _jit(f, sig, **kw)
    args = () if sig is None else (sig,)
    try:
        return njit(*args, cache=True, **_OPTS, **kw)(fn)
    except RuntimeError:  # no writable cache location (read-only install, no user cache folder): compile each run
        return njit(*args, cache=False, **_OPTS, **kw)(fn)


# Helpers are inlined into the kernel by numba (``inline="always"``), so that the frame loop has no calls and
# no branches (conditional expressions become selects) and LLVM vectorises it.
_inline = _jit(inline="always")


@_inline
def _nmin(a, b):
    """``np.minimum(a, b)`` of scalars: ``a`` if ``a < b`` or ``a`` is NaN, else ``b`` (NaN if either is; of
    two equal values ``b``, as numpy's loops return it, so that even the signs of zeros agree)."""
    return a if (a < b) | (a != a) else b


@_inline
def _nmax(a, b):
    """``np.maximum(a, b)`` of scalars: ``a`` if ``a > b`` or ``a`` is NaN, else ``b``."""
    return a if (a > b) | (a != a) else b


@_inline
def _frame(px, py, pw, ph, gx, gy, gw, gh):
    """``(iou, centre error, normalized centre error)`` of one box pair: the operations of ``ope._otb_pass``
    (got10k ``rect_iou`` / ``center_error``, pytracking's normalized error) in their order. IoU not clipped."""
    # IoU = inter / (area_p + area_g - inter + eps)
    iw = _nmax(_nmin(px + pw, gx + gw) - _nmax(px, gx), 0.0)
    ih = _nmax(_nmin(py + ph, gy + gh) - _nmax(py, gy), 0.0)
    inter = iw * ih
    union = pw * ph
    union = union + gw * gh
    union = union - inter
    union = union + EPS
    iou = inter / union
    # centres xy + (wh - 1) * 0.5 (== / 2, halving is exact)
    cpx = (pw - 1.0) * 0.5 + px
    cpy = (ph - 1.0) * 0.5 + py
    cgx = (gw - 1.0) * 0.5 + gx
    cgy = (gh - 1.0) * 0.5 + gy
    dx = cpx - cgx
    dy = cpy - cgy
    ce = math.sqrt(dx * dx + dy * dy)
    nx = cpx / gw - cgx / gw  # per axis: c_p / wh_g - c_g / wh_g
    ny = cpy / gh - cgy / gh
    nce = math.sqrt(nx * nx + ny * ny)
    return iou, ce, nce


# Bins ``k(v) = #{j: thr[j] < v}`` (as float64): ``r = rint(v / step)`` clamped to ``[0, T - 1]`` is ``k`` or
# ``k - 1`` (``v`` lies within half a step of ``r * step``, and the grid values and the product are within a
# few ulps of ``j * step``, far less than half a step), so ``k = r + (thr[r] < v)`` with ``thr[r]`` recomputed
# by the formula that reproduces the grid bit for bit (or looked up: ``NCE_GRID``): one exact comparison.


@_inline
def _bin_iou(v):
    """Bin of the IoU clipped to ``[0, 1]`` as the toolkit does (``k(min(max(v, 0), 1))``, at most 20);
    NaN: 0 (passes no ``IoU > t``)."""
    x = v * (IOU_T - 1.0)
    x = x if x >= 0.0 else 0.0  # also NaN -> 0 (the result is replaced below)
    x = x if x <= IOU_T - 1.0 else IOU_T - 1.0
    r = np.rint(x)
    k = r + (1.0 if r * IOU_STEP < v else 0.0)
    k = k if k <= IOU_T - 1.0 else IOU_T - 1.0  # v > 1 counts as 1: thr[19] < 1 <= thr[20]
    return 0.0 if v != v else k


@_inline
def _bin_ce(v):
    """Bin of a centre error on ``0, 1, ..., 50`` px; NaN: ``T`` (passes no ``error <= t``)."""
    x = v if v >= 0.0 else 0.0
    x = x if x <= CE_T - 1.0 else CE_T - 1.0
    r = np.rint(x)
    k = r + (1.0 if r < v else 0.0)
    return CE_T if v != v else k


NCE_GRID = np.arange(NCE_T, dtype=np.float64) / NCE_DEN  # a compile-time constant table (a lookup, not a division)


@_inline
def _bin_nce(v):
    """Bin of a normalized centre error on ``0, 0.01, ..., 0.5``; NaN: ``T``."""
    x = v * NCE_DEN
    x = x if x >= 0.0 else 0.0
    x = x if x <= NCE_T - 1.0 else NCE_T - 1.0
    r = np.rint(x)
    k = r + (1.0 if NCE_GRID[np.int64(r)] < v else 0.0)
    return NCE_T if v != v else k


BLOCK = 256  # frames per block: their columns, values and bins stay in the L1 cache
LANES = 2  # histogram copies counted in turn: a run of equal bins does not wait on its own increments


_BOXES = types.Array(types.float64, 2, "A", readonly=True)  # any strides, writable or not
_HIST = types.Array(types.int64, 2, "A")


# one signature, compiled (or loaded from numba's cache) when this module is imported: every box layout
# (C arrays, views of the parse cache, transposes) runs the same machine code
@_jit(sig=types.void(_BOXES, _BOXES, types.boolean, _HIST, _HIST, _HIST, types.int64))
def row_histograms(p, g, first_from_gt, h_iou, h_ce, h_nce, row):
    """Add the threshold bins of one row's frames to ``h_iou[row]`` ``(21 + 1)``, ``h_ce[row]`` and
    ``h_nce[row]`` ``(51 + 1)``.

    ``p``, ``g``: ``(n, 4)`` float64 predicted / ground-truth boxes (any strides). Bins: see :func:`_bin_iou`,
    :func:`_bin_ce`, :func:`_bin_nce`. ``first_from_gt``: frame 0 scored as the ground truth.

    Frames go in blocks of :data:`BLOCK`: their boxes are copied into contiguous ``x, y, w, h`` columns, a
    loop without branches computes the values and bins of the block from the columns (vectorised by LLVM),
    and a last loop counts the bins into :data:`LANES` private histograms, added to the rows at the end.
    """
    n = p.shape[0]
    c = np.empty((8, BLOCK))
    k = np.empty((3, BLOCK), np.int64)
    hi = np.zeros((LANES, IOU_T + 1), np.int64)
    hc = np.zeros((LANES, CE_T + 1), np.int64)
    hn = np.zeros((LANES, NCE_T + 1), np.int64)
    for b0 in range(0, n, BLOCK):
        m = min(BLOCK, n - b0)
        for j in range(m):
            i = b0 + j
            c[0, j], c[1, j], c[2, j], c[3, j] = p[i, 0], p[i, 1], p[i, 2], p[i, 3]
            c[4, j], c[5, j], c[6, j], c[7, j] = g[i, 0], g[i, 1], g[i, 2], g[i, 3]
        if b0 == 0 and first_from_gt and m > 0:
            c[0, 0], c[1, 0], c[2, 0], c[3, 0] = c[4, 0], c[5, 0], c[6, 0], c[7, 0]
        for j in range(m):
            iou, ce, nce = _frame(c[0, j], c[1, j], c[2, j], c[3, j], c[4, j], c[5, j], c[6, j], c[7, j])
            k[0, j] = np.int64(_bin_iou(iou))
            k[1, j] = np.int64(_bin_ce(ce))
            k[2, j] = np.int64(_bin_nce(nce))
        for j in range(m):
            u = j % LANES
            hi[u, k[0, j]] += 1
            hc[u, k[1, j]] += 1
            hn[u, k[2, j]] += 1
    for u in range(LANES):
        for b in range(IOU_T + 1):
            h_iou[row, b] += hi[u, b]
        for b in range(CE_T + 1):
            h_ce[row, b] += hc[u, b]
        for b in range(NCE_T + 1):
            h_nce[row, b] += hn[u, b]


@_inline
def _block_sum(a, lo, n):
    """numpy's pairwise-sum leaf (``n <= 128``): 8 accumulators, combined as a tree, then the tail."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    end = lo + n - n % 8
    while i < end:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@_inline
def _pairwise_sum(a, n):
    """``a[:n]`` summed in the order of numpy's pairwise summation (``np.add.reduce`` of a contiguous float64
    array: leaves of up to 128 values, longer runs split in two at ``n // 2`` rounded down to a multiple of
    8, the halves' sums added), so that the sum is bit-identical to numpy's. numpy recurses; this walks the
    same tree with explicit stacks (numba's cache does not hold recursive functions safely)."""
    if n <= 128:
        return _block_sum(a, 0, n)
    # task stack: (lo, length, 0 = sum this run / 1 = add the two sums on top of the value stack)
    task_lo = np.empty(256, np.int64)
    task_n = np.empty(256, np.int64)
    task_op = np.empty(256, np.int64)
    vals = np.empty(128)
    nt, nv = 1, 0
    task_lo[0], task_n[0], task_op[0] = 0, n, 0
    while nt > 0:
        nt -= 1
        lo, m, op = task_lo[nt], task_n[nt], task_op[nt]
        if op == 1:
            nv -= 1
            vals[nv - 1] = vals[nv - 1] + vals[nv]
        elif m <= 128:
            vals[nv] = _block_sum(a, lo, m)
            nv += 1
        else:
            m2 = m // 2
            m2 -= m2 % 8
            task_lo[nt], task_n[nt], task_op[nt] = 0, 0, 1  # after both halves: left + right
            task_lo[nt + 1], task_n[nt + 1], task_op[nt + 1] = lo + m2, m - m2, 0  # then the right half
            task_lo[nt + 2], task_n[nt + 2], task_op[nt + 2] = lo, m2, 0  # the left half first
            nt += 3
    return vals[0]


_TIMES = types.Array(types.float64, 1, "C", readonly=True)  # callers pass np.ascontiguousarray
_OFFSETS = types.Array(types.int64, 1, "C", readonly=True)
_SUMS = types.Array(types.float64, 1, "C")
_COUNTS = types.Array(types.int64, 1, "C")


@_jit(sig=types.void(_TIMES, _OFFSETS, _SUMS, _COUNTS))
def inverse_time_sums(t, offsets, sums, counts):
    """Per segment ``s`` of ``t[offsets[s]:offsets[s + 1]]``: ``sums[s] = sum(1 / t)`` and ``counts[s]`` over
    its times ``t > 0`` (NaN is not). The got10k toolkit's speed ``np.mean(1. / times[times > 0])`` of a
    sequence is ``sum / count``; each sum is bit-identical to numpy's (its pairwise order on the segment's
    own array)."""
    longest = 0
    for s in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[s + 1] - offsets[s])
    inv = np.empty(longest)  # one segment's inverses, reused (stays in cache)
    for s in range(offsets.shape[0] - 1):
        lo, hi = offsets[s], offsets[s + 1]
        m = 0
        for i in range(lo, hi):
            m += t[i] > 0
        if m == hi - lo:  # the usual case: every time positive, a loop without branches
            for i in range(lo, hi):
                inv[i - lo] = 1.0 / t[i]
        else:
            m = 0
            for i in range(lo, hi):
                if t[i] > 0:
                    inv[m] = 1.0 / t[i]
                    m += 1
        sums[s] = _pairwise_sum(inv, m)
        counts[s] = m


@_jit
def frame_values(p, g, first_from_gt, out):
    """``out[:, i] = (iou, centre error, normalized centre error)`` of frame ``i`` (the kernel's arithmetic
    without the bins; IoU not clipped), to check bit-identity against ``ope._otb_pass``."""
    for i in range(p.shape[0]):
        gx, gy, gw, gh = g[i, 0], g[i, 1], g[i, 2], g[i, 3]
        if i == 0 and first_from_gt:
            out[0, i], out[1, i], out[2, i] = _frame(gx, gy, gw, gh, gx, gy, gw, gh)
        else:
            out[0, i], out[1, i], out[2, i] = _frame(p[i, 0], p[i, 1], p[i, 2], p[i, 3], gx, gy, gw, gh)


@_jit
def frame_bins(v, out):
    """``out[:, i]`` = the three bins of ``v[:, i]`` (IoU, centre error, normalized centre error), for tests."""
    for i in range(v.shape[1]):
        out[0, i] = _bin_iou(v[0, i])
        out[1, i] = _bin_ce(v[1, i])
        out[2, i] = _bin_nce(v[2, i])

"""One-pass evaluation (OPE) metrics, vectorised over every frame of every sequence at once.

The formulas follow the got10k toolkit (``got10k.utils.metrics``) operation for operation, so the
numbers agree with it to the last few ulps; the per-protocol rules (which frames count, how invalid
boxes are treated, how scores are pooled) live in :mod:`sot.evaluation.protocols`.

Shapes: boxes are ``(N, 4)`` float64 ``[x, y, w, h]``; ``lengths`` is ``(S,)`` frame counts of ``S``
sequences whose frames are concatenated along the first axis.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sot.utils.cpus import usable_cpus

EPS = np.finfo(float).eps  # the got10k toolkit's IoU denominator guard

IOU_THRESHOLDS = np.linspace(0, 1, 21)  # success plot (OTB / LaSOT / UAV): 21 bins, IoU > t
CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64)  # precision plot: 0..50 px, error <= t
NORM_CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0  # normalized precision: 0..0.5
PRECISION_PX = 20  # precision score = precision curve at 20 px (index 20)
NORM_PRECISION_AT = 0.2  # normalized precision score = curve at 0.2 (index 20)


def _as_boxes(b) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"expected boxes of shape (N, 4), got {b.shape}")
    return b


def clip_to_image(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip ``[x, y, w, h]`` boxes to a ``width x height`` image exactly as the GOT-10k toolkit does.

    ``x`` is clipped to ``[0, width]`` first, then ``w`` to ``[0, width - x]`` (same for y, h). A box
    sticking out on the left keeps its width (it is not shortened by the part cut off): this is the
    toolkit's rule, kept so that the numbers agree. Returns a new array.
    """
    b = _as_boxes(boxes).copy()
    b[:, 0] = np.clip(b[:, 0], 0, width)
    b[:, 1] = np.clip(b[:, 1], 0, height)
    b[:, 2] = np.clip(b[:, 2], 0, width - b[:, 0])
    b[:, 3] = np.clip(b[:, 3], 0, height - b[:, 1])
    return b


def _cols(b):
    """Contiguous ``x, y, w, h`` columns (one transposing copy instead of four strided ones)."""
    if isinstance(b, tuple):
        return b
    t = np.ascontiguousarray(_as_boxes(b).T)
    return t[0], t[1], t[2], t[3]


def frame_metrics(pred, gt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(iou, center_error, normalized_center_error)`` of box pairs, sharing the column split and the
    centres. ``pred`` / ``gt``: ``(N, 4)`` arrays or ``(x, y, w, h)`` column tuples."""
    a, b = _cols(pred), _cols(gt)
    ca_x, ca_y, cb_x, cb_y, bw, bh = _centre_deltas(a, b)
    dx, dy = ca_x - cb_x, ca_y - cb_y
    ce = dx * dx
    ce += dy * dy
    np.sqrt(ce, out=ce)
    with np.errstate(divide="ignore", invalid="ignore"):
        nx = ca_x / bw
        nx -= cb_x / bw
        ny = ca_y / bh
        ny -= cb_y / bh
    nx *= nx
    ny *= ny
    nx += ny
    return rect_iou(a, b), ce, np.sqrt(nx, out=nx)


def rect_iou(pred, gt) -> np.ndarray:
    """IoU of ``(N, 4)`` box pairs, the got10k toolkit formula: ``inter / (union + eps)`` clipped to [0, 1].

    Intersections use continuous coordinates (``x2 = x + w``). A box with a negative width or height
    has no intersection, so IoU 0. NaN in either box gives NaN (callers decide what NaN means).
    Every operation is the toolkit's, in its order, so the values are bit-identical.
    """
    ax, ay, aw, ah = _cols(pred)
    bx, by, bw, bh = _cols(gt)
    if ax.shape != bx.shape:
        raise ValueError(f"rect_iou: shapes differ, {ax.shape} vs {bx.shape}")
    iw = np.minimum(ax + aw, bx + bw)
    iw -= np.maximum(ax, bx)
    np.maximum(iw, 0, out=iw)
    ih = np.minimum(ay + ah, by + bh)
    ih -= np.maximum(ay, by)
    np.maximum(ih, 0, out=ih)
    inter = iw
    inter *= ih
    union = aw * ah
    union += bw * bh
    union -= inter
    union += EPS
    inter /= union
    return np.clip(inter, 0.0, 1.0, out=inter)


def _centre_deltas(a, b):
    """Per-axis centre differences ``(x_a + (w_a - 1) / 2) - (x_b + (w_b - 1) / 2)``."""
    ax, ay, aw, ah = _cols(a)
    bx, by, bw, bh = _cols(b)
    ca_x, ca_y = ax + (aw - 1) / 2, ay + (ah - 1) / 2
    cb_x, cb_y = bx + (bw - 1) / 2, by + (bh - 1) / 2
    return ca_x, ca_y, cb_x, cb_y, bw, bh


def center_error(pred, gt) -> np.ndarray:
    """Euclidean distance between box centres ``x + (w - 1) / 2`` (the -1 cancels in the difference)."""
    ca_x, ca_y, cb_x, cb_y, _, _ = _centre_deltas(pred, gt)
    dx, dy = ca_x - cb_x, ca_y - cb_y
    dx *= dx
    dy *= dy
    dx += dy
    return np.sqrt(dx, out=dx)


def normalized_center_error(pred, gt) -> np.ndarray:
    """Centre distance with each axis divided by the ground-truth size (pytracking / LaSOT definition)."""
    ca_x, ca_y, cb_x, cb_y, bw, bh = _centre_deltas(pred, gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = ca_x / bw - cb_x / bw
        dy = ca_y / bh - cb_y / bh
        dx *= dx
        dy *= dy
        dx += dy
        return np.sqrt(dx, out=dx)


def segment_ids(lengths) -> np.ndarray:
    """``[2, 3] -> [0, 0, 1, 1, 1]``: the sequence index of each concatenated frame."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.repeat(np.arange(len(lengths)), lengths)


CHUNK_FRAMES = 1 << 14  # frames per pass: its ~20 reused float64 buffers stay in the L2 cache


class ThresholdGrid:
    """An ascending threshold grid and an exact O(1) bin index: ``k(v) = #{j: thr[j] < v}``
    (``== searchsorted(thr, v, 'left')``), so that ``v > thr[j] <=> j < k`` and ``v <= thr[j] <=> j >= k``.

    On an evenly spaced grid ``k`` is the nearest grid index ``r = rint((v - thr[0]) / step)`` plus one
    exact comparison ``thr[r] < v``. Where a formula reproduces the grid bit for bit (``j`` for 0..50 px:
    then ``k = ceil(v)``; ``j * step`` for ``linspace(0, 1, 21)``; ``j / den`` for ``arange(51) / 100``)
    ``thr[r]`` is recomputed by it, otherwise (MATLAB's ``0:0.05:1``, torch's ``arange``) looked up.
    Uneven grids use a binary search.
    """

    def __init__(self, thresholds):
        thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
        self.values, self.T = thr, len(thr)
        T, j = self.T, np.arange(len(thr), dtype=np.float64)
        self.t0, self.step, self.kind = (float(thr[0]) if T else 0.0), 0.0, "search"
        if T < 3 or not np.all(np.diff(thr) > 0):
            return
        self.step = step = (thr[-1] - thr[0]) / (T - 1)
        den = float(np.round(1.0 / step))
        if self.t0 == 0 and np.array_equal(j, thr):
            self.kind = "int"  # k = ceil(v), no correction needed
        elif np.array_equal(j * step + self.t0, thr):
            self.kind = "mul"
        elif self.t0 == 0 and den > 0 and np.array_equal(j / den, thr):
            self.kind, self.den = "div", den
        elif np.all(np.abs(thr - (j * step + self.t0)) <= 1e-9 * step):  # evenly spaced up to rounding
            self.kind = "table"
            self.ext = np.concatenate([[-np.inf], thr, [np.inf]])  # ext[g] = thr[g - 1], ext[g + 1] = thr[g]

    def bins(self, v: np.ndarray, nan_bin: int, top: int | None = None, out: np.ndarray | None = None,
             nonneg: bool = False) -> np.ndarray:
        """``k(v)`` as float64 in ``[0, top]`` (default ``top = T``); NaN goes to ``nan_bin``: 0 (fails every
        ``v > t``) or ``T`` (fails every ``v <= t``). ``top = k(c)`` gives the bins of ``min(v, c)``.
        ``out``: a float64 buffer shaped like ``v`` for the result (must not be ``v``). ``nonneg``: the
        caller knows ``v >= 0`` or NaN (a distance), which on a grid starting at 0 saves a clamp."""
        T = self.T
        top = T if top is None else top
        if nan_bin not in (0, T) or (nan_bin == T and top != T):
            raise ValueError(f"nan_bin must be 0 or T = {T} (with top = T)")
        with np.errstate(invalid="ignore", over="ignore"):
            if self.kind == "search":
                idx = np.searchsorted(self.values, v, side="left")
                if out is None:
                    k = idx.astype(np.float64)
                else:
                    k = out
                    k[...] = idx
                k[np.isnan(v)] = nan_bin
                return np.minimum(k, top, out=k)
            if self.kind == "int":
                k = np.ceil(v, out=out)  # #{j >= 0 integer: j < v}
            else:
                # r = the grid index nearest to v; v lies strictly between thr[r - 1] and thr[r + 1] (the
                # rounding of r is far below half a step), so k is r or r + 1: one exact comparison decides
                k = np.subtract(v, self.t0, out=out) if self.t0 else v
                k = np.multiply(k, self.den if self.kind == "div" else 1.0 / self.step, out=out)
                np.rint(k, out=k)
                if self.kind == "table":
                    idx = np.fmin(np.fmax(k, -1.0), T).astype(np.intp)  # NaN -> -1, fixed below
                    t = self.ext.take(idx + 1)  # ext[r + 1] = thr[r], -inf / +inf past the ends
                elif self.kind == "mul":
                    t = k * self.step
                    if self.t0:
                        t += self.t0
                else:
                    t = k / self.den
                k += t < v
                if self.kind == "table":
                    k[np.isnan(v)] = nan_bin
            # clamp; NaN -> nan_bin for free: fmax / fmin return the non-NaN operand
            if nan_bin == 0:
                np.fmax(k, 0.0, out=k)
                return np.minimum(k, top, out=k)
            np.fmin(k, T, out=k)
            if nonneg and self.t0 == 0 and self.kind != "table":
                return k  # r >= 0 and thr[0] = 0: already >= 0
            return np.maximum(k, 0.0, out=k)


_GRIDS: dict[bytes, ThresholdGrid] = {}


def grid(thresholds) -> ThresholdGrid:
    """The (memoised) :class:`ThresholdGrid` of a threshold array."""
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    key = thr.tobytes()
    g = _GRIDS.get(key)
    if g is None:
        g = _GRIDS[key] = ThresholdGrid(thr)
    return g


def _cumulate(hist: np.ndarray, above: bool) -> np.ndarray:
    """Per-row bin histograms ``(R, T + 1)`` of ``k`` -> counts ``(R, T)`` of ``v > t`` (above) or ``v <= t``."""
    T = hist.shape[1] - 1
    if above:  # v > thr[j] <=> k > j
        return np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]
    return np.cumsum(hist, axis=1)[:, :T]  # v <= thr[j] <=> k <= j


def threshold_counts(values, seg, n_segments: int, thresholds, above: bool) -> np.ndarray:
    """Per-sequence counts of frames passing each threshold, in O(N) (no N x T matrix).

    Args:
        values: ``(N,)`` per-frame values (IoU or centre error).
        seg: ``(N,)`` sequence index of each frame.
        thresholds: ``(T,)`` ascending.
        above: True counts ``value > t`` (success), False counts ``value <= t`` (precision).
            NaN never passes.
    Returns:
        ``(n_segments, T)`` int64 counts; identical to summing ``value > t`` / ``value <= t`` frame by frame.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    g = grid(thresholds)
    T = g.T
    key = g.bins(v, 0 if above else T)
    key += np.asarray(seg, dtype=np.float64) * (T + 1)
    hist = np.bincount(key.astype(np.intp), minlength=n_segments * (T + 1)).reshape(n_segments, T + 1)
    return _cumulate(hist, above)


def count_below(v: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """``k[i] = #{j: thr[j] < v[i]}`` for ascending ``thr`` (== ``searchsorted(thr, v, 'left')``); NaN gives 0."""
    return grid(thr).bins(np.asarray(v, dtype=np.float64), 0).astype(np.int64)


def _otb_pass(P, G, s2, s1):
    """IoU (not yet clipped to [0, 1]), centre error and normalized centre error of the column blocks
    ``P``, ``G`` ``(4, n)``, computed in the scratch buffers ``s2`` ``(3, 2, >= n)`` and ``s1`` ``(3, >= n)``.

    The got10k toolkit's operations in its order (:func:`rect_iou`, :func:`center_error`), so the values
    are bit-identical; x and y go through each operation together as ``(2, n)`` blocks.
    """
    n = P.shape[1]
    pxy, pwh, gxy, gwh = P[:2], P[2:], G[:2], G[2:]
    A, B, C = (x[:, :n] for x in s2)
    u, v, w = (x[:n] for x in s1)
    # IoU = inter / (area_p + area_g - inter + eps)
    np.add(pxy, pwh, out=A)
    np.add(gxy, gwh, out=B)
    np.minimum(A, B, out=A)
    np.maximum(pxy, gxy, out=B)
    A -= B
    np.maximum(A, 0.0, out=A)  # intersection width, height
    np.multiply(A[0], A[1], out=u)
    np.multiply(P[2], P[3], out=v)
    np.multiply(G[2], G[3], out=w)
    v += w
    v -= u
    v += EPS
    u /= v
    # centres xy + (wh - 1) / 2 (halving is exact: * 0.5 == / 2)
    np.subtract(pwh, 1.0, out=A)
    A *= 0.5
    A += pxy
    np.subtract(gwh, 1.0, out=B)
    B *= 0.5
    B += gxy
    np.subtract(A, B, out=C)
    C *= C
    np.add(C[0], C[1], out=v)
    np.sqrt(v, out=v)  # centre error
    A /= gwh  # normalized: c_p / wh_g - c_g / wh_g per axis
    B /= gwh
    A -= B
    A *= A
    np.add(A[0], A[1], out=w)
    np.sqrt(w, out=w)
    return u, v, w


def box_pair_counts(preds, gts, first_from_gt: bool = True, chunk_frames: int = CHUNK_FRAMES,
                    workers: int | None = None):
    """Success / precision / normalized-precision counts of many box sequences.

    Two implementations give the same counts (tested equal):

    * compiled (:mod:`sot.evaluation._ope_numba`), used when numba can be imported and the environment
      variable ``SOT_NO_NUMBA`` is unset, empty or ``0``: one pass over each row's frames, no temporaries,
      about 3x faster, and its rows are shared among ``workers`` threads (the kernel releases the GIL;
      default: the CPUs this process may use, up to 8, for inputs of 200k frames or more). One-time cost: the first call of a process imports numba and loads the kernel from
      numba's on-disk cache (about 0.5 s); the first call after an install or a change of the kernel's
      source compiles it (about 1.5 s) and writes that cache.
    * numpy (:func:`_box_pair_counts_numpy`), otherwise: rows packed into passes of about ``chunk_frames``
      frames, each pass vectorised over its frames.

    :func:`scoring_backend` says which one runs. Both compute IoU, centre error and normalized centre error
    with the got10k toolkit's operations in its order (bit-identical values) and exact threshold bins.

    Args:
        preds, gts: equal-length lists of ``(n_i, 4)`` float64 ``[x, y, w, h]`` arrays (any strides).
        first_from_gt: score frame 0 of every row as the ground truth (the toolkits' initialisation rule);
            the caller's arrays are not modified.
        chunk_frames: frames per pass of the numpy path (the counts do not depend on it).
        workers: threads of the compiled path (the counts do not depend on it).
    Returns:
        int64 counts ``(R, 21)`` of IoU > t (:data:`IOU_THRESHOLDS`; IoU clipped to [0, 1] as the toolkit
        does), ``(R, 51)`` of centre error <= t (:data:`CENTER_THRESHOLDS`) and ``(R, 51)`` of normalized
        centre error <= t (:data:`NORM_CENTER_THRESHOLDS`). A NaN value passes no threshold.
    """
    if len(preds) != len(gts):
        raise ValueError(f"box_pair_counts: {len(preds)} predicted rows, {len(gts)} ground-truth rows")
    kernel = _kernel()
    if kernel is None:
        return _box_pair_counts_numpy(preds, gts, first_from_gt, chunk_frames)
    R = len(preds)
    h_iou = np.zeros((R, len(IOU_THRESHOLDS) + 1), np.int64)
    h_ce = np.zeros((R, len(CENTER_THRESHOLDS) + 1), np.int64)
    h_nce = np.zeros((R, len(NORM_CENTER_THRESHOLDS) + 1), np.int64)
    first = bool(first_from_gt)
    rows = []
    for r in range(R):
        p, g = _kernel_rows(preds[r]), _kernel_rows(gts[r])
        if p.shape != g.shape:
            raise ValueError(f"box_pair_counts: row {r}: shapes differ, {p.shape} vs {g.shape}")
        rows.append((p, g))

    def run(share):  # the kernel releases the GIL; every row adds to its own histogram rows only
        for r in share:
            kernel(rows[r][0], rows[r][1], first, h_iou, h_ce, h_nce, r)

    frames = sum(len(p) for p, _ in rows)
    if workers is None:
        workers = usable_cpus() if frames >= PARALLEL_MIN_FRAMES else 1
    workers = max(1, min(int(workers), R))
    if workers == 1:
        run(range(R))
    else:  # interleaved shares: neighbouring rows tend to have similar lengths
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, [range(w, R, workers) for w in range(workers)]))
    return _cumulate(h_iou, True), _cumulate(h_ce, False), _cumulate(h_nce, False)


PARALLEL_MIN_FRAMES = 200_000  # below this, starting threads costs more than they save


_KERNEL = None  # the compiled row kernel once looked up; False: numba unavailable or switched off


def numba_switched_off() -> bool:
    """Whether the environment variable ``SOT_NO_NUMBA`` asks for the numpy paths (set, not empty, not ``0``)."""
    return os.environ.get("SOT_NO_NUMBA", "0") not in ("", "0")


def _kernel():
    """The numba row kernel, or None where numba is not importable or ``SOT_NO_NUMBA`` is set (not ``0``)."""
    global _KERNEL
    if numba_switched_off():
        return None
    if _KERNEL is None:
        try:
            from sot.evaluation import _ope_numba
        except ImportError:  # numba not installed (or not for this numpy)
            _KERNEL = False
        except Exception as e:  # numba present but the kernel does not build here: numpy gives the same counts
            warnings.warn(f"sot.evaluation: numba kernel unavailable ({type(e).__name__}: {e}); using numpy")
            _KERNEL = False
        else:  # the kernel's grids are compile-time formulas: use it only while they are these arrays
            ok = _ope_numba.grids_match(IOU_THRESHOLDS, CENTER_THRESHOLDS, NORM_CENTER_THRESHOLDS)
            _KERNEL = _ope_numba.row_histograms if ok else False
    return _KERNEL or None


def inverse_time_sums(times: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(sums, counts)``: per array of frame times, ``sum(1 / t)`` and the count over its times ``t > 0``
    (NaN is not), the sum in numpy's pairwise order of the array (bit-identical to ``np.add.reduce``).
    The got10k toolkit's speed of a sequence is ``sum / count``. Compiled in one call where numba is used."""
    if _kernel() is None:
        sums, counts = np.zeros(len(times)), np.zeros(len(times), np.int64)
        for i, t in enumerate(times):
            t = np.asarray(t, dtype=np.float64).reshape(-1)
            t = t[t > 0]
            sums[i], counts[i] = np.add.reduce(np.divide(1.0, t)), len(t)
        return sums, counts
    from sot.evaluation import _ope_numba

    flat = [np.asarray(t, dtype=np.float64).reshape(-1) for t in times]
    offsets = np.zeros(len(flat) + 1, np.int64)
    np.cumsum([len(t) for t in flat], out=offsets[1:])
    sums, counts = np.empty(len(flat)), np.empty(len(flat), np.int64)
    cat = np.concatenate(flat) if flat else np.empty(0)
    _ope_numba.inverse_time_sums(cat, offsets, sums, counts)
    return sums, counts


def scoring_backend() -> str:
    """``"numba"`` or ``"numpy"``: the implementation :func:`box_pair_counts` uses in this process now."""
    return "numpy" if _kernel() is None else "numba"


def _kernel_rows(b) -> np.ndarray:
    """``b`` as an ``(N, 4)`` float64 array the kernel accepts (any strides; copied only if not float64 or
    not aligned)."""
    b = np.asarray(b, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"expected boxes of shape (N, 4), got {b.shape}")
    return b if b.flags.aligned else b.copy()


def _box_pair_counts_numpy(preds, gts, first_from_gt: bool = True, chunk_frames: int = CHUNK_FRAMES):
    """The numpy path of :func:`box_pair_counts`, in cache-sized passes.

    Rows (one repetition of one sequence each) are packed into passes of about ``chunk_frames`` frames:
    each pass transposes its boxes into contiguous ``x, y, w, h`` columns, computes IoU, centre error
    and normalized centre error (the got10k toolkit's operations), turns each into a threshold bin
    (:class:`ThresholdGrid`) and counts the bins of each row with ``bincount``. Temporaries are reused
    buffers of the pass size (fresh full-size arrays cost more in page faults than in arithmetic);
    nothing of size ``N x 21`` or ``N x 51`` is built, and no numpy call runs per sequence.
    """
    R = len(preds)
    g_iou, g_ce, g_nce = grid(IOU_THRESHOLDS), grid(CENTER_THRESHOLDS), grid(NORM_CENTER_THRESHOLDS)
    top_iou = int(g_iou.bins(np.ones(1), 0)[0])  # the toolkit clips IoU to [0, 1]: bin of min(iou, 1)
    W1, W2, W3 = g_iou.T + 1, g_ce.T + 1, g_nce.T + 1
    # IoU and centre-error bins share one bincount over (row, k_iou, k_ce); bin keys are exact in float64
    hist_joint = np.zeros((R, W1 * W2), np.int64)
    hist_norm = np.zeros((R, W3), np.int64)
    lens = np.fromiter((len(p) for p in preds), np.intp, R)
    ends = np.cumsum(lens)
    size = max(chunk_frames, int(lens.max(initial=0)))
    s2, s1 = np.empty((3, 2, size)), np.empty((3, size))
    pbuf, gbuf = np.empty((4, size)), np.empty((4, size))
    k1, k2, k3 = np.empty(size), np.empty(size), np.empty(size)
    key = np.empty(size, np.intp)
    ramp = np.arange(R, dtype=np.float64)
    ramp_joint, ramp_norm = ramp * (W1 * W2), ramp * W3
    r0 = 0
    while r0 < R:
        # rows [r0, r1): at least one, then as many as fit in chunk_frames
        r1 = max(r0 + 1, int(np.searchsorted(ends, ends[r0] - lens[r0] + chunk_frames, side="right")))
        n, nr = lens[r0:r1], r1 - r0
        m = int(ends[r1 - 1] - ends[r0] + lens[r0])
        if m:
            P = np.concatenate([preds[i].T for i in range(r0, r1)], axis=1, out=pbuf[:, :m])  # (4, m) columns
            G = np.concatenate([gts[i].T for i in range(r0, r1)], axis=1, out=gbuf[:, :m])
            if first_from_gt:
                starts = (np.cumsum(n) - n)[n > 0]
                P[:, starts] = G[:, starts]
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # NaN / empty boxes as given
                iou, ce, nce = _otb_pass(P, G, s2, s1)
                a = g_iou.bins(iou, 0, top_iou, out=k1[:m])
                b = g_ce.bins(ce, g_ce.T, out=k2[:m], nonneg=True)
                c = g_nce.bins(nce, g_nce.T, out=k3[:m], nonneg=True)
            a *= W2  # key = row * W1 * W2 + k_iou * W2 + k_ce, cast to an index as it is summed
            a += b
            np.add(a, np.repeat(ramp_joint[:nr], n), out=key[:m], casting="unsafe")
            hist_joint[r0:r1] += np.bincount(key[:m], minlength=nr * W1 * W2).reshape(nr, -1)
            np.add(c, np.repeat(ramp_norm[:nr], n), out=key[:m], casting="unsafe")
            hist_norm[r0:r1] += np.bincount(key[:m], minlength=nr * W3).reshape(nr, -1)
        r0 = r1
    joint = hist_joint.reshape(R, W1, W2)
    return _cumulate(joint.sum(2), True), _cumulate(joint.sum(1), False), _cumulate(hist_norm, False)


def success_curve(ious, thresholds=IOU_THRESHOLDS) -> np.ndarray:
    """Fraction of frames with ``IoU > t`` for each threshold (one sequence or pooled frames)."""
    ious = np.asarray(ious, dtype=np.float64).reshape(-1)
    counts = threshold_counts(ious, np.zeros(len(ious), np.int64), 1, thresholds, above=True)[0]
    return counts / len(ious)


def precision_curve(errors, thresholds=CENTER_THRESHOLDS) -> np.ndarray:
    """Fraction of frames with ``error <= t`` for each threshold."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    counts = threshold_counts(errors, np.zeros(len(errors), np.int64), 1, thresholds, above=False)[0]
    return counts / len(errors)


def sequence_curves(ious, errors, norm_errors, lengths, denominators=None):
    """Success, precision and normalized-precision curves of each sequence.

    Args:
        ious, errors, norm_errors: ``(N,)`` per-frame values of all sequences, concatenated.
        lengths: ``(S,)`` frames per sequence in the concatenation.
        denominators: ``(S,)`` the count each sequence's curve is divided by (default ``lengths``;
            pytracking divides by the full length on LaSOT/UAV even where frames were dropped).
    Returns:
        three arrays ``(S, 21)``, ``(S, 51)``, ``(S, 51)``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    seg = segment_ids(lengths)
    S = len(lengths)
    den = (lengths if denominators is None else np.asarray(denominators)).astype(np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        succ = threshold_counts(ious, seg, S, IOU_THRESHOLDS, above=True) / den
        prec = threshold_counts(errors, seg, S, CENTER_THRESHOLDS, above=False) / den
        norm = threshold_counts(norm_errors, seg, S, NORM_CENTER_THRESHOLDS, above=False) / den
    return succ, prec, norm


def segment_mean(values, lengths) -> np.ndarray:
    """Mean of ``values`` within each sequence (NaN for an empty one)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    sums = np.bincount(segment_ids(lengths), weights=values, minlength=len(lengths))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / lengths


def mean_fps(times) -> float:
    """got10k toolkit speed of one sequence: ``mean(1 / t)`` over its positive, non-NaN frame times; 0 if none."""
    if times is None:
        return 0.0
    sums, counts = inverse_time_sums([times])  # the rule lives there: np.mean's summation order, bit for bit
    return float(sums[0] / counts[0]) if counts[0] else 0.0

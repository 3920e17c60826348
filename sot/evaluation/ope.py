"""One-pass evaluation (OPE) metrics, vectorised over every frame of every sequence at once.

The formulas follow the got10k toolkit (``got10k.utils.metrics``) operation for operation, so the
numbers agree with it to the last few ulps; the per-protocol rules (which frames count, how invalid
boxes are treated, how scores are pooled) live in :mod:`sot.evaluation.protocols`.

Shapes: boxes are ``(N, 4)`` float64 ``[x, y, w, h]``; ``lengths`` is ``(S,)`` frame counts of ``S``
sequences whose frames are concatenated along the first axis.
"""
from __future__ import annotations

import numpy as np

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
    v = np.asarray(values, dtype=np.float64)
    thr = np.asarray(thresholds, dtype=np.float64)
    T = len(thr)
    # k = number of thresholds strictly below v: v > thr[j] <=> j < k, and v <= thr[j] <=> j >= k
    k = count_below(v, thr)
    k[np.isnan(v)] = 0 if above else T
    hist = np.bincount(np.asarray(seg, dtype=np.int64) * (T + 1) + k, minlength=n_segments * (T + 1))
    hist = hist.reshape(n_segments, T + 1)
    if above:
        return np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]
    return np.cumsum(hist, axis=1)[:, :T]


def count_below(v: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """``k[i] = #{j: thr[j] < v[i]}`` for ascending ``thr`` (== ``searchsorted(thr, v, 'left')``).

    Evenly spaced thresholds (all of the protocols' grids) take an O(1) guess ``ceil((v - thr[0]) / step)``
    that one exact comparison on each side corrects, several times faster than a binary search.
    NaN gives an arbitrary value (callers overwrite it).
    """
    T = len(thr)
    step = (thr[-1] - thr[0]) / (T - 1) if T > 1 else 0.0
    if T < 3 or step <= 0 or not np.allclose(np.diff(thr), step, rtol=1e-9, atol=0):
        return np.searchsorted(thr, v, side="left")
    with np.errstate(invalid="ignore"):
        g = np.ceil((v - thr[0]) * (1.0 / step))
        np.clip(g, 0, T, out=g)
        k = g.astype(np.int64)  # NaN -> some integer; overwritten by the caller
    np.clip(k, 0, T, out=k)
    # the guess can be one off where v sits within rounding of a threshold: fix with exact comparisons
    with np.errstate(invalid="ignore"):
        lo = thr[np.maximum(k - 1, 0)]
        k -= (k > 0) & (lo >= v)
        hi = thr[np.minimum(k, T - 1)]
        k += (k < T) & (hi < v)
    return k


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
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    t = t[~np.isnan(t)]
    t = t[t > 0]
    return float(np.mean(1.0 / t)) if len(t) else 0.0

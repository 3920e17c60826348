"""Scoring protocols: each reproduces one official toolkit's rules on the same inputs.

Every protocol is a function ``(sequences, results) -> Report`` registered under a name; :func:`score`
picks one (the dataset's ``default_protocol`` unless told otherwise). ``docs/protocols.md`` lists the
rule that differs between toolkits for each of them.
"""
from __future__ import annotations

import ast
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from sot.datasets.base import Sequence
from sot.evaluation import ope
from sot.evaluation.report import Report, TrackerResult

PROTOCOLS: dict[str, Callable[..., Report]] = {}


class ResultFormatError(ValueError):
    """Raw results that cannot be scored (missing sequence, wrong row count, invalid values)."""


def register(name: str):
    def wrap(fn):
        PROTOCOLS[name] = fn
        return fn

    return wrap


def score(dataset: Iterable[Sequence], results, protocol: str | None = None, *, skip_missing: bool = False,
          tracker: str | None = None, **options) -> Report:
    """Score one tracker's results on a dataset.

    Args:
        dataset: a :class:`~sot.datasets.base.SequenceDataset` (or any iterable of ``Sequence``).
        results: ``{sequence name: (N, 4) array | list of arrays (repetitions) | TrackerResult}`` or a
            directory of raw results in any supported layout (see :mod:`sot.evaluation.results_io`).
        protocol: a name in :data:`PROTOCOLS`; default ``dataset.default_protocol`` or ``"otb"``.
        skip_missing: score only the sequences that have results instead of raising.
        tracker: with a results directory holding several trackers, the one to read.
        options: protocol-specific keyword arguments (see each protocol).
    """
    protocol = protocol or getattr(dataset, "default_protocol", None) or "otb"
    if protocol not in PROTOCOLS:
        raise KeyError(f"unknown protocol {protocol!r}; known: {sorted(PROTOCOLS)}")
    seqs = list(dataset)
    if isinstance(results, (str, Path)):
        if protocol.startswith("vot"):
            from sot.evaluation.vot import load_vot_results

            results = load_vot_results(Path(results) / (tracker or ""), seqs, protocol)
        else:
            from sot.evaluation.results_io import load_results

            results = load_results(results, [s.name for s in seqs], tracker=tracker)
    results = {k: TrackerResult.coerce(v) for k, v in results.items()}
    missing = [s.name for s in seqs if s.name not in results]
    if missing:
        if not skip_missing:
            raise ResultFormatError(
                f"results missing for {len(missing)} of {len(seqs)} sequences, e.g. {missing[:5]} "
                f"(pass skip_missing=True to score the others)")
        seqs = [s for s in seqs if s.name in results]
    if not seqs:
        raise ResultFormatError("no sequence to score")
    return PROTOCOLS[protocol](seqs, results, **options)


# ----------------------------------------------------------------------------------------- helpers
def _check_rows(seq: Sequence, boxes: np.ndarray, rep: int) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ResultFormatError(f"{seq.name} (repetition {rep + 1}): results have shape {boxes.shape}, expected (N, 4)")
    if len(boxes) != len(seq):
        raise ResultFormatError(
            f"{seq.name} (repetition {rep + 1}): results have {len(boxes)} rows, ground truth has {len(seq)}")
    return boxes


def _tags(seq: Sequence) -> list[str]:
    return list(seq.attributes.get("tags", []))


def _speed(times: list[np.ndarray] | None) -> float:
    if not times:
        return 0.0
    return ope.mean_fps(np.concatenate([np.asarray(t, dtype=np.float64).reshape(-1) for t in times]))


def _speeds(times_per_seq) -> np.ndarray:
    """Per-sequence got10k speed ``mean(1 / t)`` over the positive times of all repetitions (0 where none).

    The times of a sequence's repetitions are joined (as the toolkit's ``np.concatenate``) and summed in the
    pairwise order of the toolkit's ``np.mean`` (:func:`sot.evaluation.ope.inverse_time_sums`: one compiled
    call for all sequences where numba is used), so the speeds are bit-identical.
    """
    out = np.zeros(len(times_per_seq))
    known = [i for i, times in enumerate(times_per_seq) if times]
    joined = [times_per_seq[i][0] if len(times_per_seq[i]) == 1 else
              np.concatenate([np.asarray(x, dtype=np.float64).reshape(-1) for x in times_per_seq[i]]) for i in known]
    sums, counts = ope.inverse_time_sums(joined)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[known] = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    return out


def _overall_speed(speeds: np.ndarray) -> float:
    """got10k OTB rule: mean over the sequences whose speed is known."""
    n = np.count_nonzero(speeds)
    return float(np.sum(speeds) / n) if n else float("nan")


def image_size(seq: Sequence) -> tuple[float, float]:
    """``(width, height)`` of a sequence's frames: ``attributes['resolution' | 'image_size']`` or the first frame."""
    for key in ("resolution", "image_size"):
        v = seq.attributes.get(key)
        if v is not None:
            if isinstance(v, str):
                v = ast.literal_eval(v)
            w, h = v
            return float(w), float(h)
    from PIL import Image

    with Image.open(seq.frames[0]) as im:
        return float(im.size[0]), float(im.size[1])


def _sequence_mean_report(protocol: str, seqs: list[Sequence], succ, prec, norm, speeds,
                          extra_seq: dict[str, np.ndarray] | None = None) -> Report:
    """Sequence-mean pooling (OTB / UAV / LaSOT / pytracking): average the per-sequence curves."""
    curves = {
        "success": (ope.IOU_THRESHOLDS, succ.mean(0)),
        "precision": (ope.CENTER_THRESHOLDS, prec.mean(0)),
        "norm_precision": (ope.NORM_CENTER_THRESHOLDS, norm.mean(0)),
    }

    def headline(s, p, n):
        return {"auc": float(np.mean(s)), "precision": float(p[ope.PRECISION_PX]),
                "norm_precision": float(n[20]), "success_rate": float(s[10])}

    metrics = headline(curves["success"][1], curves["precision"][1], curves["norm_precision"][1])
    metrics["fps"] = _overall_speed(speeds)
    # per sequence, column by column: succ.mean(1)[i] is bit-identical to np.mean(succ[i])
    cols = {"auc": succ.mean(1), "precision": prec[:, ope.PRECISION_PX], "norm_precision": norm[:, 20],
            "success_rate": succ[:, 10], "fps": np.where(speeds > 0, speeds, np.nan),
            "length": np.fromiter((len(s) for s in seqs), np.int64, len(seqs))}
    cols.update(extra_seq or {})
    names = list(cols)
    rows = zip(*(np.asarray(c).tolist() for c in cols.values()))
    per_seq = {seq.name: dict(zip(names, row)) for seq, row in zip(seqs, rows)}
    groups = defaultdict(list)
    for i, seq in enumerate(seqs):
        for t in _tags(seq):
            groups[t].append(i)
    per_attr = {}
    for t, idx in sorted(groups.items()):
        m = headline(succ[idx].mean(0), prec[idx].mean(0), norm[idx].mean(0))
        m["sequences"] = len(idx)
        per_attr[t] = m
    return Report(protocol, metrics, curves, per_seq, per_attr, primary="auc")


def _mean_over_repetitions(curves: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """``(sum(reps), T)`` rows, ``reps[i]`` consecutive rows per sequence -> ``(S, T)`` means."""
    if len(reps) == len(curves):  # one repetition each
        return curves
    seg = ope.segment_ids(reps)
    out = np.zeros((len(reps), curves.shape[1]))
    np.add.at(out, seg, curves)
    return out / np.asarray(reps, dtype=np.float64)[:, None]


# ------------------------------------------------------------------------------- got10k toolkit OTB
def _otb_family(protocol: str, seqs, results, drop_nan_gt: bool) -> Report:
    preds, gts, den, reps = [], [], [], []
    for seq in seqs:
        res = results[seq.name]
        gt = seq.boxes
        n = int(np.count_nonzero(~np.isnan(gt).any(1))) if drop_nan_gt else len(gt)
        if not n:
            raise ResultFormatError(f"{seq.name}: no frame with valid ground truth")
        if not res.boxes:
            raise ResultFormatError(f"{seq.name}: no repetition in the results")
        for r, b in enumerate(res.boxes):
            preds.append(_check_rows(seq, b, r))
            gts.append(gt)
            den.append(n)
        reps.append(len(res.boxes))
    # NaN ground truth gives NaN IoU and centre errors, which pass no threshold: dropping those frames
    # (uav123) only changes the denominator. Frame 0 is scored as the ground truth (boxes[0] = anno[0]).
    counts = ope.box_pair_counts(preds, gts, first_from_gt=True)
    den = np.asarray(den, dtype=np.float64)[:, None]
    succ, prec, norm = (_mean_over_repetitions(c / den, np.asarray(reps)) for c in counts)
    speeds = _speeds([results[s.name].times for s in seqs])
    return _sequence_mean_report(protocol, seqs, succ, prec, norm, speeds)


@register("otb")
def otb(seqs, results) -> Report:
    """got10k toolkit ``ExperimentOTB``: every frame counts (frame 0 set to the ground truth), curves
    averaged over sequences, success = IoU > t at 21 thresholds, precision = centre error <= 20 px.
    A NaN predicted or ground-truth box fails every threshold. Normalized precision (not in the
    toolkit) uses the pytracking definition at 0.2."""
    return _otb_family("otb", seqs, results, drop_nan_gt=False)


@register("uav123")
def uav123(seqs, results) -> Report:
    """got10k toolkit ``ExperimentUAV123``: as ``otb``, but frames whose ground truth has a NaN are
    removed from both the numerator and the denominator."""
    return _otb_family("uav123", seqs, results, drop_nan_gt=True)


# ----------------------------------------------------------------------------- got10k toolkit GOT-10k
GOT10K_THRESHOLDS = np.linspace(0, 1, 101)


def _got10k_summary(ious: np.ndarray, times: np.ndarray) -> dict[str, float]:
    times = times[~np.isnan(times)]
    times = times[times > 0]
    return {"ao": float(np.mean(ious)) if len(ious) else float("nan"),
            "sr50": float(np.mean(ious > 0.5)) if len(ious) else float("nan"),
            "sr75": float(np.mean(ious > 0.75)) if len(ious) else float("nan"),
            "fps": float(np.mean(1.0 / times)) if len(times) else float("nan")}


@register("got10k")
def got10k(seqs, results) -> Report:
    """got10k toolkit ``ExperimentGOT10k`` (val): frame 0 dropped; both boxes clipped to the image with
    the toolkit's rule (:func:`ope.clip_to_image`); only frames with ``cover > 0`` kept; IoUs of every
    repetition and frame pooled, then ``ao`` = mean IoU, ``sr50`` / ``sr75`` = fraction of IoU > 0.5 / 0.75.
    A NaN predicted box scores IoU 0 (the toolkit would return NaN for the whole AO).

    The cover comes from ``seq.attributes['cover']`` (GOT-10k ``cover.label``), else ``seq.visible``.
    """
    frame_ious, seq_ious, seq_times = [], [], []
    for seq in seqs:
        res = results[seq.name]
        cover = seq.attributes.get("cover")
        keep = (np.asarray(cover)[1:] > 0) if cover is not None else seq.visible[1:]
        w, h = image_size(seq)
        gt = ope.clip_to_image(seq.boxes[1:], w, h)
        ious = []
        for r, b in enumerate(res.boxes):
            b = _check_rows(seq, b, r)
            iou = ope.rect_iou(ope.clip_to_image(b[1:], w, h), gt)[keep]
            ious.append(np.nan_to_num(iou, nan=0.0))
        seq_ious.append(np.concatenate(ious))
        seq_times.append(np.concatenate([np.asarray(t, np.float64).reshape(-1) for t in res.times])
                         if res.times else np.zeros(0))
    all_ious = np.concatenate(seq_ious)
    metrics = _got10k_summary(all_ious, np.concatenate(seq_times))
    curve = ope.success_curve(all_ious, GOT10K_THRESHOLDS) if len(all_ious) else np.full(101, np.nan)
    per_seq = {}
    for seq, ious, t in zip(seqs, seq_ious, seq_times):
        m = _got10k_summary(ious, t)
        m["length"] = len(seq) - 1
        per_seq[seq.name] = m
    per_attr = {}
    groups = defaultdict(list)
    for i, seq in enumerate(seqs):
        for t in _tags(seq):
            groups[t].append(i)
    for t, idx in sorted(groups.items()):
        per_attr[t] = _got10k_summary(np.concatenate([seq_ious[i] for i in idx]), np.zeros(0))
        per_attr[t].pop("fps")
        per_attr[t]["sequences"] = len(idx)
    return Report("got10k", metrics, {"success": (GOT10K_THRESHOLDS, curve)}, per_seq, per_attr, primary="ao")


# ------------------------------------------------------------------------------- pytracking analysis
def _fill_source(replace: np.ndarray, starts=(0,)) -> np.ndarray:
    """Frame ``i`` takes frame ``src[i]``: the previous frame wherever ``replace[i]``, chained like a frame loop,
    never across the first frame of a sequence (``starts``: first frames of concatenated sequences)."""
    src = np.where(replace, 0, np.arange(len(replace)))
    src[np.asarray(starts)] = np.asarray(starts)
    return np.maximum.accumulate(src)


def _forward_fill(boxes: np.ndarray, replace: np.ndarray) -> np.ndarray:
    """Replace row i (i >= 1) by the row before it wherever ``replace[i]``, chaining like a frame loop."""
    return boxes[_fill_source(replace)]


def pytracking_iou(pred, gt) -> np.ndarray:
    """pytracking ``calc_iou_overlap``: pixel-inclusive corners (``x2 = x + w - 1``, size ``x2 - x1 + 1``), no eps."""
    tl = np.maximum(pred[:, :2], gt[:, :2])
    br = np.minimum(pred[:, :2] + pred[:, 2:] - 1.0, gt[:, :2] + gt[:, 2:] - 1.0)
    sz = np.clip(br - tl + 1.0, 0, None)
    inter = sz[:, 0] * sz[:, 1]
    union = pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def _torch_thresholds():
    # pytracking builds its overlap thresholds with torch.arange(0, 1.05, 0.05), which differs from
    # linspace(0, 1, 21) in the last bit at 0.65 and 0.75; an IoU exactly there is scored differently.
    import torch

    return torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64).numpy()


def _pytracking_variant(seqs, variant):
    if variant is not None:
        return variant
    kinds = {str(s.attributes.get("dataset", "")).lower() for s in seqs}
    return "lasot" if kinds & {"lasot", "lasot_extension_subset"} else "uav" if "uav" in kinds else "default"


@register("pytracking")
def pytracking(seqs, results, variant: str | None = None, use_visible: bool | None = None) -> Report:
    """pytracking ``analysis/extract_results.py`` + ``plot_results.py``.

    Rules: a NaN or negative-size predicted box is an error; a zero-size one is replaced by the previous
    frame's box (unless the ground truth is NaN there); longer results are cut, shorter ones padded with
    zeros (an error for LaSOT); frame 0 is set to the ground truth. A frame is valid where the ground
    truth has ``x, y, w, h > 0`` (pytracking master; older releases checked ``w, h`` only) and the
    target is visible. Invalid frames fail the success plot; on ``uav``
    their centre errors are -1 (they *pass* every precision threshold), elsewhere +inf (they fail), and
    their normalized centre error is -1 (pass) except on LaSOT where invisible frames get +inf. Curves
    are divided by the number of valid frames, except on LaSOT and UAV (full length).

    Args:
        variant: ``default``, ``uav`` or ``lasot`` (pytracking's ``seq.dataset`` switch); by default read
            from ``seq.attributes['dataset']``.
        use_visible: whether ``seq.visible`` enters the valid-frame rule (pytracking's ``target_visible``,
            which only its LaSOT-like datasets define); default True for ``lasot`` only.
    """
    variant = _pytracking_variant(seqs, variant)
    use_visible = (variant == "lasot") if use_visible is None else use_visible
    thr_iou = _torch_thresholds()
    S = len(seqs)
    succ, prec, norm = np.zeros((S, 21)), np.zeros((S, 51)), np.zeros((S, 51))
    ao = np.zeros(S)
    speeds = np.zeros(S)
    per_rep_succ, per_rep_prec, per_rep_norm, reps, seg_vals = [], [], [], [], []
    for i, seq in enumerate(seqs):
        res = results[seq.name]
        gt = seq.boxes
        visible = seq.visible if use_visible else np.ones(len(gt), bool)
        nan_gt = np.isnan(gt).any(1)
        if nan_gt.any() and variant != "uav":
            raise ResultFormatError(f"{seq.name}: NaN in the ground truth (pytracking accepts that only on UAV)")
        for r, pred in enumerate(res.boxes):
            pred = np.asarray(pred, dtype=np.float64)
            if pred.ndim != 2 or pred.shape[1] != 4:
                raise ResultFormatError(f"{seq.name}: results have shape {pred.shape}, expected (N, 4)")
            if np.isnan(pred).any() or (pred[:, 2:] < 0).any():
                raise ResultFormatError(f"{seq.name} (repetition {r + 1}): NaN or negative-size box in results "
                                        f"(pytracking rejects them)")
            # zero-size boxes take the previous box *before* the length fix, so zero padding stays zero
            m = min(len(pred), len(gt))
            nan_rows = np.concatenate([nan_gt[:m], np.zeros(len(pred) - m, bool)])
            pred = _forward_fill(pred, (pred[:, 2:] == 0).any(1) & ~nan_rows)
            if len(pred) != len(gt):
                if len(pred) < len(gt) and variant == "lasot":
                    raise ResultFormatError(f"{seq.name}: results have {len(pred)} rows, ground truth has {len(gt)}")
                warnings.warn(f"{seq.name}: results have {len(pred)} rows, ground truth has {len(gt)}; "
                              f"{'cut' if len(pred) > len(gt) else 'padded with zero boxes'} (pytracking rule)")
                pred = pred[: len(gt)] if len(pred) > len(gt) else np.concatenate([pred, np.zeros((len(gt) - len(pred), 4))])
            pred[0] = gt[0]
            with np.errstate(invalid="ignore"):
                valid = (gt > 0).sum(1) == 4  # current pytracking: x, y, w, h > 0 (older versions: w, h only)
            valid &= visible
            with np.errstate(invalid="ignore", divide="ignore"):
                ce = np.sqrt(np.sum(((pred[:, :2] + 0.5 * (pred[:, 2:] - 1.0)) - (gt[:, :2] + 0.5 * (gt[:, 2:] - 1.0))) ** 2, 1))
                nce = np.sqrt(np.sum(((pred[:, :2] + 0.5 * (pred[:, 2:] - 1.0)) / gt[:, 2:]
                                      - (gt[:, :2] + 0.5 * (gt[:, 2:] - 1.0)) / gt[:, 2:]) ** 2, 1))
            iou = pytracking_iou(pred, gt)
            ce[~valid] = -1.0 if variant == "uav" else np.inf
            nce[~valid] = -1.0
            iou[~valid] = -1.0
            if variant == "lasot":
                nce[~visible] = np.inf
                ce[~visible] = np.inf
            if np.isnan(iou).any():
                raise ResultFormatError(f"{seq.name}: NaN overlap (pytracking raises 'Nans in calculated overlap')")
            length = len(gt) if variant in ("lasot", "uav") else int(valid.sum())
            if length <= 0:
                raise ResultFormatError(f"{seq.name}: no valid frame (pytracking raises 'Seq length zero')")
            seg = np.zeros(len(gt), np.int64)
            per_rep_succ.append(ope.threshold_counts(iou, seg, 1, thr_iou, True)[0] / length)
            per_rep_prec.append(ope.threshold_counts(ce, seg, 1, ope.CENTER_THRESHOLDS, False)[0] / length)
            per_rep_norm.append(ope.threshold_counts(nce, seg, 1, ope.NORM_CENTER_THRESHOLDS, False)[0] / length)
            seg_vals.append(iou[valid].mean() if valid.any() else np.nan)
        reps.append(len(res.boxes))
        speeds[i] = _speed(res.times)
    reps = np.asarray(reps)
    succ = _mean_over_repetitions(np.stack(per_rep_succ), reps)
    prec = _mean_over_repetitions(np.stack(per_rep_prec), reps)
    norm = _mean_over_repetitions(np.stack(per_rep_norm), reps)
    ao = _mean_over_repetitions(np.asarray(seg_vals)[:, None], reps)[:, 0]
    rep = _sequence_mean_report("pytracking", seqs, succ, prec, norm, speeds, extra_seq={"ao": ao})
    rep.curves["success"] = (thr_iou, rep.curves["success"][1])
    rep.metrics["ao"] = float(np.nanmean(ao))
    return rep


# ---------------------------------------------------------------------- LaSOT / TNL2K MATLAB toolkit
def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """MATLAB's ``start:step:stop`` for doubles: built symmetrically from both ends (first half
    ``start + k*step``, second half ``stop' - (n-k)*step``), which differs from ``linspace`` in the last bit."""
    n = int(np.floor((stop - start) / step + 1e-10))
    last = start + n * step
    k = np.arange(n + 1)
    out = np.where(k <= n // 2, start + k * step, last - (n - k) * step)
    if n % 2 == 0:
        out[n // 2] = (start + last) / 2
    return out


LASOT_OVERLAP_THRESHOLDS = matlab_colon(0.0, 0.05, 1.0)


def otb_rect_iou(pred, gt) -> np.ndarray:
    """OTB / LaSOT MATLAB ``calc_rect_int``: pixel-inclusive corners, ``inter / (areaA + areaB - inter)``."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    return _otb_rect_iou_columns(*pred.T, *gt.T)


def _otb_rect_iou_columns(px, py, pw, ph, gx, gy, gw, gh) -> np.ndarray:
    """:func:`otb_rect_iou` on the boxes' columns (contiguous columns make every step a fast 1-d loop)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        iw = np.fmax(0, np.minimum(px + pw - 1, gx + gw - 1) - np.maximum(px, gx) + 1)  # fmax: MATLAB max ignores NaN
        ih = np.fmax(0, np.minimum(py + ph - 1, gy + gh - 1) - np.maximum(py, gy) + 1)
        inter = iw * ih
        return inter / (pw * ph + gw * gh - inter)


def _lasot_rows(seqs, results):
    """Per-frame IoU, centre error and normalized centre error of every repetition of every sequence, all
    sequences at once (frames concatenated, as columns), with the toolkit's per-sequence rules applied; plus
    each row's sequence length and each sequence's repetition count. Frames the toolkit removes (absent) get
    values that pass no threshold. The arithmetic is the toolkit's, operation for operation."""
    preds, gts, vis, lengths, reps = [], [], [], [], []
    for seq in seqs:
        gt = seq.boxes
        n = len(gt)
        boxes = results[seq.name].boxes
        for r, pred in enumerate(boxes):
            pred = np.asarray(pred, dtype=np.float64)
            if pred.ndim != 2 or pred.shape[1] != 4 or len(pred) < n:
                raise ResultFormatError(f"{seq.name} (repetition {r + 1}): results have shape {pred.shape}; the "
                                        f"LaSOT toolkit needs at least {n} rows of 4 values")
            preds.append(pred[:n].T)  # the toolkit cuts longer results (monkey-17)
            gts.append(np.asarray(gt, dtype=np.float64).T)
            vis.append(seq.visible)
            lengths.append(n)
        reps.append(len(boxes))
    P, G = np.concatenate(preds, axis=1), np.concatenate(gts, axis=1)  # (4, frames) each
    keep = np.concatenate(vis).astype(bool)
    lengths = np.asarray(lengths)
    starts = np.cumsum(lengths) - lengths
    gx, gy, gw, gh = G
    with np.errstate(invalid="ignore"):
        bad = np.isnan(P[0]) | np.isnan(P[1]) | np.isnan(P[2]) | np.isnan(P[3]) | (P[2] <= 0) | (P[3] <= 0)
        # ground truth with x, y, w and h all > 0; a box touching the image border is "invalid"
        valid_gt = (gx > 0) & (gy > 0) & (gw > 0) & (gh > 0)
    # an invalid prediction takes the previous frame's box (chained), within its own sequence
    replace = bad & ~(np.isnan(gx) | np.isnan(gy) | np.isnan(gw) | np.isnan(gh))
    if replace.any():
        P = P[:, _fill_source(replace, starts)]
    P[:, starts] = G[:, starts]  # frame 0 is the ground truth
    iou, ce, nce = np.empty((3, P.shape[1]))
    # in blocks whose temporaries stay in the cache (whole-array temporaries cost a page fault per 4 KB)
    for a in range(0, P.shape[1], ope.CHUNK_FRAMES):
        b = a + ope.CHUNK_FRAMES
        px, py, pw, ph = P[:, a:b]
        gx, gy, gw, gh = G[:, a:b]
        with np.errstate(invalid="ignore", divide="ignore"):
            cpx, cpy = px + (pw - 1) / 2, py + (ph - 1) / 2
            cgx, cgy = gx + (gw - 1) / 2, gy + (gh - 1) / 2
            ce[a:b] = np.sqrt((cpx - cgx) ** 2 + (cpy - cgy) ** 2)
            nce[a:b] = np.sqrt((cpx / gw - cgx / gw) ** 2 + (cpy / gh - cgy / gh) ** 2)
            iou[a:b] = _otb_rect_iou_columns(px, py, pw, ph, gx, gy, gw, gh)
    iou[~valid_gt] = -1.0
    ce[~valid_gt] = -1.0  # ... and an invalid ground truth's centre error -1 passes every precision threshold
    nce[~valid_gt] = -1.0
    # absent frames are removed by the toolkit (still counted in the denominator): they pass nothing
    iou[~keep] = -1.0
    ce[~keep] = np.inf
    nce[~keep] = np.inf
    return iou, ce, nce, lengths, np.asarray(reps)


@register("lasot")
def lasot(seqs, results) -> Report:
    """The official LaSOT (and TNL2K) MATLAB toolkit: ``calc_seq_err_robust.m``, ``eval_tracker.m``,
    ``plot_draw_save.m``.

    Rules: invalid predictions (NaN, ``w <= 0`` or ``h <= 0``) are replaced by the previous frame's box;
    frame 0 is the ground truth; absent frames (``~seq.visible``: full occlusion or out of view) are
    removed but the curves are divided by the full length, so they count as failures; ground truth with
    any of x, y, w, h <= 0 gives IoU -1 (fail) and centre error -1 (pass); IoU uses pixel-inclusive
    corners; overlap thresholds are MATLAB's ``0:0.05:1``; a sequence whose whole curve is 0 is left out
    of that curve's average (``aa(sum(aa,2)>eps,:)``). Precision at 20 px, normalized precision at 0.2.
    Attributes: ``seq.attributes['tags']``, an attribute scored only with at least 2 sequences.
    """
    eps = np.finfo(float).eps
    iou, ce, nce, lengths, reps = _lasot_rows(seqs, results)
    seg, rows = ope.segment_ids(lengths), len(lengths)
    den = (lengths + eps)[:, None]
    succ, prec, norm = (_mean_over_repetitions(ope.threshold_counts(v, seg, rows, thr, above) / den, reps)
                        for v, thr, above in ((iou, LASOT_OVERLAP_THRESHOLDS, True),
                                              (ce, ope.CENTER_THRESHOLDS, False),
                                              (nce, ope.NORM_CENTER_THRESHOLDS, False)))
    speeds = _speeds([results[s.name].times for s in seqs])

    def pooled(curves):
        keep = curves.sum(1) > eps
        return curves[keep].mean(0) if keep.any() else np.zeros(curves.shape[1])

    def headline(idx):
        s, p, q = pooled(succ[idx]), pooled(prec[idx]), pooled(norm[idx])
        return {"auc": float(np.mean(s)), "precision": float(p[20]), "norm_precision": float(q[20]),
                "success_rate": float(s[10])}, (s, p, q)

    metrics, (s, p, q) = headline(np.arange(len(seqs)))
    metrics["fps"] = _overall_speed(speeds)
    curves = {"success": (LASOT_OVERLAP_THRESHOLDS, s), "precision": (ope.CENTER_THRESHOLDS, p),
              "norm_precision": (ope.NORM_CENTER_THRESHOLDS, q)}
    per_seq = {}
    for i, seq in enumerate(seqs):
        per_seq[seq.name] = {"auc": float(succ[i].mean()), "precision": float(prec[i][20]),
                             "norm_precision": float(norm[i][20]), "success_rate": float(succ[i][10]),
                             "fps": float(speeds[i]) if speeds[i] > 0 else float("nan"), "length": len(seq)}
    groups = defaultdict(list)
    for i, seq in enumerate(seqs):
        for t in _tags(seq):
            groups[t].append(i)
    per_attr = {}
    for t, idx in sorted(groups.items()):
        if len(idx) >= 2:
            per_attr[t] = headline(np.asarray(idx))[0]
            per_attr[t]["sequences"] = len(idx)
    return Report("lasot", metrics, curves, per_seq, per_attr, primary="auc")


register("tnl2k")(lasot)


# ----------------------------------------------------------------------------- TrackingNet devkit
TRACKINGNET_X = np.linspace(0, 1, 21)


@register("trackingnet")
def trackingnet(seqs, results) -> Report:
    """TrackingNet devkit ``metrics.py``: every box rounded (half to even), frame 0 set to the ground
    truth, pixel-inclusive IoU with the intersection size rounded, success = IoU > t and precision =
    distance <= t over 21 thresholds (0..1, 0..50 px, 0..0.5), curves averaged over sequences, and each
    score is the trapezoid area under its 21-point curve over x in [0, 1] (not the mean of the curve).
    A NaN box fails every threshold. The devkit scores a missing sequence as all-zero boxes; sot raises
    (``score(..., skip_missing=True)`` leaves it out instead)."""
    preds, gts, lengths, reps = [], [], [], []
    for seq in seqs:
        boxes = results[seq.name].boxes
        for r, pred in enumerate(boxes):
            preds.append(_check_rows(seq, pred, r).T)
            gts.append(np.asarray(seq.boxes, dtype=np.float64).T)
            lengths.append(len(seq))
        reps.append(len(boxes))
    P, G = np.round(np.concatenate(preds, axis=1)), np.round(np.concatenate(gts, axis=1))  # (4, frames)
    lengths = np.asarray(lengths)
    starts = np.cumsum(lengths) - lengths
    P[:, starts] = G[:, starts]  # frame 0 is the ground truth
    iou, dist, ndist = np.empty((3, P.shape[1]))
    for a in range(0, P.shape[1], ope.CHUNK_FRAMES):  # blocks whose temporaries stay in the cache
        b = a + ope.CHUNK_FRAMES
        px, py, pw, ph = P[:, a:b]
        gx, gy, gw, gh = G[:, a:b]
        ax2, ay2 = gx + gw - 1.0, gy + gh - 1.0
        px2, py2 = px + pw - 1.0, py + ph - 1.0
        acx, acy = gx + (gw + 1.0) / 2.0, gy + (gh + 1.0) / 2.0
        pcx, pcy = px + (pw + 1.0) / 2.0, py + (ph + 1.0) / 2.0
        iw = np.clip(np.round(np.fmin(ax2, px2) - np.fmax(gx, px) + 1), 0, None)  # pandas max/min skip NaN
        ih = np.clip(np.round(np.fmin(ay2, py2) - np.fmax(gy, py) + 1), 0, None)
        inter = iw * ih
        with np.errstate(invalid="ignore", divide="ignore"):
            iou[a:b] = inter / (gh * gw + ph * pw - inter)
            dx, dy = acx - pcx, acy - pcy
            dist[a:b] = np.sqrt(dx * dx + dy * dy)
            ndist[a:b] = np.sqrt(dx / gw * dx / gw + dy / gh * dy / gh)
    seg, rows, den = ope.segment_ids(lengths), len(lengths), lengths[:, None]
    succ, prec, norm = (_mean_over_repetitions(ope.threshold_counts(v, seg, rows, thr, above) / den, np.asarray(reps))
                        for v, thr, above in ((iou, TRACKINGNET_X, True), (dist, np.linspace(0, 50, 21), False),
                                              (ndist, np.linspace(0, 0.5, 21), False)))
    speeds = _speeds([results[s.name].times for s in seqs])

    def area(c):  # (21,) -> float, (S, 21) -> (S,): rows are summed as the 1-d call sums them (same bits)
        return np.trapezoid(c, x=TRACKINGNET_X, axis=-1)

    metrics = {"auc": float(area(succ.mean(0))), "precision": float(area(prec.mean(0))),
               "norm_precision": float(area(norm.mean(0))), "fps": _overall_speed(speeds)}
    curves = {"success": (TRACKINGNET_X, succ.mean(0)), "precision": (np.linspace(0, 50, 21), prec.mean(0)),
              "norm_precision": (np.linspace(0, 0.5, 21), norm.mean(0))}
    cols = zip(area(succ).tolist(), area(prec).tolist(), area(norm).tolist(), speeds.tolist())
    per_seq = {s.name: {"auc": a, "precision": p, "norm_precision": q, "fps": f if f > 0 else float("nan"),
                        "length": len(s)} for s, (a, p, q, f) in zip(seqs, cols)}
    return Report("trackingnet", metrics, curves, per_seq, {}, primary="auc")


# ------------------------------------------------------------------------------------------------ VOT
def _register_vot():
    from sot.evaluation import vot

    for name in vot.STACKS:
        def fn(seqs, results, _name=name) -> Report:
            return vot.score_vot(seqs, results, _name)

        fn.__doc__ = f"VOT toolkit stack {name}: {vot.STACKS[name][0]} experiment, EAO over frames " \
                     f"{vot.STACKS[name][1]}-{vot.STACKS[name][2]} (see :mod:`sot.evaluation.vot`)."
        register(name)(fn)


_register_vot()

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
    per_seq = {}
    for i, seq in enumerate(seqs):
        m = headline(succ[i], prec[i], norm[i])
        m["fps"] = float(speeds[i]) if speeds[i] > 0 else float("nan")
        m["length"] = len(seq)
        for k, v in (extra_seq or {}).items():
            m[k] = float(v[i])
        per_seq[seq.name] = m
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
    seg = ope.segment_ids(reps)
    out = np.zeros((len(reps), curves.shape[1]))
    np.add.at(out, seg, curves)
    return out / np.asarray(reps, dtype=np.float64)[:, None]


# ------------------------------------------------------------------------------- got10k toolkit OTB
def _otb_family(protocol: str, seqs, results, drop_nan_gt: bool) -> Report:
    preds, gts, lengths, reps, speeds = [], [], [], [], np.zeros(len(seqs))
    for i, seq in enumerate(seqs):
        res = results[seq.name]
        keep = ~np.isnan(seq.boxes).any(1) if drop_nan_gt else slice(None)
        for r, b in enumerate(res.boxes):
            b = _check_rows(seq, b, r).copy()
            b[0] = seq.boxes[0]  # the toolkit scores frame 0 as a perfect initialisation
            preds.append(b[keep])
            gts.append(seq.boxes[keep])
            lengths.append(len(gts[-1]))
        if not lengths[-1]:
            raise ResultFormatError(f"{seq.name}: no frame with valid ground truth")
        reps.append(len(res.boxes))
        speeds[i] = _speed(res.times)
    P, G = np.concatenate(preds), np.concatenate(gts)
    succ, prec, norm = ope.sequence_curves(ope.rect_iou(P, G), ope.center_error(P, G),
                                           ope.normalized_center_error(P, G), lengths)
    reps = np.asarray(reps)
    return _sequence_mean_report(protocol, seqs, _mean_over_repetitions(succ, reps),
                                 _mean_over_repetitions(prec, reps), _mean_over_repetitions(norm, reps), speeds)


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

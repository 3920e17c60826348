"""VOT short-term protocols, after the official Python VOT toolkit (``votchallenge/toolkit``).

* Reset-based ("supervised", VOT2016-2019): the tracker is re-initialised ``skip_initialize = 5`` frames
  after a failure (overlap <= 0). Accuracy is the mean overlap without the 10 burn-in frames after each
  initialisation, robustness the number of failures, both averaged with sequence-length weights; EAO
  averages the running mean overlap of every run segment and is the mean of that curve over
  ``[low, high]`` (VOT2016: 108-371, VOT2017/2018: 100-356, VOT2019: 46-291).
* Anchor-based ("multistart", VOT2020 and later): the tracker starts at each anchor frame and runs to
  the end of the sequence (backwards for negative anchors); a run fails after 10 consecutive frames of
  overlap <= 0.1 where the ground truth is not empty. EAO over ``[115, 755]``.

Overlaps follow the toolkit's rasterised definition for rectangles: coordinates rounded (half to even)
after a float32 cast, pixel-inclusive extents, both regions clipped to the image.

Trajectory files: ``<dir>/<seq>/<seq>_001.txt`` (reset-based repetition 1) or
``<dir>/<seq>/<seq>_<anchor:08d>.txt`` (anchor-based), one line per frame: ``1`` initialisation,
``2`` failure, ``0`` unknown, else ``x,y,w,h``.
"""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np

from sot.datasets.base import DatasetFormatError, Sequence
from sot.evaluation.report import Report, TrackerResult

UNKNOWN, INIT, FAILURE, REGION = 0, 1, 2, -1
STACKS = {  # protocol -> (experiment, low, high)
    "vot2016": ("supervised", 108, 371),
    "vot2017": ("supervised", 100, 356),
    "vot2018": ("supervised", 100, 356),
    "vot2019": ("supervised", 46, 291),
    "vot2020": ("multistart", 115, 755),
    "vot2021": ("multistart", 115, 755),
    "vot2022": ("multistart", 115, 755),
}


# ----------------------------------------------------------------------------------------- overlap
def vot_overlap(pred, gt, size: tuple[float, float] | None = None) -> np.ndarray:
    """Rasterised IoU of ``(N, 4)`` box pairs as the VOT toolkit computes it; a NaN row is an empty region.

    Two empty regions overlap 1 (also when their joint extent is a single pixel column or row, the
    toolkit's test); a region pair outside the image overlaps 0.
    """
    a = np.round(np.asarray(pred, dtype=np.float32)).astype(np.float64)
    b = np.round(np.asarray(gt, dtype=np.float32)).astype(np.float64)
    ea, eb = np.isnan(a).any(1), np.isnan(b).any(1)
    # bounds (left, top, right, bottom); an empty region has bounds (0, 0, 0, 0)
    ba = np.where(ea[:, None], 0.0, np.stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2] - 1, a[:, 1] + a[:, 3] - 1], 1))
    bb = np.where(eb[:, None], 0.0, np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2] - 1, b[:, 1] + b[:, 3] - 1], 1))
    u = np.stack([np.minimum(ba[:, 0], bb[:, 0]), np.minimum(ba[:, 1], bb[:, 1]),
                  np.maximum(ba[:, 2], bb[:, 2]), np.maximum(ba[:, 3], bb[:, 3])], 1)
    degenerate = (u[:, 0] >= u[:, 2]) | (u[:, 1] >= u[:, 3])
    r = u.copy()
    if size is not None:
        r[:, 0], r[:, 1] = np.maximum(0, u[:, 0]), np.maximum(0, u[:, 1])
        r[:, 2], r[:, 3] = np.minimum(size[0] - 1, u[:, 2]), np.minimum(size[1] - 1, u[:, 3])
    outside = (r[:, 0] >= r[:, 2]) | (r[:, 1] >= r[:, 3])

    def extent(bnd, empty):
        x0, x1 = np.maximum(bnd[:, 0], r[:, 0]), np.minimum(bnd[:, 2], r[:, 2])
        y0, y1 = np.maximum(bnd[:, 1], r[:, 1]), np.minimum(bnd[:, 3], r[:, 3])
        ok = ~empty & (x1 >= x0) & (y1 >= y0)
        return x0, x1, y0, y1, ok

    ax0, ax1, ay0, ay1, oka = extent(ba, ea)
    bx0, bx1, by0, by1, okb = extent(bb, eb)
    area_a = np.where(oka, (ax1 - ax0 + 1) * (ay1 - ay0 + 1), 0)
    area_b = np.where(okb, (bx1 - bx0 + 1) * (by1 - by0 + 1), 0)
    iw = np.minimum(ax1, bx1) - np.maximum(ax0, bx0) + 1
    ih = np.minimum(ay1, by1) - np.maximum(ay0, by0) + 1
    inter = np.where(oka & okb & (iw > 0) & (ih > 0), iw * ih, 0)
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    out[outside] = 0.0
    out[degenerate] = 1.0
    return out


# ------------------------------------------------------------------------------------------ running
def _frame_size(seq: Sequence):
    from sot.evaluation.protocols import image_size

    return image_size(seq)


def run_supervised(tracker, seq: Sequence, read, skip_initialize: int = 5, failure_overlap: float = 0.0):
    """One reset-based run: ``(boxes (N, 4) NaN where special, flags (N,), seconds (N,))``."""
    n = len(seq)
    size = _frame_size(seq)
    boxes, flags, times = np.full((n, 4), np.nan), np.full(n, UNKNOWN), np.zeros(n)
    frame = 0
    while frame < n:
        while frame < n and not _valid_box(seq.boxes[frame]):
            frame += 1  # no ground truth to re-initialise on
        if frame >= n:
            break
        t0 = time.perf_counter()
        tracker.init(read(seq.frames[frame]), seq.boxes[frame].copy())
        times[frame], flags[frame] = time.perf_counter() - t0, INIT
        frame += 1
        while frame < n:
            image = read(seq.frames[frame])
            t0 = time.perf_counter()
            out = tracker.track(image)
            times[frame] = time.perf_counter() - t0
            box = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float64).reshape(4)
            if vot_overlap(box[None], seq.boxes[frame][None], size)[0] <= failure_overlap:
                flags[frame] = FAILURE
                frame += skip_initialize
                break
            boxes[frame], flags[frame] = box, REGION
            frame += 1
    return boxes, flags, times


def anchors_of(seq: Sequence) -> list[tuple[int, bool]]:
    """``[(frame, reverse)]``: forward anchors (``anchor > 0``) then backward ones (``< 0``), as the toolkit orders them."""
    a = seq.attributes.get("anchor")
    if a is None:
        raise DatasetFormatError(f"{seq.name}: no anchor values (anchor.value) for the anchor-based VOT protocol")
    a = np.asarray(a, dtype=np.float64)
    return [(int(i), False) for i in np.nonzero(a > 0)[0]] + [(int(i), True) for i in np.nonzero(a < 0)[0]]


def _proxy(n: int, anchor: int, reverse: bool) -> np.ndarray:
    return np.arange(anchor, -1, -1) if reverse else np.arange(anchor, n)


def run_multistart(tracker, seq: Sequence, read):
    """All anchor runs of one sequence: lists of boxes, flags and times, one entry per anchor."""
    out_b, out_f, out_t = [], [], []
    for anchor, reverse in anchors_of(seq):
        idx = _proxy(len(seq), anchor, reverse)
        boxes, flags, times = np.full((len(idx), 4), np.nan), np.full(len(idx), REGION), np.zeros(len(idx))
        t0 = time.perf_counter()
        tracker.init(read(seq.frames[idx[0]]), seq.boxes[idx[0]].copy())
        times[0], flags[0] = time.perf_counter() - t0, INIT
        for k in range(1, len(idx)):
            image = read(seq.frames[idx[k]])
            t0 = time.perf_counter()
            o = tracker.track(image)
            times[k] = time.perf_counter() - t0
            boxes[k] = np.asarray(o[0] if isinstance(o, tuple) else o, dtype=np.float64).reshape(4)
        out_b.append(boxes)
        out_f.append(flags)
        out_t.append(times)
    return out_b, out_f, out_t


def _valid_box(b) -> bool:
    return bool(np.all(np.isfinite(b)) and b[2] > 0 and b[3] > 0)


# ----------------------------------------------------------------------------------------------- io
def trajectory_path(out_dir, name: str, run: int, anchor: int | None = None) -> Path:
    tail = f"{anchor:08d}" if anchor is not None else f"{run + 1:03d}"
    return Path(out_dir) / name / f"{name}_{tail}.txt"


def write_trajectory(path, boxes: np.ndarray, flags: np.ndarray, times: np.ndarray | None = None) -> None:
    lines = []
    for b, f in zip(boxes, flags):
        lines.append(str(int(f)) if f != REGION else ",".join("%.4f" % v for v in b))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    if times is not None:
        path.with_name(path.stem + "_time.value").write_text("".join("%.8f\n" % t for t in times))


def read_trajectory(path) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes (N, 4) NaN where special, flags (N,))``; polygons become their bounding boxes."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"{path}: trajectory not found")
    boxes, flags = [], []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = [p for p in line.replace("\t", ",").split(",") if p.strip()]
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            raise DatasetFormatError(f"{path}:{lineno}: not a number in {line!r}") from None
        if len(vals) == 1:
            boxes.append([np.nan] * 4)
            flags.append(int(vals[0]))
        elif len(vals) == 4:
            boxes.append(vals)
            flags.append(REGION)
        elif len(vals) >= 6 and len(vals) % 2 == 0:
            xs, ys = vals[0::2], vals[1::2]
            boxes.append([min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])
            flags.append(REGION)
        else:
            raise DatasetFormatError(f"{path}:{lineno}: expected 1, 4 or an even number >= 6 of values, found {len(vals)}")
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(flags, dtype=np.int64)


def load_vot_results(result_dir, seqs, protocol: str) -> dict[str, TrackerResult]:
    """Read the trajectories of every sequence that has them."""
    experiment = STACKS[protocol][0]
    out = {}
    for seq in seqs:
        if experiment == "supervised":
            runs, r = [], 0
            while trajectory_path(result_dir, seq.name, r).is_file():
                runs.append(read_trajectory(trajectory_path(result_dir, seq.name, r)))
                r += 1
            if runs:
                out[seq.name] = TrackerResult([b for b, _ in runs], None, flags=[f for _, f in runs])
        else:
            anchors = anchors_of(seq)
            paths = [trajectory_path(result_dir, seq.name, 0, a) for a, _ in anchors]
            if all(p.is_file() for p in paths):
                runs = [read_trajectory(p) for p in paths]
                out[seq.name] = TrackerResult([b for b, _ in runs], None, flags=[f for _, f in runs],
                                              anchors=anchors)
    return out


# ------------------------------------------------------------------------------------------ scoring
def _special_to_empty(boxes, flags):
    b = np.array(boxes, dtype=np.float64)
    b[np.asarray(flags) != REGION] = np.nan
    return b


def score_supervised(seqs, results, low: int, high: int, protocol: str, burnin: int = 10,
                     sensitivity: float = 30.0) -> Report:
    acc_w = fail_w = weight = 0.0
    per_seq = {}
    segments, seg_success = [], []
    for seq in seqs:
        res = results[seq.name]
        if res.flags is None:
            raise DatasetFormatError(f"{seq.name}: reset-based VOT scoring needs trajectories with init/failure flags")
        size = _frame_size(seq)
        accs, fails = [], []
        for boxes, flags in zip(res.boxes, res.flags):
            if len(boxes) != len(seq):
                raise DatasetFormatError(f"{seq.name}: trajectory has {len(boxes)} frames, sequence has {len(seq)}")
            ov = vot_overlap(_special_to_empty(boxes, flags), seq.boxes, size)
            mask = np.ones(len(ov), bool)
            mask[flags == UNKNOWN] = False
            mask[flags == FAILURE] = False
            for i in np.nonzero(flags == INIT)[0]:
                mask[i:i + burnin] = False
            accs.append(float(np.mean(ov[mask])) if mask.any() else 0.0)
            fails.append(int((flags == FAILURE).sum()))
            fi, ii = np.nonzero(flags == FAILURE)[0], np.nonzero(flags == INIT)[0]
            if len(fi):
                for k in range(len(fi)):
                    segments.append(ov[ii[k]:fi[k]])
                    seg_success.append(False)
                if len(ii) > len(fi):
                    segments.append(ov[ii[-1]:])
                    seg_success.append(True)
            else:
                segments.append(ov)
                seg_success.append(True)
        a, f, w = float(np.mean(accs)), float(np.mean(fails)), len(seq)
        acc_w, fail_w, weight = acc_w + a * w, fail_w + f * w, weight + w
        per_seq[seq.name] = {"accuracy": a, "failures": f, "length": w}
    accuracy, failures = acc_w / weight, fail_w / weight
    length = weight / len(seqs)
    curve = _eao_curve_supervised(segments, seg_success)
    if len(curve) <= low:
        warnings.warn(f"{protocol}: the longest run has {len(curve)} frames, fewer than the EAO range start {low}; EAO is NaN")
    eao = float(np.mean(curve[low:high + 1])) if len(curve) > low else float("nan")
    metrics = {"eao": eao, "accuracy": accuracy, "failures": failures,
               "robustness": math.exp(-(failures / length) * sensitivity)}
    return Report(protocol, metrics, {"eao": (np.arange(len(curve)), curve)}, per_seq, {}, primary="eao")


def _eao_curve_supervised(segments, success) -> np.ndarray:
    """``compute_eao_curve``: running mean overlap (frames 1..j) per segment; a failed segment counts
    as zero overlap after its end, a successful one stops counting at its end."""
    L = max(len(s) for s in segments)
    R = len(segments)
    ov = np.zeros((R, L))
    mask = np.zeros((R, L))
    for i, (o, ok) in enumerate(zip(segments, success)):
        ov[i, :len(o)] = o
        mask[i, :] = 1 if not ok else 0
        if ok:
            mask[i, :len(o)] = 1
    running = ov.copy()
    if L > 1:
        running[:, 1:] = np.cumsum(ov[:, 1:], axis=1) / np.arange(1, L)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (running * mask).sum(0) / mask.sum(0)


def _progress(ov: np.ndarray, gt_empty: np.ndarray, grace: int, threshold: float) -> int:
    g = grace
    for j, o in enumerate(ov):
        if o <= threshold and not gt_empty[j]:
            g -= 1
            if g == 0:
                return j + 1 - grace
        else:
            g = grace
    return len(ov)


def score_multistart(seqs, results, low: int, high: int, protocol: str, grace: int = 10,
                     threshold: float = 0.1) -> Report:
    eao_sum, eao_w = np.zeros(high), np.zeros(high)
    acc_tot = acc_w = rob_tot = rob_w = 0.0
    per_seq = {}
    for seq in seqs:
        res = results[seq.name]
        anchors = res.anchors or anchors_of(seq)
        if res.flags is None or len(res.boxes) != len(anchors):
            raise DatasetFormatError(f"{seq.name}: anchor-based VOT scoring needs one trajectory per anchor "
                                     f"({len(anchors)}), got {len(res.boxes)}")
        size = _frame_size(seq)
        robustness = accuracy = total = 0.0
        runs, succ = [], []
        for (anchor, reverse), boxes, flags in zip(anchors, res.boxes, res.flags):
            idx = _proxy(len(seq), anchor, reverse)
            if len(boxes) != len(idx):
                raise DatasetFormatError(f"{seq.name}: run from anchor {anchor} has {len(boxes)} frames, expected {len(idx)}")
            gt = seq.boxes[idx]
            ov = vot_overlap(_special_to_empty(boxes, flags), gt, size)
            progress = _progress(ov, np.isnan(gt).any(1), grace, threshold)
            robustness += progress
            accuracy += float(np.sum(ov[:progress]))
            total += len(idx)
            ok = progress >= len(ov)
            ov = ov.copy()
            ov[progress:] = 0.0
            runs.append(ov)
            succ.append(ok)
        a = accuracy / robustness if robustness > 0 else 0.0
        r = robustness / total
        acc_tot, acc_w = acc_tot + a * robustness, acc_w + robustness
        rob_tot, rob_w = rob_tot + r * len(seq), rob_w + len(seq)
        phi, active = _eao_partial(runs, succ, high)
        eao_sum += phi * active
        eao_w += active
        per_seq[seq.name] = {"accuracy": a, "robustness": r, "length": len(seq)}
    curve = np.where(eao_w > 0, eao_sum / np.where(eao_w > 0, eao_w, 1), 0.0)
    metrics = {"eao": float(np.mean(curve[low:high + 1])), "accuracy": acc_tot / acc_w if acc_w else 0.0,
               "robustness": rob_tot / rob_w}
    return Report(protocol, metrics, {"eao": (np.arange(high), curve)}, per_seq, {}, primary="eao")


def _eao_partial(runs, success, length: int):
    """``compute_eao_partial``: per frame j, the mean overlap over 1..j of runs long enough, plus failed
    runs (their sum over 1..end divided by j - 1)."""
    phi, active = np.zeros(length), np.zeros(length)
    j = np.arange(length)
    for o, ok in zip(runs, success):
        cs = np.concatenate([[0.0], np.cumsum(o[1:])])  # cs[k] = sum(o[1:k+1])
        inside = (j >= 1) & (j < len(o))
        with np.errstate(invalid="ignore", divide="ignore"):
            phi[inside] += cs[j[inside]] / j[inside]
        active[inside] += 1
        if not ok:
            after = (j >= 1) & (j >= len(o))
            with np.errstate(invalid="ignore", divide="ignore"):
                phi[after] += cs[len(o) - 1] / (j[after] - 1)
            active[after] += 1
    phi = np.where(active > 0, phi / np.where(active > 0, active, 1), 0.0)
    return phi, active


def score_vot(seqs, results, protocol: str) -> Report:
    experiment, low, high = STACKS[protocol]
    if experiment == "supervised":
        return score_supervised(seqs, results, low, high, protocol)
    return score_multistart(seqs, results, low, high, protocol)

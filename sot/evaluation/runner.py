"""Run a tracker over a dataset: worker processes, resume, repetitions, a progress bar.

A tracker is any object with::

    init(image: np.ndarray, box: np.ndarray) -> None        # image H x W x 3 uint8 RGB, box xywh
    track(image: np.ndarray) -> tuple[np.ndarray, float]    # (box (4,) xywh, score); a bare box is accepted

and optionally ``is_deterministic = True`` (then one repetition is run, as the GOT-10k toolkit does).
"""
from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Callable

import numpy as np

from sot.data.crop import read_rgb
from sot.datasets.base import DatasetFormatError, Sequence
from sot.evaluation import results_io
from sot.evaluation.report import TrackerResult

_WORKER_TRACKER = None


def track_sequence(tracker, seq: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """One pass over ``seq``: ``(boxes (N, 4), seconds (N,))``; row 0 is the initial box, time 0 the init time."""
    n = len(seq)
    boxes = np.zeros((n, 4))
    times = np.zeros(n)
    init_box = seq.boxes[0].copy()
    if not np.all(np.isfinite(init_box)) or init_box[2] <= 0 or init_box[3] <= 0:
        raise DatasetFormatError(f"{seq.name}: the first ground-truth box {init_box.tolist()} cannot initialise a tracker")
    for f, path in enumerate(seq.frames):
        image = read_rgb(path)
        t0 = time.perf_counter()
        if f == 0:
            tracker.init(image, init_box.copy())
            box = init_box
        else:
            out = tracker.track(image)
            box = out[0] if isinstance(out, tuple) else out
        times[f] = time.perf_counter() - t0
        boxes[f] = np.asarray(box, dtype=np.float64).reshape(4)
    return boxes, times


def _run_vot_task(task) -> tuple[str, TrackerResult, int]:
    from sot.evaluation import vot

    seq, todo, _, out_dir, experiment = task
    tracker = _WORKER_TRACKER
    if experiment == "multistart":
        boxes, flags, times = vot.run_multistart(tracker, seq, read_rgb)
        anchors = vot.anchors_of(seq)
        for (a, _), b, f, t in zip(anchors, boxes, flags, times):
            vot.write_trajectory(vot.trajectory_path(out_dir, seq.name, 0, a), b, f, t)
        return seq.name, TrackerResult(boxes, times, flags, anchors), sum(len(b) for b in boxes)
    for r in todo:
        b, f, t = vot.run_supervised(tracker, seq, read_rgb)
        vot.write_trajectory(vot.trajectory_path(out_dir, seq.name, r), b, f, t)
    runs = [vot.read_trajectory(vot.trajectory_path(out_dir, seq.name, r)) for r in range(max(todo) + 1)]
    return seq.name, TrackerResult([b for b, _ in runs], None, [f for _, f in runs]), len(seq) * len(todo)


def _run_task(task) -> tuple[str, TrackerResult, int]:
    if task[4] in ("supervised", "multistart"):
        return _run_vot_task(task)
    seq, todo, previous, out_dir, fmt = task
    tracker = _WORKER_TRACKER
    if getattr(tracker, "is_deterministic", False):
        todo = [r for r in todo if r == 0]  # the GOT-10k toolkit's rule: one run of a deterministic tracker
        if not todo:
            return seq.name, previous, 0
    boxes = list(previous.boxes) if previous else []
    times = list(previous.times) if previous and previous.times else []
    for r in todo:
        try:
            b, t = track_sequence(tracker, seq)
        except Exception as e:
            raise RuntimeError(f"tracking failed on sequence {seq.name!r} (repetition {r + 1}): {e}") from e
        while len(boxes) <= r:
            boxes.append(None)
            times.append(None)
        boxes[r], times[r] = b, t
    keep_times = all(t is not None for t in times) and len(times) == len(boxes)
    written = results_io.write_sequence(out_dir, fmt, seq.name, TrackerResult(boxes, times if keep_times else None),
                                        reps=todo)
    return seq.name, written, len(seq) * len(todo)


def _init_worker(factory, threads: int | None = None):
    """Build this process's tracker. ``threads``: limit torch / OpenCV threads (worker processes use 1: N
    processes with several OpenMP threads each stall one another in barriers)."""
    global _WORKER_TRACKER
    if threads is not None:
        _limit_threads(threads)
    _WORKER_TRACKER = factory()


def _limit_threads(threads: int) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    import cv2

    cv2.setNumThreads(threads)


def run_tracker(tracker_factory: Callable[[], object], dataset, out_dir, workers: int = 0, repetitions: int = 1,
                result_format: str = "otb", resume: bool = True, progress: bool = True,
                start_method: str = "spawn", experiment: str = "ope") -> dict[str, TrackerResult]:
    """Track every sequence of ``dataset`` and write raw results to ``out_dir`` as they finish.

    Args:
        tracker_factory: builds one tracker; called once per worker process. With ``workers > 0`` it
            must be picklable (a top-level function, a class, or a ``functools.partial`` of one).
        dataset: a :class:`~sot.datasets.base.SequenceDataset` (any iterable of ``Sequence``).
        out_dir: this tracker's result folder, written in ``result_format`` (see :mod:`results_io`).
        workers: number of worker processes; 0 runs in this process.
        repetitions: runs per sequence (3 for GOT-10k); a tracker with ``is_deterministic = True`` runs once.
        resume: skip (and read back) the repetitions whose result file already exists.
        start_method: multiprocessing start method; ``spawn`` is safe with CUDA.
        experiment: ``ope`` (one pass), or the VOT ``supervised`` (reset-based, ``repetitions`` runs) or
            ``multistart`` (one run per anchor) experiments, written as VOT trajectories.
    Returns:
        ``{sequence name: TrackerResult}`` in dataset order, boxes as written to disk.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if result_format == "vot" and experiment == "ope":  # a VOT dataset names its own experiment
        experiment = getattr(dataset, "experiment", "supervised")
    seqs = list(dataset)
    results: dict[str, TrackerResult] = {}
    tasks = []
    if experiment in ("supervised", "multistart"):
        from sot.evaluation import vot

        for seq in seqs:
            if experiment == "multistart":
                paths = [vot.trajectory_path(out_dir, seq.name, 0, a) for a, _ in vot.anchors_of(seq)]
                todo = [] if resume and all(p.is_file() for p in paths) else [0]
            else:
                todo = [r for r in range(repetitions)
                        if not (resume and vot.trajectory_path(out_dir, seq.name, r).is_file())]
            if todo:
                tasks.append((seq, todo, None, out_dir, experiment))
        loaded = vot.load_vot_results(out_dir, [t for t in seqs if t.name not in {x[0].name for x in tasks}],
                                      "vot2020" if experiment == "multistart" else "vot2018")
        results.update(loaded)
    elif experiment != "ope":
        raise ValueError(f"unknown experiment {experiment!r}: ope, supervised or multistart")
    for seq in seqs if experiment == "ope" else []:
        done = results_io.existing_repetitions(out_dir, result_format, seq.name, repetitions) if resume else []
        todo = [r for r in range(repetitions) if r not in done]
        previous = results_io.read_sequence(out_dir, result_format, seq.name, len(done)) if done and done == list(
            range(len(done))) else None
        if previous is None and done:  # a gap (rep 2 present, rep 1 missing): rerun all for a consistent time file
            todo = list(range(repetitions))
        if not todo:
            results[seq.name] = previous
        else:
            tasks.append((seq, todo, previous, out_dir, result_format))

    global _WORKER_TRACKER
    bar = None
    if progress and tasks:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(t[0]) * len(t[1]) for t in tasks), unit="frame", dynamic_ncols=True,
                   desc=f"tracking {len(tasks)} sequences" + (f" ({len(seqs) - len(tasks)} resumed)" if
                                                              len(tasks) < len(seqs) else ""))
    try:
        if not tasks:
            outputs, pool = iter(()), None
        elif workers <= 0:
            _init_worker(tracker_factory)
            outputs = map(_run_task, tasks)
            pool = None
        else:
            pool = mp.get_context(start_method).Pool(workers, initializer=_init_worker,
                                                    initargs=(tracker_factory, 1))
            outputs = pool.imap_unordered(_run_task, tasks)
        try:
            for name, res, frames in outputs:
                results[name] = res
                if bar:
                    bar.update(frames)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    finally:
        _WORKER_TRACKER = None
        if bar:
            bar.close()
    return {s.name: results[s.name] for s in seqs}


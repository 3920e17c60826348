"""Raw tracking results on disk, in each toolkit's own layout, and the submission zips.

Layouts (``<dir>`` is one tracker's result folder):

``otb`` (also ``lasot``, ``uav``, ``nfs``, ``tnl2k``; the got10k toolkit / pysot / LaSOT toolkit form)
    ``<dir>/<seq>.txt``, one ``x,y,w,h`` row per frame; times in ``<dir>/times/<seq>_time.txt``.
    Repetition ``r >= 2`` goes to ``<dir>/rep_<r:03d>/<seq>.txt``.
``got10k``
    ``<dir>/<seq>/<seq>_<r:03d>.txt`` per repetition and ``<dir>/<seq>/<seq>_time.txt`` with one
    column per repetition (the GOT-10k toolkit and evaluation server form).
``trackingnet``
    ``<dir>/<seq>.txt`` (comma separated); the submission zip holds those files at its root.
``pytracking``
    ``<dir>/<seq>.txt`` tab separated, times in ``<dir>/<seq>_time.txt``. Read-only (the reader accepts it).

Readers accept ``,``, tab or space delimiters and check the field count line by line.
"""
from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path

import numpy as np

from sot.datasets.annotations import parse_table, read_table
from sot.datasets.base import DatasetFormatError
from sot.evaluation.ope import numba_switched_off
from sot.evaluation.report import TrackerResult
from sot.utils.cpus import usable_cpus as _usable_cpus

FORMATS = ("otb", "lasot", "uav", "nfs", "tnl2k", "got10k", "trackingnet")
BOX_FMT = "%.4f"
TIME_FMT = "%.8f"


def _family(fmt: str) -> str:
    if fmt in ("otb", "lasot", "uav", "nfs", "tnl2k", "generic", "trackingnet"):
        return "otb"
    if fmt == "got10k":
        return "got10k"
    raise ValueError(f"unknown result format {fmt!r}; known: {FORMATS}")


def box_path(out_dir, fmt: str, name: str, rep: int = 0) -> Path:
    """Where repetition ``rep`` (0-based) of sequence ``name`` is stored."""
    out_dir = Path(out_dir)
    if _family(fmt) == "got10k":
        return out_dir / name / f"{name}_{rep + 1:03d}.txt"
    if rep == 0:
        return out_dir / f"{name}.txt"
    return out_dir / f"rep_{rep + 1:03d}" / f"{name}.txt"


def time_path(out_dir, fmt: str, name: str, rep: int = 0) -> Path:
    out_dir = Path(out_dir)
    if _family(fmt) == "got10k":
        return out_dir / name / f"{name}_time.txt"
    base = out_dir if rep == 0 else out_dir / f"rep_{rep + 1:03d}"
    return base / "times" / f"{name}_time.txt"


def format_boxes(boxes: np.ndarray) -> str:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return "".join(",".join(BOX_FMT % v for v in row) + "\n" for row in boxes)


def write_sequence(out_dir, fmt: str, name: str, result: TrackerResult, reps: list[int] | None = None) -> TrackerResult:
    """Write the repetitions ``reps`` (default all) of one sequence; return the boxes as written (rounded).

    In the ``got10k`` layout the time file holds every repetition of ``result`` as columns.
    """
    reps = list(range(len(result.boxes))) if reps is None else reps
    written = []
    for r in range(len(result.boxes)):
        if r not in reps:
            written.append(np.asarray(result.boxes[r], dtype=np.float64))
            continue
        p = box_path(out_dir, fmt, name, r)
        p.parent.mkdir(parents=True, exist_ok=True)
        text = format_boxes(result.boxes[r])
        _atomic_write(p, text)
        written.append(parse_table(text, p, 4))
    if result.times is not None:
        if _family(fmt) == "got10k":
            n = max(len(t) for t in result.times)
            cols = np.full((n, len(result.times)), np.nan)
            for r, t in enumerate(result.times):
                cols[: len(t), r] = t
            p = time_path(out_dir, fmt, name)
            _atomic_write(p, "".join(",".join(TIME_FMT % v for v in row) + "\n" for row in cols))
        else:
            for r in reps:
                p = time_path(out_dir, fmt, name, r)
                p.parent.mkdir(parents=True, exist_ok=True)
                _atomic_write(p, "".join(TIME_FMT % v + "\n" for v in np.asarray(result.times[r]).reshape(-1)))
    times = None if result.times is None else [
        np.array([float(TIME_FMT % v) for v in np.asarray(t).reshape(-1)]) for t in result.times]
    return TrackerResult(written, times)


def _atomic_write(path: Path, text: str) -> None:
    """Write then rename, so that an interrupted run never leaves a half-written file that resume would trust."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_rows(path, fields: int) -> np.ndarray:
    """Read a results table of ``fields`` numbers per line (``,``, tab, ``;`` or space separated).

    The common case, plain decimals comma separated as trackers write them, goes to a compiled parser
    (:mod:`sot.evaluation._parse_numba`, where numba is installed and ``SOT_NO_NUMBA`` unset), several times
    faster than ``np.loadtxt`` and exact: it gives the bits ``np.loadtxt`` (the toolkits' parser) gives.
    Anything it does not take goes to ``np.loadtxt(delimiter=",")``, and anything that rejects (other
    delimiters, a malformed or empty file) to :func:`sot.datasets.annotations.read_table`, which accepts
    every delimiter and raises :class:`DatasetFormatError` naming ``path:line`` and the expected field count.
    """
    fast = _fast_parser()
    if fast is not None:
        parse, read_padded = fast
        try:
            buf = read_padded(path)
        except OSError:
            buf = None  # the readers below raise the usual errors
        if buf is not None and len(buf) > 1:
            ok, values, rows = parse(buf, fields)
            if ok:
                return values
    try:
        arr = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
        if arr.shape[1] == fields and len(arr):
            return arr
    except (ValueError, UnicodeDecodeError, OSError):
        pass
    return read_table(path, fields)


_PARSER = None  # the compiled parser once looked up; False: numba unavailable


def _fast_parser():
    """``(_parse_numba.parse_rows, _parse_numba.read_padded)``, or None where numba is not importable or
    ``SOT_NO_NUMBA`` is set."""
    global _PARSER
    if numba_switched_off():
        return None
    if _PARSER is None:
        try:
            from sot.evaluation._parse_numba import parse_rows, read_padded
        except ImportError:
            _PARSER = False
        except Exception as e:  # numba present but the parser does not build here: np.loadtxt reads the same
            import warnings

            warnings.warn(f"sot.evaluation: compiled result parser unavailable ({type(e).__name__}: {e})")
            _PARSER = False
        else:
            _PARSER = (parse_rows, read_padded)
    return _PARSER or None


def existing_repetitions(out_dir, fmt: str, name: str, repetitions: int) -> list[int]:
    """The 0-based repetitions of ``name`` already on disk."""
    return [r for r in range(repetitions) if box_path(out_dir, fmt, name, r).is_file()]


def read_sequence(out_dir, fmt: str, name: str, repetitions: int | None = None,
                  existing: set[str] | frozenset[str] | None = None) -> TrackerResult:
    """Read one sequence's repetitions (all found when ``repetitions`` is None) and its times if present.

    ``existing``: paths (``str``) of files known to be under ``out_dir``, when the caller has listed them: a
    path in it needs no ``stat`` (one not in it is still looked for, e.g. under a linked folder).
    """
    def exists(p) -> bool:
        return (existing is not None and str(p) in existing) or os.path.isfile(p)

    boxes, times = [], []
    if _family(fmt) == "got10k":
        out_dir = Path(out_dir)
        files = sorted((out_dir / name).glob(f"{name}_[0-9][0-9][0-9].txt"))
        if repetitions is not None:
            files = [box_path(out_dir, fmt, name, r) for r in range(repetitions)]
        boxes = [read_rows(f, 4) for f in files]
        tp = time_path(out_dir, fmt, name)
        if tp.is_file():
            t = read_rows(tp, _width(tp))
            times = [t[:, r] for r in range(min(t.shape[1], len(boxes)))]
    else:
        base = os.fspath(out_dir)
        rep = 0
        while repetitions is None or rep < repetitions:
            folder = base if rep == 0 else os.path.join(base, f"rep_{rep + 1:03d}")  # as box_path / time_path
            bp = os.path.join(folder, f"{name}.txt")
            if not exists(bp):
                break
            boxes.append(read_rows(bp, 4))
            for tp in (os.path.join(folder, "times", f"{name}_time.txt"), os.path.join(folder, f"{name}_time.txt")):
                if exists(tp):
                    times.append(read_rows(tp, 1)[:, 0])
                    break
            rep += 1
    if not boxes:
        raise DatasetFormatError(f"{box_path(out_dir, fmt, name)}: results not found")
    return TrackerResult(boxes, times if len(times) == len(boxes) else None)


def _width(path: Path) -> int:
    first = next(ln for ln in path.read_text().splitlines() if ln.strip())
    return len(first.replace("\t", ",").replace(" ", ",").strip(",").split(","))


def detect_format(path, names: list[str]) -> str:
    """``got10k`` if ``<path>/<seq>/<seq>_001.txt`` exists for a sequence, ``otb`` if ``<path>/<seq>.txt``."""
    path = Path(path)
    for n in names:
        if (path / n / f"{n}_001.txt").is_file():
            return "got10k"
        if (path / f"{n}.txt").is_file():
            return "otb"
    raise DatasetFormatError(
        f"{path}: no result file for any of {len(names)} sequences (looked for <seq>.txt and <seq>/<seq>_001.txt, "
        f"e.g. {names[:3]})")


def load_results(path, names: list[str], tracker: str | None = None, fmt: str | None = None,
                 cache: bool = True) -> dict[str, TrackerResult]:
    """Read the raw results of one tracker for the sequences ``names`` that have them.

    Args:
        path: a tracker's result folder (or a folder of trackers with ``tracker`` naming one).
        names: the dataset's sequence names; sequences without a file are left out (``score`` reports them).
        fmt: layout; detected when None.
        cache: keep the parsed arrays in one file per result folder under the dataset cache folder
            (``$SOT_CACHE_DIR/results``), valid while the size and modification time of every ``.txt``
            file in the folder are unchanged, so that scoring the same results again skips the text
            parsing (one ``stat`` per result file, one read of the cache file). Boxes read from the cache
            are ``(N, 4)`` views of one column-major array (not C-contiguous).
    """
    path = Path(path)
    if tracker is not None:
        path = path / tracker
    if not path.is_dir():
        raise DatasetFormatError(f"{path}: results directory not found")
    fmt = fmt or detect_format(path, names)
    if cache:
        return _cached_load(path, names, fmt)
    out = {}
    for n in names:
        if box_path(path, fmt, n, 0).is_file():
            out[n] = read_sequence(path, fmt, n)
    return out


def _fingerprint(path: Path) -> list:
    out, stack = [], [path]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.name.endswith(".txt"):
                    st = e.stat()
                    out.append((e.path, st.st_mtime_ns, st.st_size))
    return sorted(out)


# Parse-cache file: an 8-byte header length, the pickled header, zero padding to a multiple of 64 bytes,
# then little-endian float64 data: every box array as it is read, (N, 4) rows of x, y, w, h, one after the
# other, then every time array.
_CACHE_VERSION = 3
_ALIGN = 64


def _cache_file(path: Path, fmt: str) -> tuple[str, Path]:
    import hashlib

    from sot.datasets.cache import cache_dir

    key = f"{path.resolve()}|{fmt}"
    return key, cache_dir() / "results" / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.v{_CACHE_VERSION}.bin"


def _data_offset(header_size: int) -> int:
    return -(-(8 + header_size) // _ALIGN) * _ALIGN


def _read_cache(file: Path, key: str, fp: list) -> dict[str, TrackerResult]:
    import pickle

    try:
        with open(file, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            head = pickle.loads(f.read(size))
            if head.get("version") != _CACHE_VERSION or head.get("key") != key or head.get("fingerprint") != fp:
                return {}
            n_box, n_time = head["n_box"], head["n_time"]
            count, offset = 4 * n_box + n_time, _data_offset(size)
            if os.fstat(f.fileno()).st_size < offset + 8 * count:
                return {}
            if count:
                import mmap

                # copy-on-write map: no copy into fresh memory (page faults cost more than the read), arrays
                # stay writable; the cache is only ever replaced (os.replace), never rewritten in place
                data = np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY), "<f8", count, offset)
            else:
                data = np.zeros(0)
    except Exception:  # missing, truncated or unreadable: parse again
        return {}
    rows, times = data[: 4 * n_box].reshape(n_box, 4), data[4 * n_box:]
    return {name: TrackerResult([rows[a:a + n] for a, n in box_slices],
                                None if time_slices is None else [times[a:a + n] for a, n in time_slices])
            for name, (box_slices, time_slices) in head["entries"].items()}


def _private_copy(r: TrackerResult) -> TrackerResult:
    """``r``'s boxes and times copied (contiguous copies: cheap), for the cache writer alone."""
    return TrackerResult([np.array(b, dtype=np.float64) for b in r.boxes],
                         None if r.times is None else [np.array(t, dtype=np.float64).reshape(-1) for t in r.times])


def _write_cache(file: Path, key: str, fp: list, results: dict[str, TrackerResult]) -> None:
    """Write the cache file in a background thread: scoring does not wait for the disk. ``results`` must be
    the writer's own (:func:`_private_copy`), so that later changes to the arrays handed to the caller cannot
    reach the cache; the header is built and the arrays written in the thread. A later load of the same
    folder waits for that write first; the interpreter waits for it at exit (not a daemon thread), and the
    file appears only when complete (written aside, then renamed)."""
    import pickle

    def write():
        entries, box_arrays, time_arrays, n_box, n_time = {}, [], [], 0, 0
        for name, r in results.items():
            bs = []
            for b in r.boxes:
                bs.append((n_box, len(b)))
                box_arrays.append(b)
                n_box += len(b)
            ts = None
            if r.times is not None:
                ts = []
                for t in r.times:
                    ts.append((n_time, len(t)))
                    time_arrays.append(t)
                    n_time += len(t)
            entries[name] = (bs, ts)
        head = {"version": _CACHE_VERSION, "key": key, "fingerprint": fp, "entries": entries, "n_box": n_box,
                "n_time": n_time}
        blob = pickle.dumps(head, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp = file.with_name(file.name + f".tmp{os.getpid()}.{threading.get_ident()}")
            with open(tmp, "wb") as f:  # every box table (rows of 4), then every time series: no concatenation
                f.write(len(blob).to_bytes(8, "little"))
                f.write(blob)
                f.write(b"\0" * (_data_offset(len(blob)) - 8 - len(blob)))
                for a in box_arrays + time_arrays:
                    f.write(np.ascontiguousarray(a, dtype="<f8").data)
            os.replace(tmp, file)
        except OSError:
            pass  # an unwritable cache folder only costs the parse next time

    _wait_for_write(file)
    thread = threading.Thread(target=write, name=f"sot-cache-{file.name}")
    with _PENDING_LOCK:
        _PENDING[file] = thread
    thread.start()


_PENDING: dict[Path, threading.Thread] = {}  # cache file -> the thread writing it
_PENDING_LOCK = threading.Lock()


def flush_cache_writes() -> None:
    """Wait for every parse-cache write this process has started (e.g. before timing the next step)."""
    with _PENDING_LOCK:
        files = list(_PENDING)
    for f in files:
        _wait_for_write(f)


def _wait_for_write(file: Path) -> None:
    """Block until a background write of ``file`` started by this process (if any) has finished."""
    with _PENDING_LOCK:
        thread = _PENDING.pop(file, None)
    if thread is not None:
        thread.join()


PARALLEL_MIN_FILES = 32  # result files per parsing thread, at least


def _cached_load(path: Path, names: list[str], fmt: str) -> dict[str, TrackerResult]:
    key, file = _cache_file(path, fmt)
    fp = _fingerprint(path)
    _wait_for_write(file)
    stored = _read_cache(file, key, fp)
    on_disk = {p for p, _, _ in fp}
    todo = [n for n in names if n not in stored
            and (str(box_path(path, fmt, n, 0)) in on_disk or box_path(path, fmt, n, 0).is_file())]

    def parse(share):  # each result with the cache writer's copy of it, made on the parsing thread
        return [(r, _private_copy(r)) for r in (read_sequence(path, fmt, n, existing=on_disk) for n in share)]

    workers = max(1, min(_usable_cpus(), len(fp) // PARALLEL_MIN_FILES))
    if workers > 1 and len(todo) > 1:  # file reads and the compiled parser release the GIL
        from concurrent.futures import ThreadPoolExecutor

        shares = [todo[w::workers] for w in range(workers)]  # interleaved: neighbours have similar sizes
        with ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(parse, shares))
        parsed = {n: r for share, rs in zip(shares, done) for n, r in zip(share, rs)}
    else:
        parsed = dict(zip(todo, parse(todo)))
    out = {n: stored[n] if n in stored else parsed[n][0] for n in names if n in stored or n in parsed}
    if parsed:
        kept = {n: _private_copy(r) for n, r in stored.items() if n not in parsed}
        _write_cache(file, key, fp, {**kept, **{n: parsed[n][1] for n in out if n in parsed}})
    return out


def write_submission_zip(result_dir, fmt: str, zip_path) -> Path:
    """Pack a result folder for an evaluation server.

    ``got10k``: the ``<seq>/<seq>_NNN.txt`` and ``<seq>_time.txt`` tree (GOT-10k server form).
    ``trackingnet``: every ``<seq>.txt`` at the zip root (TrackingNet server form).
    """
    result_dir, zip_path = Path(result_dir), Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "got10k":
        files = sorted(p for p in result_dir.glob("*/*.txt") if p.parent.name == p.name.rsplit("_", 1)[0])
    elif fmt == "trackingnet":
        files = sorted(result_dir.glob("*.txt"))
    else:
        raise ValueError(f"no submission zip for format {fmt!r} (got10k, trackingnet)")
    if not files:
        raise DatasetFormatError(f"{result_dir}: no result files to pack")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, f.relative_to(result_dir).as_posix())
    return zip_path

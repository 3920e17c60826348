"""GOT-10k reader (http://got-10k.aitestunion.com), also used for the synthetic data of ``sot.data.synthetic``.

Layout read::

    root/<split>/list.txt                 sequence names, one a line (else: sorted sub-directories)
    root/<split>/<seq>/00000001.jpg ...   frames, 8-digit 1-based names
    root/<split>/<seq>/groundtruth.txt    "x,y,w,h" rows; the test split gives only the first row
    root/<split>/<seq>/absence.label      0/1 per frame (1 = absent)            [train, val]
    root/<split>/<seq>/cover.label        0..8 per frame (0 = fully occluded)    [train, val]
    root/<split>/<seq>/cut_by_image.label 0/1 per frame                          [train, val]
    root/<split>/<seq>/meta_info.ini      "key: value" lines                     [train, val]

Every file is parsed once; the result is cached in one pickle per split (see :class:`GOT10k`).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import warnings
from collections.abc import Sequence as SequenceABC
from pathlib import Path

import numpy as np

from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset

__all__ = ["GOT10k", "FramePaths", "parse_groundtruth", "parse_label", "parse_meta_info"]

_CACHE_VERSION = 2
_GT_FORM = "4 comma-separated numbers x,y,w,h"
_FRAME_RE = re.compile(r"^(\d{8})\.jpg$")
_LABELS = ("absence", "cover", "cut_by_image")
_LABEL_MAX = {"absence": 1, "cover": 8, "cut_by_image": 1}


class FramePaths(SequenceABC):
    """The frame paths ``<folder>/00000001.jpg .. <folder>/<n:08d>.jpg`` as a lazy, read-only list of str."""

    __slots__ = ("folder", "n")

    def __init__(self, folder: str, n: int):
        self.folder, self.n = str(folder), int(n)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        j = i + self.n if i < 0 else i
        if not 0 <= j < self.n:
            raise IndexError(f"frame index {i} out of range for {self.n} frames")
        return os.path.join(self.folder, f"{j + 1:08d}.jpg")

    def __eq__(self, other):
        if isinstance(other, FramePaths):
            return self.folder == other.folder and self.n == other.n
        return isinstance(other, SequenceABC) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"FramePaths({self.folder!r}, n={self.n})"


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DatasetFormatError(f"missing file {str(path)!r}") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def parse_groundtruth(path: Path) -> np.ndarray:
    """``(N, 4)`` float64 boxes from a GOT-10k ``groundtruth.txt``."""
    lines = _read_lines(path)
    if not lines:
        raise DatasetFormatError(f"{str(path)!r} is empty; expected one row of {_GT_FORM} per frame")
    try:
        boxes = np.array([ln.split(",") for ln in lines], dtype=np.float64)
        if boxes.ndim == 2 and boxes.shape[1] == 4:
            return boxes
    except ValueError:
        pass
    for i, ln in enumerate(lines, 1):  # slow path: find the first bad row for the message
        parts = ln.split(",")
        try:
            if len(parts) == 4:
                [float(p) for p in parts]
                continue
        except ValueError:
            pass
        raise DatasetFormatError(f"{str(path)!r} line {i}: {ln!r} is not {_GT_FORM}")
    raise DatasetFormatError(f"{str(path)!r}: cannot parse as rows of {_GT_FORM}")  # pragma: no cover


def parse_label(path: Path, n: int, high: int) -> np.ndarray:
    """``(n,)`` int8 per-frame label file: one integer in ``0..high`` a line."""
    lines = _read_lines(path)
    for i, ln in enumerate(lines, 1):
        try:
            ok = 0 <= int(ln) <= high
        except ValueError:
            ok = False
        if not ok:
            raise DatasetFormatError(f"{str(path)!r} line {i}: {ln!r} is not one integer in 0..{high}")
    values = np.array([int(ln) for ln in lines], dtype=np.int8)
    if len(values) != n:
        raise DatasetFormatError(f"{str(path)!r} has {len(values)} rows but groundtruth.txt has {n}; "
                                 "expected one label per frame")
    return values


def parse_meta_info(path: Path) -> dict[str, str]:
    """``key: value`` lines of ``meta_info.ini`` (section headers and blank lines skipped)."""
    meta = {}
    for ln in _read_lines(path):
        ln = ln.strip()
        if not ln or ln.startswith(("[", "#", ";")):
            continue
        key, sep, value = ln.partition(":")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


def _parse_sequence(seq_dir: Path) -> dict:
    """Everything the reader keeps about one sequence, as plain arrays (the unit of the cache)."""
    boxes = parse_groundtruth(seq_dir / "groundtruth.txt")
    n = len(boxes)
    names = None
    if n == 1:  # test split: only the first box is given, so the frame count comes from the folder
        names = sorted(f for f in os.listdir(seq_dir) if _FRAME_RE.match(f))
        if not names:
            raise DatasetFormatError(f"{str(seq_dir)!r} has no frames named like 00000001.jpg")
        n = len(names)
        boxes = np.concatenate([boxes, np.full((n - 1, 4), np.nan)])
        if names == [f"{i:08d}.jpg" for i in range(1, n + 1)]:
            names = None  # contiguous: FramePaths will do
    else:
        for i in (1, n):  # a cheap check that the frames are there (no listing of the folder)
            f = seq_dir / f"{i:08d}.jpg"
            if not f.is_file():
                raise DatasetFormatError(f"missing frame {str(f)!r}: groundtruth.txt has {n} rows, "
                                         f"expected frames 00000001.jpg .. {n:08d}.jpg")
    rec = {"n": n, "names": names, "boxes": boxes}
    for key in _LABELS:
        f = seq_dir / f"{key}.label"
        rec[key] = parse_label(f, n, _LABEL_MAX[key]) if f.is_file() else None
    meta = seq_dir / "meta_info.ini"
    rec["meta"] = parse_meta_info(meta) if meta.is_file() else {}
    return rec


def _pack(records: list[dict]) -> dict:
    """Concatenate per-sequence records into a few flat arrays (fast to pickle, load and slice)."""
    n = [r["n"] for r in records]
    labels = np.full((sum(n), len(_LABELS)), -1, np.int8)  # -1 where the label file is absent
    offsets = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    for i, r in enumerate(records):
        for j, k in enumerate(_LABELS):
            if r[k] is not None:
                labels[offsets[i]:offsets[i + 1], j] = r[k]
    return {
        "offsets": offsets,
        "boxes": np.concatenate([r["boxes"] for r in records]) if records else np.zeros((0, 4)),
        "labels": labels,
        "has_labels": [tuple(r[k] is not None for k in _LABELS) for r in records],
        "frame_names": [r["names"] for r in records],
        "meta": [r["meta"] for r in records],
    }


class GOT10k(SequenceDataset):
    """GOT-10k, one split.

    Args:
        root: folder holding ``train/``, ``val/``, ``test/``.
        split: ``'train'``, ``'val'`` or ``'test'``.
        cache_dir: where the parsed annotation is cached (one pickle per split, keyed by the split and the
            mtime/size of ``list.txt`` and the sequence count); default ``root/.sot_cache``. If it cannot be
            written, a warning is issued and the reader works uncached.
        default_protocol: how results on this split are scored by default: ``got10k`` (the GOT-10k toolkit:
            3 repetitions, results in GOT-10k's own layout) or e.g. ``otb`` (one-pass OPE, as the synthetic
            data uses).

    Each :class:`~sot.datasets.base.Sequence` has ``attributes`` ``cover``, ``absence``, ``cut_by_image``
    (int8 per frame, where the label files exist) and ``meta`` (``meta_info.ini`` as a dict).
    ``visible = (absence == 0) & (cover > 0)`` where the labels exist, else finite boxes with ``w, h > 0``.
    """

    name = "got10k"

    def __init__(self, root: str | Path, split: str = "train", cache_dir: str | Path | None = None,
                 default_protocol: str = "got10k"):
        super().__init__(root)
        self.default_protocol = default_protocol
        self.result_format = "got10k" if default_protocol == "got10k" else "otb"
        self.repetitions = 3 if default_protocol == "got10k" else 1
        if split not in ("train", "val", "test"):
            raise ValueError(f"GOT10k split must be 'train', 'val' or 'test', got {split!r}")
        self.split = split
        self.split_dir = self.root / split
        if not self.split_dir.is_dir():
            raise DatasetFormatError(f"GOT10k: split folder {str(self.split_dir)!r} does not exist")
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else self.root / ".sot_cache"
        names, fingerprint = self._list_sequences()
        cache_file = self.cache_dir / f"got10k_{split}_{fingerprint}.pkl"
        packed = self._load_cache(cache_file, names)
        if packed is None:
            packed = _pack([_parse_sequence(self.split_dir / nm) for nm in names])
            self._save_cache(cache_file, names, packed)
        self.sequences = self._unpack(names, packed)

    def _list_sequences(self) -> tuple[list[str], str]:
        lst = self.split_dir / "list.txt"
        if lst.is_file():
            names = [ln.strip() for ln in lst.read_text().splitlines() if ln.strip()]
            st = lst.stat()
            key = f"list.txt {st.st_mtime_ns} {st.st_size}"
        else:
            names = sorted(d.name for d in os.scandir(self.split_dir) if d.is_dir() and not d.name.startswith("."))
            key = f"dirs {self.split_dir.stat().st_mtime_ns}"
        key = f"v{_CACHE_VERSION} {self.split_dir.resolve()} {key} {len(names)}"
        return names, hashlib.sha1(key.encode()).hexdigest()[:16]

    @staticmethod
    def _load_cache(path: Path, names: list[str]):
        try:
            with open(path, "rb") as f:
                data = pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("names") != names:
            return None
        return data.get("packed")

    @staticmethod
    def _save_cache(path: Path, names: list[str], packed: dict) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                pickle.dump({"names": names, "packed": packed}, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError as e:
            warnings.warn(f"GOT10k: cannot write the annotation cache {str(path)!r} ({e}); reading uncached")

    def _unpack(self, names: list[str], packed: dict) -> list[Sequence]:
        offsets = packed["offsets"]
        boxes, labels = packed["boxes"], packed["labels"]
        with np.errstate(invalid="ignore"):
            box_ok = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        label_ok = (labels[:, 0] == 0) & (labels[:, 1] > 0)
        columns = [np.ascontiguousarray(labels[:, j]) for j in range(len(_LABELS))]
        split_dir = str(self.split_dir)
        sequences = []
        for i, name in enumerate(names):
            a, b = int(offsets[i]), int(offsets[i + 1])
            has = packed["has_labels"][i]
            frame_names = packed["frame_names"][i]
            folder = os.path.join(split_dir, name)
            if frame_names is None:
                frames = FramePaths(folder, b - a)
            else:
                frames = [os.path.join(folder, f) for f in frame_names]
            attributes = {k: columns[j][a:b] for j, k in enumerate(_LABELS) if has[j]}
            attributes["meta"] = packed["meta"][i]
            visible = label_ok[a:b] if has[0] and has[1] else box_ok[a:b]
            sequences.append(Sequence(name=name, frames=frames, boxes=boxes[a:b], visible=visible,
                                      attributes=attributes))
        return sequences

"""Parse a benchmark's annotations once and reload them from a cache file afterwards.

A cache entry is one pickle per (reader, root, options) under ``$SOT_CACHE_DIR`` (default
``~/.cache/sot/datasets``). It stores the parsed :class:`~sot.datasets.base.Sequence` list plus the
size and modification time of every annotation file it was built from; any change to one of those
files (or a different reader version) rebuilds it. Frame paths are stored as :class:`FrameList`
patterns, not as millions of strings, so a LaSOT-sized dataset reloads in well under a second.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Sequence as AbcSequence
from pathlib import Path
from typing import Callable, Iterable

CACHE_VERSION = 1


class FrameList(AbcSequence):
    """Frame paths ``directory / (pattern % i)`` for ``i = start, start + step, ...`` (``count`` of them).

    Behaves like a read-only ``list[str]`` (``len``, indexing, slicing, iteration) without storing the strings.
    """

    __slots__ = ("directory", "pattern", "start", "count", "step")

    def __init__(self, directory: str | Path, pattern: str, start: int, count: int, step: int = 1):
        self.directory = str(directory)
        self.pattern = pattern
        self.start = int(start)
        self.count = int(count)
        self.step = int(step)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i):
        if isinstance(i, slice):
            idx = range(self.count)[i]
            if idx.step > 0 and len(idx):
                return FrameList(self.directory, self.pattern, self.start + idx.start * self.step, len(idx),
                                 self.step * idx.step)
            return [self[j] for j in idx]
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(f"frame {i} out of range (0..{self.count - 1})")
        return os.path.join(self.directory, self.pattern % (self.start + i * self.step))

    def __iter__(self):
        for i in range(self.count):
            yield os.path.join(self.directory, self.pattern % (self.start + i * self.step))

    def __eq__(self, other):
        return list(self) == list(other) if isinstance(other, (list, AbcSequence)) else NotImplemented

    def __repr__(self):
        return f"FrameList({self.directory!r}, {self.pattern!r}, start={self.start}, count={self.count}, step={self.step})"

    def __getstate__(self):
        return (self.directory, self.pattern, self.start, self.count, self.step)

    def __setstate__(self, state):
        self.directory, self.pattern, self.start, self.count, self.step = state


def cache_dir() -> Path:
    return Path(os.environ.get("SOT_CACHE_DIR", Path.home() / ".cache" / "sot" / "datasets"))


def _fingerprint(files: Iterable[Path]) -> list[tuple[str, int, int]]:
    out = []
    for f in files:
        try:
            st = os.stat(f)
            out.append((str(f), st.st_mtime_ns, st.st_size))
        except FileNotFoundError:
            out.append((str(f), -1, -1))
    return out


def cached_sequences(reader: str, root: Path, options: dict, build: Callable[[], tuple[list, list[Path]]],
                     cache: bool | str | Path = True):
    """Return ``build()``'s sequences, from the cache when it is still valid.

    Args:
        reader: reader name (part of the key; bump the reader's ``CACHE_VERSION`` on a format change).
        root: dataset root.
        options: the reader's arguments that change the parsed result (split, version, ...).
        build: parses the dataset; returns ``(sequences, annotation files they were read from)``.
        cache: True (default folder), a folder, or False (always parse).
    """
    if not cache:
        return build()[0]
    folder = cache_dir() if cache is True else Path(cache)
    key = json.dumps([reader, CACHE_VERSION, str(Path(root).resolve()), options], sort_keys=True, default=str)
    path = folder / f"{reader}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.pkl"
    if path.is_file():
        try:
            with open(path, "rb") as f:
                stored_key, files, seqs = pickle.load(f)
            if stored_key == key and _fingerprint(Path(p) for p, _, _ in files) == files:
                return seqs
        except Exception:  # a corrupt or foreign cache file is rebuilt, never trusted
            pass
    seqs, files = build()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        pickle.dump((key, _fingerprint(files), seqs), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return seqs

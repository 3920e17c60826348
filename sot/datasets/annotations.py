"""Text-table parsing shared by the dataset readers and the raw-result readers.

Every malformed file raises :class:`DatasetFormatError` naming the path and the first bad line.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from sot.datasets.base import DatasetFormatError

_DELIMS = str.maketrans({",": " ", "\t": " ", ";": " "})


def read_table(path: str | Path, fields: int | tuple[int, ...] = 4, *, allow_empty: bool = False,
               dtype=np.float64) -> np.ndarray:
    """Read a numeric text table (``,``, tab, ``;`` or space separated, mixed within a file allowed).

    Args:
        path: the file.
        fields: the number of values each non-empty line must hold (or the allowed numbers, e.g.
            ``(4, 8)`` for VOT rectangles and polygons; the widest wins and shorter rows are NaN-padded).
        allow_empty: return a ``(0, fields)`` array for an empty file instead of raising.
    Returns:
        ``(N, fields)`` array; ``nan`` / ``NaN`` entries are kept.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise DatasetFormatError(f"{path}: not a text file ({e})") from None
    return parse_table(text, path, fields, allow_empty=allow_empty, dtype=dtype)


def parse_table(text: str, path, fields: int | tuple[int, ...] = 4, *, allow_empty: bool = False,
                dtype=np.float64) -> np.ndarray:
    """:func:`read_table` on text already read; ``path`` only names the file in errors."""
    allowed = (fields,) if isinstance(fields, int) else tuple(fields)
    width = max(allowed)
    clean = text.translate(_DELIMS)
    if not clean.strip():
        if allow_empty:
            return np.zeros((0, width), dtype)
        raise DatasetFormatError(f"{path}: file is empty")
    if len(allowed) == 1:
        try:
            arr = np.loadtxt(io.StringIO(clean), dtype=dtype, ndmin=2)
            if arr.shape[1] == width:
                return arr
        except ValueError:
            pass
    return _slow_parse(clean, path, allowed, dtype)


def _slow_parse(clean: str, path, allowed: tuple[int, ...], dtype) -> np.ndarray:
    """Line-by-line parse that reports the first bad line (or handles rows of several widths)."""
    width = max(allowed)
    rows = []
    for lineno, line in enumerate(clean.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in allowed:
            want = " or ".join(map(str, allowed))
            raise DatasetFormatError(f"{path}:{lineno}: expected {want} values, found {len(parts)}: {line.strip()!r}")
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            raise DatasetFormatError(f"{path}:{lineno}: not a number in {line.strip()!r}") from None
        rows.append(vals + [np.nan] * (width - len(vals)))
    return np.asarray(rows, dtype=dtype).reshape(-1, width)


def read_flags(path: str | Path, count: int | None = None) -> np.ndarray:
    """Read a file of 0/1 integers separated by commas, spaces or newlines (LaSOT ``full_occlusion.txt``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found") from None
    try:
        arr = np.array(text.translate(_DELIMS).split(), dtype=np.int64)
    except ValueError:
        raise DatasetFormatError(f"{path}: expected integers separated by commas or whitespace") from None
    if count is not None and len(arr) != count:
        raise DatasetFormatError(f"{path}: {len(arr)} values, expected {count} (one per frame)")
    return arr


def read_lines(path: str | Path) -> list[str]:
    """Non-empty stripped lines of a text file (sequence lists)."""
    path = Path(path)
    try:
        return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: file not found") from None

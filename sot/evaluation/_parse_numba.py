"""Compiled (numba) parser of plain result tables: the files trackers write (``%.3f``-style decimals, comma
separated, one row per line). Imported lazily by :mod:`sot.evaluation.results_io`, whose ``read_rows``
falls back to ``np.loadtxt`` (and to the line-by-line reader that names the bad line) for anything this
parser does not take; importing this module raises ``ImportError`` where numba is not installed.

Accepted, and nothing else: lines of exactly ``fields`` numbers separated by ``,``, ended by ``\\n`` or
``\\r\\n`` (the last line may lack it), each number ``[-]digits[.digits]`` (or ``[-].digits``) with at most
18 digits, a significand of at most 2**53 and at most 22 decimals. No blank line, space, sign ``+``, exponent,
``nan`` / ``inf`` or comment. Any other byte, or a line with another field count, rejects the whole file.

Exactness: such a number is ``m / 10**k`` with ``m`` and ``10**k`` exactly representable in float64, so one
IEEE division gives the correctly rounded value (Clinger's fast path), which is what ``np.loadtxt`` (a
correctly rounded ``strtod``) returns: the same bits, ``-0.0`` included.
"""
from __future__ import annotations

import os

import numpy as np
from numba import njit, types

_POW10 = np.array([10.0 ** k for k in range(23)])  # exact: 10**22 < 2**53 * 2**22
_MAX_EXACT = 2 ** 53

_SIG = types.Tuple((types.boolean, types.Array(types.float64, 2, "C"), types.int64))(
    types.Array(types.uint8, 1, "C"), types.int64)


def _jit(sig):
    def wrap(fn):
        try:
            return njit(sig, cache=True, nogil=True)(fn)
        except RuntimeError:  # no writable cache location: compile each run
            return njit(sig, cache=False, nogil=True)(fn)
    return wrap


def padded(data: bytes) -> np.ndarray:
    """``data`` followed by the 0 byte :func:`parse_rows` expects after the text."""
    buf = np.empty(len(data) + 1, np.uint8)
    buf[:-1] = np.frombuffer(data, np.uint8)
    buf[-1] = 0
    return buf


def read_padded(path) -> np.ndarray:
    """A file's bytes followed by a 0 byte, read straight into one buffer (no copy)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        buf = np.empty(size + 1, np.uint8)
        view = memoryview(buf)
        got = 0
        while got < size:
            k = f.readinto(view[got:size])
            if not k:
                break  # the file shrank while being read
            got += k
        extra = f.read(1)  # ... or grew: read the rest the slow way
        if extra:
            return padded(bytes(buf[:got]) + extra + f.read())
    buf[got] = 0
    return buf[:got + 1]


@_jit(_SIG)
def parse_rows(buf, fields):
    """``(True, values, N)`` for a text in the accepted form (``values``: its ``(N, fields)`` rows), else
    ``(False, ..., 0)``. ``buf``: the text's bytes followed by one 0 byte (:func:`padded`,
    :func:`read_padded`); the 0 ends every digit run, so the inner loops need no bounds test."""
    n = buf.shape[0] - 1
    bad = (False, np.empty((0, fields)), 0)
    if n <= 0 or fields < 1 or buf[n] != 0:
        return bad
    # a row takes at least 2 * fields - 1 bytes and a newline: no counting pass over the text
    out = np.empty(((n + 1) // (2 * fields) + 1, fields))
    pos = 0
    row = 0
    col = 0
    while True:
        neg = buf[pos] == 45  # '-'
        if neg:
            pos += 1
        m = 0
        start = pos
        while True:  # int64 may wrap past 18 digits; such a number is rejected below
            d = np.int64(buf[pos]) - 48
            if d < 0 or d > 9:
                break
            m = m * 10 + d
            pos += 1
        digits = pos - start
        decimals = 0
        if buf[pos] == 46:  # '.'
            pos += 1
            start = pos
            while True:
                d = np.int64(buf[pos]) - 48
                if d < 0 or d > 9:
                    break
                m = m * 10 + d
                pos += 1
            decimals = pos - start
            digits += decimals
        if digits == 0 or digits > 18 or m > _MAX_EXACT or decimals > 22:
            return bad
        v = np.float64(m)
        if decimals:
            v = v / _POW10[decimals]
        out[row, col] = -v if neg else v
        col += 1
        if pos >= n:
            break
        c = buf[pos]
        if c == 44:  # ','
            if col == fields:
                return bad
            pos += 1
            if pos == n:
                return bad  # a trailing comma: an empty field
        elif c == 10 or (c == 13 and buf[pos + 1] == 10):
            if col != fields:
                return bad
            row += 1
            col = 0
            pos += 1 if c == 10 else 2
            if pos == n:
                break
        else:
            return bad
    if col:
        if col != fields:
            return bad
        row += 1
    return True, out[:row].copy(), row

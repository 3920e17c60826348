"""Image reading and the one crop used by training *and* tracking.

Coordinates are continuous: pixel ``i`` spans ``[i, i + 1)``, so a box ``[x, y, w, h]`` covers exactly
``x .. x + w`` and its centre is ``x + w / 2``. Affines returned here map such continuous image
coordinates to continuous crop coordinates; the half-pixel shift that ``cv2.warpAffine`` (pixel centres at
integers) needs is applied only inside :func:`crop_and_resize`. With this convention the image point
``center`` lands on the crop centre ``(out / 2, out / 2)``, i.e. on the centre of the crop pixel of index
``(out - 1) / 2`` -- the pysot convention -- and a square of ``side`` image pixels fills the ``out`` crop
pixels exactly (scale ``out / side``; pysot's training crop uses ``(out - 1) / side``, <1% different).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sot.datasets.base import DatasetFormatError

__all__ = [
    "context_side",
    "crop_affine",
    "crop_and_resize",
    "invert_affine",
    "read_rgb",
    "transform_box",
    "transform_points",
    "warp_with_affine",
]


def context_side(w, h, context_amount: float = 0.5):
    """SiamFC / SiamRPN++ exemplar side ``sqrt((w + p) * (h + p))`` with ``p = context_amount * (w + h)``.

    ``w``, ``h``: floats, numpy arrays or tensors (element-wise).
    """
    p = context_amount * (w + h)
    return ((w + p) * (h + p)) ** 0.5


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB ``uint8`` ``(H, W, 3)`` array.

    Raises :class:`DatasetFormatError` naming the path when the file is missing, cannot be decoded, or is a
    JPEG cut short (OpenCV would otherwise decode a truncated JPEG silently, with grey rows at the bottom).
    """
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:
        raise DatasetFormatError(f"cannot read image {str(path)!r}: {e.strerror or e}") from e
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        raise DatasetFormatError(f"cannot decode image {str(path)!r} ({buf.size} bytes): not a readable image")
    # A complete JPEG ends with the EOI marker FF D9 (a few padding bytes after it are tolerated).
    if buf[0] == 0xFF and buf[1] == 0xD8 and b"\xff\xd9" not in buf[-64:].tobytes():
        raise DatasetFormatError(f"truncated JPEG {str(path)!r}: no end-of-image marker")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def crop_affine(center, side, out_size: int, flip: bool = False) -> np.ndarray:
    """The ``2 x 3`` float64 affine (continuous image coords -> crop coords) of :func:`crop_and_resize`.

    ``center``: ``(cx, cy)`` in the image; ``side``: the crop's extent in image pixels, a float or
    ``(side_w, side_h)``; ``flip``: mirror horizontally about the crop centre.
    """
    cx, cy = float(center[0]), float(center[1])
    sw, sh = (float(side), float(side)) if np.ndim(side) == 0 else (float(side[0]), float(side[1]))
    if not (sw > 0 and sh > 0 and np.isfinite(sw) and np.isfinite(sh)):
        raise ValueError(f"crop side must be finite and positive, got {side!r}")
    ax, ay = out_size / sw, out_size / sh
    half = out_size / 2.0
    if flip:  # x' = out - x', folded into the same matrix
        return np.array([[-ax, 0.0, half + ax * cx], [0.0, ay, half - ay * cy]], dtype=np.float64)
    return np.array([[ax, 0.0, half - ax * cx], [0.0, ay, half - ay * cy]], dtype=np.float64)


def _to_cv2(A: np.ndarray) -> np.ndarray:
    """Continuous-coordinate affine -> the matrix ``cv2.warpAffine`` wants (pixel centres at integers)."""
    M = np.array(A, dtype=np.float64)
    M[:, 2] += M[:, :2].sum(axis=1) * 0.5 - 0.5
    return M


def warp_with_affine(image: np.ndarray, A: np.ndarray, out_size, border="mean",
                     interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Warp ``image`` with the continuous-coordinate affine ``A`` into an ``out_size`` crop (one warp).

    ``out_size``: int (square) or ``(out_w, out_h)``; ``border``: ``'mean'`` (per-channel image mean, as
    pysot), a number, or a per-channel tuple.
    """
    ow, oh = (out_size, out_size) if np.ndim(out_size) == 0 else out_size
    if isinstance(border, str):
        if border != "mean":
            raise ValueError(f"border must be 'mean' or a number, got {border!r}")
        value = cv2.mean(image)[:3]
    elif np.ndim(border) == 0:
        value = (float(border),) * 3
    else:
        value = tuple(float(v) for v in border)
    return cv2.warpAffine(image, _to_cv2(A), (int(ow), int(oh)), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=value)


def crop_and_resize(image: np.ndarray, center, side, out_size: int, flip: bool = False, border="mean",
                    interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, np.ndarray]:
    """Crop a ``side``-pixel window centred on ``center`` and resize it to ``out_size`` in one warp.

    Args:
        image: ``(H, W, 3)`` ``uint8`` RGB.
        center: ``(cx, cy)`` in continuous image coordinates (``x + w / 2`` of a box).
        side: window extent in image pixels; a float (square) or ``(side_w, side_h)``.
        out_size: the crop is ``(out_size, out_size, 3)``.
        flip: mirror the crop horizontally (folded into the same warp).
        border: fill outside the image: ``'mean'`` (per-channel image mean) or a value.
        interpolation: an OpenCV interpolation flag.

    Returns:
        ``(crop, A)``: the ``uint8`` crop and the ``2 x 3`` float64 affine from image to crop coordinates
        (use :func:`transform_box` / :func:`invert_affine` with it).
    """
    A = crop_affine(center, side, out_size, flip)
    return warp_with_affine(image, A, out_size, border, interpolation), A


def invert_affine(A: np.ndarray) -> np.ndarray:
    """Inverse of a ``2 x 3`` affine (crop -> image when ``A`` is image -> crop)."""
    return cv2.invertAffineTransform(np.asarray(A, dtype=np.float64))


def transform_points(points, A: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` points through a ``2 x 3`` affine."""
    p = np.asarray(points, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    return p @ A[:, :2].T + A[:, 2]


def transform_box(box_xywh, A: np.ndarray) -> np.ndarray:
    """Map ``(..., 4)`` ``[x, y, w, h]`` boxes through an affine; the result is the axis-aligned bounds of
    the mapped corners, so a flip (or rotation) still gives a valid box with ``w, h >= 0``."""
    b = np.asarray(box_xywh, dtype=np.float64)
    x1, y1 = b[..., 0], b[..., 1]
    x2, y2 = x1 + b[..., 2], y1 + b[..., 3]
    corners = np.stack([np.stack([x1, y1], -1), np.stack([x2, y1], -1),
                        np.stack([x1, y2], -1), np.stack([x2, y2], -1)], axis=-2)  # (..., 4, 2)
    q = transform_points(corners, A)
    lo, hi = q.min(axis=-2), q.max(axis=-2)
    return np.concatenate([lo, hi - lo], axis=-1)

"""Photometric augmentation of ``uint8`` RGB crops: each is one vectorised OpenCV call."""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["color_matrix", "apply_color", "random_blur"]

_GRAY = np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma weights (RGB order)


def color_matrix(rng: np.random.Generator, mean_rgb, strength: float = 0.4, grayscale: bool = False) -> np.ndarray:
    """The ``3 x 4`` affine colour map of brightness, contrast and saturation jitter (then optional grey).

    Factors are drawn from ``U(1 - strength, 1 + strength)``; contrast pivots on the crop's mean grey level
    (``mean_rgb``: the crop's per-channel mean), as torchvision's ``ColorJitter`` does. Brightness,
    contrast and saturation are all linear in the pixel, so they fold into one matrix.
    """
    b, c, s = (rng.uniform(1 - strength, 1 + strength, 3) if strength > 0 else np.ones(3))
    m0 = float(_GRAY @ np.asarray(mean_rgb[:3], dtype=np.float64))
    S = s * np.eye(3) + (1 - s) * np.outer(np.ones(3), _GRAY)  # saturation; S @ 1 == 1
    M = np.zeros((3, 4))
    M[:, :3] = S * (c * b)
    M[:, 3] = (1 - c) * b * m0
    if grayscale:
        M = np.outer(np.ones(3), _GRAY) @ M
    return M


def apply_color(img: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Apply a ``3 x 4`` colour map to an ``(H, W, 3)`` ``uint8`` image (saturating)."""
    return cv2.transform(img, M.astype(np.float32))


def random_blur(img: np.ndarray, rng: np.random.Generator, sigma=(0.3, 1.5)) -> np.ndarray:
    """Gaussian blur with ``sigma ~ U(*sigma)``."""
    return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(*sigma)))

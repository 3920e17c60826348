"""A per-sequence discriminative filter on the search features, learned while tracking.

A Siamese network scores the search region against a template it saw once; a distractor or background that
resembles the target can outscore it. Trackers since DaSiamRPN (distractor-aware training) and ATOM / DiMP
(online classifiers) add a model of *this* sequence: here a ``k x k`` linear filter over the network's own
search features, fitted by ridge regression to a Gaussian label centred on the target. It is learned in
closed form on the first frame (the search crop and shifted copies of it), refreshed with confident frames
(running averages of the normal equations, a few conjugate-gradient steps from the previous filter), and its
response, read at each candidate box's centre, is blended into the candidates' scores before the usual
window and penalties.

The fit follows the features' last bits, which depend on the torch thread count (the convolutions sum in
another order), so with the filter a sequence can be tracked differently on 1 and on 2 threads;
for a given thread count it is deterministic.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["OnlineClassifier"]


class OnlineClassifier:
    """Ridge-regression filter on search features, fused with the Siamese score.

    Args:
        weight: share of the filter's response in a candidate's score: ``(1 - weight) * siamese + weight *
            online`` (the response clipped at 0 and divided by its maximum over the crop).
        kernel_size: filter side in feature cells (odd); the filter has ``C * k * k + 1`` weights.
        sigma: Gaussian label width, as a fraction of the target's width / height.
        reg: ridge penalty on the filter (the data term sums over a crop's cells, averaged over crops).
        init_shift: the first frame's extra crops are shifted by this fraction of the crop side, in four
            directions (5 crops in all).
        update_rate: weight of a confident frame in the running averages (0: learn on the first frame only).
        update_threshold: a frame updates the filter when its Siamese score is at least this.
        cg_iters: conjugate-gradient steps per update, from the previous filter.
        level: which feature level of the neck to use.
    """

    def __init__(
        self,
        weight: float = 0.7,
        kernel_size: int = 3,
        sigma: float = 0.25,
        reg: float = 1.0,
        init_shift: float = 0.15,
        update_rate: float = 0.1,
        update_threshold: float = 0.9,
        cg_iters: int = 5,
        level: int = -1,
    ):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"online.weight must be in [0, 1], got {weight}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"online.kernel_size must be a positive odd number, got {kernel_size}")
        if not (sigma > 0 and reg > 0):
            raise ValueError(f"online.sigma and online.reg must be > 0, got {sigma} and {reg}")
        if not 0.0 <= update_rate <= 1.0:
            raise ValueError(f"online.update_rate must be in [0, 1], got {update_rate}")
        self.weight, self.kernel_size, self.sigma, self.reg = float(weight), int(kernel_size), float(sigma), float(reg)
        self.init_shift, self.update_rate = float(init_shift), float(update_rate)
        self.update_threshold, self.cg_iters, self.level = float(update_threshold), int(cg_iters), int(level)
        self.w: Tensor | None = None

    # ---- geometry: feature cell centres in crop px, laid on the crop centre like the heads' response grids
    @staticmethod
    def _cell_centres(size: int, stride: float, search_size: int) -> Tensor:
        return (torch.arange(size, dtype=torch.float32) - (size - 1) / 2.0) * stride + search_size / 2.0

    def _labels(self, centres: np.ndarray, sizes: np.ndarray, size: int, stride: float, search_size: int) -> Tensor:
        """Gaussian labels ``(B * H * W,)`` peaked at each crop's target centre (crop px)."""
        c = self._cell_centres(size, stride, search_size)
        ctr = torch.as_tensor(centres, dtype=torch.float32)
        sig = torch.as_tensor(sizes, dtype=torch.float32).clamp(min=1.0) * self.sigma
        gx = torch.exp(-0.5 * ((c[None, :] - ctr[:, :1]) / sig[:, :1]) ** 2)  # (B, W)
        gy = torch.exp(-0.5 * ((c[None, :] - ctr[:, 1:]) / sig[:, 1:]) ** 2)  # (B, H)
        return (gy[:, :, None] * gx[:, None, :]).reshape(-1)

    def _samples(self, feats: Tensor) -> Tensor:
        """``(B * H * W, C k k + 1)``: every cell's k x k neighbourhood (zero padded) and a constant 1."""
        B, C, H, W = feats.shape
        p = F.unfold(feats.float(), self.kernel_size, padding=self.kernel_size // 2)  # (B, C k k, H W)
        p = p.transpose(1, 2).reshape(B * H * W, -1)
        return torch.cat([p, p.new_ones(len(p), 1)], dim=1)

    def pick(self, feats: list[Tensor] | Tensor) -> Tensor:
        return feats[self.level] if isinstance(feats, (list, tuple)) else feats

    # ---- learning
    def init(self, feats: Tensor, centres: np.ndarray, sizes: np.ndarray, stride: float, search_size: int) -> None:
        """Fit the filter to ``feats`` ``(B, C, H, W)`` of the first frame's crops, whose targets are centred at
        ``centres`` with sizes ``sizes`` (``(B, 2)``, crop px)."""
        X = self._samples(feats)
        y = self._labels(centres, sizes, feats.shape[-1], stride, search_size).to(X.device)
        n = feats.shape[0]  # normal equations per crop: sums over its cells, averaged over the crops
        self.A, self.b = X.T @ X / n, X.T @ y / n
        self.w = torch.linalg.solve(self.A + self.reg * torch.eye(len(self.A), dtype=self.A.dtype, device=self.A.device),
                                    self.b)

    def update(self, feats: Tensor, centre: np.ndarray, size: np.ndarray, stride: float, search_size: int,
               score: float, samples: Tensor | None = None) -> None:
        """Add one frame (``feats`` ``(1, C, H, W)``, the tracked target at ``centre`` / ``size`` in crop px)
        when ``score`` reaches the threshold. ``samples``: ``feats``' rows of :meth:`_samples` when the caller
        has them already (from :meth:`scores`), so that they are not built twice."""
        if self.w is None or self.update_rate == 0 or not score >= self.update_threshold:
            return
        X = self._samples(feats) if samples is None else samples
        y = self._labels(np.asarray(centre)[None], np.asarray(size)[None], feats.shape[-1], stride, search_size)
        y = y.to(X.device)
        a = self.update_rate
        self.A = (1 - a) * self.A + a * (X.T @ X)
        self.b = (1 - a) * self.b + a * (X.T @ y)
        self.w = _conjugate_gradient(self.A, self.reg, self.b, self.w, self.cg_iters)

    # ---- scoring
    def scores(self, feats: Tensor, centres: Tensor, stride: float, search_size: int) -> Tensor:
        """The filter's response ``(n, N)`` read at candidate centres ``centres`` ``(n, N, 2)`` (crop px) of the
        ``n`` crops whose features are ``feats`` ``(n, C, H, W)``; clipped at 0, divided by each map's maximum.
        The sample rows stay in ``last_samples`` ``(n, H * W, D)`` for :meth:`update`."""
        n, _, H, W = feats.shape
        X = self._samples(feats)
        self.last_samples = X.reshape(n, H * W, -1)
        r = (X @ self.w).reshape(n, 1, H, W).clamp(min=0)
        r = r / r.flatten(1).amax(1).clamp(min=1e-6)[:, None, None, None]
        # crop px -> grid_sample's [-1, 1] over the cell centres (align_corners=True: -1 and 1 are the outer centres)
        half = (torch.tensor([W, H], dtype=torch.float32, device=centres.device) - 1) / 2.0
        g = (centres.float() - search_size / 2.0) / stride / half.clamp(min=0.5)
        return F.grid_sample(r, g[:, :, None, :], mode="bilinear", padding_mode="zeros", align_corners=True)[:, 0, :, 0]


def _conjugate_gradient(A: Tensor, reg: float, b: Tensor, x: Tensor, iters: int) -> Tensor:
    """A few conjugate-gradient steps on ``(A + reg I) x = b`` from ``x``."""
    r = b - (A @ x + reg * x)
    p = r.clone()
    rr = r @ r
    for _ in range(iters):
        if rr <= 1e-20:
            break
        Ap = A @ p + reg * p
        alpha = rr / (p @ Ap)
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x

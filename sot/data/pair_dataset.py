"""Template / search training pairs sampled from sequence datasets (SiamFC / pysot / OSTrack style)."""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence as SequenceABC
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from sot.data.augment import apply_color, color_matrix, random_blur
from sot.data.crop import context_side, crop_affine, read_rgb, transform_box, warp_with_affine
from sot.datasets.base import SequenceDataset
from sot.utils.cpus import usable_cpus

__all__ = ["PairDataset", "PairSpec"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairSpec:
    """Which frames a pair uses: ``(dataset, sequence, frame)`` indices of the template and the search."""

    template: tuple[int, int, int]
    search: tuple[int, int, int]
    positive: bool


def _valid_frames(seq) -> np.ndarray:
    b = seq.boxes
    with np.errstate(invalid="ignore"):
        ok = seq.visible & np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)
    return np.flatnonzero(ok)


class PairDataset(Dataset):
    """Pairs of crops (template, search) of the same target, or of different targets (negative pairs).

    Args:
        datasets: the sequence datasets to draw from.
        weights: relative probability of each dataset; default: proportional to its usable sequences.
        pairs_per_epoch: ``len(self)``.
        max_gap: largest frame distance between template and search (the nearest other visible frame when none
            is that close).
        negative_ratio: probability that the search frame comes from another sequence.
        template_size, search_size: crop sides in px.
        context_amount: SiamFC context (used when the factors are None).
        template_factor, search_factor: if given, the crop side is ``sqrt(w * h) * factor`` (OSTrack/STARK);
            otherwise template side = ``context_side(w, h)`` and search side = that ``* search_size / template_size``.
        shift: largest centre shift of the search crop, in search-crop px (pysot ``SHIFT``); the shift is
            reduced where it would push the target box out of the crop.
        scale: search crop scale jitter: side ``*= 1 + U(-scale, scale)``, drawn for x and y apart (pysot).
        template_shift, template_scale: the same for the template crop.
        color_jitter: brightness / contrast / saturation factors in ``U(1 - x, 1 + x)``, per crop.
        grayscale: probability that both crops of a pair are turned grey.
        blur: probability of a Gaussian blur, per crop.
        flip: probability that both crops of a pair are mirrored horizontally.
        off_target: probability that a positive pair's search crop is centred on a uniformly random point of
            the search frame instead (same crop side and jitter): the frame's own background and distractors as
            hard negatives. The pair stays positive only when the target's centre lands inside the crop.
        recolor_negative: probability that a positive pair becomes a negative one whose search crop shows the
            target with other colours: inside the ellipse inscribed in its box (edges feathered), every
            colour ``c`` becomes ``gain * c[perm] + offset`` (per channel: gain ``U(0.7, 1.3)``, offset
            ``N(0, 45)``, a random channel order half of the time). A look-alike in other colours, as a hard
            negative at the target's own place, so that the network learns colour.
        seed: with the epoch (:meth:`set_epoch`) and the index, seeds every random choice of a sample.
        cache_frames: decode every frame a pair can use once, here, and keep it in memory (``H * W * 3`` bytes
            a frame: the synthetic set's 9,504 usable training frames of 256x192 take 1.31 GiB), instead of decoding
            two images per pair. For data sets that fit in memory; a frame that cannot be read raises here.
            Loader workers forked afterwards share the decoded pages. The samples are the same either way.

    A video sequence needs 2 or more frames with a visible target and a valid box, else it is skipped; a
    one-image sequence (a still-image data set such as COCO) gives pairs of two crops of its image.

    A sample is a dict: ``template`` ``(3, T, T)`` and ``search`` ``(3, S, S)`` float32 RGB in ``[0, 255]``,
    ``template_box`` / ``search_box`` ``(4,)`` float32 ``[x, y, w, h]`` in crop px (for a negative pair the
    search box is the search frame's own target), ``positive`` a bool tensor.

    ``set_epoch`` changes this object only: with ``DataLoader(persistent_workers=True)`` the workers keep
    their copy, so use non-persistent workers (or rebuild the loader) when the epoch should change samples.
    """

    def __init__(
        self,
        datasets: SequenceABC[SequenceDataset],
        weights: SequenceABC[float] | None = None,
        pairs_per_epoch: int = 1000,
        max_gap: int = 100,
        negative_ratio: float = 0.2,
        template_size: int = 127,
        search_size: int = 255,
        context_amount: float = 0.5,
        template_factor: float | None = None,
        search_factor: float | None = None,
        shift: float = 64.0,
        scale: float = 0.18,
        template_shift: float = 4.0,
        template_scale: float = 0.05,
        color_jitter: float = 0.4,
        grayscale: float = 0.05,
        blur: float = 0.0,
        flip: float = 0.0,
        off_target: float = 0.0,
        recolor_negative: float = 0.0,
        seed: int = 0,
        cache_frames: bool = False,
    ):
        super().__init__()
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("PairDataset needs at least one dataset")
        self.pairs_per_epoch = int(pairs_per_epoch)
        self.max_gap = int(max_gap)
        self.negative_ratio = float(negative_ratio)
        self.template_size, self.search_size = int(template_size), int(search_size)
        self.context_amount = float(context_amount)
        self.template_factor, self.search_factor = template_factor, search_factor
        self.shift, self.scale = float(shift), float(scale)
        self.template_shift, self.template_scale = float(template_shift), float(template_scale)
        self.color_jitter, self.grayscale = float(color_jitter), float(grayscale)
        self.blur, self.flip = float(blur), float(flip)
        self.off_target = float(off_target)
        if not 0.0 <= self.off_target <= 1.0:
            raise ValueError(f"PairDataset: off_target must be a probability in [0, 1], got {off_target}")
        self.recolor_negative = float(recolor_negative)
        if not 0.0 <= self.recolor_negative <= 1.0:
            raise ValueError(f"PairDataset: recolor_negative must be a probability in [0, 1], got {recolor_negative}")
        self.seed, self.epoch = int(seed), 0

        # usable sequences: (sequence index, sorted frame indices with a visible target and a valid box)
        self._usable: list[list[tuple[int, np.ndarray]]] = []
        for d, ds in enumerate(self.datasets):
            usable = []
            for s, seq in enumerate(ds.sequences):
                vf = _valid_frames(seq)
                if len(vf) >= 2 or (len(seq) == 1 and len(vf) == 1):
                    usable.append((s, vf))
            if not usable:
                raise ValueError(f"PairDataset: dataset {d} ({type(ds).__name__}, {len(ds)} sequences) has no "
                                 "sequence with 2 or more visible frames with valid boxes (nor a one-image one)")
            self._usable.append(usable)
        counts = np.array([len(u) for u in self._usable], dtype=np.float64)
        if weights is None:
            w = counts
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != counts.shape or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"PairDataset: weights {list(weights)} must be {len(counts)} non-negative "
                                 "numbers, not all 0")
        self._p = w / w.sum()
        self._total_usable = int(counts.sum())
        self._frames: dict[tuple[int, int, int], np.ndarray] | None = self._decode_all() if cache_frames else None

    def _decode_all(self) -> dict[tuple[int, int, int], np.ndarray]:
        """Every usable frame decoded, keyed by ``(dataset, sequence, frame)``; threads (the decoder releases
        the GIL), one per usable CPU up to 8."""
        keys = [(d, s, int(f)) for d, usable in enumerate(self._usable) for s, vf in usable for f in vf]
        paths = [self.datasets[d].sequences[s].frames[f] for d, s, f in keys]
        start = time.perf_counter()
        with ThreadPoolExecutor(usable_cpus()) as pool:
            images = list(pool.map(read_rgb, paths))
        for im in images:
            im.flags.writeable = False  # shared by every pair (and by forked workers): never changed in place
        size = sum(im.nbytes for im in images)
        log.info("PairDataset: %d frames decoded into memory (%.2f GiB) in %.1f s", len(images), size / 2**30,
                 time.perf_counter() - start)
        return dict(zip(keys, images))

    def _image(self, d: int, s: int, f: int) -> np.ndarray:
        if self._frames is not None:
            return self._frames[d, s, f]
        return read_rgb(self.datasets[d].sequences[s].frames[f])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.pairs_per_epoch

    # ------------------------------------------------------------------------------------------ sampling
    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _pick_sequence(self, rng):
        d = int(rng.choice(len(self._p), p=self._p)) if len(self._p) > 1 else 0
        u = int(rng.integers(len(self._usable[d])))
        return d, u

    def _sample(self, rng: np.random.Generator) -> PairSpec:
        d, u = self._pick_sequence(rng)
        s, vf = self._usable[d][u]
        k = int(rng.integers(len(vf)))
        t = int(vf[k])
        if self._total_usable > 1 and rng.random() < self.negative_ratio:
            for _ in range(100):
                d2, u2 = self._pick_sequence(rng)
                if (d2, u2) != (d, u):
                    s2, vf2 = self._usable[d2][u2]
                    return PairSpec((d, s, t), (d2, s2, int(vf2[rng.integers(len(vf2))])), False)
        lo = int(np.searchsorted(vf, t - self.max_gap, "left"))
        hi = int(np.searchsorted(vf, t + self.max_gap, "right"))
        if len(vf) == 1:  # a still image (COCO-like): template and search from the same image
            j = k
        elif hi - lo > 1:
            j = int(rng.integers(lo, hi - 1))
            j += j >= k  # skip the template frame itself
        else:  # no other visible frame within max_gap: the nearest one
            j = k - 1 if k == len(vf) - 1 or (k > 0 and t - vf[k - 1] <= vf[k + 1] - t) else k + 1
        return PairSpec((d, s, t), (d, s, int(vf[j])), True)

    def pair_indices(self, index: int) -> PairSpec:
        """The frames sample ``index`` of the current epoch uses (no image is read)."""
        return self._sample(self._rng(index))

    # ---------------------------------------------------------------------------------------------- crops
    def _sides(self, box: np.ndarray) -> tuple[float, float]:
        w, h = float(box[2]), float(box[3])
        sz = context_side(w, h, self.context_amount)
        t_side = (w * h) ** 0.5 * self.template_factor if self.template_factor else sz
        if self.search_factor:
            s_side = (w * h) ** 0.5 * self.search_factor
        else:
            s_side = sz * self.search_size / self.template_size
        return t_side, s_side

    @staticmethod
    def _jittered_affine(box, side, out, shift, scale, flip, rng) -> np.ndarray:
        sw = side * (1 + rng.uniform(-1, 1) * scale)
        sh = side * (1 + rng.uniform(-1, 1) * scale)
        dx, dy = rng.uniform(-1, 1, 2) * shift
        # keep the box in the crop: |shift| <= (out - box side in crop px) / 2
        mx = max(0.0, (out - box[2] * out / sw) / 2)
        my = max(0.0, (out - box[3] * out / sh) / 2)
        dx, dy = float(np.clip(dx, -mx, mx)), float(np.clip(dy, -my, my))
        cx = box[0] + box[2] / 2 + dx * sw / out
        cy = box[1] + box[3] / 2 + dy * sh / out
        return crop_affine((cx, cy), (sw, sh), out, flip)

    def _finish(self, crop: np.ndarray, gray: bool, rng) -> torch.Tensor:
        if self.color_jitter > 0 or gray:
            crop = apply_color(crop, color_matrix(rng, cv2.mean(crop), self.color_jitter, gray))
        if rng.random() < self.blur:
            crop = random_blur(crop, rng)
        return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.pairs_per_epoch:
            raise IndexError(f"index {index} out of range for {self.pairs_per_epoch} pairs")
        rng = self._rng(index)
        spec = self._sample(rng)
        (td, ts, tf), (sd, ss, sf) = spec.template, spec.search
        t_seq, s_seq = self.datasets[td].sequences[ts], self.datasets[sd].sequences[ss]
        t_box, s_box = t_seq.boxes[tf], s_seq.boxes[sf]
        flip = bool(rng.random() < self.flip)
        gray = bool(rng.random() < self.grayscale)
        t_side, _ = self._sides(t_box)
        _, s_side = self._sides(s_box)
        At = self._jittered_affine(t_box, t_side, self.template_size, self.template_shift, self.template_scale,
                                   flip, rng)
        As = self._jittered_affine(s_box, s_side, self.search_size, self.shift, self.scale, flip, rng)

        t_img = self._image(td, ts, tf)
        s_img = t_img if (td, ts, tf) == (sd, ss, sf) else self._image(sd, ss, sf)
        positive = spec.positive
        if self.off_target and positive and rng.random() < self.off_target:
            As, positive = self._off_target_affine(s_box, s_side, s_img.shape, flip, rng)
        template = self._finish(warp_with_affine(t_img, At, self.template_size), gray, rng)
        search = warp_with_affine(s_img, As, self.search_size)
        search_box = transform_box(s_box, As)
        if self.recolor_negative and positive and rng.random() < self.recolor_negative:
            search, positive = recolor_box(search, search_box, rng), False
        search = self._finish(search, gray, rng)
        return {
            "template": template,
            "search": search,
            "template_box": torch.from_numpy(transform_box(t_box, At).astype(np.float32)),
            "search_box": torch.from_numpy(search_box.astype(np.float32)),
            "positive": torch.tensor(positive),
        }

    def _off_target_affine(self, box, side, image_shape, flip, rng) -> tuple[np.ndarray, bool]:
        """A search crop of the usual (jittered) side centred on a uniformly random point of the frame, and
        whether the target's centre lies inside it."""
        H, W = image_shape[:2]
        sw = side * (1 + rng.uniform(-1, 1) * self.scale)
        sh = side * (1 + rng.uniform(-1, 1) * self.scale)
        center = (rng.uniform(0, W), rng.uniform(0, H))
        A = crop_affine(center, (sw, sh), self.search_size, flip)
        cx, cy = A @ np.array([box[0] + box[2] / 2, box[1] + box[3] / 2, 1.0])
        return A, bool(0 <= cx < self.search_size and 0 <= cy < self.search_size)


def recolor_box(crop: np.ndarray, box, rng: np.random.Generator) -> np.ndarray:
    """``crop`` (uint8 RGB) with the colours inside the ellipse inscribed in ``box`` (``[x, y, w, h]``, crop px)
    changed to ``gain * c[perm] + offset`` (see ``PairDataset(recolor_negative=...)``), edges feathered."""
    H, W = crop.shape[:2]
    x, y, w, h = (float(v) for v in box)
    yy, xx = np.ogrid[0:H, 0:W]
    r2 = ((xx + 0.5 - x - w / 2) / max(w / 2, 1.0)) ** 2 + ((yy + 0.5 - y - h / 2) / max(h / 2, 1.0)) ** 2
    mask = np.clip((1.15 - np.sqrt(r2)) / 0.3, 0.0, 1.0).astype(np.float32)[..., None]  # 1 inside, 0 past 1.15
    perm = rng.permutation(3) if rng.random() < 0.5 else np.arange(3)
    new = crop[..., perm].astype(np.float32) * rng.uniform(0.7, 1.3, 3).astype(np.float32) \
        + rng.normal(0, 45, 3).astype(np.float32)
    out = crop.astype(np.float32) * (1 - mask) + np.clip(new, 0, 255) * mask
    return np.round(out).astype(np.uint8)

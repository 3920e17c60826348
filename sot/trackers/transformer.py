"""The tracker of STARK and OSTrack: square factor crops, one box per frame, optional Hanning window, and several
templates (the first frame's plus dynamic ones refreshed at set intervals when the score allows, STARK-ST)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from sot.data.crop import crop_and_resize
from sot.trackers.siamese import check_init_box

__all__ = ["TransformerTracker", "clip_box"]


def clip_box(box: np.ndarray, width: int, height: int, margin: float = 10.0) -> np.ndarray:
    """STARK / OSTrack ``clip_box``: keep ``[x, y, w, h]`` within the image, at least ``margin`` px of it inside
    and at least ``margin`` px wide and high."""
    x1, y1, w, h = (float(v) for v in box)
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0.0, x1), width - margin)
    x2 = min(max(margin, x2), float(width))
    y1 = min(max(0.0, y1), height - margin)
    y2 = min(max(margin, y2), float(height))
    return np.array([x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)])


class TransformerTracker:
    """Follows one object: ``init(image, box)`` once, then ``track(image) -> (box, score)`` per frame.

    Each frame: a square search crop of side ``sqrt(w h) * search_factor`` around the last box, one network pass
    with the stacked templates, then the best candidate of ``head.decode`` (after multiplying the scores by
    ``head.window`` when ``window`` is set: OSTrack's Hanning window) becomes the new box, unsmoothed and clipped
    to the image (STARK / OSTrack). Templates are square crops of side ``sqrt(w h) * template_factor``.

    Several templates: ``len(update_intervals)`` dynamic templates follow the first-frame one. Dynamic template
    ``k`` is re-cropped around the current box every ``update_intervals[k]`` frames when the frame's score exceeds
    ``update_threshold`` (STARK-ST: one dynamic template, every 200 frames on GOT-10k, 300 on LaSOT, threshold
    0.5). Until then it is a copy of the first. The templates reach the network stacked along a template dimension:
    ``(1, T, ...)`` per level (see :meth:`templates`), which the heads and one-stream backbones accept.

    Args:
        model: a :class:`sot.models.siamese.SiameseNet`.
        template_size, search_size: crop sides (px).
        template_factor, search_factor: crop side over ``sqrt(w h)`` of the box.
        window: multiply the scores by the head's Hanning window before picking the best candidate (OSTrack).
        update_intervals: frames between refreshes, one entry per dynamic template (empty: one static template).
        update_threshold: a dynamic template is refreshed only when the score exceeds this.
        border: crop fill outside the image: ``"mean"``, the per-channel mean of the first frame, computed once per
            sequence (PairDataset fills with each image's mean; a whole-frame mean per frame would cost about as
            much as the crop itself), or a number (0: STARK's and OSTrack's zero padding, for their released weights).
        margin: ``clip_box`` margin (px).
        device: where the network runs.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        template_size: int = 128,
        search_size: int = 256,
        template_factor: float = 2.0,
        search_factor: float = 4.0,
        window: bool = True,
        update_intervals: Sequence[int] = (),
        update_threshold: float = 0.5,
        border: str | float = "mean",
        margin: float = 10.0,
        device: str = "cpu",
    ):
        if any(int(i) < 1 for i in update_intervals):
            raise ValueError(f"update_intervals must be positive frame counts, got {list(update_intervals)}")
        self.model = model.eval().to(device)
        self.template_size, self.search_size = int(template_size), int(search_size)
        self.template_factor, self.search_factor = float(template_factor), float(search_factor)
        self.window = bool(window)
        self.update_intervals = [int(i) for i in update_intervals]
        self.update_threshold = float(update_threshold)
        if not (border == "mean" or isinstance(border, (int, float))):
            raise ValueError(f"border must be 'mean' or a number, got {border!r}")
        self.border, self.margin = border, float(margin)
        self.device = torch.device(device)

    # ---- helpers ----
    def _crop(self, image: np.ndarray, center, size, factor: float, out: int) -> tuple[torch.Tensor, float]:
        side = math.sqrt(float(size[0]) * float(size[1])) * factor
        crop, _ = crop_and_resize(image, center, side, out, border=self._fill)
        t = torch.from_numpy(crop).to(self.device).permute(2, 0, 1)[None].float()
        return t, side

    def _template_feats(self, image: np.ndarray):
        t, _ = self._crop(image, self.center, self.size, self.template_factor, self.template_size)
        return self.model.forward_template(t)

    def templates(self):
        """The templates as the network takes them: one template as is, several stacked on dim 1 of every level."""
        if len(self.z) == 1:
            return self.z[0]
        if isinstance(self.z[0], torch.Tensor):  # one-stream: normalised crops
            return torch.stack(self.z, dim=1)
        return [torch.stack(levels, dim=1) for levels in zip(*self.z)]

    # ---- API ----
    @torch.no_grad()
    def init(self, image: np.ndarray, box) -> None:
        """Start a sequence: ``image`` RGB uint8 (H, W, 3), ``box`` ``[x, y, w, h]``."""
        H, W = image.shape[:2]
        x, y, w, h = check_init_box(box, W, H)
        self.center = np.array([x + w / 2, y + h / 2])
        self.size = np.array([w, h])
        self.frame = 0
        self._fill = tuple(cv2.mean(image)[:3]) if self.border == "mean" else self.border
        z0 = self._template_feats(image)
        self.z = [z0] * (1 + len(self.update_intervals))

    @torch.no_grad()
    def track(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Locate the target in the next frame; returns ``([x, y, w, h], score)``."""
        H, W = image.shape[:2]
        S = self.search_size
        self.frame += 1
        x, side = self._crop(image, self.center, self.size, self.search_factor, S)
        outputs = self.model.forward_search(self.templates(), x)
        head = self.model.head
        scale = S / side
        prior = torch.tensor([[self.size[0] * scale, self.size[1] * scale]], dtype=torch.float32, device=self.device)
        boxes, scores = head.decode(outputs, S, prior)  # (1, N, 4) cxcywh crop px, (1, N)
        scores = scores[0].double().cpu().numpy()
        pick = scores
        if self.window and scores.shape[0] > 1:
            pick = scores * head.window(outputs).double().cpu().numpy()
        i = int(np.argmax(pick))
        cx, cy, bw, bh = boxes[0, i].double().cpu().numpy()
        center = self.center + (np.array([cx, cy]) - S / 2) / scale
        box = np.array([center[0] - bw / scale / 2, center[1] - bh / scale / 2, bw / scale, bh / scale])
        box = clip_box(box, W, H, self.margin)
        self.center, self.size = box[:2] + box[2:] / 2, box[2:].copy()
        score = float(scores[i])

        for k, interval in enumerate(self.update_intervals):
            if self.frame % interval == 0 and score > self.update_threshold:
                self.z[k + 1] = self._template_feats(image)
        return box, score

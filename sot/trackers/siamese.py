"""The tracker object: per-sequence state around a :class:`SiameseNet`, with SiamFC / SiamRPN++ post-processing."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sot.data.crop import context_side, crop_and_resize
from sot.trackers.color import ColorModel
from sot.trackers.finetune import HeadTuner
from sot.trackers.online import OnlineClassifier
from sot.trackers.refine import IoURefiner


class InvalidBoxError(ValueError):
    """An initial box that cannot be tracked (NaN, non-positive size, outside the image)."""


def check_init_box(box, width: int, height: int) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise InvalidBoxError(f"init box must be 4 finite numbers [x, y, w, h], got {box.tolist()}")
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise InvalidBoxError(f"init box [x, y, w, h] = {box.tolist()} has non-positive size; expected w > 0 and h > 0")
    if x + w <= 0 or y + h <= 0 or x >= width or y >= height:
        raise InvalidBoxError(f"init box {box.tolist()} lies outside the {width}x{height} image")
    return box


class SiameseTracker:
    """Follows one object: ``init(image, box)`` once, then ``track(image) -> (box, score)`` per frame.

    Args:
        model: a :class:`sot.models.siamese.SiameseNet`.
        exemplar_size: template crop size (pixels).
        instance_size: search crop size (pixels).
        context_amount: SiamFC context; template side ``sqrt((w + p)(h + p))``, ``p = context * (w + h)``.
        template_factor: if set, square crops of side ``sqrt(w h) * factor`` instead (OSTrack / STARK).
        search_factor: search side factor in that mode.
        scales: search scale factors (SiamFC: ``1.0375 ** [-1, 0, 1]``).
        scale_penalty: score multiplier of every scale other than the middle one (SiamFC 0.9745).
        penalty_k: SiamRPN scale / ratio change penalty ``exp(-(r_c s_c - 1) k)``.
        window_influence: weight of the cosine window in the final score.
        lr: size update rate.
        lr_mode: ``adaptive`` multiplies ``lr`` by the penalised score of the chosen box (SiamRPN),
            ``fixed`` uses ``lr`` as is (SiamFC).
        normalize_scores: SiamFC: shift the chosen score map to min 0, sum 1 before mixing with a sum-1 window.
        min_size: smallest box side after clipping (pixels).
        border: what happens where the measured box reaches the image border. ``clip`` (pysot): the box is
            taken as measured and the centre clipped to the image. ``keep_size``: a side of the box at the
            border is taken as the image's edge, not the target's: on that axis the size does not shrink
            below the state's, and the box is placed against its inner side, which the image does show, so
            that a target leaving the frame keeps its size and its box reaches past the border (as
            GOT-10k-style ground truth does). The centre is clipped only so that part of the box stays in
            the image.
        online: a per-sequence :class:`~sot.trackers.online.OnlineClassifier` blended into the candidates'
            scores (two-stream models only); None: the Siamese score alone.
        color: a per-sequence :class:`~sot.trackers.color.ColorModel` whose candidate scores multiply the
            network's, and which refines the chosen box; None: off.
        finetune: a :class:`~sot.trackers.finetune.HeadTuner` that fits the head to the first frame at ``init``
            (two-stream models only); None: the head as trained.
        refine: an :class:`~sot.trackers.refine.IoURefiner` that re-measures the chosen box with the head's IoU
            branch (heads with ``predict_iou``); None: the box as decoded.
        device: where the network runs.
    """

    is_deterministic = True  # the same input gives the same output: one repetition suffices (GOT-10k toolkit rule)

    def __init__(
        self,
        model: torch.nn.Module,
        exemplar_size: int = 127,
        instance_size: int = 255,
        context_amount: float = 0.5,
        template_factor: float | None = None,
        search_factor: float | None = None,
        scales: Sequence[float] = (1.0,),
        scale_penalty: float = 1.0,
        penalty_k: float = 0.0,
        window_influence: float = 0.42,
        lr: float = 0.38,
        lr_mode: str = "adaptive",
        normalize_scores: bool = False,
        min_size: float = 10.0,
        border: str = "clip",
        online: OnlineClassifier | None = None,
        color: ColorModel | None = None,
        finetune: HeadTuner | None = None,
        refine: IoURefiner | None = None,
        device: str = "cpu",
    ):
        if lr_mode not in ("adaptive", "fixed"):
            raise ValueError(f"tracker.lr_mode must be 'adaptive' or 'fixed', got {lr_mode!r}")
        if border not in ("clip", "keep_size"):
            raise ValueError(f"tracker.border must be 'clip' or 'keep_size', got {border!r}")
        self.border = border
        self.model = model.eval().to(device)
        self.exemplar_size, self.instance_size = int(exemplar_size), int(instance_size)
        self.context_amount = context_amount
        self.template_factor, self.search_factor = template_factor, search_factor
        self.scales = np.asarray(scales, dtype=np.float64)
        self.scale_penalty, self.penalty_k = scale_penalty, penalty_k
        self.window_influence, self.lr, self.lr_mode = window_influence, lr, lr_mode
        self.normalize_scores, self.min_size = normalize_scores, min_size
        self.device = torch.device(device)
        for name, part in (("online", online), ("finetune", finetune)):
            if part is not None and getattr(self.model, "one_stream", False):
                raise ValueError(f"tracker.{name} needs a two-stream model (template and search embedded apart); "
                                 "this backbone is one-stream")
        if refine is not None and not refine.applies_to(self.model.head):
            refine = None  # an optional refinement, and this head has no IoU branch
        self.online, self.color, self.finetune, self.refine = online, color, finetune, refine

    # ---- crops ----
    def _template_side(self, w: float, h: float) -> float:
        if self.template_factor is not None:
            return math.sqrt(w * h) * self.template_factor
        return float(context_side(w, h, self.context_amount))

    def _search_side(self, w: float, h: float) -> float:
        if self.search_factor is not None:
            return math.sqrt(w * h) * self.search_factor
        return self._template_side(w, h) * self.instance_size / self.exemplar_size

    def _to_tensor(self, crops: list[np.ndarray]) -> torch.Tensor:
        arr = np.stack(crops).transpose(0, 3, 1, 2)
        return torch.from_numpy(arr).to(self.device, torch.float32)

    # ---- API ----
    @torch.no_grad()
    def init(self, image: np.ndarray, box) -> None:
        """Start a sequence: ``image`` RGB uint8 (H, W, 3), ``box`` ``[x, y, w, h]``."""
        H, W = image.shape[:2]
        x, y, w, h = check_init_box(box, W, H)
        self.center = np.array([x + w / 2, y + h / 2])
        self.size = np.array([w, h])
        self.image_size = (W, H)
        crop, _ = crop_and_resize(image, self.center, self._template_side(w, h), self.exemplar_size)
        self.z_feats = self.model.forward_template(self._to_tensor([crop]))
        S, side = self.instance_size, self._search_side(w, h)
        self.head = self.model.head  # this sequence's head: a first-frame-tuned copy with finetune
        if self.finetune is not None:
            self.head = self.finetune.tune(self.model, self.z_feats, image, self.center, self.size, side, S)
        search = None  # the first frame's search crop, for the per-sequence models
        if self.online is not None or self.color is not None:
            search = crop_and_resize(image, self.center, side, S)[0]
        if self.color is not None:
            self.color.init(image, search, [S / 2, S / 2, w * S / side, h * S / side])
        if self.online is not None:  # the first frame's search crop and four shifted copies
            shifts = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]]) * self.online.init_shift * side
            crops = [search] + [crop_and_resize(image, self.center + d, side, S)[0] for d in shifts[1:]]
            feats = self.online.pick(self.model.search_features(self._to_tensor(crops)))
            self.online.init(feats, S / 2 - shifts * S / side, np.tile(self.size * S / side, (len(shifts), 1)),
                             self._online_stride(), S)

    def _keep_size_at_border(self, center, pred_size, size, W: int, H: int):
        """``border=keep_size``: on an axis where the measured box reaches one image border (and not the
        other), do not shrink the size below the state's and place the box against the measured inner side."""
        center, size = center.copy(), size.copy()
        lo, hi = center - pred_size / 2, center + pred_size / 2
        limit = np.array([W, H], dtype=np.float64)
        margin = 1.0  # px: a side this close to the border is taken as cut by it
        for a in range(2):
            at_lo, at_hi = lo[a] <= margin, hi[a] >= limit[a] - margin
            if at_lo == at_hi:  # inside the image, or wider than it: measured as is
                continue
            size[a] = max(self.size[a], size[a])
            center[a] = hi[a] - size[a] / 2 if at_lo else lo[a] + size[a] / 2
        # keep part of the box inside the image, so that the next search crop still shows some of it
        half = np.minimum(size / 2, limit / 2)
        return np.clip(center, -half + 1, limit + half - 1), size

    def _online_stride(self) -> float:
        return float(self.model.neck.strides[self.online.level])

    @torch.no_grad()
    def track(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Locate the target in the next frame; returns ``([x, y, w, h], score)``."""
        H, W = image.shape[:2]
        S = self.instance_size
        side = self._search_side(*self.size)
        sides = side * self.scales
        crops = [crop_and_resize(image, self.center, s, S)[0] for s in sides]
        n = len(crops)
        z = self.z_feats
        if n > 1:
            z = [f.expand(n, *f.shape[1:]) for f in z] if isinstance(z, list) else z.expand(n, *z.shape[1:])
        head = self.head
        if self.online is None and head is self.model.head:
            outputs = self.model.forward_search(z, self._to_tensor(crops))
        else:
            x_feats = self.model.search_features(self._to_tensor(crops))
            outputs = head(z, x_feats)
        prior = torch.as_tensor(self.size[None] * S / sides[:, None], dtype=torch.float32, device=self.device)
        boxes, scores = head.decode(outputs, S, prior)  # (n, N, 4) crop cxcywh, (n, N)
        if self.online is not None:
            online_feats = self.online.pick(x_feats)
            r = self.online.scores(online_feats, boxes[..., :2], self._online_stride(), S)
        boxes, scores = boxes.double().cpu().numpy(), scores.double().cpu().numpy()
        prior_np = prior.double().cpu().numpy()  # (n, 2) the current size in each crop's px
        window = head.window(outputs).double().cpu().numpy()

        # scale / ratio change penalty (SiamRPN), per candidate
        penalty = np.ones_like(scores)
        if self.penalty_k:
            def sz(wh):
                pad = (wh[..., 0] + wh[..., 1]) * 0.5
                return np.sqrt((wh[..., 0] + pad) * (wh[..., 1] + pad))
            prior_c = prior_np[:, None]
            s_c = sz(boxes[..., 2:]) / sz(prior_c)
            r_c = (prior_c[..., 0] / prior_c[..., 1]) / (boxes[..., 2] / np.maximum(boxes[..., 3], 1e-12))
            s_c, r_c = np.maximum(s_c, 1 / s_c), np.maximum(r_c, 1 / r_c)
            penalty = np.exp(-(r_c * s_c - 1) * self.penalty_k)
        if n > 1:  # SiamFC: penalise every scale but the middle one, then pick the best scale
            sp = np.full(n, self.scale_penalty)
            sp[n // 2] = 1.0
            penalty = penalty * sp[:, None]
        fused = scores
        if self.online is not None:
            w = self.online.weight
            fused = (1 - w) * scores + w * r.double().cpu().numpy()
        if self.color is not None:
            self.color.set_frame(image)
            fused = fused * self.color.weights(self.color.scores(crops, boxes, prior_np))
        pscore = fused * penalty
        k = int(np.argmax(pscore.max(axis=1)))
        p = pscore[k]
        if self.normalize_scores:
            p = p - p.min()
            p = p / (p.sum() + 1e-16)
            window = window / window.sum()
        p = p * (1 - self.window_influence) + window * self.window_influence
        i = int(np.argmax(p))

        # back to image coordinates: the crop centre S / 2 (continuous coordinates) is the current centre
        scale = S / sides[k]
        box = boxes[k, i] if self.color is None else self.color.refine_box(k, boxes[k, i])
        cx, cy, bw, bh = box if self.refine is None else self.refine(head, outputs, k, box)
        center = self.center + (np.array([cx, cy]) - S / 2) / scale
        pred_size = np.array([bw, bh]) / scale
        lr = self.lr * (penalty[k, i] * scores[k, i] if self.lr_mode == "adaptive" else 1.0)
        size = self.size * (1 - lr) + pred_size * lr

        size = np.clip(size, self.min_size, [max(W, self.min_size), max(H, self.min_size)])
        if self.border == "keep_size":
            center, size = self._keep_size_at_border(center, pred_size, size, W, H)
        else:  # clip to the image so that a target leaving the frame cannot drive the state to nonsense
            center = np.clip(center, [0, 0], [W, H])
        if self.online is not None:  # the frame's crop k, with the box as tracked, in crop px
            self.online.update(online_feats[k:k + 1], (center - self.center) * scale + S / 2, size * scale,
                               self._online_stride(), S, float(scores[k, i]), samples=self.online.last_samples[k])
        if self.color is not None:
            self.color.update(crops[k], np.r_[(center - self.center) * scale + S / 2, size * scale], float(scores[k, i]))
        self.center, self.size = center, size
        box = np.array([center[0] - size[0] / 2, center[1] - size[1] / 2, size[0], size[1]])
        return box, float(scores[k, i])

"""First-frame fine-tuning of the head: a few gradient steps on augmented search crops of the first frame.

The first frame is the one frame whose box is known. A Siamese network trained briefly on a few hundred
sequences localises and sizes the objects it was trained on better than new ones (on the main job's model:
mean IoU 0.73 with the state reset to the previous ground truth on training sequences, 0.66 on held-out
ones); a few steps of the head's own training loss on shifted and rescaled search crops of the first frame
adapt the head to the object at hand, as MDNet and its successors fine-tune on the first frame. The
backbone and neck are left alone (their search features are computed once, without gradients), the tuned
head is a copy kept by the tracker for this sequence (the model's own weights never change, so a model that
is still training can be tracked with), and the crops and the loss's label sampling are seeded, so a
sequence is tracked the same way whatever ran before it.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from sot.data.crop import crop_affine, transform_box, warp_with_affine

__all__ = ["HeadTuner"]


class HeadTuner:
    """Adapts a copy of the head to one sequence at the tracker's ``init``.

    Args:
        steps: Adam steps on the head's loss (0: the head is used as trained).
        lr: Adam step size.
        crops: search crops of the first frame, one batch.
        shift: largest shift of a crop's centre from the target's, in search-crop px (x and y apart).
        scale: crop side jitter, ``side *= 1 + U(-scale, scale)`` for x and y apart (scale and aspect change).
        flip: probability that a crop is mirrored.
        params: ``all`` the head's parameters, or ``box`` those of its box branch (names starting ``loc``).
        seed: seed of the crop jitter and of the loss's label sampling.
    """

    def __init__(self, steps: int = 20, lr: float = 3e-4, crops: int = 16, shift: float = 16.0, scale: float = 0.2,
                 flip: float = 0.0, params: str = "all", seed: int = 0):
        if params not in ("all", "box"):
            raise ValueError(f"finetune.params must be 'all' or 'box', got {params!r}")
        if steps < 0 or crops < 1 or not lr > 0:
            raise ValueError(f"finetune needs steps >= 0, crops >= 1 and lr > 0; got {steps}, {crops} and {lr}")
        if not (0.0 <= scale < 1.0 and shift >= 0 and 0.0 <= flip <= 1.0):
            raise ValueError(f"finetune needs 0 <= scale < 1, shift >= 0 and flip in [0, 1]; got {scale}, {shift}, {flip}")
        self.steps, self.lr, self.crops = int(steps), float(lr), int(crops)
        self.shift, self.scale, self.flip = float(shift), float(scale), float(flip)
        self.params, self.seed = params, int(seed)

    def _crops(self, image: np.ndarray, center, size, side: float, S: int) -> tuple[np.ndarray, np.ndarray]:
        """``(n, S, S, 3)`` jittered search crops around the target and its ``(n, 4)`` boxes in them."""
        rng = np.random.default_rng(self.seed)
        box = np.array([center[0] - size[0] / 2, center[1] - size[1] / 2, size[0], size[1]], dtype=np.float64)
        crops, boxes = [], []
        for _ in range(self.crops):
            sw, sh = side * (1 + rng.uniform(-1, 1, 2) * self.scale)
            dx, dy = rng.uniform(-1, 1, 2) * self.shift
            A = crop_affine((center[0] + dx * sw / S, center[1] + dy * sh / S), (sw, sh), S, bool(rng.random() < self.flip))
            crops.append(warp_with_affine(image, A, S))
            boxes.append(transform_box(box, A))
        return np.stack(crops), np.stack(boxes)

    def tune(self, model: torch.nn.Module, z_feats, image: np.ndarray, center, size, side: float,
             search_size: int) -> torch.nn.Module:
        """A copy of ``model.head`` fitted to the first frame ``image`` (``(H, W, 3)`` uint8 RGB) whose target has
        centre ``center`` and size ``size`` (image px); ``z_feats``: the template features; ``side``: the
        tracker's search-crop side for this target (image px). ``model`` itself is not changed (with ``steps``
        0 its own head is returned)."""
        if self.steps == 0:
            return model.head
        head = copy.deepcopy(model.head)
        device = next(model.parameters()).device
        crops, boxes = self._crops(image, center, size, side, search_size)
        x = torch.from_numpy(crops.transpose(0, 3, 1, 2)).to(device, torch.float32)
        n = len(crops)
        with torch.no_grad():
            x_feats = model.search_features(x)
        z = [f.expand(n, *f.shape[1:]) for f in z_feats] if isinstance(z_feats, list) else z_feats.expand(n, *z_feats.shape[1:])
        b = torch.as_tensor(boxes, dtype=torch.float32, device=device)
        positive = torch.ones(n, dtype=torch.bool, device=device)
        params = [p for k, p in head.named_parameters() if self.params == "all" or k.startswith("loc")]
        for p in head.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=self.lr)
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.enable_grad():
            torch.manual_seed(self.seed)
            for _ in range(self.steps):
                loss = sum(head.loss(head(z, x_feats), b, positive, search_size).values())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        for p in head.parameters():
            p.grad = None
            p.requires_grad_(False)
        return head

"""TransformerTracker: factor crops, mapping back to the image, Hanning window, clip_box, static + dynamic
templates; end to end with tiny one-stream and two-stream models."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from sot.models.builder import build_model
from sot.trackers.transformer import TransformerTracker, clip_box
from tests.helpers import compose_train

torch.set_num_threads(1)
S = 64


class ScriptedHead(nn.Module):
    """Returns the candidates the test scripts: ``(boxes (N, 4) cxcywh crop px, scores (N,), window (N,))``;
    ``echo`` boxes are the crop centre with the prior size."""

    def __init__(self, script):
        super().__init__()
        self.script = list(script)

    def decode(self, outputs, search_size, prior_size):
        return outputs["boxes"][None], outputs["scores"][None]

    def window(self, outputs):
        return outputs["window"]


class ScriptedNet(nn.Module):
    """Two-stream stand-in: template features are per-channel means; records what each search call gets."""

    one_stream = False

    def __init__(self, script):
        super().__init__()
        self.head = ScriptedHead(script)
        self.seen = []
        self.n_templates = 0

    def forward_template(self, t):
        self.n_templates += 1
        return [t.mean(dim=(2, 3), keepdim=True)]  # (1, 3, 1, 1)

    def forward_search(self, z, x):
        self.seen.append(z)
        assert x.shape == (1, 3, S, S)
        entry = self.head.script.pop(0)
        boxes, scores, window = entry(x) if callable(entry) else entry
        return {"boxes": torch.as_tensor(boxes, dtype=torch.float32), "scores": torch.as_tensor(scores, dtype=torch.float32),
                "window": torch.as_tensor(window, dtype=torch.float32)}


def frame(seed=0, h=160, w=200):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def centre_box(size):
    return ([[S / 2, S / 2, size[0], size[1]]], [0.9], [1.0])


def test_box_stays_when_the_head_returns_the_crop_centre():
    box = [50.0, 40.0, 30.0, 20.0]
    side = math.sqrt(30 * 20) * 4
    wh = (30 * S / side, 20 * S / side)
    net = ScriptedNet([centre_box(wh)] * 3)
    tr = TransformerTracker(net, template_size=32, search_size=S, template_factor=2, search_factor=4)
    tr.init(frame(), box)
    for i in range(3):
        out, score = tr.track(frame(i))
        assert out == pytest.approx(box, abs=1e-4) and score == pytest.approx(0.9)


def test_shift_in_the_crop_maps_back_by_the_crop_scale():
    box = [50.0, 40.0, 30.0, 20.0]
    side = math.sqrt(30 * 20) * 5
    scale = S / side
    net = ScriptedNet([([[S / 2 + 8, S / 2 - 4, 40 * scale, 10 * scale]], [1.0], [1.0])])
    tr = TransformerTracker(net, template_size=32, search_size=S, template_factor=2, search_factor=5)
    tr.init(frame(), box)
    out, _ = tr.track(frame(1))
    cx, cy = 65 + 8 / scale, 50 - 4 / scale
    assert out == pytest.approx([cx - 20, cy - 5, 40, 10], abs=1e-4)


def test_hanning_window_decides_between_candidates():
    far = ([[5.0, 5.0, 10, 10], [S / 2, S / 2, 10, 10]], [0.9, 0.8], [0.1, 1.0])
    for window, want_x in ((True, S / 2), (False, 5.0)):
        net = ScriptedNet([far])
        tr = TransformerTracker(net, template_size=32, search_size=S, window=window)
        tr.init(frame(), [80.0, 60.0, 30.0, 30.0])
        side = 30 * 4
        out, score = tr.track(frame(1))
        cx = 95 + (want_x - S / 2) * side / S
        assert out[0] + out[2] / 2 == pytest.approx(cx, abs=1e-4)
        assert score == pytest.approx(0.8 if window else 0.9)


def test_clip_box_follows_stark_ostrack():
    # OSTrack lib/utils/box_ops.clip_box(box, H, W, margin)
    assert clip_box([-20, 10, 50, 30], 100, 80, 10).tolist() == [0, 10, 30, 30]
    assert clip_box([95, 75, 30, 30], 100, 80, 10).tolist() == [90, 70, 10, 10]
    assert clip_box([10, 10, 2, 3], 100, 80, 10).tolist() == [10, 10, 10, 10]


def test_dynamic_template_refreshed_at_interval_only_when_score_is_high():
    def step(score):
        return ([[S / 2, S / 2, 16, 16]], [score], [1.0])

    scores = [0.9, 0.9, 0.4, 0.9, 0.9, 0.9]
    net = ScriptedNet([step(s) for s in scores])
    tr = TransformerTracker(net, template_size=32, search_size=S, update_intervals=[3], update_threshold=0.5)
    tr.init(frame(), [80.0, 60.0, 30.0, 30.0])
    assert len(tr.z) == 2 and tr.z[1] is tr.z[0] and net.n_templates == 1
    for i, s in enumerate(scores, start=1):
        tr.track(frame(i))
        if i < 6:
            assert tr.z[1] is tr.z[0]  # frame 3 scored 0.4: no refresh
    assert tr.z[1] is not tr.z[0] and net.n_templates == 2  # frame 6: refreshed
    z = net.seen[-1]
    assert isinstance(z, list) and z[0].shape == (1, 2, 3, 1, 1)  # static + dynamic, stacked on dim 1


def test_bad_update_interval_is_refused():
    with pytest.raises(ValueError, match="update_intervals"):
        TransformerTracker(ScriptedNet([]), update_intervals=[0])


def _moving_square(n=4, h=120, w=160):
    frames, boxes = [], []
    for i in range(n):
        img = np.full((h, w, 3), 40, np.uint8)
        x, y = 50 + 3 * i, 40 + 2 * i
        img[y:y + 24, x:x + 30] = (220, 60, 60)
        frames.append(img)
        boxes.append([x, y, 30, 24])
    return frames, boxes


@pytest.mark.parametrize("parts", [
    ["backbone=vit_tiny", "+backbone.model_kwargs={depth:2,embed_dim:48,num_heads:3}", "neck=identity", "head=center",
     "head.channels=16", "tracker=ostrack"],
    ["backbone=resnet50_stark", "backbone.name=resnet18", "backbone.out_indices=[3]", "neck=identity", "head=score",
     "head.d_model=32", "head.nhead=4", "head.num_encoder_layers=1", "head.num_decoder_layers=1",
     "head.dim_feedforward=64", "head.corner_channels=16", "tracker=stark", "tracker.update_intervals=[2]"],
])
def test_end_to_end_with_tiny_models(parts):
    cfg = compose_train(["~experiments", "data.template_size=32", "data.search_size=64", "device=cpu", *parts])
    model = build_model(cfg.backbone, cfg.neck, cfg.head)
    from hydra.utils import instantiate

    tr = instantiate(cfg.tracker, model=model)
    frames, boxes = _moving_square()
    tr.init(frames[0], boxes[0])
    for img in frames[1:]:
        box, score = tr.track(img)
        assert np.all(np.isfinite(box)) and 0.0 <= score <= 1.0
        assert box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= 160 + 1e-6 and box[1] + box[3] <= 120 + 1e-6
    assert len(tr.z) == 1 + len(cfg.tracker.update_intervals)

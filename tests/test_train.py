"""End to end on CPU: a two-step training, a resume, a tracker from the checkpoint alone, eval.py."""
import json

import numpy as np
import pytest
import torch
from omegaconf import open_dict

from sot.training.run import train
from sot.trackers.build import tracker_from_checkpoint
from sot.training.checkpoint import CheckpointMismatchError, load_checkpoint, load_model_state
from tests.helpers import compose_train


def smoke_cfg(tmp_path, *extra):
    cfg = compose_train(["debug=smoke", "device=cpu", f"paths.cache={tmp_path / 'cache'}", *extra])
    return cfg


def test_two_step_training_then_resume(tmp_path):
    cfg = smoke_cfg(tmp_path, "score_after_training=false")
    assert cfg.epochs == 1 and cfg.data.train.pairs_per_epoch // cfg.batch_size == 2
    m1 = train(cfg, tmp_path / "run1")
    assert m1["steps"] == 2 and m1["epochs"] == 1
    ckpt = load_checkpoint(tmp_path / "run1" / "checkpoints" / "last.pt")
    assert {"model", "optimizer", "scheduler", "epoch", "step", "config"} <= set(ckpt)
    assert ckpt["config"]["backbone"]["_target_"] == cfg.backbone._target_
    rows = [json.loads(l) for l in (tmp_path / "run1" / "metrics.jsonl").read_text().splitlines()]
    assert any("train/loss" in r for r in rows)

    # resume for one more epoch: continues at step 2 and ends at step 4
    cfg2 = smoke_cfg(tmp_path, "score_after_training=false", "epochs=2",
                     f"resume={tmp_path / 'run1' / 'checkpoints' / 'last.pt'}")
    m2 = train(cfg2, tmp_path / "run2")
    assert m2["steps"] == 4 and m2["epochs"] == 2
    w1 = ckpt["model"]
    w2 = load_checkpoint(tmp_path / "run2" / "checkpoints" / "last.pt")["model"]
    assert any(not torch.equal(w1[k], w2[k]) for k in w1 if w1[k].is_floating_point())


def test_train_scores_and_tracker_loads_from_checkpoint(tmp_path):
    cfg = smoke_cfg(tmp_path)
    metrics = train(cfg, tmp_path / "run")
    for k in ("auc", "precision", "norm_precision", "fps"):
        assert k in metrics and np.isfinite(metrics[k])
    report = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    assert {"auc", "precision", "norm_precision", "fps", "per_sequence"} <= set(report)
    assert (tmp_path / "run" / "eval" / "success_plot.png").stat().st_size > 0
    raw = list((tmp_path / "run" / "eval" / "results").rglob("*.txt"))
    assert raw and all(len(l.split(",")) == 4 for l in raw[0].read_text().splitlines())

    tracker = tracker_from_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    img = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    tracker.init(img, [50, 40, 30, 20])
    box, score = tracker.track(img)
    assert np.all(np.isfinite(box)) and np.isfinite(score)


def test_checkpoint_mismatch_lists_keys(tmp_path):
    cfg = smoke_cfg(tmp_path)
    from sot.models.builder import build_model

    model = build_model(cfg.backbone, cfg.neck, cfg.head)
    state = model.state_dict()
    state["extra.weight"] = torch.zeros(1)
    missing = next(iter(state))
    del state[missing]
    with pytest.raises(CheckpointMismatchError) as e:
        load_model_state(model, state)
    assert "extra.weight" in str(e.value) and missing in str(e.value)


def test_incompatible_parts_fail_at_build_naming_them(tmp_path):
    from sot.models.errors import IncompatiblePartsError

    cfg = smoke_cfg(tmp_path, "backbone=timm", "neck=channel_mapper", "head=rpn")  # strides 8/16/32 into one RPN
    with pytest.raises(IncompatiblePartsError, match=r"backbone TimmBackbone \+ neck ChannelMapper \+ head RPNHead"):
        train(cfg, tmp_path / "run")


def test_main_recipe_head_swap_names_the_backbone_to_use(tmp_path):
    """The main recipe's backbone gives layer1 (stride 4) for ban_iou's IoU branch; a head that fuses one stride
    is refused before training, with the backbone that fits it."""
    from sot.models.errors import IncompatiblePartsError
    cfg = smoke_cfg(tmp_path, "head=ban")
    with pytest.raises(IncompatiblePartsError, match=r"strides \[4, 8\].*backbone=resnet18_layer2"):
        train(cfg, tmp_path / "run")
    assert not list((tmp_path / "run").rglob("*.pt"))


def test_tracker_setting_the_model_cannot_serve_fails_before_training(tmp_path):
    # a refinement that needs the IoU branch, on a head without it
    cfg = smoke_cfg(tmp_path, "head=ban", "backbone=resnet18_layer2", "tracker/refine=iou")
    with pytest.raises(Exception, match="IoU branch.*BANHead"):
        train(cfg, tmp_path / "run")
    assert not list((tmp_path / "run").rglob("*.pt"))  # refused before a step was taken


def test_loader_workers_after_generating_data_in_process(tmp_path):
    """Generating the synthetic set starts OpenCV's thread pool; forked loader workers must not hang on it."""
    import os
    import subprocess
    import sys

    from sot.utils.runtime import REPO_ROOT

    cmd = [sys.executable, str(REPO_ROOT / "train.py"), "debug=smoke", "device=cpu", "workers=1",
           "score_after_training=false", f"paths.cache={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}"]
    r = subprocess.run(cmd, env={**os.environ, "WANDB_MODE": "disabled"}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()

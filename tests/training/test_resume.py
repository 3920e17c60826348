"""Exact resume: SIGKILL in the middle of an epoch, resume=auto, bit-identical final state; checkpoint files."""
import os
import subprocess
import sys

import pytest
import torch

from sot.training.checkpoint import CheckpointManager, find_resume, load_checkpoint
from sot.training.run import train
from sot.utils.runtime import REPO_ROOT

# 2 epochs of 8 steps, a checkpoint every 3 steps, EMA and the RPN's random anchor sampling (global torch RNG)
RUN = ["data.train.pairs_per_epoch=16", "batch_size=2", "epochs=2", "checkpoint_every_steps=3", "keep_checkpoints=2",
       "ema.enabled=true", "ema.decay=0.9", "optim=sgd"]


def _states_equal(a: dict, b: dict) -> list[str]:
    """Keys whose tensors differ (bitwise)."""
    return [k for k in a if not torch.equal(a[k], b[k])]


def test_sigkill_mid_epoch_then_resume_auto_is_bit_identical(smoke, cache, tmp_path):
    run_dir = tmp_path / "killed"
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    cmd = [sys.executable, str(REPO_ROOT / "train.py"), "debug=smoke", "device=cpu", f"paths.cache={cache}",
           "score_after_training=false", *RUN, f"hydra.run.dir={run_dir}",
           "hooks=[{_target_:tests.training.hooks.KillAt,step:11}]"]  # epoch 1, 3 steps in; last checkpoint: step 9
    r = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == -9, (r.returncode, r.stderr[-3000:])
    ckpts = CheckpointManager.list(run_dir / "checkpoints")
    assert [p.name for p in ckpts] == ["step_00000008.pt", "step_00000009.pt"]  # the last 2 kept
    assert not list((run_dir / "checkpoints").glob(".*tmp*"))  # no half-written file
    newest = load_checkpoint(find_resume("auto", run_dir))
    assert newest["step"] == 9 and newest["epoch"] == 1 and newest["sampler"]["batch"] == 1  # inside epoch 1
    assert {"model", "optimizer", "scheduler", "scaler", "ema", "rng", "worker_seeds", "sampler"} <= set(newest)

    # the same command again (resume=auto is the default) continues from step 9
    resumed = train(smoke(*RUN), run_dir)
    assert resumed["steps"] == 16
    straight = train(smoke(*RUN), tmp_path / "straight")
    assert straight["steps"] == 16

    a = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    assert _states_equal(a["model"], b["model"]) == []
    assert _states_equal(a["ema"], b["ema"]) == []
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert a["scheduler"] == b["scheduler"]
    assert torch.equal(a["rng"][0]["torch"], b["rng"][0]["torch"])


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(smoke, tmp_path):
    cfg = smoke("data.train.pairs_per_epoch=16", "batch_size=2", "checkpoint_every_steps=1",
                "hooks=[{_target_:tests.training.hooks.PoisonBatch,step:3}]")
    with pytest.raises(FloatingPointError, match=r"loss became nan in optimizer step 3 \(epoch 0.*last good checkpoint is kept"):
        train(cfg, tmp_path / "run")
    ckpt = tmp_path / "run" / "checkpoints"
    assert [p.name for p in CheckpointManager.list(ckpt)] == ["step_00000001.pt", "step_00000002.pt"]
    last = load_checkpoint(ckpt / "last.pt")
    assert last["step"] == 2 and all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


def test_checkpoint_manager_keeps_k_and_resume_choices(tmp_path):
    m = CheckpointManager(tmp_path / "c", keep=2)
    for step in (5, 10, 15):
        m.save({"step": step, "w": torch.full((2,), float(step))}, step)
    assert [p.name for p in CheckpointManager.list(tmp_path / "c")] == ["step_00000010.pt", "step_00000015.pt"]
    assert load_checkpoint(tmp_path / "c" / "last.pt")["step"] == 15  # loads with weights_only=True
    assert find_resume("auto", tmp_path / "nothing") is None  # a fresh run directory: start from scratch
    assert find_resume(None, tmp_path) is None
    with pytest.raises(FileNotFoundError, match="resume=auto"):
        find_resume(str(tmp_path / "missing.pt"), tmp_path)

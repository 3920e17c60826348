"""A multirun sweep over parts, in a subprocess, as a user would type it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sot.utils.runtime import REPO_ROOT


@pytest.mark.slow
def test_multirun_sweep_over_backbones_and_necks(tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(Path(REPO_ROOT) / "train.py"), "-m", "backbone=resnet18,mobilenet_v2",
           "neck=channel_mapper,fpn", "debug=smoke", "device=cpu", f"paths.cache={tmp_path / 'cache'}",
           f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = sorted((tmp_path / "sweep").glob("*/final_metrics.json"))
    assert len(jobs) == 4, list((tmp_path / "sweep").iterdir())

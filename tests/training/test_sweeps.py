"""Hydra: launcher configs, unique run directories, the Optuna recipe and the multirun summary table."""
import csv
import json
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from sot.training.callbacks import write_summary
from sot.training.rundir import new_stamp, register_resolvers
from sot.utils.runtime import REPO_ROOT

CONF = str(REPO_ROOT / "conf")


def _compose(overrides):
    register_resolvers()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


def test_launcher_configs():
    j = _compose(["launcher=joblib"]).hydra.launcher
    assert j._target_.endswith("JoblibLauncher") and j.n_jobs == 2
    cfg = _compose(["launcher=submitit_slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4"])
    s = cfg.hydra.launcher
    assert s._target_.endswith("SlurmLauncher")
    assert (s.partition, s.gpus_per_node, s.tasks_per_node, s.timeout_min) == ("gpu", 4, 4, 240)
    assert cfg.resume == "auto" and cfg.checkpoint_every_steps > 0  # a re-queued job continues


def test_optuna_recipe_maximises_validation_auc_only():
    cfg = _compose(["hparams_search=siamrpn_optuna"])
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.sweeper.direction == "maximize"
    assert cfg.optimized_metric == "val_auc" and cfg.score_val and not cfg.score_after_training
    assert cfg.data.val.split == "val"


def test_run_directories_never_collide():
    stamps = {new_stamp() for _ in range(200)}
    assert len(stamps) == 200
    a, b = (_compose([]).hydra.run.dir for _ in range(2))
    assert a == b  # one process resolves one stamp (Hydra resolves the folder more than once)


def test_summary_table_from_job_folders(tmp_path):
    for i, (lr, auc) in enumerate([("0.01", 0.5), ("0.001", 0.6), ("0.1", None)]):
        job = tmp_path / str(i)
        (job / ".hydra").mkdir(parents=True)
        OmegaConf.save(OmegaConf.create([f"optim.lr={lr}", "debug=smoke"]), job / ".hydra" / "overrides.yaml")
        if auc is not None:
            (job / "final_metrics.json").write_text(json.dumps({"steps": 2, "val_auc": auc}))
    text = write_summary(tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "summary.csv")))
    assert [r["optim.lr"] for r in rows] == ["0.01", "0.001", "0.1"]
    assert [r["status"] for r in rows] == ["done", "done", "failed"] and rows[1]["val_auc"] == "0.6"
    assert "debug" not in rows[0] and "debug=smoke" in text  # shared overrides go to the title


@pytest.mark.slow
def test_optuna_sweep_writes_one_summary(cache, tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(REPO_ROOT / "train.py"), "hparams_search=siamrpn_optuna", "debug=smoke", "device=cpu",
           f"paths.cache={cache}", "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=2",
           f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "sweep" / "summary.csv")))
    assert len(rows) == 2 and all(r["status"] == "done" and float(r["val_auc"]) >= 0 for r in rows)
    assert "optim.lr" in rows[0] and "auc" not in rows[0]  # the test split is not scored in a search
    assert "summary.csv" in r.stdout and "val_auc" in r.stdout
    best = OmegaConf.load(tmp_path / "sweep" / "optimization_results.yaml")
    assert best.best_value == max(float(r["val_auc"]) for r in rows)

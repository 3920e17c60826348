"""Shared test helpers: compose the train config like train.py does, and build tiny models from it."""
import os
from pathlib import Path

from hydra import compose, initialize_config_dir

from sot.models.builder import build_model
from sot.utils.runtime import REPO_ROOT

os.environ.setdefault("SOT_ROOT", str(REPO_ROOT))
os.environ.setdefault("WANDB_MODE", "disabled")
CONF = str(Path(REPO_ROOT) / "conf")


def compose_train(overrides=(), config_name="train"):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


def tiny_model(cfg):
    return build_model(cfg.backbone, cfg.neck, cfg.head).eval()

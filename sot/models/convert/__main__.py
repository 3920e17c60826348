"""``python -m sot.models.convert {ostrack,stark} OFFICIAL.pth OUT.pt --experiment NAME [key=value ...]``

Builds the model of a sot recipe (plus Hydra overrides), loads the released weights through the key converter
(strictly; the report is printed) and writes a sot checkpoint ``{"model", "config"}``. The saved tracker crops with
zero padding (``tracker.border=0``), as STARK and OSTrack did when those weights were trained.
"""
from __future__ import annotations

import argparse

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from sot.models.builder import build_model
from sot.models.convert import load_official
from sot.training.checkpoint import save_checkpoint
from sot.utils.runtime import REPO_ROOT, set_root_env


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=["ostrack", "stark"])
    ap.add_argument("official", help="released checkpoint (.pth / .pth.tar)")
    ap.add_argument("out", help="sot checkpoint to write")
    ap.add_argument("--experiment", required=True, help="recipe in experiments/ (e.g. ostrack_vitb_256, stark_st50)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=synthetic")
    args = ap.parse_args(argv)
    set_root_env()
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiments={args.experiment}", *args.overrides])
    with open_dict(cfg):
        if "pretrained" in cfg.backbone:
            cfg.backbone.pretrained = None
        cfg.init_weights = None
        cfg.tracker.border = 0
    model = build_model(cfg.backbone, cfg.neck, cfg.head)
    report = load_official(model, args.official, args.kind)
    print(report.summary())
    save_checkpoint(args.out, {"model": model.state_dict(), "config": OmegaConf.to_container(cfg, resolve=False)})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

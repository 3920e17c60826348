"""What ``train.py`` does: build everything from the config, train, checkpoint, score."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.utils.data import DataLoader

from sot.models.builder import build_model, check_shapes, parts_name
from sot.training.checkpoint import load_checkpoint, load_model_state
from sot.training.freeze import FreezePlan, ever_trainable
from sot.training.loggers import JSONLLogger
from sot.training.optim import build_optimizer, build_scheduler
from sot.training.trainer import CheckpointHook, LoggerHook, Trainer
from sot.utils.runtime import import_modules, resolve_device, seed_everything


def prepare_data(cfg: DictConfig) -> None:
    """Generate the synthetic dataset if the config asks for it, and point ``data.root`` at it."""
    gen = cfg.data.get("generator")
    if gen is not None and cfg.data.get("root") is None:
        root = instantiate(gen)
        with open_dict(cfg):
            cfg.data.root = str(root)


def load_init_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Start from the model weights of a sot checkpoint (strict: a mismatch lists the keys)."""
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise KeyError(f"init_weights {str(path)!r} holds {sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt)}; "
                       "expected a sot training checkpoint with a 'model' entry")
    load_model_state(model, ckpt["model"], source=f"init_weights {str(path)!r}")


def build_loader(cfg: DictConfig) -> DataLoader:
    dataset = instantiate(cfg.data.train, _recursive_=True)
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=False,  # the dataset draws a random pair per index, seeded by (seed, epoch, index)
        num_workers=cfg.workers,
        drop_last=True,
        persistent_workers=cfg.workers > 0,
    )


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train the model of ``cfg``; returns the final metrics (scores on the test split if enabled)."""
    run_dir = Path(run_dir)
    import_modules(cfg.get("custom_imports"))
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    with open_dict(cfg):
        cfg.device = str(device)
    prepare_data(cfg)
    model = build_model(cfg.backbone, cfg.neck, cfg.head).to(device)
    check_shapes(model, cfg.data.template_size, cfg.data.search_size, parts_name(cfg.backbone, cfg.neck, cfg.head))
    if cfg.get("init_weights"):
        load_init_weights(model, cfg.init_weights)
    plan = FreezePlan(model, trainable=cfg.get("trainable"))
    plan.apply(model, epoch=0)
    loader = build_loader(cfg)
    optimizer = build_optimizer(model, **cfg.optim, params=ever_trainable(model, plan))
    steps_per_epoch = len(loader)
    sched = OmegaConf.to_container(cfg.sched)
    warmup_steps = int(sched.pop("warmup_epochs") * steps_per_epoch)
    scheduler = build_scheduler(optimizer, total_steps=cfg.epochs * steps_per_epoch, warmup_steps=warmup_steps, **sched)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    loggers = [JSONLLogger(run_dir)]
    if cfg.get("logger"):
        loggers.append(instantiate(cfg.logger, run_dir=str(run_dir), config=resolved))
    try:
        trainer = Trainer(
            model, optimizer, scheduler, loader, epochs=cfg.epochs, device=device, grad_clip=cfg.grad_clip,
            hooks=[LoggerHook(loggers, interval=cfg.log_interval, progress=cfg.progress),
                   CheckpointHook(run_dir / "checkpoints")],
            config=resolved, freeze=plan,
        )
        if cfg.resume:
            trainer.resume(cfg.resume)
        trainer.train()
        metrics: dict = {"epochs": trainer.epoch, "steps": trainer.step}
        if cfg.score_after_training:
            from sot.scoring import score_model

            report = score_model(model, cfg, run_dir / "eval")
            metrics.update({k: report[k] for k in ("auc", "precision", "norm_precision", "fps")})
            for lg in loggers:
                lg.log({f"test/{k}": v for k, v in metrics.items() if k in ("auc", "precision", "norm_precision", "fps")},
                       step=trainer.step)
                plot = run_dir / "eval" / "success_plot.png"
                if plot.exists():
                    lg.log_image("test/success_plot", plot, step=trainer.step)
        (run_dir / "final_metrics.json").write_text(json.dumps(metrics, indent=2))
        return metrics
    finally:
        for lg in loggers:
            lg.finish()

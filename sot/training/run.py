"""What ``train.py`` does: build everything from the config, train (on one or many processes), checkpoint, score.

Under ``torchrun`` every rank runs :func:`train`; rank 0 alone logs, writes checkpoints and scores.
"""
from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

import torch
import torch.distributed as dist
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from sot.models.builder import build_model, check_shapes, parts_name
from sot.trackers.build import build_tracker
from sot.training import distributed as D
from sot.training.checkpoint import find_resume, load_checkpoint, load_model_state, save_checkpoint
from sot.training.data import EpochLoaders
from sot.training.freeze import FreezePlan, ever_trainable
from sot.training.loggers import JSONLLogger
from sot.training.optim import build_optimizer, build_scheduler
from sot.training.trainer import CheckpointHook, EpochCallbackHook, LoggerHook, Trainer, normalize_amp
from sot.training.validate import is_test_split, per_sequence_table, track_and_score
from sot.utils.runtime import import_modules, keep_freed_memory, resolve_device, seed_everything

log = logging.getLogger(__name__)
HEADLINE = ("auc", "precision", "norm_precision", "fps")


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


def check_switches(cfg: DictConfig, device: torch.device, env: D.DistEnv) -> str:
    """Refuse precision / speed switches that cannot work on this device, saying what would."""
    amp = normalize_amp(cfg.get("amp", "off"), device)
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(f"amp=fp16 needs a CUDA device (float16 autocast with a GradScaler); device is {device}. "
                         "On CPU use amp=bf16 (CPU autocast) or amp=off.")
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"amp=bf16: {torch.cuda.get_device_name(device)} has no bfloat16 support; use amp=fp16")
    if cfg.get("sync_bn") and env.enabled and device.type != "cuda":
        raise ValueError("sync_bn=true needs CUDA devices (SyncBatchNorm has no CPU implementation); "
                         "on CPU use sync_bn=false")
    if int(cfg.get("accum_steps", 1)) < 1:
        raise ValueError(f"accum_steps must be >= 1, got {cfg.accum_steps}")
    return amp


def _hydra_multirun() -> tuple[str | None, str | None]:
    """``(sweep folder name, job overrides)`` inside a Hydra multirun job, else ``(None, None)``."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return None, None
    if hc.mode != RunMode.MULTIRUN:
        return None, None
    sweep = Path(str(hc.sweep.dir))
    return "_".join(sweep.parts[-2:]), hc.job.override_dirname or str(hc.job.num)


def build_loggers(cfg: DictConfig, run_dir: Path, resolved: dict) -> list:
    loggers = [JSONLLogger(run_dir)]
    if cfg.get("logger"):
        kwargs = {}
        params = inspect.signature(get_class(cfg.logger._target_).__init__).parameters
        group, name = _hydra_multirun()
        if "group" in params and cfg.logger.get("group") is None and group:
            kwargs["group"] = group  # one wandb group per sweep unless named on the command line
        if "name" in params and cfg.logger.get("name") is None and name:
            kwargs["name"] = name
        # positional: ``config`` is also the name of instantiate's own first parameter
        loggers.append(instantiate(cfg.logger, str(run_dir), resolved, **kwargs))
    return loggers


def _build_ema(cfg: DictConfig, model: torch.nn.Module):
    ema_cfg = cfg.get("ema")
    if not ema_cfg or not ema_cfg.get("enabled"):
        return None
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=float(ema_cfg.decay), use_warmup=bool(ema_cfg.get("warmup", False)))


def _val_dataset(cfg: DictConfig):
    if cfg.data.get("val") is None:
        raise KeyError("validation (score_val / val_interval) needs a data.val node naming a validation split, "
                       "e.g. {_target_: sot.datasets.got10k.GOT10k, root: ${data.root}, split: val}")
    ds = instantiate(cfg.data.val)
    if is_test_split(ds):
        raise ValueError(f"data.val is the split {ds.split!r}: validation (and what sweeps optimise) never uses a "
                         "test split")
    return ds


def train(cfg: DictConfig, run_dir: str | Path) -> dict:
    """Train the model of ``cfg``; returns the final metrics.

    ``epochs`` and ``steps`` always; on rank 0 also ``auc``, ``precision``, ``norm_precision``, ``fps`` (test
    split, when ``score_after_training``) and ``val_auc``, ... (validation split, when ``score_val``).
    """
    run_dir = Path(run_dir)
    import_modules(cfg.get("custom_imports"))
    owns_group = not (dist.is_available() and dist.is_initialized())
    env, device = D.setup(resolve_device(cfg.device), cfg.get("dist_backend", "auto"),
                          float(cfg.get("dist_timeout_min", 30)))
    try:
        return _train(cfg, run_dir, env, device, owns_group)
    finally:
        if owns_group:
            D.cleanup()


def _train(cfg: DictConfig, run_dir: Path, env: D.DistEnv, device: torch.device, owns_group: bool) -> dict:
    with open_dict(cfg):
        cfg.device = str(device)
    amp = check_switches(cfg, device, env)
    if cfg.get("keep_freed_memory", True):
        keep_freed_memory()
    seed_everything(cfg.seed)  # the same initial weights on every rank
    if env.is_main:
        prepare_data(cfg)  # rank 0 generates the synthetic set; the others then find it complete
    D.barrier()
    if not env.is_main:
        prepare_data(cfg)

    model = build_model(cfg.backbone, cfg.neck, cfg.head).to(device)
    check_shapes(model, cfg.data.template_size, cfg.data.search_size, parts_name(cfg.backbone, cfg.neck, cfg.head))
    if cfg.get("score_after_training", True) or cfg.get("score_val") or cfg.get("val_interval"):
        build_tracker(model, cfg.tracker)  # a tracker setting the model cannot serve fails now, not after training
        model.train()
    if cfg.get("init_weights"):
        load_init_weights(model, cfg.init_weights)
    plan = FreezePlan(model, trainable=cfg.get("trainable"), schedule=cfg.get("freeze"))
    if cfg.get("sync_bn") and env.enabled:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    seed_everything(cfg.seed + env.rank)

    dataset = instantiate(cfg.data.train, _recursive_=True)
    loaders = EpochLoaders(dataset, cfg.batch_size, cfg.workers, seed=cfg.seed, rank=env.rank,
                           world_size=env.world_size, pin_memory=device.type == "cuda")
    accum = int(cfg.get("accum_steps", 1))
    optimizer = build_optimizer(model, **cfg.optim, params=ever_trainable(model, plan))
    steps_per_epoch = loaders.batches_per_epoch // accum
    sched = OmegaConf.to_container(cfg.sched)
    warmup_steps = int(sched.pop("warmup_epochs") * steps_per_epoch)
    scheduler = build_scheduler(optimizer, total_steps=cfg.epochs * steps_per_epoch, warmup_steps=warmup_steps, **sched)
    ema = _build_ema(cfg, model)
    resolved = OmegaConf.to_container(cfg, resolve=True)

    loggers = build_loggers(cfg, run_dir, resolved) if env.is_main else []
    val_every = int(cfg.get("val_interval", 0) or 0)
    val_ds = _val_dataset(cfg) if env.is_main and (val_every > 0 or cfg.get("score_val")) else None
    last_val: dict = {}

    def eval_model():
        return ema.module if ema is not None and cfg.ema.get("evaluate", True) else model

    def validate(trainer: Trainer) -> None:
        rep = track_and_score(eval_model(), cfg.tracker, val_ds, run_dir / "val" / f"epoch_{trainer.epoch:03d}",
                              progress=False)
        last_val.update(epoch=trainer.epoch, report=rep)
        for lg in loggers:
            lg.log({f"val/{k}": rep.metrics[k] for k in HEADLINE if k in rep.metrics}, step=trainer.step)

    hooks = []
    if env.is_main:
        hooks.append(LoggerHook(loggers, interval=cfg.log_interval, progress=cfg.progress))
        if val_every > 0:
            hooks.append(EpochCallbackHook(validate, interval=val_every))
    hooks.append(CheckpointHook(run_dir / "checkpoints", every_steps=int(cfg.get("checkpoint_every_steps", 0) or 0),
                                keep=int(cfg.get("keep_checkpoints", 3))))
    hooks += [instantiate(h) for h in cfg.get("hooks") or []]

    try:
        trainer = Trainer(
            model, optimizer, scheduler, loaders, epochs=cfg.epochs, device=device, grad_clip=cfg.grad_clip,
            accum_steps=accum, amp=amp, channels_last=bool(cfg.get("channels_last", False)),
            compile=bool(cfg.get("compile", False)), ema=ema, freeze=plan,
            ddp_kwargs={"find_unused_parameters": bool(cfg.get("find_unused_parameters", False))},
            hooks=hooks, config=resolved,
        )
        ckpt_path = find_resume(cfg.get("resume"), run_dir)
        if ckpt_path is not None:
            trainer.resume(ckpt_path)
            if env.is_main:
                log.info("resumed from %s at epoch %d, step %d (batch %d of the epoch)", ckpt_path, trainer.epoch,
                         trainer.step, trainer.batch_in_epoch)
        trainer.train()
        metrics: dict = {"epochs": trainer.epoch, "steps": trainer.step}
        D.barrier()
        if owns_group:
            D.cleanup()  # the rest runs on rank 0 alone: no collective may wait on it
        if not env.is_main:
            return {**metrics, "rank": env.rank}

        if ema is not None:
            save_checkpoint(run_dir / "checkpoints" / "ema.pt",
                            {"model": ema.module.state_dict(), "config": resolved, "epoch": trainer.epoch,
                             "step": trainer.step})
        if cfg.get("score_val"):
            if last_val.get("epoch") != trainer.epoch:
                validate(trainer)
            metrics.update({f"val_{k}": last_val["report"].metrics[k] for k in HEADLINE
                            if k in last_val["report"].metrics})
        if cfg.score_after_training:
            test_ds = instantiate(cfg.data.test)
            report = track_and_score(eval_model(), cfg.tracker, test_ds, run_dir / "eval", progress=bool(cfg.progress))
            metrics.update({k: report.metrics[k] for k in HEADLINE if k in report.metrics})
            columns, rows = per_sequence_table(report)
            plot = run_dir / "eval" / "success_plot.png"
            for lg in loggers:
                lg.log({f"test/{k}": metrics[k] for k in HEADLINE if k in metrics}, step=trainer.step)
                lg.log_table("test/per_sequence", columns, rows, step=trainer.step)
                if plot.exists():
                    lg.log_image("test/success_plot", plot, step=trainer.step)
        (run_dir / "final_metrics.json").write_text(json.dumps(metrics, indent=2))
        return metrics
    finally:
        for lg in loggers:
            lg.finish()

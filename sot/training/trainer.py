"""The training loop. Checkpointing, logging, validation and progress are hooks, not branches in the loop.

One loop for a laptop and a cluster: DistributedDataParallel when the process group has several ranks,
mixed precision, channels_last, an opt-in ``torch.compile``, gradient accumulation, an EMA of the weights and
a freeze schedule. Its state (:meth:`Trainer.state_dict`) holds everything an exact resume needs, including
the position inside the epoch.
"""
from __future__ import annotations

import contextlib
import itertools
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from sot.training import distributed as D
from sot.training.checkpoint import CheckpointManager, load_checkpoint, load_model_state, rng_state, set_rng_state
from sot.training.freeze import FreezePlan

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def normalize_amp(amp, device: torch.device | None = None) -> str:
    """``off`` / ``bf16`` / ``fp16`` from a config value (YAML reads a bare ``off`` as ``False``).

    ``auto`` (with ``device``) is ``bf16`` where the device computes bfloat16 natively (a CUDA GPU with bf16
    support; a CPU with AVX512-BF16 or AMX, where oneDNN runs bf16 convolutions ~2-3x faster than float32),
    else ``off`` (emulated bf16 is slower than float32).
    """
    if amp in (None, False, "off", "none", "fp32", "no"):
        return "off"
    if amp in AMP_DTYPES:
        return amp
    if amp == "auto" and device is not None:
        return "bf16" if native_bf16(device) else "off"
    raise ValueError(f"amp must be off, bf16, fp16 or auto, got {amp!r}")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 arithmetic in hardware."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(cpu, c, lambda: False)()) for c in checks)
    return False


class Hook:
    """Override any of these; ``trainer`` gives access to the loop's state."""

    def before_train(self, trainer: "Trainer") -> None: ...
    def before_epoch(self, trainer: "Trainer") -> None: ...
    def before_batch(self, trainer: "Trainer", batch: dict) -> None: ...
    def after_step(self, trainer: "Trainer", losses: dict[str, float]) -> None: ...
    def after_epoch(self, trainer: "Trainer") -> None: ...
    def after_train(self, trainer: "Trainer") -> None: ...


class LossModule(nn.Module):
    """``forward(batch) -> losses``: DDP synchronises gradients only through a wrapped module's ``forward``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model.loss(batch)


class Trainer:
    """Epoch-based training of a :class:`SiameseNet` on pair batches.

    Args:
        model: the network; ``model.loss(batch)`` returns a dict with a total ``loss``.
        optimizer, scheduler: the scheduler is stepped after every optimizer step.
        loaders: ``loaders(epoch, start_batch)`` -> this rank's batches (:class:`sot.training.data.EpochLoaders`),
            with ``batches_per_epoch``.
        epochs: number of epochs.
        device: torch device of this rank.
        grad_clip: max gradient norm (0 = off).
        accum_steps: optimizer step every ``accum_steps`` batches (the loss is divided by it).
        amp: ``off``, ``bf16`` or ``fp16`` autocast; ``fp16`` scales the loss with a GradScaler.
        channels_last: NHWC memory format for the model and the image batches.
        compile: wrap the loss computation in ``torch.compile``.
        ema: a :class:`timm.utils.ModelEmaV3` of ``model``, updated after every optimizer step.
        freeze: which parameters train at each epoch.
        ddp_kwargs: extra DistributedDataParallel arguments (``find_unused_parameters``, ...).
        hooks: called around epochs and steps, in order.
        config: the resolved config, stored in every checkpoint.
    """

    def __init__(self, model: nn.Module, optimizer, scheduler, loaders, epochs: int, device: torch.device,
                 grad_clip: float = 0.0, accum_steps: int = 1, amp="off", channels_last: bool = False,
                 compile: bool = False, ema: nn.Module | None = None, freeze: FreezePlan | None = None,
                 ddp_kwargs: dict | None = None, hooks: list[Hook] | None = None, config: dict | None = None):
        self.model, self.optimizer, self.scheduler, self.loaders = model, optimizer, scheduler, loaders
        self.epochs, self.device, self.grad_clip = epochs, device, grad_clip
        self.accum_steps = int(accum_steps)
        if self.accum_steps < 1:
            raise ValueError(f"accum_steps must be >= 1, got {accum_steps}")
        self.amp = normalize_amp(amp, torch.device(device))
        self.channels_last, self.compile = channels_last, compile
        self.ema, self.freeze = ema, freeze
        self.ddp_kwargs = dict(ddp_kwargs or {})
        self.hooks = hooks or []
        self.config = config or {}
        self.dist = D.dist_env()
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp == "fp16")
        self.steps_per_epoch = loaders.batches_per_epoch // self.accum_steps
        if self.steps_per_epoch == 0:
            raise ValueError(f"{loaders.batches_per_epoch} batches per epoch make no optimizer step with "
                             f"accum_steps={self.accum_steps}")
        self.epoch = 0  # the epoch being run (or next to run)
        self.step = 0  # optimizer steps taken
        self.batch_in_epoch = 0  # batches of this epoch consumed by completed optimizer steps
        self.max_steps: int | None = None  # stop after this many steps (benchmarks)
        self._forward: nn.Module | None = None
        self._wrapped_for: frozenset[str] | None = None
        self._acc: dict[str, float] = {}
        self._loss_keys: list[str] | None = None
        if channels_last:
            self.model.to(memory_format=torch.channels_last)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    # ------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Model, optimizer, scheduler, scaler, EMA, position, and every rank's RNG states (a collective)."""
        rngs = D.all_gather_object(rng_state())
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "sampler": {"epoch": self.epoch, "batch": self.batch_in_epoch,
                        "samples": self.batch_in_epoch * self.loaders.batch_size * self.dist.world_size,
                        "batch_size": self.loaders.batch_size, "world_size": self.dist.world_size},
            "rng": rngs,
            "worker_seeds": self.loaders.worker_seeds(self.epoch),
            "config": self.config,
        }
        if self.ema is not None:
            state["ema"] = self.ema.module.state_dict()
            gen = getattr(self.ema, "_sr_generator", None)
            if gen is not None:
                state["ema_rng"] = gen.get_state()
        return state

    def load_state_dict(self, ckpt: dict, source: str = "checkpoint") -> None:
        load_model_state(self.model, ckpt["model"], source=source)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if "scaler" in ckpt and self.scaler.is_enabled() and ckpt["scaler"]:
            self.scaler.load_state_dict(ckpt["scaler"])
        if self.ema is not None:
            if "ema" in ckpt:
                load_model_state(self.ema.module, ckpt["ema"], source=f"{source} (ema)")
                if "ema_rng" in ckpt and getattr(self.ema, "_sr_generator", None) is not None:
                    self.ema._sr_generator.set_state(ckpt["ema_rng"])
            else:  # the checkpoint was written without EMA: start the average at the loaded weights
                self.ema.module.load_state_dict(self.model.state_dict())
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.batch_in_epoch = 0
        pos = ckpt.get("sampler")
        if pos and int(pos.get("batch", 0)) > 0:
            per_step = self.loaders.batch_size * self.dist.world_size
            samples = int(pos["samples"])
            if samples % per_step:
                import warnings

                warnings.warn(f"{source} stopped {samples} samples into epoch {self.epoch}, which is not a whole "
                              f"number of batches of {self.loaders.batch_size} x {self.dist.world_size} ranks; "
                              f"resuming at the batch before (a few samples are seen twice)")
            self.batch_in_epoch = samples // per_step
        rngs = ckpt.get("rng")
        if rngs:
            if isinstance(rngs, dict):  # a single-process state
                rngs = [rngs]
            set_rng_state(rngs[self.dist.rank] if len(rngs) == self.dist.world_size else rngs[0])

    def resume(self, path: str | Path) -> None:
        self.load_state_dict(load_checkpoint(path), source=f"checkpoint {str(path)!r}")

    def _call(self, name: str, *args) -> None:
        for h in self.hooks:
            getattr(h, name)(self, *args)

    # ---------------------------------------------------------------------------------------- wrapping
    def _trainable(self) -> frozenset[str]:
        return frozenset(n for n, p in self.model.named_parameters() if p.requires_grad)

    def _wrap(self) -> None:
        """(Re)build the forward module: DDP over the parameters that train now, then torch.compile."""
        trainable = self._trainable()
        if self._forward is not None and trainable == self._wrapped_for:
            return
        self._forward = None
        fwd: nn.Module = LossModule(self.model)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            fwd = DDP(fwd, device_ids=ids, **self.ddp_kwargs)
        if self.compile:
            fwd = torch.compile(fwd)
        self._forward, self._wrapped_for = fwd, trainable

    # -------------------------------------------------------------------------------------------- loop
    def train(self) -> None:
        self._call("before_train")
        batches = self.steps_per_epoch * self.accum_steps
        while self.epoch < self.epochs:
            self.begin_epoch()
            self._call("before_epoch")
            if self.batch_in_epoch < batches:
                loader = self.loaders(self.epoch, start_batch=self.batch_in_epoch)
                micro = 0
                for batch in itertools.islice(loader, batches - self.batch_in_epoch):
                    self._call("before_batch", batch)
                    micro += 1
                    losses = self.train_step(batch, last_micro=micro % self.accum_steps == 0)
                    if losses is not None:
                        self.batch_in_epoch += self.accum_steps
                        self._call("after_step", losses)
                        if self.max_steps is not None and self.step >= self.max_steps:
                            break
                if self.max_steps is not None and self.step >= self.max_steps:
                    break
            self.epoch += 1
            self.batch_in_epoch = 0
            self._call("after_epoch")
        self._sync_buffers()
        self._call("after_train")

    def _sync_buffers(self) -> None:
        """Rank 0's BatchNorm statistics on every rank (DDP sends them before each forward, so after the last
        one the ranks differ): all ranks end with identical weights."""
        if self.dist.enabled:
            import torch.distributed as dist

            for b in self.model.buffers():
                dist.broadcast(b, src=0)

    def begin_epoch(self) -> None:
        """Train mode, this epoch's frozen parameters, and the DDP / compile wrapper that fits them."""
        self.model.train()
        if self.freeze is not None and self.freeze.active:
            self.freeze.apply(self.model, self.epoch)
            self.freeze.set_modes(self.model)
        self._wrap()

    def _to_device(self, batch: dict) -> dict:
        out = {}
        for k, v in batch.items():
            v = v.to(self.device, non_blocking=True)
            if self.channels_last and v.ndim == 4:
                v = v.contiguous(memory_format=torch.channels_last)
            out[k] = v
        return out

    def train_step(self, batch: dict, last_micro: bool = True) -> dict[str, float] | None:
        """Forward and backward of one batch; an optimizer step after ``accum_steps`` of them.

        Returns the step's losses (averaged over its batches and ranks) after an optimizer step, else None.
        """
        if self._forward is None:
            self.begin_epoch()
        batch = self._to_device(batch)
        fwd = self._forward
        sync = contextlib.nullcontext()
        if self.dist.enabled and not last_micro and hasattr(fwd, "no_sync"):
            sync = fwd.no_sync()  # accumulate locally; gradients are all-reduced with the last batch
        with sync:
            with torch.autocast(self.device.type, dtype=AMP_DTYPES.get(self.amp), enabled=self.amp != "off"):
                losses = fwd(batch)
            loss = losses["loss"]
            # one all-reduce carries every term: the logged values are means over ranks, and a non-finite
            # loss on any rank stops all of them before the backward (no rank is left waiting in DDP)
            if self._loss_keys is None:
                self._loss_keys = ["loss"] + sorted(k for k in losses if k != "loss")
            vals = torch.stack([losses[k].detach().float().reshape(()) for k in self._loss_keys])
            vals = D.all_reduce_mean(vals).cpu()
            if not torch.isfinite(vals[0]):
                terms = {k: float(v) for k, v in zip(self._loss_keys, vals)}
                raise FloatingPointError(
                    f"loss became {terms['loss']} in optimizer step {self.step + 1} (epoch {self.epoch}; terms, mean over ranks: "
                    f"{terms}); training stopped and the last good checkpoint is kept"
                    + (f" (amp={self.amp}: try amp=bf16 or amp=off)" if self.amp != "off" else ""))
            self.scaler.scale(loss / self.accum_steps).backward()
        for k, v in zip(self._loss_keys, vals.tolist()):
            self._acc[k] = self._acc.get(k, 0.0) + v / self.accum_steps
        if not last_micro:
            return None

        out, self._acc = self._acc, {}
        if self.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            out["grad_norm"] = float(nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.grad is not None], self.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1
        if self.ema is not None:
            self.ema.update(self.model, step=self.step)
        return out


class CheckpointHook(Hook):
    """Every ``every_steps`` optimizer steps and at the end of every epoch: a checkpoint (written by rank 0).

    Runs on every rank (gathering the RNG states is a collective); only rank 0 writes. Put it after the
    hooks whose work should be in the checkpoint (validation).
    """

    def __init__(self, directory: str | Path, every_steps: int = 0, keep: int = 3):
        self.manager = CheckpointManager(directory, keep=keep)
        self.every_steps = int(every_steps)
        self.last_path: Path | None = None

    def _save(self, trainer: Trainer) -> None:
        state = trainer.state_dict()
        if trainer.dist.is_main:
            self.last_path = self.manager.save(state, trainer.step)

    def after_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        end_of_epoch = trainer.batch_in_epoch >= trainer.steps_per_epoch * trainer.accum_steps
        if self.every_steps > 0 and trainer.step % self.every_steps == 0 and not end_of_epoch:
            self._save(trainer)

    def after_epoch(self, trainer: Trainer) -> None:
        self._save(trainer)

    def after_train(self, trainer: Trainer) -> None:
        # a run stopped by max_steps mid-epoch still leaves its final state
        if trainer.batch_in_epoch and (self.last_path is None or f"{trainer.step:08d}" not in self.last_path.name):
            self._save(trainer)


class LoggerHook(Hook):
    """Progress bar over steps, and every ``interval`` steps the mean losses and learning rates to each logger."""

    def __init__(self, loggers: list, interval: int = 10, progress: bool = True):
        self.loggers, self.interval, self.progress = loggers, interval, progress
        self._sum: dict[str, float] = {}
        self._n = 0

    def before_train(self, trainer: Trainer) -> None:
        self.bar = tqdm(total=trainer.total_steps, initial=trainer.step, desc="train", disable=not self.progress,
                        dynamic_ncols=True)
        self.t0 = time.time()
        self.step0 = trainer.step

    def after_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        for k, v in losses.items():
            self._sum[k] = self._sum.get(k, 0.0) + v
        self._n += 1
        self.bar.update(1)
        if trainer.step % self.interval == 0:
            row = {f"train/{k}": v / self._n for k, v in self._sum.items()}
            groups = trainer.optimizer.param_groups
            row["train/lr"] = max(g["lr"] for g in groups)
            for g in groups:
                if "name" in g:  # a group and its no-decay twin share one lr
                    row.setdefault(f"train/lr_{g['name'].removesuffix('_no_decay')}", g["lr"])
            row["train/epoch"] = trainer.epoch
            if trainer.scaler.is_enabled():
                row["train/loss_scale"] = trainer.scaler.get_scale()
            self.bar.set_postfix(loss=f"{row['train/loss']:.3f}", lr=f"{row['train/lr']:.2e}")
            for lg in self.loggers:
                lg.log(row, step=trainer.step)
            self._sum, self._n = {}, 0

    def after_train(self, trainer: Trainer) -> None:
        self.bar.close()
        dt = time.time() - self.t0
        steps = trainer.step - self.step0
        row = {"train/time_s": dt}
        if steps > 0 and dt > 0:
            row["train/samples_per_s"] = steps * trainer.accum_steps * trainer.loaders.batch_size \
                * trainer.dist.world_size / dt
        for lg in self.loggers:
            lg.log(row, step=trainer.step)


class EpochCallbackHook(Hook):
    """Calls ``fn(trainer)`` after every ``interval`` epochs (validation); ``interval <= 0`` = never."""

    def __init__(self, fn, interval: int = 1):
        self.fn, self.interval = fn, int(interval)

    def after_epoch(self, trainer: Trainer) -> None:
        if self.interval > 0 and trainer.epoch % self.interval == 0:
            self.fn(trainer)

"""Trainer hooks the training tests plug in through the ``hooks`` config key (also in subprocesses)."""
import hashlib
import json
import os
import signal
from pathlib import Path

import torch

from sot.training.trainer import Hook


class KillAt(Hook):
    """SIGKILL this process right after optimizer step ``step`` (no cleanup, no final checkpoint)."""

    def __init__(self, step: int):
        self.step = int(step)

    def after_step(self, trainer, losses):
        if trainer.step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def sample_digest(batch: dict) -> list[str]:
    """One hash per sample of a batch (its template and search crops)."""
    t, s = batch["template"], batch["search"]
    return [hashlib.sha1(t[i].numpy().tobytes() + s[i].numpy().tobytes()).hexdigest()[:16] for i in range(len(t))]


class RecordSamples(Hook):
    """Writes ``<out>/rank<r>.json`` (per step, the hashes of the samples this rank trained on) and
    ``<out>/rank<r>.pt`` (its initial and final model weights)."""

    def __init__(self, out: str):
        self.out = Path(out)
        self.seen: list[list[str]] = []

    def before_train(self, trainer):
        self.init = {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}

    def before_batch(self, trainer, batch):
        self.seen.append(sample_digest(batch))

    def after_train(self, trainer):
        self.out.mkdir(parents=True, exist_ok=True)
        r = trainer.dist.rank
        (self.out / f"rank{r}.json").write_text(json.dumps(self.seen))
        final = {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}
        torch.save({"init": self.init, "final": final}, self.out / f"rank{r}.pt")


class BatchNormEval(Hook):
    """Every BatchNorm in eval mode (running statistics): the loss of a batch is then the mean of its samples'
    losses, so B samples on each of 2 ranks give the same gradient as 2B samples on one process."""

    def before_epoch(self, trainer):
        for m in trainer.model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


class PoisonBatch(Hook):
    """Turns the search crops of the batch that makes optimizer step ``step`` (1-based) into NaN."""

    def __init__(self, step: int):
        self.step = int(step)

    def before_batch(self, trainer, batch):
        if trainer.step + 1 == self.step:
            batch["search"].fill_(float("nan"))

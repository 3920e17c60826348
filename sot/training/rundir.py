"""Run directory names that never collide, and that all torchrun workers of one job share.

``${run_stamp:}`` (registered by :func:`register_resolvers`) is ``YYYY-MM-DD/HH-MM-SS-ffffff-xxxx``: the time
to the microsecond plus 4 random hex digits, so two jobs started in the same microsecond still get two
folders. Under torchrun, rank 0 makes the stamp and the others read it from torchrun's store
(:func:`share_stamp_across_ranks`, called by ``train.py`` before Hydra resolves ``hydra.run.dir``).
``SOT_RUN_STAMP`` in the environment overrides it (e.g. a SLURM requeue that must land in the same folder,
although ``hydra.run.dir=...`` is the plainer way to say so).
"""
from __future__ import annotations

import datetime
import os
import secrets

from omegaconf import OmegaConf

_STAMP: str | None = None


def new_stamp() -> str:
    now = datetime.datetime.now()
    return now.strftime("%Y-%m-%d/%H-%M-%S-%f") + "-" + secrets.token_hex(2)


def run_stamp() -> str:
    """This process's stamp: ``SOT_RUN_STAMP`` if set, else made once and reused."""
    global _STAMP
    if os.environ.get("SOT_RUN_STAMP"):
        return os.environ["SOT_RUN_STAMP"]
    if _STAMP is None:
        _STAMP = new_stamp()
    return _STAMP


def share_stamp_across_ranks() -> None:
    """Under torchrun with several workers: set ``SOT_RUN_STAMP`` to rank 0's stamp in every worker."""
    if os.environ.get("SOT_RUN_STAMP"):
        return
    from sot.training.distributed import agree_on_value

    stamp = agree_on_value("run_stamp", new_stamp)
    if stamp is None and int(os.environ.get("WORLD_SIZE", "1")) > 1 and os.environ.get("SLURM_JOB_ID"):
        # tasks of one SLURM job step started without torchrun: the job id is what they share
        stamp = f"slurm/{os.environ['SLURM_JOB_ID']}-{os.environ.get('SLURM_STEP_ID', '0')}"
    if stamp is not None:
        os.environ["SOT_RUN_STAMP"] = stamp


def register_resolvers() -> None:
    # use_cache: Hydra copies resolver caches into each sweep job's config, so a launcher's worker
    # processes resolve ``hydra.sweep.dir`` to the folder the parent process chose.
    if not OmegaConf.has_resolver("run_stamp"):
        OmegaConf.register_new_resolver("run_stamp", run_stamp, use_cache=True)

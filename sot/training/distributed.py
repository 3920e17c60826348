"""Process groups for ``torchrun`` (and SLURM tasks): rank bookkeeping, the backend, small collectives.

``torchrun --nproc_per_node=N train.py ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; multi-node runs use the same variables through torchrun's rendezvous. A SLURM job that starts
one task per GPU (``srun``, or the submitit launcher with ``tasks_per_node = GPUs per node``) is mapped onto
the same variables from ``SLURM_PROCID`` / ``SLURM_NTASKS`` / ``SLURM_LOCALID``.
"""
from __future__ import annotations

import datetime
import os
import re
import subprocess
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: ``gpu[03-05,07],cpu1`` -> ``gpu03`` (what scontrol would say)."""
    m = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not m:
        return nodelist
    prefix, ranges = m.group(1), m.group(2)
    return prefix + ranges.split(",")[0].split("-")[0] if ranges else prefix


def _slurm_to_torch_env() -> None:
    """Fill torchrun's variables from SLURM's, for one task per GPU launched without torchrun."""
    if "RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1 or "SLURM_PROCID" not in os.environ:
        return
    os.environ["RANK"] = os.environ["SLURM_PROCID"]
    os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
    os.environ["LOCAL_RANK"] = os.environ.get("SLURM_LOCALID", "0")
    if "MASTER_ADDR" not in os.environ:
        nodes = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST", "localhost")
        try:
            first = subprocess.run(["scontrol", "show", "hostnames", nodes], capture_output=True, text=True,
                                   check=True).stdout.split()[0]
        except (OSError, subprocess.CalledProcessError, IndexError):
            first = first_host(nodes)
        os.environ["MASTER_ADDR"] = first
    # a port that all tasks of the job derive alike, away from torchrun's default 29500
    os.environ.setdefault("MASTER_PORT", str(20000 + int(os.environ.get("SLURM_JOB_ID", "0")) % 20000))


def dist_env() -> DistEnv:
    """This process's rank from the launcher's environment (1 process when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return DistEnv(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    _slurm_to_torch_env()
    return DistEnv(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                   int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device, backend: str = "auto", timeout_min: float = 30.0) -> tuple[DistEnv, torch.device]:
    """Join the process group if the launcher started several processes; returns the env and this rank's device.

    Args:
        device: the device the config asked for; under DDP a CUDA device becomes ``cuda:LOCAL_RANK``.
        backend: ``auto`` (nccl for CUDA, gloo for CPU), ``nccl`` or ``gloo``.
        timeout_min: how long a collective waits, e.g. while rank 0 validates or writes a checkpoint.
    """
    env = dist_env()
    if not env.enabled:
        return env, device
    if device.type == "cuda":
        if device.index is not None and device.index != env.local_rank:
            warnings.warn(f"device={device} under DDP: rank {env.rank} uses cuda:{env.local_rank} (its LOCAL_RANK)")
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise ValueError("dist_backend=nccl needs CUDA devices; on CPU use dist_backend=gloo (or auto)")
    if not dist.is_initialized():
        kwargs = {"device_id": device} if backend == "nccl" else {}
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=timeout_min), **kwargs)
    return env, device


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean over ranks (in place; the tensor itself when there is one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
        t /= dist.get_world_size()
    return t


def all_gather_object(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]``."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        out = [None] * dist.get_world_size()
        dist.all_gather_object(out, obj)
        return out
    return [obj]


def broadcast_object(obj, src: int = 0):
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]
    return obj


def agree_on_value(key: str, make, timeout_s: float = 300.0) -> str | None:
    """Before any process group exists: every torchrun worker of the job gets the value rank 0 made.

    Uses the store torchrun's agent serves at ``MASTER_ADDR:MASTER_PORT`` (``TORCHELASTIC_USE_AGENT_STORE``).
    The first value set wins, so workers restarted by torchrun (``--max-restarts``) get the same value again.
    Returns ``None`` when not under torchrun with more than one process.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                          timeout=datetime.timedelta(seconds=timeout_s))
    full = f"sot/{os.environ.get('TORCHELASTIC_RUN_ID', '')}/{key}"
    if int(os.environ.get("RANK", "0")) == 0:
        store.compare_set(full, "", str(make()))
    return store.get(full).decode()

"""Test-session set-up. The suite runs in two processes (pytest-xdist, ``-n 2`` in pyproject.toml), so each
process and every subprocess it starts uses one thread: two processes with several OpenMP threads each would
stall one another on a 2-core machine."""
import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402

torch.set_num_threads(1)

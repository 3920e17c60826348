"""How many CPUs this process may use (its affinity set where the OS reports one)."""
from __future__ import annotations

import os


def usable_cpus(limit: int = 8) -> int:
    """The CPUs this process may run on, at least 1 and at most ``limit``."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(limit, n))

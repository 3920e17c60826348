"""Checkpoints: written atomically, loaded with ``weights_only=True``, mismatches reported by key; RNG states;
the last K periodic checkpoints of a run; which checkpoint ``resume=auto`` continues from."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's state dict does not fit the model."""


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` to ``path`` via a temporary file and an atomic rename (no half-written file survives)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(state, tmp)
    with open(tmp, "rb") as f:  # the bytes reach the disk before the rename makes them the checkpoint
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RuntimeError(f"checkpoint {str(path)!r} could not be read ({type(e).__name__}: {e})") from e


def load_model_state(model: nn.Module, state: dict, source: str = "checkpoint") -> None:
    """Load ``state`` strictly; on mismatch raise an error listing missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        lines = [f"{source} does not match the model:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {missing[:20]}{' ...' if len(missing) > 20 else ''}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {unexpected[:20]}{' ...' if len(unexpected) > 20 else ''}")
        for k in shapes[:20]:
            lines.append(f"  shape of {k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}")
        raise CheckpointMismatchError("\n".join(lines))
    model.load_state_dict(state)


# ------------------------------------------------------------------------------------------- RNG states
def rng_state() -> dict:
    """Python, numpy, torch (and CUDA) RNG states in a form ``torch.load(weights_only=True)`` accepts."""
    import random

    import numpy as np

    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import random

    import numpy as np

    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


# ------------------------------------------------------------------------------------ periodic checkpoints
class CheckpointManager:
    """``<dir>/step_XXXXXXXX.pt`` written atomically, ``<dir>/last.pt`` the newest, the last ``keep`` kept.

    Args:
        directory: the run's checkpoint folder.
        keep: number of ``step_*.pt`` files kept (0 = all).
    """

    PATTERN = "step_*.pt"

    def __init__(self, directory: str | Path, keep: int = 3):
        self.dir = Path(directory)
        self.keep = int(keep)

    def save(self, state: dict, step: int) -> Path:
        path = save_checkpoint(self.dir / f"step_{step:08d}.pt", state)
        _atomic_link(path, self.dir / "last.pt")
        if self.keep > 0:
            for old in self.list(self.dir)[: -self.keep]:
                old.unlink(missing_ok=True)
        return path

    @classmethod
    def list(cls, directory: str | Path) -> list[Path]:
        """Step checkpoints of ``directory``, oldest first."""
        found = []
        for p in Path(directory).glob(cls.PATTERN):
            try:
                found.append((int(p.stem.split("_", 1)[1]), p))
            except ValueError:
                continue
        return [p for _, p in sorted(found)]


def _atomic_link(src: Path, dst: Path) -> None:
    """Make ``dst`` hold the same bytes as ``src`` (a hard link where the file system has them), atomically."""
    import shutil

    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def find_resume(resume, run_dir: str | Path) -> Path | None:
    """The checkpoint to continue from.

    ``resume``: ``None``/``false`` = start fresh; ``auto`` = the newest checkpoint in ``<run_dir>/checkpoints``
    (fresh when there is none, so a re-queued job can repeat its command); otherwise a checkpoint path.
    """
    if resume in (None, False, "", "none", "null"):
        return None
    if str(resume) != "auto":
        path = Path(resume)
        if not path.is_file():
            raise FileNotFoundError(f"resume={str(resume)!r}: no such checkpoint file (use resume=auto to continue "
                                    "from the newest checkpoint of the run directory, or resume=null)")
        return path
    ckpt_dir = Path(run_dir) / "checkpoints"
    candidates = CheckpointManager.list(ckpt_dir)
    if not candidates and (ckpt_dir / "last.pt").is_file():
        candidates = [ckpt_dir / "last.pt"]
    return candidates[-1] if candidates else None

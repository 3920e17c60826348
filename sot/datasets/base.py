"""The sequence record every dataset reader returns, and the base class of readers."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatasetFormatError(ValueError):
    """A file of a dataset is missing or malformed. The message names the path (and line)."""


@dataclass
class Sequence:
    """One video with its annotation.

    Args:
        name: sequence name, unique within the dataset.
        frames: image paths, one per annotated frame, in order.
        boxes: ``(N, 4)`` float64 ``[x, y, w, h]`` ground truth; NaN rows where it is unknown.
        visible: ``(N,)`` bool, False where the target is absent / fully occluded / out of view.
        attributes: free-form per-sequence or per-frame metadata (``cover``, ``object_class``, ...).
    """

    name: str
    frames: list[str]
    boxes: np.ndarray
    visible: np.ndarray
    attributes: dict = field(default_factory=dict)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.visible = np.asarray(self.visible, dtype=bool).reshape(-1)
        if len(self.frames) != len(self.boxes) or len(self.visible) != len(self.boxes):
            raise DatasetFormatError(
                f"sequence {self.name!r}: {len(self.frames)} frames, {len(self.boxes)} boxes and "
                f"{len(self.visible)} visibility flags; expected equal counts"
            )

    def __len__(self) -> int:
        return len(self.frames)


class SequenceDataset:
    """A list of :class:`Sequence` read from disk. Subclasses fill ``self.sequences``."""

    name: str = "dataset"

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetFormatError(f"{type(self).__name__}: dataset root {str(self.root)!r} is not a directory")
        self.sequences: list[Sequence] = []

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> Sequence:
        return self.sequences[i]

    def __iter__(self):
        return iter(self.sequences)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sequences]

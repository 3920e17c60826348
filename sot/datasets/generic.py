"""A generic layout: one folder per sequence with its frames and a ``groundtruth.txt``::

    <root>/<seq>/groundtruth.txt         x,y,w,h per frame (commas, tabs or spaces)
    <root>/<seq>/img/*.jpg               or imgs/, color/, frames/, or the images next to groundtruth.txt

Frames are the image files in name order; their count must equal the number of rows. A box with
NaN or no area marks the frame not visible.
"""
from __future__ import annotations

import numpy as np

from sot.datasets.annotations import read_table
from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.cache import cached_sequences
from sot.datasets.tnl2k import IMAGE_EXT, list_frames

FRAME_DIRS = ("img", "imgs", "color", "frames")


class FolderDataset(SequenceDataset):
    """Generic reader.

    Args:
        root: folder of sequence folders.
        default_protocol: the scoring protocol to use by default (``otb``).
        cache: True, a folder, or False.
    """

    name = "generic"
    result_format = "otb"

    def __init__(self, root, default_protocol: str = "otb", cache: bool | str = False):
        super().__init__(root)
        self.default_protocol = default_protocol
        self.sequences = cached_sequences("generic", self.root, {}, self._build, cache)

    def _build(self):
        seqs, files = [], []
        for d in sorted(p for p in self.root.iterdir() if (p / "groundtruth.txt").is_file()):
            boxes = read_table(d / "groundtruth.txt", 4)
            sub = next((d / s for s in FRAME_DIRS if (d / s).is_dir()), d)
            frames = list_frames(sub)
            if len(frames) != len(boxes):
                raise DatasetFormatError(f"{d / 'groundtruth.txt'}: {len(boxes)} rows but {len(frames)} images in {sub}")
            files.append(d / "groundtruth.txt")
            with np.errstate(invalid="ignore"):
                visible = ~np.isnan(boxes).any(1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
            seqs.append(Sequence(d.name, frames, boxes, visible, {}))
        if not seqs:
            raise DatasetFormatError(f"{self.root}: no <seq>/groundtruth.txt found")
        return seqs, files

"""Need for Speed (NfS, Kiani Galoogahi et al., ICCV 2017) in its on-disk layout::

    <root>/<seq>/240/<seq>.txt           one row per 240 fps frame:
                                         id xmin ymin xmax ymax frame lost occluded generated "label"
    <root>/<seq>/240/<seq>/00001.jpg ...
    <root>/<seq>/30/<seq>.txt            (some files still hold the 240 fps rows)
    <root>/<seq>/30/<seq>/00001.jpg ...

Boxes become ``[xmin, ymin, xmax - xmin, ymax - ymin]``; ``lost = 1`` marks a frame not visible. The
length rule of the got10k toolkit is kept: a 30 fps file with about 8x the frame count is subsampled
(every 8th row), and a difference of one row is trimmed; any other mismatch is an error.
"""
from __future__ import annotations

import numpy as np

from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.cache import cached_sequences
from sot.datasets.tnl2k import list_frames


def read_nfs_annotation(path) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes (N, 4) xywh, lost (N,) bool)`` from an NfS annotation file."""
    boxes, lost = [], []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 7:
            raise DatasetFormatError(f"{path}:{lineno}: expected 'id xmin ymin xmax ymax frame lost ...', found {line!r}")
        try:
            x1, y1, x2, y2 = (float(v) for v in parts[1:5])
            lost.append(int(parts[6]) != 0)
        except ValueError:
            raise DatasetFormatError(f"{path}:{lineno}: not a number in {line!r}") from None
        boxes.append([x1, y1, x2 - x1, y2 - y1])
    if not boxes:
        raise DatasetFormatError(f"{path}: file is empty")
    return np.asarray(boxes, dtype=np.float64), np.asarray(lost, dtype=bool)


class NfS(SequenceDataset):
    """NfS reader.

    Args:
        root: folder of sequence folders.
        fps: 30 or 240.
        cache: True, a folder, or False.
    """

    default_protocol = "otb"
    result_format = "otb"

    def __init__(self, root, fps: int = 30, cache: bool | str = True):
        super().__init__(root)
        if fps not in (30, 240):
            raise ValueError(f"NfS fps must be 30 or 240, not {fps}")
        self.fps = fps
        self.name = f"nfs{fps}"
        self.sequences = cached_sequences("nfs", self.root, {"fps": fps}, self._build, cache)

    def _build(self):
        seqs, files = [], []
        for d in sorted(p for p in self.root.iterdir() if p.is_dir()):
            anno = d / str(self.fps) / f"{d.name}.txt"
            if not anno.is_file():
                continue
            boxes, lost = read_nfs_annotation(anno)
            frames = list_frames(d / str(self.fps) / d.name)
            if len(frames) != len(boxes) and frames and abs(len(boxes) / len(frames) - 8) < 1:
                boxes, lost = boxes[::8], lost[::8]
            if 0 < abs(len(frames) - len(boxes)) <= 1:
                n = min(len(frames), len(boxes))
                frames, boxes, lost = frames[:n], boxes[:n], lost[:n]
            if len(frames) != len(boxes):
                raise DatasetFormatError(f"{anno}: {len(boxes)} rows but {len(frames)} frames")
            files.append(anno)
            seqs.append(Sequence(d.name, frames, boxes, ~lost, {"dataset": "nfs"}))
        if not seqs:
            raise DatasetFormatError(f"{self.root}: no <seq>/{self.fps}/<seq>.txt found")
        return seqs, files

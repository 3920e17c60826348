"""TrackingNet (Müller et al., ECCV 2018) in its on-disk layout::

    <root>/TRAIN_0 ... TRAIN_11/anno/<video>.txt          x,y,w,h per frame
                               /frames/<video>/0.jpg ...  frames numbered from 0
    <root>/TEST/anno/<video>.txt                          first frame only (the rest is withheld)
    <root>/TEST/frames/<video>/0.jpg ...

On TEST the ground truth past frame 0 is unknown: those rows are NaN and the frame count comes from
the frame folder. Scores on TEST come from the evaluation server (``write_submission_zip``).
"""
from __future__ import annotations

import numpy as np

from sot.datasets.annotations import read_table
from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.cache import FrameList, cached_sequences

TRAIN_CHUNKS = [f"TRAIN_{i}" for i in range(12)]


class TrackingNet(SequenceDataset):
    """TrackingNet reader.

    Args:
        root: folder holding the ``TRAIN_<i>`` / ``TEST`` chunk folders.
        chunks: chunk names, or ``"train"`` (all 12 train chunks) / ``"test"``.
        cache: True, a folder, or False.
    """

    name = "trackingnet"
    default_protocol = "trackingnet"
    result_format = "trackingnet"

    def __init__(self, root, chunks: str | list[str] = "test", cache: bool | str = True):
        super().__init__(root)
        chunks = TRAIN_CHUNKS if chunks == "train" else ["TEST"] if chunks == "test" else list(chunks)
        bad = [c for c in chunks if c not in TRAIN_CHUNKS + ["TEST"]]
        if bad:
            raise ValueError(f"unknown TrackingNet chunks {bad}; use TRAIN_0..TRAIN_11 or TEST")
        self.sequences = cached_sequences("trackingnet", self.root, {"chunks": chunks},
                                          lambda: self._build(chunks), cache)

    def _build(self, chunks):
        seqs, files = [], []
        for chunk in chunks:
            anno = self.root / chunk / "anno"
            if not anno.is_dir():
                raise DatasetFormatError(f"{anno}: annotation folder of chunk {chunk} not found")
            for f in sorted(anno.glob("*.txt")):
                boxes = read_table(f, 4)
                files.append(f)
                frame_dir = self.root / chunk / "frames" / f.stem
                if chunk == "TEST":
                    if not frame_dir.is_dir():
                        raise DatasetFormatError(f"{frame_dir}: frame folder of {f.stem} not found")
                    n = sum(1 for p in frame_dir.iterdir() if p.suffix == ".jpg")
                    boxes = np.concatenate([boxes[:1], np.full((max(n, 1) - 1, 4), np.nan)])
                seqs.append(Sequence(f.stem, FrameList(frame_dir, "%d.jpg", 0, len(boxes)), boxes,
                                     np.ones(len(boxes), bool), {"chunk": chunk, "dataset": "trackingnet"}))
        return seqs, files

"""VOT short-term datasets (VOT2016 ... VOT2022) in their on-disk layout::

    <root>/list.txt                       sequence names, one per line
    <root>/<seq>/groundtruth.txt          per frame: x,y,w,h, or a polygon x1,y1,...,x4,y4 (VOT2016-2019)
    <root>/<seq>/color/00000001.jpg ...   (VOT2019+; older editions keep the jpgs in <seq>/)
    <root>/<seq>/anchor.value             VOT2020+: per-frame anchors (> 0 forward, < 0 backward)
    <root>/<seq>/*.tag, *.label           optional per-frame 0/1 tags (occlusion, camera_motion, ...)

Polygons are made axis-aligned (their bounding box) and kept in ``attributes['polygon']``; VOT2020+
segmentation masks (``m...`` rows) are not supported. The scoring protocol follows ``edition``.
"""
from __future__ import annotations

import numpy as np

from sot.datasets.annotations import read_lines, read_table
from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.cache import FrameList, cached_sequences


def polygons_to_boxes(rows: np.ndarray) -> np.ndarray:
    """``(N, 8)`` polygons (NaN-padded ``(N, 4)`` rectangles allowed) -> ``(N, 4)`` axis-aligned xywh."""
    out = rows[:, :4].copy()
    poly = ~np.isnan(rows[:, 4:]).all(1) if rows.shape[1] > 4 else np.zeros(len(rows), bool)
    if poly.any():
        xs, ys = rows[poly][:, 0::2], rows[poly][:, 1::2]
        x1, y1 = xs.min(1), ys.min(1)
        out[poly] = np.stack([x1, y1, xs.max(1) - x1, ys.max(1) - y1], 1)
    return out


class VOT(SequenceDataset):
    """VOT reader.

    Args:
        root: folder with ``list.txt``.
        edition: the protocol to score with by default (``vot2018``, ``vot2019``, ``vot2020``, ...).
        cache: True, a folder, or False.
    """

    result_format = "vot"

    def __init__(self, root, edition: str = "vot2018", cache: bool | str = True):
        super().__init__(root)
        from sot.evaluation.vot import STACKS

        if edition not in STACKS:
            raise ValueError(f"unknown VOT edition {edition!r}; known: {sorted(STACKS)}")
        self.name = edition
        self.default_protocol = edition
        self.experiment = STACKS[edition][0]  # supervised (reset-based) or multistart (anchor-based)
        # the toolkit runs 15 repetitions of the reset-based experiment but stops early for deterministic
        # trackers; run_tracker does one unless told otherwise (eval.py repetitions=15)
        self.repetitions = 1
        self.sequences = cached_sequences("vot", self.root, {}, self._build, cache)

    def _build(self):
        seqs, files = [], []
        for name in read_lines(self.root / "list.txt"):
            d = self.root / name
            gt_file = d / "groundtruth.txt"
            head = gt_file.read_text(errors="replace")[:1] if gt_file.is_file() else ""
            if head == "m":
                raise DatasetFormatError(f"{gt_file}: segmentation-mask ground truth is not supported")
            rows = read_table(gt_file, (4, 8))
            boxes = polygons_to_boxes(rows)
            frame_dir = d / "color" if (d / "color").is_dir() else d
            if not (frame_dir / "00000001.jpg").is_file():
                raise DatasetFormatError(f"{frame_dir / '00000001.jpg'}: first frame of {name!r} not found")
            attrs = {"dataset": "vot"}
            if rows.shape[1] == 8:
                attrs["polygon"] = rows
            anchor = d / "anchor.value"
            if anchor.is_file():
                attrs["anchor"] = read_table(anchor, 1)[:, 0]
                if len(attrs["anchor"]) != len(boxes):
                    raise DatasetFormatError(f"{anchor}: {len(attrs['anchor'])} values for {len(boxes)} frames")
                files.append(anchor)
            for tag in sorted(list(d.glob("*.tag")) + list(d.glob("*.label"))):
                attrs[tag.stem] = read_table(tag, 1, allow_empty=True)[:, 0]
            files.append(gt_file)
            with np.errstate(invalid="ignore"):
                visible = ~np.isnan(boxes).any(1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
            seqs.append(Sequence(name, FrameList(frame_dir, "%08d.jpg", 1, len(boxes)), boxes, visible, attrs))
        return seqs, files

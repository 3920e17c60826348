"""TNL2K (Wang et al., CVPR 2021) in its on-disk layout::

    <root>/<seq>/imgs/00001.jpg ...     (png in some sequences; names are listed, not assumed)
    <root>/<seq>/groundtruth.txt        x,y,w,h per frame
    <root>/<seq>/language.txt

``root`` is the split folder (e.g. ``TNL2K_test_subset``). Frames whose box has no area are marked
not visible. Scored with the LaSOT toolkit rules (the official TNL2K toolkit is derived from it).
"""
from __future__ import annotations

from sot.datasets.annotations import read_table
from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.cache import cached_sequences

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp"}


def list_frames(folder) -> list[str]:
    """Image files of a folder in name order."""
    if not folder.is_dir():
        raise DatasetFormatError(f"{folder}: frame folder not found")
    return sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXT)


class TNL2K(SequenceDataset):
    name = "tnl2k"
    default_protocol = "tnl2k"
    result_format = "otb"

    def __init__(self, root, cache: bool | str = True):
        super().__init__(root)
        self.sequences = cached_sequences("tnl2k", self.root, {}, self._build, cache)

    def _build(self):
        seqs, files = [], []
        for d in sorted(p for p in self.root.iterdir() if (p / "groundtruth.txt").is_file()):
            boxes = read_table(d / "groundtruth.txt", 4)
            frames = list_frames(d / "imgs")
            if len(frames) != len(boxes):
                raise DatasetFormatError(f"{d / 'groundtruth.txt'}: {len(boxes)} rows but {len(frames)} frames in {d / 'imgs'}")
            attrs = {"dataset": "tnl2k"}
            if (d / "language.txt").is_file():
                attrs["language"] = (d / "language.txt").read_text(errors="replace").strip()
            files.append(d / "groundtruth.txt")
            seqs.append(Sequence(d.name, frames, boxes, (boxes[:, 2] > 0) & (boxes[:, 3] > 0), attrs))
        if not seqs:
            raise DatasetFormatError(f"{self.root}: no <seq>/groundtruth.txt found")
        return seqs, files

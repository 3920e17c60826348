"""LaSOT (Fan et al., CVPR 2019) in its on-disk layout::

    <root>/<class>/<class>-<n>/groundtruth.txt        x,y,w,h per frame
                              /full_occlusion.txt     0/1 per frame, comma separated
                              /out_of_view.txt        0/1 per frame
                              /nlp.txt                language description
                              /img/00000001.jpg ...

Splits: ``test`` is the official 280-sequence protocol-II test set (4 per class), ``train`` the other
1,120, ``all`` every sequence on disk. A frame is visible unless fully occluded or out of view.
Per-sequence attributes (the toolkit's ``annos/att/<seq>.txt``, 14 flags) are read from
``attributes_dir`` when given, or from ``<root>/att`` when it exists.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sot.datasets.annotations import read_flags, read_table
from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.cache import FrameList, cached_sequences

# official test split: class -> sequence numbers
_TEST = """
airplane:1,9,13,15 basketball:1,6,7,11 bear:2,4,6,17 bicycle:2,7,9,18 bird:2,3,15,17 boat:3,4,12,17
book:3,10,11,19 bottle:1,12,14,18 bus:2,5,17,19 car:2,6,9,17 cat:1,3,18,20 cattle:2,7,12,13
chameleon:3,6,11,20 coin:3,6,7,18 crab:3,6,12,18 crocodile:3,4,10,14 cup:1,4,7,17 deer:4,8,10,14 dog:1,7,15,19
drone:2,7,13,15 electricfan:1,10,18,20 elephant:1,12,16,18 flag:2,3,5,9 fox:2,3,5,20 frog:3,4,9,20
gametarget:1,2,7,13 gecko:1,5,16,19 giraffe:2,10,13,15 goldfish:3,7,8,10 gorilla:4,6,9,13 guitar:3,8,10,16
hand:2,3,9,16 hat:1,2,5,18 helmet:5,11,13,19 hippo:1,7,9,20 horse:1,4,12,15 kangaroo:2,5,11,14 kite:4,6,10,15
leopard:1,7,16,20 licenseplate:6,12,13,15 lion:1,5,12,20 lizard:1,3,6,13 microphone:2,6,14,16 monkey:3,4,9,17
motorcycle:1,3,9,18 mouse:1,8,9,17 person:1,5,10,12 pig:2,10,13,18 pool:3,7,12,15 rabbit:10,13,17,19
racing:10,15,16,20 robot:1,5,8,19 rubicCube:1,6,14,19 sepia:6,8,13,16 shark:2,3,5,6 sheep:3,5,7,9
skateboard:3,8,16,19 spider:14,16,18,20 squirrel:8,11,13,19 surfboard:4,5,8,12 swing:10,14,17,20
tank:6,9,14,16 tiger:4,6,12,18 train:1,7,11,20 truck:3,6,7,16 turtle:5,8,9,16 umbrella:2,9,17,19
volleyball:1,13,18,19 yoyo:7,15,17,19 zebra:10,14,16,17
"""
ATTRIBUTES = ["IV", "POC", "DEF", "MB", "CM", "ROT", "BC", "VC", "SV", "FOC", "FM", "OV", "LR", "ARC"]


def official_test_set() -> list[str]:
    """The 280 names of the official LaSOT test split."""
    out = []
    for item in _TEST.split():
        cls, nums = item.split(":")
        out += [f"{cls}-{n}" for n in nums.split(",")]
    return out


class LaSOT(SequenceDataset):
    """LaSOT reader.

    Args:
        root: folder holding the 70 class folders.
        split: ``test`` (280), ``train`` (1,120) or ``all``.
        sequences: optional explicit list of names (overrides ``split``).
        attributes_dir: folder of ``<seq>.txt`` attribute flag files (LaSOT toolkit ``annos/att``).
        cache: True (default cache folder), a folder, or False.
    """

    name = "lasot"
    default_protocol = "lasot"
    result_format = "otb"

    def __init__(self, root, split: str = "test", sequences: list[str] | None = None,
                 attributes_dir: str | None = None, cache: bool | str = True):
        super().__init__(root)
        if split not in ("test", "train", "all"):
            raise ValueError(f"LaSOT split must be test, train or all, not {split!r}")
        att = Path(attributes_dir) if attributes_dir else (self.root / "att" if (self.root / "att").is_dir() else None)
        opts = {"split": split, "sequences": sequences, "att": str(att) if att else None}
        self.sequences = cached_sequences("lasot", self.root, opts, lambda: self._build(split, sequences, att), cache)

    def _names(self, split, sequences):
        if sequences is not None:
            return list(sequences)
        test = official_test_set()
        if split == "test":
            return test
        on_disk = sorted(p.name for c in self.root.iterdir() if c.is_dir() for p in c.iterdir()
                         if p.is_dir() and p.name.startswith(c.name + "-"))
        if not on_disk:
            raise DatasetFormatError(f"{self.root}: no <class>/<class>-<n> sequence folders found")
        return on_disk if split == "all" else [n for n in on_disk if n not in set(test)]

    def _build(self, split, sequences, att):
        seqs, files = [], []
        for name in self._names(split, sequences):
            d = self.root / name.rsplit("-", 1)[0] / name
            if not d.is_dir():
                raise DatasetFormatError(f"{d}: sequence folder of {name!r} not found (root should hold the class folders)")
            gt_file, occ_file, oov_file = d / "groundtruth.txt", d / "full_occlusion.txt", d / "out_of_view.txt"
            boxes = read_table(gt_file, 4)
            occ = read_flags(occ_file, len(boxes))
            oov = read_flags(oov_file, len(boxes))
            attrs = {"object_class": name.rsplit("-", 1)[0], "dataset": "lasot"}
            files += [gt_file, occ_file, oov_file]
            if (d / "nlp.txt").is_file():
                attrs["language"] = (d / "nlp.txt").read_text().strip()
            if att is not None:
                f = att / f"{name}.txt"
                flags = read_flags(f, len(ATTRIBUTES))
                attrs["tags"] = [a for a, v in zip(ATTRIBUTES, flags) if v > 0]
                files.append(f)
            seqs.append(Sequence(name, FrameList(d / "img", "%08d.jpg", 1, len(boxes)), boxes,
                                 (occ == 0) & (oov == 0), attrs))
        return seqs, files

"""UAV123, UAV20L and UAV123@10fps (Mueller et al., ECCV 2016) in their on-disk layout::

    <root>/data_seq/UAV123/<folder>/000001.jpg ...        (UAV20L uses the same frame folders)
    <root>/data_seq/UAV123_10fps/<folder>/000001.jpg ...
    <root>/anno/UAV123/<seq>.txt     x,y,w,h per frame, ``NaN,NaN,NaN,NaN`` where the target is absent
    <root>/anno/UAV20L/<seq>.txt
    <root>/anno/UAV123_10fps/<seq>.txt
    <root>/anno/<version>/att/<seq>.txt   optional: 12 attribute flags

Several sequences are sub-ranges of one frame folder (``bird1_2`` = ``bird1`` frames 775-1477). The
official ranges come from the benchmark's ``configSeqs.m`` when it is found in the root (the 10 fps
download ships one) and otherwise from the table below (UAV123 and UAV20L, as in the got10k toolkit).
NaN rows are kept (the protocols decide); such frames are marked not visible.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sot.datasets.annotations import read_flags, read_table
from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.cache import FrameList, cached_sequences

VERSIONS = ("UAV123", "UAV20L", "UAV123_10fps")
ATTRIBUTES = ["SV", "ARC", "LR", "FM", "FOC", "POC", "OV", "BC", "IV", "VC", "CM", "SOB"]

# name[:folder:start]:end (folder = name and start = 1 when omitted)
_UAV123 = """
bike1:3085 bike2:553 bike3:433 bird1_1:bird1:1:253 bird1_2:bird1:775:1477 bird1_3:bird1:1573:2437 boat1:901
boat2:799 boat3:901 boat4:553 boat5:505 boat6:805 boat7:535 boat8:685 boat9:1399 building1:469 building2:577
building3:829 building4:787 building5:481 car1_1:car1:1:751 car1_2:car1:751:1627 car1_3:car1:1627:2629
car2:1321 car3:1717 car4:1345 car5:745 car6_1:car6:1:487 car6_2:car6:487:1807 car6_3:car6:1807:2953
car6_4:car6:2953:3925 car6_5:car6:3925:4861 car7:1033 car8_1:car8:1:1357 car8_2:car8:1357:2575 car9:1879
car10:1405 car11:337 car12:499 car13:415 car14:1327 car15:469 car16_1:car16:1:415 car16_2:car16:415:1993
car17:1057 car18:1207 group1_1:group1:1:1333 group1_2:group1:1333:2515 group1_3:group1:2515:3925
group1_4:group1:3925:4873 group2_1:group2:1:907 group2_2:group2:907:1771 group2_3:group2:1771:2683
group3_1:group3:1:1567 group3_2:group3:1567:2827 group3_3:group3:2827:4369 group3_4:group3:4369:5527
person1:799 person2_1:person2:1:1189 person2_2:person2:1189:2623 person3:643 person4_1:person4:1:1501
person4_2:person4:1501:2743 person5_1:person5:1:877 person5_2:person5:877:2101 person6:901
person7_1:person7:1:1249 person7_2:person7:1249:2065 person8_1:person8:1:1075 person8_2:person8:1075:1525
person9:661 person10:1021 person11:721 person12_1:person12:1:601 person12_2:person12:601:1621 person13:883
person14_1:person14:1:847 person14_2:person14:847:1813 person14_3:person14:1813:2923 person15:1339
person16:1147 person17_1:person17:1:1501 person17_2:person17:1501:2347 person18:1393
person19_1:person19:1:1243 person19_2:person19:1243:2791 person19_3:person19:2791:4357 person20:1783
person21:487 person22:199 person23:397 truck1:463 truck2:385 truck3:535 truck4_1:truck4:1:577
truck4_2:truck4:577:1261 uav1_1:uav1:1:1555 uav1_2:uav1:1555:2377 uav1_3:uav1:2473:3469 uav2:133 uav3:265
uav4:157 uav5:139 uav6:109 uav7:373 uav8:301 wakeboard1:421 wakeboard2:733 wakeboard3:823 wakeboard4:697
wakeboard5:1675 wakeboard6:1165 wakeboard7:199 wakeboard8:1543 wakeboard9:355 wakeboard10:469 car1_s:1475
car2_s:320 car3_s:1300 car4_s:830 person1_s:1600 person2_s:250 person3_s:505
"""
_UAV20L = """
bike1:3085 bird1:2437 car1:2629 car3:1717 car6:4861 car8:2575 car9:1879 car16:1993 group1:4873 group2:2683
group3:5527 person2:2623 person4:2743 person5:2101 person7:2065 person14:2923 person17:2347 person19:4357
person20:1783 uav1:3469
"""


def _table(text: str) -> dict[str, tuple[str, int, int]]:
    out = {}
    for item in text.split():
        parts = item.split(":")
        if len(parts) == 2:
            out[parts[0]] = (parts[0], 1, int(parts[1]))
        else:
            out[parts[0]] = (parts[1], int(parts[2]), int(parts[3]))
    return out


_CONFIG = re.compile(r"'name'\s*,\s*'([^']+)'\s*,\s*'path'\s*,\s*'([^']*)'\s*,\s*'startFrame'\s*,\s*(\d+)"
                     r"\s*,\s*'endFrame'\s*,\s*(\d+)")


def parse_config_seqs(path) -> dict[str, tuple[str, int, int]]:
    """Ranges from a UAV ``configSeqs.m``: ``{name: (folder, start, end)}``."""
    text = Path(path).read_text(errors="replace")
    out = {}
    for name, p, start, end in _CONFIG.findall(text):
        folder = [s for s in re.split(r"[\\/]", p) if s][-1]
        out[name] = (folder, int(start), int(end))
    if not out:
        raise DatasetFormatError(f"{path}: no struct('name',...,'startFrame',...,'endFrame',...) entries")
    return out


class UAV(SequenceDataset):
    """UAV123 / UAV20L / UAV123@10fps reader.

    Args:
        root: the folder holding ``data_seq/`` and ``anno/``.
        version: ``UAV123``, ``UAV20L`` or ``UAV123_10fps``.
        config_seqs: a ``configSeqs.m`` with the frame ranges (default: ``<root>/configSeqs.m`` if present).
        cache: True, a folder, or False.
    """

    default_protocol = "uav123"
    result_format = "otb"

    def __init__(self, root, version: str = "UAV123", config_seqs: str | None = None, cache: bool | str = True):
        super().__init__(root)
        if version not in VERSIONS:
            raise ValueError(f"UAV version must be one of {VERSIONS}, not {version!r}")
        self.version = version
        self.name = version.lower()
        cfg = Path(config_seqs) if config_seqs else next(
            (p for p in (self.root / "configSeqs.m", self.root / "anno" / version / "configSeqs.m") if p.is_file()), None)
        opts = {"version": version, "config": str(cfg) if cfg else None}
        self.sequences = cached_sequences("uav", self.root, opts, lambda: self._build(version, cfg), cache)

    def _build(self, version, cfg):
        if cfg is not None:
            ranges = parse_config_seqs(cfg)
        elif version == "UAV123_10fps":
            raise DatasetFormatError(f"{self.root}: UAV123@10fps needs the configSeqs.m of its download "
                                     f"(pass config_seqs=...) for the sub-sequence frame ranges")
        else:
            ranges = _table(_UAV123 if version == "UAV123" else _UAV20L)
        anno_dir = self.root / "anno" / version
        frame_root = self.root / "data_seq" / ("UAV123_10fps" if version == "UAV123_10fps" else "UAV123")
        files = sorted(anno_dir.glob("*.txt"))
        if not files:
            raise DatasetFormatError(f"{anno_dir}: no annotation files")
        seqs, used = [], []
        for f in files:
            name = f.stem
            if name not in ranges:
                raise DatasetFormatError(f"{f}: sequence {name!r} has no frame range in the {version} configuration")
            folder, start, end = ranges[name]
            boxes = read_table(f, 4)
            if len(boxes) != end - start + 1:
                raise DatasetFormatError(f"{f}: {len(boxes)} rows but frames {start}-{end} ({end - start + 1})")
            used.append(f)
            attrs = {"dataset": "uav", "folder": folder, "start_frame": start}
            att = anno_dir / "att" / f"{name}.txt"
            if att.is_file():
                flags = read_flags(att, len(ATTRIBUTES))
                attrs["tags"] = [a for a, v in zip(ATTRIBUTES, flags) if v > 0]
                used.append(att)
            seqs.append(Sequence(name, FrameList(frame_root / folder, "%06d.jpg", start, len(boxes)), boxes,
                                 ~np.isnan(boxes).any(1), attrs))
        return seqs, used

"""OTB-2015 / OTB100 (Wu et al., TPAMI 2015) in its on-disk layout::

    <root>/<Seq>/img/0001.jpg ...
    <root>/<Seq>/groundtruth_rect.txt          x,y,w,h; commas, tabs or spaces (mixed in some files)
    <root>/Jogging/groundtruth_rect.1.txt       two targets -> sequences Jogging-1 and Jogging-2
    <root>/Jogging/groundtruth_rect.2.txt

Known quirks handled here (frame ranges from the benchmark's sequence configuration):

* start frames that are not 1: David starts at frame 300, BlurCar1 at 247, BlurCar3 at 3, BlurCar4 at 18;
  Tiger1's first 5 frames are left out (``initOmit``), as in the official configuration;
* split sequences: Jogging-1/-2, Skating2-1/-2, and Human4-2 (``groundtruth_rect.1.txt`` of Human4 is empty);
* image folders longer than the annotation (Football1, Freeman3, Freeman4, Diving): frames are taken
  from the start frame for as many rows as the ground truth has;
* Board's frames have five digits; KiteSurf's images may sit in ``jpg/`` instead of ``img/``.

Attributes (IV, SV, OCC, ...) are not part of the sequence folders; pass ``attributes_file`` (a json
``{sequence: [attribute, ...]}``, or a pysot ``OTB100.json`` whose entries have an ``attr`` list).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from sot.datasets.annotations import read_table
from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.cache import FrameList, cached_sequences

START_FRAME = {"David": 300, "BlurCar1": 247, "BlurCar3": 3, "BlurCar4": 18}
INIT_OMIT = {"Tiger1": 5}
DIGITS = {"Board": 5}


class OTB(SequenceDataset):
    """OTB100 reader.

    Args:
        root: folder holding the sequence folders.
        sequences: optional list of names to keep (e.g. the OTB-2013 50); split targets are named ``Jogging-1``.
        attributes_file: optional attribute table (see the module docstring).
        cache: True, a folder, or False.
    """

    name = "otb"
    default_protocol = "otb"
    result_format = "otb"

    def __init__(self, root, sequences: list[str] | None = None, attributes_file: str | None = None,
                 cache: bool | str = True):
        super().__init__(root)
        opts = {"sequences": sequences, "attributes_file": attributes_file}
        self.sequences = cached_sequences("otb", self.root, opts, lambda: self._build(sequences, attributes_file), cache)

    def _build(self, keep, attributes_file):
        tags = _read_attributes(attributes_file) if attributes_file else {}
        seqs, files = [], []
        for d in sorted(p for p in self.root.iterdir() if p.is_dir()):
            gts = sorted(d.glob("groundtruth_rect*.txt"))
            if not gts:
                continue
            split = [g for g in gts if re.fullmatch(r"groundtruth_rect\.\d+\.txt", g.name)]
            for g in split or gts[:1]:
                if not g.read_text().strip():
                    continue  # Human4's groundtruth_rect.1.txt is empty
                name = f"{d.name}-{g.name.split('.')[1]}" if split else d.name
                if keep is not None and name not in keep:
                    continue
                boxes = read_table(g, 4)
                files.append(g)
                omit = INIT_OMIT.get(d.name, 0)
                start = START_FRAME.get(d.name, 1) + omit
                boxes = boxes[omit:]
                img_dir = next((d / s for s in ("img", "jpg", "imgs") if (d / s).is_dir()), None)
                if img_dir is None:
                    raise DatasetFormatError(f"{d}: no img/ folder")
                pattern = f"%0{DIGITS.get(d.name, 4)}d.jpg"
                last = img_dir / (pattern % (start + len(boxes) - 1))
                if not last.is_file():
                    raise DatasetFormatError(
                        f"{g}: {len(boxes)} rows from frame {start} need {last}, which does not exist")
                attrs = {"dataset": "otb"}
                key = name if name in tags else name.replace("-", ".") if name.replace("-", ".") in tags else d.name
                if key in tags:
                    attrs["tags"] = list(tags[key])
                seqs.append(Sequence(name, FrameList(img_dir, pattern, start, len(boxes)), boxes,
                                     (boxes[:, 2] > 0) & (boxes[:, 3] > 0), attrs))
        if keep is not None:
            missing = sorted(set(keep) - {s.name for s in seqs})
            if missing:
                raise DatasetFormatError(f"{self.root}: sequences not found: {missing}")
        if not seqs:
            raise DatasetFormatError(f"{self.root}: no <Seq>/groundtruth_rect*.txt found")
        return seqs, files


def _read_attributes(path) -> dict[str, list[str]]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise DatasetFormatError(f"{path}: cannot read the attribute table ({e})") from None
    return {k: (v["attr"] if isinstance(v, dict) else v) for k, v in data.items()}

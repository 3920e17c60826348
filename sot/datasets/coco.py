"""COCO 2017 object instances as one-frame sequences, for pair training.

Layout::

    <root>/annotations/instances_train2017.json
    <root>/annotations/instances_val2017.json
    <root>/train2017/000000000009.jpg ...
    <root>/val2017/...

Each non-crowd instance whose box is at least ``min_size`` pixels wide and high becomes a sequence
``<image id>_<annotation id>`` with one frame. The JSON is parsed once and cached.
"""
from __future__ import annotations

import json

import numpy as np

from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.cache import cached_sequences


class COCO(SequenceDataset):
    """COCO 2017 reader.

    Args:
        root: folder with ``annotations/`` and the image folders.
        split: ``train`` or ``val``.
        min_size: smallest box width and height kept, in pixels.
        cache: True, a folder, or False.
    """

    name = "coco"
    default_protocol = "otb"
    result_format = "otb"

    def __init__(self, root, split: str = "train", min_size: float = 8.0, cache: bool | str = True):
        super().__init__(root)
        if split not in ("train", "val"):
            raise ValueError(f"COCO split must be train or val, not {split!r}")
        self.sequences = cached_sequences("coco", self.root, {"split": split, "min_size": min_size},
                                          lambda: self._build(split, min_size), cache)

    def _build(self, split, min_size):
        path = self.root / "annotations" / f"instances_{split}2017.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise DatasetFormatError(f"{path}: file not found") from None
        except ValueError as e:
            raise DatasetFormatError(f"{path}: not valid JSON ({e})") from None
        for key in ("images", "annotations", "categories"):
            if key not in data:
                raise DatasetFormatError(f"{path}: no {key!r} list")
        images = {im["id"]: im for im in data["images"]}
        cats = {c["id"]: c["name"] for c in data["categories"]}
        img_dir = self.root / f"{split}2017"
        seqs = []
        for i, ann in enumerate(data["annotations"]):
            try:
                x, y, w, h = (float(v) for v in ann["bbox"])
                im = images[ann["image_id"]]
            except (KeyError, TypeError, ValueError):
                raise DatasetFormatError(f"{path}: annotation #{i} (id {ann.get('id')}) has no valid bbox/image_id") from None
            if ann.get("iscrowd", 0) or w < min_size or h < min_size:
                continue
            seqs.append(Sequence(f"{ann['image_id']}_{ann['id']}", [str(img_dir / im["file_name"])],
                                 np.array([[x, y, w, h]]), np.ones(1, bool),
                                 {"object_class": cats.get(ann["category_id"], ""),
                                  "resolution": (im["width"], im["height"])}))
        return seqs, [path]

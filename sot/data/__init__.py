"""Training data: the shared crop, photometric augmentation, a synthetic GOT-10k-layout generator and pairs.

Names are imported lazily, so that ``import sot.data.crop`` (the tracker) or ``sot.data.synthetic`` (generator
worker processes) does not pay for the others' imports.
"""
from importlib import import_module

_EXPORTS = {
    "context_side": "sot.data.crop",
    "crop_and_resize": "sot.data.crop",
    "invert_affine": "sot.data.crop",
    "read_rgb": "sot.data.crop",
    "transform_box": "sot.data.crop",
    "transform_points": "sot.data.crop",
    "PairDataset": "sot.data.pair_dataset",
    "PairSpec": "sot.data.pair_dataset",
    "generate_synthetic": "sot.data.synthetic",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sot.data' has no attribute {name!r}")

"""Losses with MMDetection ``weighted_loss`` semantics (see :mod:`sot.models.losses.utils`)."""
from sot.models.losses.cross_entropy import CrossEntropyLoss
from sot.models.losses.focal import FocalLoss
from sot.models.losses.giou import GIoULoss
from sot.models.losses.l1 import L1Loss, SmoothL1Loss
from sot.models.losses.logistic import LogisticLoss
from sot.models.losses.utils import WeightedLoss, reduce_loss, weight_reduce_loss, weighted_loss

__all__ = ["CrossEntropyLoss", "FocalLoss", "GIoULoss", "L1Loss", "SmoothL1Loss", "LogisticLoss",
           "WeightedLoss", "reduce_loss", "weight_reduce_loss", "weighted_loss"]

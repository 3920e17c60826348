"""Backbones: ``forward(x) -> list[Tensor]`` with ``out_channels`` and ``strides`` per level."""
from sot.models.backbones.alexnet import AlexNet
from sot.models.backbones.mobilenet_v2 import MobileNetV2
from sot.models.backbones.pretrained import PretrainedMismatchError, load_pretrained, read_state_dict
from sot.models.backbones.resnet import ResNet
from sot.models.backbones.timm_backbone import TimmBackbone

__all__ = ["AlexNet", "MobileNetV2", "ResNet", "TimmBackbone", "PretrainedMismatchError", "load_pretrained", "read_state_dict"]

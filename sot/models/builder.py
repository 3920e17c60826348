"""Build a tracker network from the ``backbone``, ``neck`` and ``head`` config nodes."""
from __future__ import annotations

import inspect

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig
from torch import nn

from sot.models.errors import IncompatiblePartsError
from sot.models.siamese import SiameseNet


def _name(node: DictConfig) -> str:
    return str(node.get("_target_", "?")).rsplit(".", 1)[-1]


def _shape_kwargs(target: str, channels, strides, one_stream: bool | None = None) -> dict:
    """``in_channels`` always; ``in_strides`` where the class accepts it; ``one_stream`` (the backbone's flag) to
    heads whose constructor names it (heads that fuse template and search themselves only for two-stream backbones)."""
    kwargs = {"in_channels": list(channels)}
    params = inspect.signature(get_class(target).__init__).parameters
    if "in_strides" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs["in_strides"] = list(strides)
    if one_stream is not None and "one_stream" in params:
        kwargs["one_stream"] = one_stream
    return kwargs


def build_model(backbone: DictConfig | nn.Module, neck: DictConfig, head: DictConfig) -> SiameseNet:
    """Instantiate backbone, then neck and head with the channels and strides flowing from it.

    ``backbone`` may also be a module built already. Parts that cannot work together raise
    :class:`IncompatiblePartsError` naming them.
    """
    bb = backbone if isinstance(backbone, nn.Module) else instantiate(backbone)
    pair = f"backbone {type(bb).__name__ if isinstance(backbone, nn.Module) else _name(backbone)}"
    try:
        nk = instantiate(neck, **_shape_kwargs(neck._target_, bb.out_channels, bb.strides))
        pair += f" + neck {_name(neck)}"
        if getattr(bb, "one_stream", False) and getattr(get_class(head._target_), "two_stream", True):
            raise IncompatiblePartsError(
                f"head {_name(head)} correlates separate template and search feature maps, but the one-stream "
                f"backbone fuses them itself; pick a head for one-stream backbones (center, corner)"
            )
        hd = instantiate(head, **_shape_kwargs(head._target_, nk.out_channels, nk.strides,
                                                  bool(getattr(bb, "one_stream", False))))
    except Exception as e:  # Hydra wraps constructor errors in InstantiationException
        cause = e
        while cause is not None and not isinstance(cause, IncompatiblePartsError):
            cause = cause.__cause__
        if cause is None:
            raise
        raise IncompatiblePartsError(f"{pair} + head {_name(head)} do not fit: {cause}") from None
    return SiameseNet(bb, nk, hd)


def check_shapes(model: SiameseNet, template_size: int, search_size: int, names: str = "") -> None:
    """Run one tiny forward at the configured crop sizes, so that parts whose feature sizes cannot work
    together (e.g. a template map smaller than the neck's centre crop) fail at build time, not mid-training."""
    import torch

    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
        with torch.no_grad():
            out = model(torch.zeros(1, 3, template_size, template_size, device=device),
                        torch.zeros(1, 3, search_size, search_size, device=device))
            model.head.decode(out, search_size, torch.full((1, 2), search_size / 4.0, device=device))
    except Exception as e:
        raise IncompatiblePartsError(
            f"{names or 'the parts'} do not work with template {template_size} px and search {search_size} px: "
            f"{type(e).__name__}: {e}") from e
    finally:
        model.train(was_training)


def parts_name(backbone: DictConfig, neck: DictConfig, head: DictConfig) -> str:
    return f"backbone {_name(backbone)} + neck {_name(neck)} + head {_name(head)}"

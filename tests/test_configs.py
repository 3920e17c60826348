"""Every yaml of every group instantiates, and every backbone x neck x head either trains or fails at build time."""
import copy
import functools
import itertools
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from sot.models.builder import build_model, check_shapes, parts_name
from sot.models.errors import IncompatiblePartsError
from sot.utils.runtime import REPO_ROOT
from tests.helpers import compose_train

CONF = Path(REPO_ROOT) / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["backbone", "neck", "head", "tracker", "optim", "sched", "data"])
def test_group_has_options(group):
    assert options(group), f"conf/{group} is empty"


@pytest.mark.parametrize("path", sorted(str(p.relative_to(CONF)) for p in (CONF / "loss").glob("*/*.yaml")))
def test_loss_terms_instantiate(path):
    from omegaconf import OmegaConf

    loss = instantiate(OmegaConf.load(CONF / path))
    assert isinstance(loss, torch.nn.Module) and hasattr(loss, "loss_weight")


@pytest.mark.parametrize("head", options("head"))
def test_head_loss_family_composes(head):
    """``loss: ${head}`` picks the loss family of the chosen head; each term can be swapped."""
    cfg = compose_train([f"head={head}"])
    assert cfg.loss, f"conf/loss/{head}.yaml gives no terms"
    for term in cfg.loss.values():
        assert "_target_" in term


def test_swap_one_loss_term():
    cfg = compose_train(["head=rpn", "loss/box=giou"])
    assert cfg.loss.box._target_.endswith("GIoULoss") and cfg.head.box_loss._target_.endswith("GIoULoss")
    assert cfg.loss.box.loss_weight == 1.2  # the rpn family's weight stays
    cfg = compose_train(["head=ban", "loss/box=l1"])
    assert cfg.head.box_loss._target_.endswith("L1Loss") and cfg.head.cls_loss.use_sigmoid is False


def _combo_ids():
    return [f"{b}-{n}-{h}" for b, n, h in itertools.product(options("backbone"), options("neck"), options("head"))]


@functools.lru_cache(maxsize=1)  # combos run backbone-major: each backbone is built once, then copied
def _backbone(name: str):
    return instantiate(compose_train([f"backbone={name}", "debug=smoke", "device=cpu"]).backbone)


@pytest.mark.parametrize("combo", _combo_ids())
def test_every_composition_trains_or_fails_at_build(combo):
    b, n, h = combo.split("-")
    cfg = compose_train([f"backbone={b}", f"neck={n}", f"head={h}", "debug=smoke", "device=cpu"])
    T, S = cfg.data.template_size, cfg.data.search_size
    try:
        model = build_model(copy.deepcopy(_backbone(b)), cfg.neck, cfg.head)
        check_shapes(model, T, S, parts_name(cfg.backbone, cfg.neck, cfg.head))
    except IncompatiblePartsError as e:
        msg = str(e)
        assert "backbone" in msg and "head" in msg, msg  # names the parts
        return
    model.train()
    B = 2
    batch = {
        "template": torch.rand(B, 3, T, T) * 255,
        "search": torch.rand(B, 3, S, S) * 255,
        "search_box": torch.tensor([[S / 2 - 16, S / 2 - 12, 32.0, 24.0]]).repeat(B, 1),
        "positive": torch.tensor([True, False]),
    }
    losses = model.loss(batch)
    assert torch.isfinite(losses["loss"])
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_unknown_option_is_a_clear_error():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="backbone"):
        compose_train(["backbone=resnet7"])


def test_wrong_key_names_the_key():
    cfg = compose_train(["+backbone.depthh=3"])
    with pytest.raises(Exception, match="depthh"):
        instantiate(cfg.backbone)


@pytest.mark.parametrize("recipe", sorted(p.stem for p in (Path(REPO_ROOT) / "experiments").glob("*.yaml")))
def test_recipes_compose_and_build(recipe):
    cfg = compose_train([f"experiments={recipe}", "device=cpu"])
    model = build_model(cfg.backbone, cfg.neck, cfg.head)
    assert sum(p.numel() for p in model.parameters()) > 0

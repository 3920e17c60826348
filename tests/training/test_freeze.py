"""Recipe mechanics: a freeze schedule (SiamRPN++ unfreezes layers 2-4 at epoch 10), per-group learning rates."""
import torch

from sot.models.builder import build_model
from sot.training.checkpoint import load_checkpoint
from sot.training.freeze import FreezePlan, ever_trainable
from sot.training.optim import build_optimizer
from sot.training.run import train
from tests.helpers import compose_train


def test_backbone_frozen_until_epoch_1_then_trained(smoke, tmp_path):
    cfg = smoke("epochs=2", "keep_checkpoints=0", "optim=sgd", "freeze=[{prefixes:[backbone.],until_epoch:1}]")
    train(cfg, tmp_path / "run")
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("step_*.pt"))
    e0, e1 = (load_checkpoint(p) for p in ckpts)
    assert (e0["epoch"], e1["epoch"]) == (1, 2)
    model = build_model(cfg.backbone, cfg.neck, cfg.head)
    torch.manual_seed(cfg.seed)
    init = build_model(cfg.backbone, cfg.neck, cfg.head).state_dict()
    bb = [k for k in init if k.startswith("backbone.")]
    # epoch 0: backbone untouched (BatchNorm statistics too: frozen BNs run in eval mode); head trained
    assert all(torch.equal(init[k], e0["model"][k]) for k in bb)
    assert any(not torch.equal(init[k], e0["model"][k]) for k in init if k.startswith("head."))
    # epoch 1: the backbone trains, with the optimizer layout it had from the start
    assert any(not torch.equal(e0["model"][k], e1["model"][k]) for k in bb if "running" not in k)
    n_params = sum(1 for _ in model.parameters())
    assert sum(len(g["params"]) for g in e0["optimizer"]["param_groups"]) == n_params


def test_siamrpn_r50_recipe_unfreezes_layers_2_to_4_at_epoch_10():
    cfg = compose_train(["experiments=siamrpn_r50_255_ep20", "device=cpu"])
    model = build_model(cfg.backbone, cfg.neck, cfg.head)
    plan = FreezePlan(model, trainable=cfg.trainable, schedule=cfg.freeze)
    names = [n for n, _ in model.named_parameters()]
    optimized = set(ever_trainable(model, plan))

    plan.apply(model, epoch=0)
    assert not any(p.requires_grad for n, p in model.named_parameters() if n.startswith("backbone."))
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith(("neck.", "head.")))
    plan.apply(model, epoch=10)
    trains = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {n for n in names if n.startswith(("backbone.layer2", "backbone.layer3", "backbone.layer4"))} <= trains
    assert not any(n.startswith(("backbone.conv1", "backbone.bn1", "backbone.layer1")) for n in trains)
    assert trains == optimized  # the optimizer held them from epoch 0

    opt = build_optimizer(model, **cfg.optim, params=optimized)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["backbone"] == cfg.optim.lr * 0.1 and lrs["default"] == cfg.optim.lr


def test_per_prefix_learning_rates(smoke):
    cfg = smoke()
    model = build_model(cfg.backbone, cfg.neck, cfg.head)
    opt = build_optimizer(model, lr=0.1, backbone_lr_mult=0.1, lr_mults={"head.cls": 2.0, "backbone.layer2": 0.5})
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["head.cls"] == 0.2 and lrs["backbone.layer2"] == 0.05 and lrs["backbone"] == 0.1 * 0.1
    assert abs(lrs["default"] - 0.1) < 1e-12 and lrs["head.cls_no_decay"] == 0.2
    owner = {id(p): g["name"] for g in opt.param_groups for p in g["params"]}
    assert owner[id(dict(model.named_parameters())["backbone.layer2.0.conv1.weight"])] == "backbone.layer2"

"""Which parameters train when: ``trainable`` prefixes, and a freeze schedule (SiamRPN++ unfreezes at epoch 10).

Names are those of ``model.named_parameters()`` (``backbone.layer2.0.conv1.weight``); a prefix matches a name
that starts with it (plain string prefix, as ``str.startswith``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _check_prefixes(names: list[str], prefixes: Sequence[str], what: str) -> None:
    for p in prefixes:
        if not any(n.startswith(p) for n in names):
            roots = sorted({n.split(".")[0] + "." + n.split(".")[1] if n.count(".") > 1 else n for n in names})
            raise ValueError(f"{what}: prefix {p!r} matches no parameter of the model; parameter names start "
                             f"with e.g. {roots[:12]}")


class FreezePlan:
    """Sets ``requires_grad`` per epoch.

    Args:
        trainable: ``None`` = every parameter may train; otherwise only parameters whose name starts with one
            of these prefixes (e.g. ``["head.score"]`` for STARK-ST's second stage); the rest stay frozen.
        schedule: entries ``{"prefixes": [...], "until_epoch": E}``: the matching parameters are frozen for the
            epochs ``< E`` and train from epoch ``E`` on; ``until_epoch: null`` freezes them for good.
        frozen_bn_eval: a BatchNorm whose parameters are all frozen runs in eval mode (its running statistics
            stay as loaded), as pysot does for frozen backbone layers.

    Parameters that the model itself froze (``requires_grad=False`` at build, e.g. a backbone's
    ``frozen_stages``) never train.
    """

    def __init__(self, model: nn.Module, trainable: Sequence[str] | None = None,
                 schedule: Sequence[Mapping] | None = None, frozen_bn_eval: bool = True):
        names = [n for n, _ in model.named_parameters()]
        self.built_frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
        self.trainable = None if trainable is None else [str(p) for p in trainable]
        if self.trainable is not None:
            _check_prefixes(names, self.trainable, "trainable")
        self.schedule: list[tuple[list[str], int | None]] = []
        for i, entry in enumerate(schedule or []):
            if not isinstance(entry, Mapping) or set(entry) - {"prefixes", "until_epoch"} or "prefixes" not in entry:
                raise ValueError(f"freeze[{i}] must be {{prefixes: [NAME, ...], until_epoch: EPOCH | null}}, "
                                 f"got {entry!r}")
            prefixes = [str(p) for p in entry["prefixes"]]
            _check_prefixes(names, prefixes, f"freeze[{i}]")
            until = entry.get("until_epoch")
            self.schedule.append((prefixes, None if until is None else int(until)))
        self.frozen_bn_eval = frozen_bn_eval

    def trains(self, name: str, epoch: int | None) -> bool:
        """Whether parameter ``name`` trains at ``epoch`` (``None``: at some epoch of the run)."""
        if name in self.built_frozen:
            return False
        if self.trainable is not None and not name.startswith(tuple(self.trainable)):
            return False
        for prefixes, until in self.schedule:
            if name.startswith(tuple(prefixes)):
                if until is None or (epoch is not None and epoch < until):
                    return False
        return True

    def apply(self, model: nn.Module, epoch: int) -> bool:
        """Set ``requires_grad`` for ``epoch``; returns whether any flag changed (DDP must then be rebuilt)."""
        changed = False
        for name, p in model.named_parameters():
            want = self.trains(name, epoch)
            if p.requires_grad != want:
                p.requires_grad_(want)
                changed = True
        return changed

    def set_modes(self, model: nn.Module) -> None:
        """After ``model.train()``: frozen BatchNorms back to eval mode."""
        if not self.frozen_bn_eval:
            return
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                params = list(m.parameters(recurse=False))
                if params and not any(p.requires_grad for p in params):
                    m.eval()

    @property
    def active(self) -> bool:
        return self.trainable is not None or bool(self.schedule)


def ever_trainable(model: nn.Module, plan: FreezePlan) -> list[str]:
    """Names of the parameters that train at some epoch: the optimizer holds them all from the start, so
    that its state (and a checkpoint of it) keeps one layout for the whole run."""
    return [n for n, _ in model.named_parameters() if plan.trains(n, None)]

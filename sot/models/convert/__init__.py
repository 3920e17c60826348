"""Released STARK / OSTrack checkpoints as sot state dicts: explicit key remapping, with a report.

Each converter is a list of prefix rules (official prefix -> sot prefix) and a list of official keys that are
dropped on purpose, with the reason. :func:`convert` applies them and reports every official key that no rule
covers; :func:`check_against` compares the result with a model (missing keys, shape mismatches).
:func:`load_official` does both and loads strictly. Neither the official code nor its packages are needed.

Command line: ``python -m sot.models.convert {ostrack,stark} OFFICIAL.pth OUT.pt --experiment NAME [key=value ...]``
writes a sot checkpoint (``model`` + ``config``) that ``eval.py ckpt=OUT.pt`` and ``tracker_from_checkpoint`` read.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

__all__ = ["CONVERTERS", "ConversionError", "ConversionReport", "check_against", "convert", "convert_ostrack",
           "convert_stark", "load_official", "official_state_dict"]


class ConversionError(RuntimeError):
    """An official checkpoint that does not map cleanly onto the sot model; the message lists the keys."""


@dataclass
class ConversionReport:
    """What :func:`convert` / :func:`check_against` found.

    ``mapped``: official key -> sot key. ``dropped``: official key -> why it is not needed. ``unmapped``: official
    keys that no rule covers. ``missing``: sot keys that the converted dict lacks (``num_batches_tracked`` counters
    excepted: STARK's frozen BatchNorms have none). ``shapes``: keys whose shapes differ.
    """

    mapped: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unmapped or self.missing or self.shapes)

    def summary(self) -> str:
        lines = [f"{len(self.mapped)} keys mapped, {len(self.dropped)} dropped on purpose, "
                 f"{len(self.unmapped)} unmapped, {len(self.missing)} missing, {len(self.shapes)} shape mismatches"]
        for title, items in (("unmapped", self.unmapped), ("missing", self.missing), ("shape mismatch", self.shapes)):
            if items:
                lines.append(f"  {title}: {items[:20]}{' ...' if len(items) > 20 else ''}")
        reasons: dict[str, int] = {}
        for r in self.dropped.values():
            reasons[r] = reasons.get(r, 0) + 1
        lines += [f"  dropped ({n}): {r}" for r, n in reasons.items()]
        return "\n".join(lines)


def official_state_dict(obj) -> dict[str, Tensor]:
    """The state dict inside a released checkpoint: under ``net`` (STARK, OSTrack), ``model`` or ``state_dict``,
    or the dict itself; a ``module.`` prefix on every key is removed."""
    if isinstance(obj, Mapping):
        for key in ("net", "model", "state_dict"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ConversionError("expected a state dict (name -> tensor), or a checkpoint holding one under 'net', "
                              "'model' or 'state_dict'")
    sd = dict(obj)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def convert(sd: Mapping[str, Tensor], rules: Sequence[tuple[str, str]],
            drop: Mapping[str, str]) -> tuple[dict[str, Tensor], ConversionReport]:
    """Rename by the first matching ``(official prefix, sot prefix)`` rule; ``drop`` maps official keys (or
    prefixes ending in ``.``) to the reason they are left out."""
    out: dict[str, Tensor] = {}
    report = ConversionReport()
    for k, v in sd.items():
        reason = drop.get(k) or next((r for p, r in drop.items() if p.endswith(".") and k.startswith(p)), None)
        if reason is not None:
            report.dropped[k] = reason
            continue
        for src, dst in rules:
            if k.startswith(src):
                new = dst + k[len(src):]
                out[new] = v
                report.mapped[k] = new
                break
        else:
            report.unmapped.append(k)
    return out, report


def check_against(own: Mapping[str, Tensor], converted: Mapping[str, Tensor], report: ConversionReport) -> ConversionReport:
    """Fill ``report.missing`` / ``report.shapes`` against a model's ``state_dict()`` (or any key -> tensor map);
    keys of ``converted`` that the model lacks count as ``unmapped``."""
    report.missing = sorted(k for k in own if k not in converted and not k.endswith("num_batches_tracked"))
    report.shapes = sorted(f"{k}: official {tuple(converted[k].shape)} vs sot {tuple(own[k].shape)}"
                           for k in own if k in converted and tuple(converted[k].shape) != tuple(own[k].shape))
    inverse = {v: k for k, v in report.mapped.items()}
    extra = sorted(inverse.get(k, k) for k in converted if k not in own)
    report.unmapped = sorted(set(report.unmapped) | set(extra))
    return report


def load_official(model: nn.Module, path_or_sd, kind: str) -> ConversionReport:
    """Convert a released checkpoint (a path or an already loaded object) of ``kind`` (``ostrack`` or ``stark``)
    and load it into ``model`` strictly; raises :class:`ConversionError` with the report on any mismatch."""
    if kind not in CONVERTERS:
        raise ValueError(f"kind must be one of {sorted(CONVERTERS)}, got {kind!r}")
    obj = torch.load(path_or_sd, map_location="cpu", weights_only=True) if isinstance(path_or_sd, str) else path_or_sd
    converted, report = CONVERTERS[kind](official_state_dict(obj))
    own = model.state_dict()
    check_against(own, converted, report)
    if not report.ok:
        raise ConversionError(f"{kind} checkpoint does not fit {type(model).__name__}:\n{report.summary()}")
    for k in own:  # num_batches_tracked counters the official BatchNorms lack
        converted.setdefault(k, own[k])
    model.load_state_dict(converted, strict=True)
    return report


# the converters use convert() above, so they are imported after it
from sot.models.convert.ostrack import convert_ostrack  # noqa: E402
from sot.models.convert.stark import convert_stark  # noqa: E402

CONVERTERS = {"ostrack": convert_ostrack, "stark": convert_stark}

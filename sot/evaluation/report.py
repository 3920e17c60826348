"""The result of scoring one tracker on one benchmark under one protocol."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrackerResult:
    """Raw output of a tracker on one sequence.

    Args:
        boxes: one ``(N, 4)`` xywh array per repetition.
        times: one ``(N,)`` array of per-frame seconds per repetition, or None when unknown.
    """

    boxes: list[np.ndarray]
    times: list[np.ndarray] | None = None

    @classmethod
    def coerce(cls, value) -> "TrackerResult":
        """Accept a ``TrackerResult``, an ``(N, 4)`` array, a list of them, or ``{'boxes':, 'times':}``."""
        if isinstance(value, TrackerResult):
            return value
        if isinstance(value, dict):
            return cls.coerce(value["boxes"]) if value.get("times") is None else cls(
                cls.coerce(value["boxes"]).boxes, _as_list(value["times"], 1))
        return cls(_as_list(value, 2))


def _as_list(value, ndim: int) -> list[np.ndarray]:
    if isinstance(value, np.ndarray) and value.ndim == ndim:
        return [np.asarray(value, dtype=np.float64)]
    return [np.asarray(v, dtype=np.float64) for v in value]


@dataclass
class Report:
    """Scores of one tracker on one dataset.

    Args:
        protocol: the protocol name (``otb``, ``got10k``, ...).
        metrics: headline numbers, e.g. ``auc``, ``precision``, ``norm_precision``, ``fps`` (fractions, not %).
        curves: ``name -> (thresholds, values)`` for the plots (``success``, ``precision``, ``norm_precision``).
        per_sequence: ``sequence -> {metric: value}``.
        per_attribute: ``attribute -> {metric: value}`` where the benchmark defines attributes.
        primary: the metric that ranks trackers and labels the success plot.
    """

    protocol: str
    metrics: dict[str, float]
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    per_sequence: dict[str, dict[str, float]] = field(default_factory=dict)
    per_attribute: dict[str, dict[str, float]] = field(default_factory=dict)
    primary: str = "auc"

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]

    def __contains__(self, key: str) -> bool:
        return key in self.metrics

    def to_dict(self) -> dict:
        """JSON-ready: headline metrics at the top level, then protocol, curves, per-sequence, per-attribute."""
        out = {k: _num(v) for k, v in self.metrics.items()}
        out["protocol"] = self.protocol
        out["curves"] = {k: {"thresholds": _num(t), "values": _num(v)} for k, (t, v) in self.curves.items()}
        out["per_sequence"] = {s: {k: _num(v) for k, v in m.items()} for s, m in self.per_sequence.items()}
        out["per_attribute"] = {a: {k: _num(v) for k, v in m.items()} for a, m in self.per_attribute.items()}
        return out


def _num(v):
    """numpy -> plain Python; NaN / inf -> None (JSON has no NaN)."""
    if isinstance(v, np.ndarray):
        return [_num(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_num(x) for x in v]
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    return v

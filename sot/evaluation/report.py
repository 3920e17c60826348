"""The result of scoring one tracker on one benchmark under one protocol."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TrackerResult:
    """Raw output of a tracker on one sequence.

    Args:
        boxes: one ``(N, 4)`` xywh array per repetition (VOT: per run; NaN rows where a code stands).
        times: one ``(N,)`` array of per-frame seconds per repetition, or None when unknown.
        flags, anchors: VOT trajectories only (see :mod:`sot.evaluation.vot`).
    """

    boxes: list[np.ndarray]
    times: list[np.ndarray] | None = None
    flags: list[np.ndarray] | None = None  # VOT: per-frame codes (1 init, 2 failure, 0 unknown, -1 a box)
    anchors: list[tuple[int, bool]] | None = None  # VOT anchor-based: (frame, backwards) of each run

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


# column order and headers of the printed table (fractions shown as %, fps as is)
COLUMNS = {"auc": "AUC", "precision": "Prec@20", "norm_precision": "NPrec@0.2", "success_rate": "SR@0.5",
           "ao": "AO", "sr50": "SR0.5", "sr75": "SR0.75", "accuracy": "Acc", "robustness": "Rob",
           "failures": "Fail", "eao": "EAO", "fps": "FPS"}
_NOT_PERCENT = {"fps", "failures", "robustness", "eao", "accuracy", "length", "sequences"}


def format_table(rows: dict[str, dict[str, float]], first: str = "Tracker") -> str:
    """A plain-text table: one row per key of ``rows``, one column per known metric present."""
    keys = [k for k in COLUMNS if any(k in r for r in rows.values())]
    keys += sorted({k for r in rows.values() for k in r} - set(keys) - {"length", "sequences"})
    header = [first] + [COLUMNS.get(k, k) for k in keys]
    body = []
    for name, r in rows.items():
        cells = [name]
        for k in keys:
            v = r.get(k)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append("-")
            elif k in _NOT_PERCENT:
                cells.append(f"{v:.3f}" if k in ("eao", "accuracy", "robustness") else f"{v:.1f}")
            else:
                cells.append(f"{100 * v:.1f}")
        body.append(cells)
    widths = [max(len(str(row[i])) for row in [header] + body) for i in range(len(header))]
    fmt = lambda row: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body])


def write_report(reports: dict[str, "Report"], out_dir, title: str = "", plots: bool = True,
                 print_table: bool = True) -> str:
    """Write the comparison of several trackers (or one) and return the printed table.

    Writes ``metrics.json`` (one tracker: its :meth:`Report.to_dict`; several: the first one's headline
    metrics at the top level plus ``trackers: {name: to_dict()}``), ``per_sequence.csv``,
    ``per_attribute.csv`` (where attributes exist) and the success / precision / normalized-precision
    plots with each tracker's score in the legend.
    """
    import csv
    import json
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(reports)
    table = format_table({n: reports[n].metrics for n in names})
    text = (f"{title}\n" if title else "") + table
    attrs = sorted({a for r in reports.values() for a in r.per_attribute})
    if attrs:
        for n in names:
            rep = reports[n]
            if rep.per_attribute:
                text += f"\n\nPer attribute ({n}, {rep.primary}):\n" + format_table(
                    {a: {k: v for k, v in rep.per_attribute[a].items() if k in (rep.primary, "precision", "sequences")}
                     for a in attrs if a in rep.per_attribute}, first="Attribute")
    if print_table:
        print(text)

    if len(names) == 1:
        data = {"tracker": names[0], **reports[names[0]].to_dict()}
    else:
        data = {k: _num(v) for k, v in reports[names[0]].metrics.items()}
        data["trackers"] = {n: reports[n].to_dict() for n in names}
    (out_dir / "metrics.json").write_text(json.dumps(data, indent=1))

    seqs = list(dict.fromkeys(s for r in reports.values() for s in r.per_sequence))
    cols = [(n, k) for n in names for k in reports[n].per_sequence.get(seqs[0], {}) if k != "length"] if seqs else []
    with open(out_dir / "per_sequence.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sequence"] + [f"{n}:{k}" if len(names) > 1 else k for n, k in cols])
        for s in seqs:
            w.writerow([s] + [_cell(reports[n].per_sequence.get(s, {}).get(k)) for n, k in cols])
    if attrs:
        with open(out_dir / "per_attribute.csv", "w", newline="") as f:
            w = csv.writer(f)
            acols = [(n, k) for n in names for k in next(iter(reports[n].per_attribute.values()), {})]
            w.writerow(["attribute"] + [f"{n}:{k}" if len(names) > 1 else k for n, k in acols])
            for a in attrs:
                w.writerow([a] + [_cell(reports[n].per_attribute.get(a, {}).get(k)) for n, k in acols])
    if plots:
        from sot.evaluation.plots import plot_curves

        plot_curves(reports, out_dir, title=title)
    return text


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v

"""Hydra callbacks: after a multirun, one table of every job's overrides and final metrics."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


def _cell(v) -> str:
    """A CSV cell: full precision."""
    return "" if v is None else str(v)


def _short(v) -> str:
    """A table cell: numbers that came as override strings shortened to 4 significant digits."""
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return v
        return v if f.is_integer() and "." not in v else f"{f:.4g}"
    if isinstance(v, float):
        return f"{v:.4f}"
    return _cell(v)


def collect_sweep(sweep_dir: str | Path) -> list[dict]:
    """One row per job folder of ``sweep_dir`` (those with ``.hydra/overrides.yaml``), in job order.

    A row holds ``job`` (the folder), ``status`` (``done`` when ``final_metrics.json`` exists, else
    ``failed``), the job's overrides as ``key -> value`` and its final metrics.
    """
    rows = []
    sweep_dir = Path(sweep_dir)
    jobs = [p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")]
    for job in sorted(jobs, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name)):
        row: dict = {"job": job.name}
        overrides = OmegaConf.to_container(OmegaConf.load(job / ".hydra" / "overrides.yaml")) or []
        over = {}
        for o in overrides:
            key, _, value = str(o).partition("=")
            over[key.lstrip("+~")] = value
        metrics_file = job / "final_metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        row["status"] = "done" if metrics_file.is_file() else "failed"
        row["overrides"], row["metrics"] = over, metrics
        rows.append(row)
    return rows


def write_summary(sweep_dir: str | Path, filename: str = "summary.csv") -> str:
    """Write ``<sweep_dir>/summary.csv`` from :func:`collect_sweep` and return the same table as text.

    Only the overrides that differ between jobs get a column (the shared ones are named in the title).
    """
    sweep_dir = Path(sweep_dir)
    rows = collect_sweep(sweep_dir)
    keys = list(dict.fromkeys(k for r in rows for k in r["overrides"]))
    varying = [k for k in keys if len({r["overrides"].get(k) for r in rows}) > 1]
    shared = [f"{k}={rows[0]['overrides'][k]}" for k in keys if k not in varying]
    metric_keys = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    columns = ["job", "status", *varying, *metric_keys]
    table = [[r["job"], r["status"], *[r["overrides"].get(k, "") for k in varying],
              *[r["metrics"].get(k) for k in metric_keys]] for r in rows]
    with open(sweep_dir / filename, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows([[_cell(c) for c in row] for row in table])
    cells = [columns] + [[_short(c) for c in row] for row in table]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    title = f"Sweep {sweep_dir} ({len(rows)} jobs" + (f"; all with {' '.join(shared)}" if shared else "") + ")"
    return "\n".join([title, *lines, f"-> {sweep_dir / filename}"])


class MultirunSummary(Callback):
    """``on_multirun_end``: print the sweep's table and write ``summary.csv`` into the sweep folder."""

    def __init__(self, filename: str = "summary.csv"):
        self.filename = filename

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if sweep_dir.is_dir():
            print(write_summary(sweep_dir, self.filename), flush=True)

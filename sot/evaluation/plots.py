"""Success / precision / normalized-precision plots of one or several trackers (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

# curve key -> (file name, x label, title, metric shown in the legend)
CURVES = {
    "success": ("success_plot.png", "Overlap threshold", "Success plot", None),
    "precision": ("precision_plot.png", "Location error threshold (px)", "Precision plot", "precision"),
    "norm_precision": ("norm_precision_plot.png", "Normalized location error threshold",
                       "Normalized precision plot", "norm_precision"),
}
_STYLES = ["-", "--", "-.", ":"]


def plot_curves(reports: dict, out_dir, title: str = "") -> list[Path]:
    """One PNG per curve kind; the legend gives each tracker's score (the AUC / AO on the success plot).

    Args:
        reports: ``{tracker name: Report}``.
        out_dir: folder for ``success_plot.png``, ``precision_plot.png``, ``norm_precision_plot.png``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, (fname, xlabel, heading, metric) in CURVES.items():
        entries = []
        for name, rep in reports.items():
            if key not in rep.curves:
                continue
            m = metric or rep.primary
            label_metric = "AUC" if m == "auc" else m.upper() if m == "ao" else m
            value = rep.metrics.get(m, np.nan)
            entries.append((value, name, label_metric, rep.curves[key]))
        if not entries:
            continue
        entries.sort(key=lambda e: -np.nan_to_num(e[0], nan=-1))
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for i, (value, name, label_metric, (thr, vals)) in enumerate(entries):
            ax.plot(thr, vals, _STYLES[(i // 10) % len(_STYLES)], linewidth=2,
                    label=f"{name} [{label_metric} {100 * value:.1f}]")
        ax.set(xlabel=xlabel, ylabel="Success rate" if key == "success" else "Precision",
               xlim=(float(np.min(entries[0][3][0])), float(np.max(entries[0][3][0]))), ylim=(0, 1.0),
               title=f"{heading}{' - ' + title if title else ''}")
        ax.grid(True, alpha=0.4)
        ax.legend(loc="lower left" if key == "success" else "lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / fname, dpi=120)
        plt.close(fig)
        written.append(out_dir / fname)
    return written

"""Stacked bar charts of an :class:`~energy.report.EnergyReport` (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from energy.counts import COMPUTE_CATEGORIES, MEMORY_CATEGORIES
from energy.errors import EnergyError
from energy.report import EnergyReport
from snnbits.cli.ui import plot_text


def plot_report(rep: EnergyReport, path) -> Path:
    """Write a PNG: (a) our compute energy per layer stacked by operation (paper Fig. 5a),
    (b) our compute and memory energy per layer, (c) every method's compute and
    compute + memory energy per image (log scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EnergyError("--plot needs matplotlib (pip install 'snnbits[plot]')") from None
    path = Path(path)
    n = rep.images
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.8), gridspec_kw={"width_ratios": [3, 3, 2]})
    names = [l.layer for l in rep.ours.layers]
    cmap = plt.get_cmap("tab10")

    def stack(ax, parts):
        bottom = [0.0] * len(names)
        for i, (label, vals) in enumerate(parts):
            if any(vals):
                ax.bar(names, vals, bottom=bottom, label=label, color=cmap(i % 10))
                bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_ylabel("energy per image (pJ)")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", rotation=30)

    stack(ax1, [(c, [l.by_category()[c] / n for l in rep.ours.layers]) for c in COMPUTE_CATEGORIES])
    ax1.set_title(f"our SNN: compute by operation (T={rep.T})")
    stack(ax2, [("compute", [l.compute_energy_pj / n for l in rep.ours.layers])]
          + [(c, [l.by_category()[c] / n for l in rep.ours.layers]) for c in MEMORY_CATEGORIES])
    ax2.set_title(f"our SNN: compute + memory ({rep.dataflow})")
    meth = [m.method for m in rep.methods]
    x = range(len(meth))
    comp = [m.compute_energy_pj / n for m in rep.methods]
    tot = [m.total_energy_pj / n for m in rep.methods]
    ax3.bar([i - 0.2 for i in x], comp, width=0.4, label="compute")
    ax3.bar([i + 0.2 for i in x], tot, width=0.4, label="compute + memory")
    ax3.set_xticks(list(x), meth, rotation=30)
    ax3.set_yscale("log")
    ax3.set_ylabel("energy per image (pJ)")
    ax3.set_title("all methods")
    ax3.legend(fontsize=8)
    fig.suptitle(f"{plot_text(rep.model_name)}: {plot_text(rep.costs_name)}", fontsize=9)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise EnergyError(f"--plot {path}: cannot write ({e.strerror})") from None
    finally:
        plt.close(fig)
    return path

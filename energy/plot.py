"""Stacked bar charts of an :class:`~energy.report.EnergyReport` (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from .counts import COMPUTE_CATEGORIES, MEMORY_CATEGORIES
from .errors import EnergyError
from .report import EnergyReport


def plot_report(rep: EnergyReport, path) -> Path:
    """Write a PNG: (a) our energy per layer stacked by operation (paper Fig. 5a, plus
    memory), (b) every method's compute and memory energy per image."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EnergyError("--plot needs matplotlib (pip install 'snnbits[plot]')") from None
    path = Path(path)
    n = rep.images
    cats = COMPUTE_CATEGORIES + MEMORY_CATEGORIES
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    names = [l.layer for l in rep.ours.layers]
    bottom = [0.0] * len(names)
    cmap = plt.get_cmap("tab10")
    for i, c in enumerate(cats):
        vals = [l.by_category()[c] / n for l in rep.ours.layers]
        if not any(vals):
            continue
        ax1.bar(names, vals, bottom=bottom, label=c, color=cmap(i % 10),
                hatch="//" if c in MEMORY_CATEGORIES else None)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax1.set_ylabel("energy per image (pJ)")
    ax1.set_title(f"our SNN per layer (T={rep.T})")
    ax1.legend(fontsize=8)
    ax1.tick_params(axis="x", rotation=30)
    meth = [m.method for m in rep.methods]
    comp = [m.compute_energy_pj / n for m in rep.methods]
    mem = [m.memory_energy_pj / n for m in rep.methods]
    ax2.bar(meth, comp, label="compute")
    ax2.bar(meth, mem, bottom=comp, label="memory", hatch="//")
    ax2.set_yscale("log")
    ax2.set_title("methods: compute + memory")
    ax2.legend(fontsize=8)
    ax2.tick_params(axis="x", rotation=30)
    fig.suptitle(f"{rep.model_name}: {rep.costs_name}", fontsize=9)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise EnergyError(f"--plot {path}: cannot write ({e.strerror})") from None
    finally:
        plt.close(fig)
    return path

"""Bar charts of an :class:`~energy.report.EnergyReport` (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from energy.activity import COMPUTE_CATEGORIES, MEMORY_CATEGORIES
from energy.errors import EnergyError
from energy.report import EnergyReport
from snnbits.cli.ui import plot_text


def plot_report(rep: EnergyReport, path) -> Path:
    """Write a PNG: (a) the built accelerator's energy per layer stacked by category (compute, memory,
    leakage), (b) every method's compute, memory and leakage energy per image (log scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EnergyError("--plot needs matplotlib (pip install 'snnbits[plot]')") from None
    path = Path(path)
    n = rep.images
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 5), gridspec_kw={"width_ratios": [2, 3]})
    cmap = plt.get_cmap("tab20")
    b = rep.built
    names = [l.layer for l in b.layers]
    parts = [(c, [{**l.compute_pj, **l.memory_pj}.get(c, 0.0) / n for l in b.layers])
             for c in COMPUTE_CATEGORIES + MEMORY_CATEGORIES] + [("leakage", [l.leakage_pj / n for l in b.layers])]
    bottom = [0.0] * len(names)
    for i, (label, vals) in enumerate(parts):
        if any(vals):
            ax1.bar(names, vals, bottom=bottom, label=label, color=cmap(i % 20))
            bottom = [x + v for x, v in zip(bottom, vals)]
    ax1.set_ylabel("energy per image (pJ)")
    ax1.set_title(f"built accelerator {rep.machine.rows}x{rep.machine.cols}, {rep.machine.sizing} memories")
    ax1.legend(fontsize=7)
    ax1.tick_params(axis="x", rotation=30)
    meth = [m.method for m in rep.methods]
    x = range(len(meth))
    for off, (label, key) in zip((-0.27, 0, 0.27), (("compute", "compute"), ("memory", "memory"),
                                                      ("leakage", "leakage"))):
        ax2.bar([i + off for i in x], [max(m.per_image(key), 1e-3) for m in rep.methods], width=0.27, label=label)
    ax2.plot(list(x), [m.per_image() for m in rep.methods], "k_", ms=18, label="total")
    ax2.set_xticks(list(x), meth, rotation=30)
    ax2.set_yscale("log")
    ax2.set_ylabel("energy per image (pJ)")
    ax2.set_title("every method, same images, PE count and memories")
    ax2.legend(fontsize=8)
    fig.suptitle(f"{plot_text(rep.model_name)}: {plot_text(rep.costs_name)}", fontsize=9)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise EnergyError(f"--plot {path}: cannot write ({e.strerror})") from None
    finally:
        plt.close(fig)
    return path

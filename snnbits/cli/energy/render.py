"""Renderers of an :class:`~energy.report.EnergyReport`: rich tables and CSV."""

from __future__ import annotations

import csv
import io

from energy.counts import COMPUTE_CATEGORIES, MEMORY_CATEGORIES
from energy.report import EnergyReport
from snnbits.cli.ui import esc


def to_csv(rep: EnergyReport) -> str:
    """One row per method and layer (plus a 'total' row per method): pJ per image by category."""
    f = io.StringIO()
    w = csv.writer(f, lineterminator="\n")
    cats = list(COMPUTE_CATEGORIES + MEMORY_CATEGORIES)
    w.writerow(["method", "layer"] + [f"{c}_energy_pj" for c in cats]
               + ["compute_energy_pj", "memory_energy_pj", "total_energy_pj"])
    n = rep.images
    for m in rep.methods:
        for l in m.layers:
            bc = l.by_category()
            w.writerow([m.method, l.layer] + [f"{bc[c] / n:.6g}" for c in cats]
                       + [f"{l.compute_energy_pj / n:.6g}", f"{l.memory_energy_pj / n:.6g}", f"{l.total_energy_pj / n:.6g}"])
        bc = m.by_category()
        w.writerow([m.method, "total"] + [f"{bc[c] / n:.6g}" for c in cats]
                   + [f"{m.compute_energy_pj / n:.6g}", f"{m.memory_energy_pj / n:.6g}", f"{m.total_energy_pj / n:.6g}"])
    return f.getvalue()


def _nj(pj: float) -> str:
    """Energy in nJ with 3 significant digits (the tables' unit)."""
    nj = pj / 1e3
    if nj == 0:
        return "0"
    if nj >= 1000:
        return f"{nj:,.0f}"
    return f"{nj:.3g}" if nj >= 0.01 else f"{nj:.1g}"


def print_table(rep: EnergyReport, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    n = rep.images
    o = rep.ours
    console.print(
        f"[bold]model[/] {esc(rep.model_name)} ({rep.model_hash[:12]})  [bold]images[/] {n}  B={rep.B} T={rep.T}  "
        f"weights {rep.weight_bits} bit  first layer: {'pixel bit planes' if rep.bitplanes else 'pixel MACs'}  "
        f"dataflow {rep.dataflow}\n[bold]costs[/] {esc(rep.costs_name)} ({esc(rep.costs_path)})"
    )
    cats = [c for c in COMPUTE_CATEGORIES if o.by_category()[c] > 0]
    short = {"synaptic": "AC", "mac": "MAC", "shift": "LS", "compare": "cmp", "membrane": "membr", "activations": "act",
             "weights": "wts"}

    def table(title, heads):
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1))
        for h in heads:
            t.add_column(short.get(h, h), justify="left" if h == "layer" else "right", no_wrap=True,
                         min_width=max(len(x.layer) for x in rep.activity) + 1 if h == "layer" else None,
                         style="bold" if h in ("compute", "memory", "total") else None)
        return t

    tc = table("Our SNN, compute: nJ per image by operation (Fig. 5a)", ["layer", "rate", "syn/LS", *cats, "compute"])
    tm = table("Our SNN, memory: nJ per image", ["layer", *MEMORY_CATEGORIES, "memory", "total"])
    for a, l in zip(rep.activity, o.layers):
        bc = l.by_category()
        tc.add_row(esc(a.layer), f"{a.spike_rate * 100:.1f}%" if a.out_steps else "-",
                   f"{a.synaptic_per_shift:.1f}" if a.synaptic_ops else "-",
                   *[_nj(bc[c] / n) for c in cats], _nj(l.compute_energy_pj / n))
        tm.add_row(esc(a.layer), *[_nj(bc[c] / n) for c in MEMORY_CATEGORIES], _nj(l.memory_energy_pj / n),
                   _nj(l.total_energy_pj / n))
    bc = o.by_category()
    tc.add_row("total", "", "", *[_nj(bc[c] / n) for c in cats], _nj(o.compute_energy_pj / n), style="bold")
    tm.add_row("total", *[_nj(bc[c] / n) for c in MEMORY_CATEGORIES], _nj(o.memory_energy_pj / n),
               _nj(o.total_energy_pj / n), style="bold")
    console.print(tc)
    console.print(tm)
    console.print("rate: spikes per neuron per step; syn/LS: synaptic ops per left shift (Section 6.3); AC: synaptic "
                  "accumulates; LS: left shifts; cmp: compares; reset: subtractions; wts/membr/act: memory traffic")
    spikes = sum(a.output_spikes for a in rep.activity) / n
    line = f"spikes per image: ours {spikes:,.0f}"
    for w in rep.baselines:
        if w.method == "rate_coded":
            line += f", rate-coded QCFS {w.ops(category='reset') / n:,.0f} (one subtraction per spike)"
    console.print(line)
    console.print(f"left shifts: {rep.left_shift_share * 100:.2f} % of our compute energy, "
                  f"{rep.left_shift_share_total * 100:.2f} % of compute + memory")
    m = Table(title="Against baselines, same network and images: nJ per image; x = baseline / ours (Table 11)",
              title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1))
    for col in ("method", "compute", "memory", "total", "x compute", "x total"):
        m.add_column(col, justify="left" if col == "method" else "right")
    ratios = {r.baseline: r for r in rep.ratios}
    for w in rep.methods:
        r = ratios.get(w.method)
        m.add_row(esc(w.method) + (" [yellow]*[/]" if w.estimated else ""),
                  _nj(w.compute_energy_pj / n), _nj(w.memory_energy_pj / n), _nj(w.total_energy_pj / n),
                  f"{r.compute:.2f}" if r else "1", f"{r.total:.2f}" if r else "1")
    console.print(m)
    for w in rep.methods:
        console.print(f"  {esc(w.method)}: {esc(w.description)}" + (f"; {esc(w.note)}" if w.note else ""))

"""Renderers of an :class:`~energy.report.EnergyReport`: rich tables and CSV."""

from __future__ import annotations

import csv
import io

from energy.activity import COMPUTE_CATEGORIES, MEMORY_CATEGORIES
from energy.report import EnergyReport
from snnbits.cli.ui import esc

SHORT = {"synaptic": "add", "shift": "LS", "bias": "finish", "fire": "fire", "weights": "wts", "activations": "spk",
         "psum": "membr", "params": "param", "offchip": "DRAM", "mac": "MAC", "pool": "pool", "requant": "requant"}


def to_csv(rep: EnergyReport) -> str:
    """One row per method and layer (plus a 'total' row per method): cycles and pJ per image by category."""
    f = io.StringIO()
    w = csv.writer(f, lineterminator="\n")
    cats = list(COMPUTE_CATEGORIES + MEMORY_CATEGORIES)
    w.writerow(["method", "layer", "cycles"] + [f"{c}_energy_pj" for c in cats]
               + ["compute_energy_pj", "memory_energy_pj", "leakage_energy_pj", "total_energy_pj"])
    n = rep.images
    for m in rep.methods:
        for l in m.layers:
            bc = {**l.compute_pj, **l.memory_pj}
            w.writerow([m.method, l.layer, f"{l.cycles / n:.6g}"] + [f"{bc.get(c, 0.0) / n:.6g}" for c in cats]
                       + [f"{v / n:.6g}" for v in (l.compute_energy_pj, l.memory_energy_pj, l.leakage_pj,
                                                   l.compute_energy_pj + l.memory_energy_pj + l.leakage_pj)])
        bc = m.by_category()
        w.writerow([m.method, "total", f"{m.cycles / n:.6g}"] + [f"{bc.get(c, 0.0) / n:.6g}" for c in cats]
                   + [f"{v / n:.6g}" for v in (m.compute_energy_pj, m.memory_energy_pj, m.leakage_energy_pj,
                                               m.total_energy_pj)])
    return f.getvalue()


def nj(pj: float) -> str:
    """Energy in nJ with 3 significant digits (the tables' unit)."""
    v = pj / 1e3
    if v == 0:
        return "0"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if v >= 0.01 else f"{v:.1g}"


def print_table(rep: EnergyReport, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    n = rep.images
    mc = rep.machine
    b = rep.built
    console.print(
        f"[bold]model[/] {esc(rep.model_name)} ({rep.model_hash[:12]})  [bold]images[/] {n}  B={rep.B} T={rep.T}  "
        f"[bold]machine[/] {mc.rows}x{mc.cols} PEs, K={mc.scan}, {mc.weight_width}-bit weights, {mc.acc_width}-bit "
        f"membranes, {mc.clock_mhz:g} MHz, {mc.cycles_per_image:,.0f} cycles per image; memories {mc.sizing}: "
        f"weight SRAM {mc.weight_sram_kib:g} KiB, spike SRAM {mc.spike_sram_kib:g} KiB "
        f"({'weights resident' if mc.weights_resident else 'weights streamed'}; {esc(mc.config)})\n"
        f"[bold]costs[/] {esc(rep.costs_name)}\n[bold]memories[/] {esc(rep.memtable_name)}")
    a = rep.area
    if a is not None:
        logic = (f"logic {a.logic_total_um2 / 1e6:.3f} mm^2 ({esc(a.logic_note)})" if a.logic_um2 is not None
                 else f"logic not known ({esc(a.logic_note)})")
        console.print(f"[bold]area[/] memories {a.memory_total_um2 / 1e6:.3f} mm^2, {logic}"
                      + (f"; total {a.total_um2 / 1e6:.3f} mm^2" if a.total_um2 is not None else ""))

    def table(title, heads):
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1))
        for h in heads:
            t.add_column(SHORT.get(h, h), justify="left" if h in ("layer", "method") else "right", no_wrap=True,
                         style="bold" if h in ("compute", "memory", "total") else None)
        return t

    bc = b.by_category()
    comp = [c for c in COMPUTE_CATEGORIES if bc.get(c)]
    mems = [c for c in MEMORY_CATEGORIES if bc.get(c)]
    t = table("The built accelerator: nJ per image by layer", ["layer", "rate", "issued/syn", *comp, "compute",
                                                               *mems, "memory", "leak", "total"])
    for a, l, la in zip(rep.trace_activity, b.layers, rep.activity.layers):
        d = {**l.compute_pj, **l.memory_pj}
        t.add_row(esc(a.layer), f"{a.spike_rate * 100:.1f}%" if a.out_steps else "-",
                  f"{la.issued_adds / la.synaptic_adds:.1f}" if la.synaptic_adds else "-",
                  *[nj(d.get(c, 0.0) / n) for c in comp], nj(l.compute_energy_pj / n),
                  *[nj(d.get(c, 0.0) / n) for c in mems], nj(l.memory_energy_pj / n), nj(l.leakage_pj / n),
                  nj((l.compute_energy_pj + l.memory_energy_pj + l.leakage_pj) / n))
    t.add_row("total", "", f"{rep.activity.issued_adds / rep.activity.synaptic_adds:.1f}"
              if rep.activity.synaptic_adds else "-",
              *[nj(bc.get(c, 0.0) / n) for c in comp], nj(b.compute_energy_pj / n),
              *[nj(bc.get(c, 0.0) / n) for c in mems], nj(b.memory_energy_pj / n), nj(b.leakage_energy_pj / n),
              nj(b.total_energy_pj / n), style="bold")
    console.print(t)
    console.print("rate: spikes per neuron per step; issued/syn: adds the PEs perform on ACC ops (zero lanes included) "
                  "per useful synaptic add; add/finish/fire: PE adds; LS: Horner shifts (wiring, 0 pJ); wts: weight "
                  "banks (read on spike-carrying ACC ops); param: parameter banks and descriptors; spk: spike and image memories; "
                  "membr: membrane flip-flops; DRAM: streamed weights; leak: SRAM leakage")
    console.print(f"Horner shifts priced as barrel shifters would be {rep.horner_share_as_barrel * 100:.1f} % of the "
                  f"compute energy; as built (u << 1 wired into the adder) they cost nothing.")
    m = Table(title="Every method on the same images, PE count and memories: nJ per image; x = method / built",
              title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1))
    for col in ("method", "cycles", "compute", "memory", "leak", "total", "x compute", "x memory", "x total"):
        m.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    ratios = {r.method: r for r in rep.ratios}
    for w in rep.methods:
        r = ratios.get(w.method)
        m.add_row(esc(w.method), f"{w.cycles / n:,.0f}", nj(w.compute_energy_pj / n), nj(w.memory_energy_pj / n),
                  nj(w.leakage_energy_pj / n), nj(w.total_energy_pj / n),
                  *((f"{r.compute:.2f}", f"{r.memory:.2f}", f"{r.total:.2f}") if r else ("1", "1", "1")),
                  style="bold" if w is b else None)
    console.print(m)
    for w in rep.methods:
        console.print(f"  {esc(w.method)}: {esc(w.description)}" + (f"; {esc(w.note)}" if w.note else ""))
    console.print("[bold]Where ours wins, ties and loses[/] (built accelerator, total energy per image):")
    for v in rep.verdicts:
        style = {"wins": "green", "ties": "yellow", "loses": "red"}[v.outcome]
        console.print(f"  [{style}]{v.outcome:>5}[/] {esc(v.sentence)}")
    console.print(f"  ideal event-driven lower bound: {nj(rep.ideal.total_energy_pj / n)} nJ per image "
                  f"({rep.built.total_energy_pj / rep.ideal.total_energy_pj:.2f}x below the built machine)")

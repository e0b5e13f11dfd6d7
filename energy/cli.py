"""The ``energy`` command line: ``energy report TRACE`` prices a trace at 45 nm.

``main(argv=None) -> int``; only the project's own errors (:class:`EnergyError`,
:class:`GoldenError`) are caught and printed as ``error: ...`` on stderr with exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path


from .counts import COMPUTE_CATEGORIES, DATAFLOWS, MEMORY_CATEGORIES
from .errors import EnergyError
from .report import EnergyReport, report_from_files, to_json

FORMATS = ("table", "json", "csv")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="energy",
        description="45 nm energy model of the bit-serial SNN: energy = per-operation cost table x operation counts.",
        epilog="Run 'energy report --help' for the options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser(
        "report",
        help="per-layer and total energy of a trace, against ANN, QANN, bit-serial and rate-coded baselines",
        description=(
            "Count the operations of our SNN in TRACE exactly (each input spike times its fan-out, one left "
            "shift per neuron per input step, compares, subtractions, memory traffic), price them with a "
            "per-operation cost table, and compare with baselines on the same network: FP32 and INT8 "
            "ANNs, the quantized ANN, a bit-serial ANN (no sparsity skipping) and the rate-coded QCFS SNN "
            "at T = 2^B. Energies are pJ per image, compute alone and compute + memory."
        ),
        epilog="Example: accel run --random 16 --out t.npz && energy report t.npz --plot energy.png",
    )
    p.add_argument("trace", type=Path, metavar="TRACE", help="trace file written by 'accel run'")
    p.add_argument("--model", default="default", metavar="MODEL",
                   help="model file the trace was made from (default: the bundled model); its hash must match")
    p.add_argument("--costs", type=Path, default=None, metavar="FILE",
                   help="cost table (.toml, schema_version 1; default: the bundled 45 nm table)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--rate-steps", type=int, default=None, metavar="T",
                   help="time steps of the rate-coded QCFS baseline (default: 2^B)")
    p.add_argument("--dataflow", choices=DATAFLOWS, default="step_major",
                   help="memory model: step_major (one input step at a time: membrane read+written per step, "
                        "one weight read per synaptic op; default), code_major (all steps of a neuron at once: "
                        "membrane once, weights once per active synapse) or weight_stationary (every weight read "
                        "once per image, membrane as step_major); applied to every method alike")
    p.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                   help="also write a stacked bar chart of the energy per layer and per method")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    from accel.cli import dispatch

    return dispatch(build_parser(), argv)


def cmd_report(args) -> int:
    if args.rate_steps is not None and args.rate_steps < 1:
        raise EnergyError(f"--rate-steps must be a positive integer, not {args.rate_steps}")
    rep = report_from_files(args.trace, args.model, args.costs, rate_T=args.rate_steps,
                             dataflow=args.dataflow)
    if args.plot is not None:
        from .plot import plot_report

        plot_report(rep, args.plot)
    if args.format == "json":
        sys.stdout.write(json.dumps(to_json(rep), indent=1) + "\n")
    elif args.format == "csv":
        sys.stdout.write(to_csv(rep))
    else:
        print_table(rep)
    if args.plot is not None and args.format == "table":
        print(f"wrote {args.plot}")
    return 0


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
        f"[bold]model[/] {rep.model_name} ({rep.model_hash[:12]})  [bold]images[/] {n}  B={rep.B} T={rep.T}  "
        f"weights {rep.weight_bits} bit  first layer: {'pixel bit planes' if rep.bitplanes else 'pixel MACs'}  "
        f"dataflow {rep.dataflow}\n[bold]costs[/] {rep.costs_name} ({rep.costs_path})"
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
        tc.add_row(a.layer, f"{a.spike_rate * 100:.1f}%" if a.out_steps else "-",
                   f"{a.synaptic_per_shift:.1f}" if a.synaptic_ops else "-",
                   *[_nj(bc[c] / n) for c in cats], _nj(l.compute_energy_pj / n))
        tm.add_row(a.layer, *[_nj(bc[c] / n) for c in MEMORY_CATEGORIES], _nj(l.memory_energy_pj / n),
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
        m.add_row(w.method + (" [yellow]*[/]" if w.estimated else ""),
                  _nj(w.compute_energy_pj / n), _nj(w.memory_energy_pj / n), _nj(w.total_energy_pj / n),
                  f"{r.compute:.2f}" if r else "1", f"{r.total:.2f}" if r else "1")
    console.print(m)
    for w in rep.methods:
        console.print(f"  {w.method}: {w.description}" + (f"; {w.note}" if w.note else ""))

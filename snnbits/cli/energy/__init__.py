"""The ``energy`` command line: ``energy report TRACE`` prices a trace at 45 nm.

``main(argv=None) -> int``; errors are mapped to exit codes by
:func:`snnbits.cli.dispatch.dispatch`.  The renderers (rich tables, CSV, the
plot) are :mod:`.render` and :mod:`.plot`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from energy.counts import DATAFLOWS
from energy.report import report_from_files, to_json
from snnbits.cli.args import MAX_BASELINE_T, int_in, model_path
from snnbits.cli.dispatch import EXIT_CODES_HELP, Parser, add_global_options, dispatch
from snnbits.cli.output import FILE_HELP, check_file, writing
from snnbits.cli.ui import console, esc

from .render import print_table, to_csv

FORMATS = ("table", "json", "csv")
#: largest --rate-steps (beyond 64 the rate-coded spike counts are estimated; counts stay far from int64 limits)
MAX_RATE_STEPS = 65536


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="energy",
        description="45 nm energy model of the bit-serial SNN: energy = per-operation cost table x operation counts.",
        epilog=f"Run 'energy report --help' for the options. {EXIT_CODES_HELP}.",
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
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="model file the trace was made from (left out: the bundled model; 'default' also means "
                        "it unless a file of that name exists here); its hash must match")
    p.add_argument("--costs", type=Path, default=None, metavar="FILE",
                   help="cost table (.toml, schema_version 1; default: the bundled 45 nm table)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--rate-steps", type=int_in(1, MAX_RATE_STEPS), default=None, metavar="T",
                   help=f"time steps of the rate-coded QCFS baseline, 1..{MAX_RATE_STEPS} (default: 2^B; simulated "
                        f"exactly up to {MAX_BASELINE_T}, estimated from the codes beyond)")
    p.add_argument("--dataflow", choices=DATAFLOWS, default="step_major",
                   help="memory model: step_major (one input step at a time: membrane read+written per step, "
                        "one weight read per synaptic op; default), code_major (all steps of a neuron at once: "
                        "membrane once, weights once per active synapse) or weight_stationary (every weight read "
                        "once per image, membrane as step_major); applied to every method alike")
    p.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                   help=f"also write a stacked bar chart of the energy per layer and per method ({FILE_HELP})")
    p.set_defaults(func=cmd_report)
    add_global_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


def cmd_report(args) -> int:
    model = model_path(args.model, "--model")
    if args.plot is not None:
        check_file(args.plot, "--plot", inputs=[args.trace, model, args.costs])
    rep = report_from_files(args.trace, model, args.costs, rate_T=args.rate_steps,
                             dataflow=args.dataflow)
    if args.plot is not None:
        from .plot import plot_report

        with writing(args.plot, "--plot") as tmp:
            plot_report(rep, tmp)
    if args.format == "json":
        sys.stdout.write(json.dumps(to_json(rep), indent=1) + "\n")
    elif args.format == "csv":
        sys.stdout.write(to_csv(rep))
    else:
        print_table(rep, console)
    if args.plot is not None and args.format == "table":
        console.print(f"wrote {esc(args.plot)}")
    return 0

"""The ``energy`` command line: ``energy report TRACE`` prices the built accelerator on a trace at 45 nm.

``main(argv=None) -> int``; errors are mapped to exit codes by
:func:`snnbits.cli.dispatch.dispatch`.  The renderers (rich tables, CSV, the
plot) are :mod:`.render` and :mod:`.plot`.
"""

from __future__ import annotations

import argparse
import json
import sys

from energy.built import SIZINGS
from energy.report import TIE_BAND, to_json
from snnbits.cli.accel.compile import array_shape
from snnbits.cli.args import MAX_BASELINE_T, int_in, model_path, path_arg
from snnbits.cli.dispatch import EXIT_CODES_HELP, Parser, add_global_options, dispatch
from snnbits.cli.output import FILE_HELP, check_file, check_folder, writing
from snnbits.cli.ui import console, esc

from .render import print_table, to_csv

FORMATS = ("table", "json", "csv")
#: the file that marks a folder as an Accelergy export (and so replaceable by the next one)
ACCELERGY_MARKER = ".snnbits-accelergy"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="energy",
        description="45 nm energy of the built accelerator on a trace, its ideal lower bound and the baselines.",
        epilog=f"Run 'energy report --help' for the options. {EXIT_CODES_HELP}.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser(
        "report",
        help="energy per image of the built accelerator, the ideal event-driven bound and every baseline",
        description=(
            "Run the accelerator's cycle model (exact to the RTL) on the images of TRACE and price what the "
            "built machine does: every PE's add on every op (zero lanes included), every weight bank read "
            "(on ACC ops that carry a spike) and parameter bank read (on FINISH and FIRE ops), as the RTL "
            "enables them, spike memory reads and writes, membrane flip-flops, off-chip weights, SRAM leakage; "
            "each memory at its capacity and width (energy/memory_45nm.toml). Beside it: the "
            "ideal event-driven lower bound (one add and one weight read per spike per synapse), and the "
            "baselines on the same PE count and memories: dense and zero-skipping quantized ANNs, Stripes-like "
            "and Pragmatic-style bit-serial ANNs, INT8 and FP32 ANNs, the rate-coded QCFS SNN. Energies are nJ "
            f"per image, compute, memory and leakage apart; ratios are baseline / built; a baseline within "
            f"{TIE_BAND:.0%} ties."
        ),
        epilog="Example: accel run --digits 32 --out t.npz && energy report t.npz --array 4x4 "
               "--config accel/configs/small.toml",
    )
    p.add_argument("trace", type=path_arg, metavar="TRACE", help="trace file written by 'accel run'")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="model file the trace was made from (left out: the bundled model; 'default' also means "
                        "it unless a file of that name exists here); its hash must match")
    p.add_argument("--array", type=array_shape, default=None, metavar="RxC",
                   help="PE array shape (default: the configuration's, 8x8 in accel/configs/default.toml)")
    p.add_argument("--config", type=path_arg, default=None, metavar="FILE",
                   help="accelerator TOML: memory sizes, off-chip bandwidth, clock (default: accel/configs/"
                        "default.toml: 4 MiB weight SRAM, 512 KiB spike SRAM, 64 bits/cycle, 200 MHz)")
    p.add_argument("--sizing", choices=SIZINGS, default="config",
                   help="memory sizes: config (the configuration's SRAMs split into the machine's banks; default) "
                        "or fitted (every memory as 'accel compile' generates it for this network)")
    p.add_argument("--costs", type=path_arg, default=None, metavar="FILE",
                   help="per-operation cost table: .toml (schema_version 1; default: the bundled 45 nm table) or an "
                        "Accelergy ERT (.yaml)")
    p.add_argument("--memory-table", type=path_arg, default=None, metavar="FILE",
                   help="memory and logic cost table (default: the bundled energy/memory_45nm.toml)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--rate-steps", type=int_in(1, MAX_BASELINE_T), default=None, metavar="T",
                   help=f"time steps of the rate-coded QCFS baseline, 1..{MAX_BASELINE_T} (default: 2^B; simulated "
                        "exactly)")
    p.add_argument("--plot", type=path_arg, default=None, metavar="FILE.png",
                   help=f"also write a chart of the energy per layer and per method ({FILE_HELP})")
    p.add_argument("--export-accelergy", type=path_arg, default=None, metavar="DIR",
                   help="also write the built machine's Accelergy ERT, ART and action counts (YAML) into DIR "
                        "(created; an existing DIR must be empty or an earlier export)")
    p.set_defaults(func=cmd_report)
    add_global_options(parser)
    return parser


def machine_stats(inet, res, config=None, array: tuple[int, int] | None = None):
    """The cycle model of the accelerator (``config``: a TOML path, default ``accel/configs/default.toml``;
    ``array``: its shape) on ``res``: what ``energy.report.energy_report`` prices."""
    from accel.config import load_config
    from accel.errors import AccelError
    from accel.model import evaluate, profile
    from energy.errors import EnergyError

    cfg = load_config(config)
    if array is not None:
        cfg = cfg.with_shape(*array)
    try:
        return evaluate(profile(inet, res), cfg)
    except AccelError as e:
        raise EnergyError(f"energy report: {e}") from None


def report_from_files(trace_path, model=None, costs=None, *, memtable=None, config=None,
                      array: tuple[int, int] | None = None, sizing: str = "config", rate_T: int | None = None):
    """Load the tables, the configuration, the trace and its model; run the cycle model; price everything."""
    from energy.memtable import load_memory_table
    from energy.report import energy_report, load_cost_table, load_matching

    table = load_cost_table(costs)
    mem = load_memory_table(memtable)
    if config is not None:
        from accel.config import load_config

        load_config(config)  # a bad configuration is reported before the trace is read
    tr, inet = load_matching(trace_path, model)
    stats = machine_stats(inet, tr.result, config, array)
    return energy_report(inet, tr.result, stats, table, mem, sizing=sizing, rate_T=rate_T)


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


def cmd_report(args) -> int:
    model = model_path(args.model, "--model")
    inputs = [args.trace, model, args.costs, args.config, args.memory_table]
    if args.plot is not None:
        check_file(args.plot, "--plot", inputs=inputs)
    if args.export_accelergy is not None:
        check_folder(args.export_accelergy, "--export-accelergy", ACCELERGY_MARKER, inputs=inputs)
    rep = report_from_files(args.trace, model, args.costs, memtable=args.memory_table, config=args.config,
                            array=args.array, sizing=args.sizing, rate_T=args.rate_steps)
    if args.plot is not None:
        from .plot import plot_report

        with writing(args.plot, "--plot") as tmp:
            plot_report(rep, tmp)
    if args.export_accelergy is not None:
        from .export import export_accelergy

        export_accelergy(rep, args.export_accelergy, args.costs, args.memory_table)
    if args.format == "json":
        sys.stdout.write(json.dumps(to_json(rep), indent=1) + "\n")
    elif args.format == "csv":
        sys.stdout.write(to_csv(rep))
    else:
        print_table(rep, console)
    if args.format == "table":
        for path in (args.plot, args.export_accelergy):
            if path is not None:
                console.print(f"wrote {esc(path)}")
    return 0

# amaranth: UnusedElaboratable=no
"""``accel rtl``: write the Verilog of the neuron processing elements into a build folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from snnbits.cli.output import building, check_folder
from snnbits.cli.ui import printable

#: the file that marks a folder as made by ``accel rtl`` (and so replaceable by it)
MARKER = ".snnbits-rtl"


def register(subparsers) -> None:
    """Add the ``rtl`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "rtl",
        help="generate Verilog of the neuron PEs",
        description="Generate Verilog of the neuron processing elements (NeuronPE and its "
                    "Accumulator, Comparator, Reset, Shifter) into OUT.",
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help=f"output folder, built aside and swapped in when complete; an existing folder is replaced "
                        f"only if an earlier 'accel rtl' made it (it holds {MARKER}) or it is empty; "
                        "missing parent folders are created")
    p.add_argument("--acc-width", type=int, default=24, help="membrane register width (default: 24)")
    p.add_argument("--in-width", type=int, default=16,
                   help="width of the signed synaptic sum a(t) (default: 16)")
    p.add_argument("--s-width", type=int, default=16, help="width of the unsigned output LSB S (default: 16)")
    p.add_argument("--bits", type=int, default=4, help="output bits B (default: 4)")
    p.add_argument("--in-bits", type=int, default=None, help="input bits B_in (default: --bits)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the Verilog files; print one path per line.  Returns 0, or 2 on bad widths."""
    import sys

    from rtl.generate import generate_verilog
    from rtl.pe import Accumulator, Comparator, NeuronPE, Reset

    check_folder(args.out, "--out", MARKER)

    try:
        neuron = NeuronPE(acc_width=args.acc_width, in_width=args.in_width,
                          s_width=args.s_width, bits=args.bits, in_bits=args.in_bits)
        parts = {
            "neuron_pe": neuron,
            "accumulator": Accumulator(acc_width=args.acc_width, in_width=args.in_width,
                                       max_pad=neuron.in_bits - 1),
            "comparator": Comparator(acc_width=args.acc_width, s_width=args.s_width, bits=args.bits),
            "reset": Reset(acc_width=args.acc_width, thr_width=args.s_width + args.bits - 1),
        }
    except (TypeError, ValueError) as e:
        print(f"accel rtl: {e}", file=sys.stderr)
        return 2
    with building(args.out, "--out", MARKER) as tmp:
        names = [generate_verilog(component, tmp, name).name for name, component in parts.items()]
    for name in names:
        print(printable(Path(args.out) / name))
    return 0

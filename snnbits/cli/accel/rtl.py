# amaranth: UnusedElaboratable=no
"""``accel rtl``: write the Verilog of the neuron processing elements into a build folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from snnbits.cli.args import MAX_RTL_BITS, MAX_RTL_WIDTH, int_in, path_arg
from snnbits.cli.dispatch import UsageError
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
        epilog="Example: accel rtl --out build/rtl   |   accel rtl --out build/rtl8 --bits 8 --acc-width 32",
    )
    p.add_argument("--out", required=True, type=path_arg, metavar="DIR",
                   help=f"output folder, built aside and swapped in when complete; an existing folder is replaced "
                        f"only if an earlier 'accel rtl' made it (it holds {MARKER}) or it is empty; "
                        "missing parent folders are created")
    width = int_in(1, MAX_RTL_WIDTH)
    bits = int_in(1, MAX_RTL_BITS)
    p.add_argument("--acc-width", type=width, default=24, metavar="W",
                   help=f"membrane register width, 1..{MAX_RTL_WIDTH} (default: 24)")
    p.add_argument("--in-width", type=width, default=16, metavar="W",
                   help=f"width of the signed synaptic sum a(t), 1..{MAX_RTL_WIDTH}, at most --acc-width (default: 16)")
    p.add_argument("--s-width", type=width, default=16, metavar="W",
                   help=f"width of the unsigned output LSB S, 1..{MAX_RTL_WIDTH} (default: 16)")
    p.add_argument("--bits", type=bits, default=4, metavar="B", help=f"output bits B, 1..{MAX_RTL_BITS} (default: 4)")
    p.add_argument("--in-bits", type=bits, default=None, metavar="B",
                   help=f"input bits B_in, 1..{MAX_RTL_BITS} (default: --bits)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the Verilog files; print one path per line."""
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
    except (TypeError, ValueError) as e:  # the PE constructors' own checks (e.g. in_width > acc_width)
        raise UsageError(f"accel rtl: {e}") from None
    with building(args.out, "--out", MARKER) as tmp:
        names = [generate_verilog(component, tmp, name).name for name, component in parts.items()]
    for name in names:
        print(printable(Path(args.out) / name))
    return 0

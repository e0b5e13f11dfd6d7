"""The ``accel`` command line: ``accel {run,info,...} --help`` teaches each subcommand.

``main(argv=None) -> int``; errors are mapped to exit codes by
:func:`snnbits.cli.dispatch.dispatch`.  Each subcommand is a module of this
package with ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib

from snnbits.cli.dispatch import EXIT_CODES_HELP, Parser, add_global_options, dispatch

#: subcommand modules, in the order ``accel --help`` lists them
COMMANDS = (
    "snnbits.cli.accel.run",
    "snnbits.cli.accel.info",
    "snnbits.cli.accel.accuracy",
    "snnbits.cli.accel.rtl",
    "snnbits.cli.accel.compile",
    "snnbits.cli.accel.sweep",
    "snnbits.cli.accel.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="accel",
        description=(
            "Error-free ANN-to-SNN conversion for hardware engineers: convert a QCFS network to an "
            "integer spiking network that runs T = B time steps, simulate it bit-exactly, generate "
            "its RTL and model the accelerator."
        ),
        epilog=f"Run 'accel COMMAND --help' for the options of one command. {EXIT_CODES_HELP}.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        importlib.import_module(mod).register(sub)
    add_global_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser(), argv)

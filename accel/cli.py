"""The ``accel`` command line: ``accel {run,info,...} --help`` teaches each subcommand.

``main(argv=None) -> int``; only the project's own errors are caught and printed
(``error: ...`` on stderr, exit code 2); anything else is a bug and keeps its traceback.
Each subcommand lives in ``accel/cmd_*.py`` with ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand modules, in the order ``accel --help`` lists them
COMMANDS = (
    "accel.cmd_run",
    "accel.cmd_info",
    "accel.cmd_accuracy",
    "accel.cmd_rtl",
    "accel.cmd_sweep",
    "accel.cmd_demo",
)


class UsageError(Exception):
    """A user mistake detected by the CLI itself (bad combination of options)."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is shown without a traceback."""
    from golden.errors import GoldenError

    errs: list[type[BaseException]] = [GoldenError, UsageError]
    for mod, name in (("energy.errors", "EnergyError"), ("accel.errors", "AccelError"), ("rtl.errors", "RtlError")):
        try:
            errs.append(getattr(importlib.import_module(mod), name))
        except (ImportError, AttributeError):
            pass
    return tuple(errs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accel",
        description=(
            "Error-free ANN-to-SNN conversion for hardware engineers: convert a QCFS network to an "
            "integer spiking network that runs T = B time steps, simulate it bit-exactly, generate "
            "its RTL and model the accelerator."
        ),
        epilog="Run 'accel COMMAND --help' for the options of one command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name == mod:  # subcommand not part of this build yet
                continue
            raise
        m.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse ``argv`` and run the chosen subcommand's ``func``; the project's own errors
    become ``error: ...`` on stderr and exit code 2 (shared by ``accel`` and ``energy``)."""
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

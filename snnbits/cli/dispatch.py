"""Parse the command line and run one subcommand: the one place that maps errors to exit codes."""

from __future__ import annotations

import argparse
import sys

from snnbits.errors import SnnbitsError


class UsageError(SnnbitsError):
    """A user mistake detected by the CLI itself (bad combination of options)."""


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse ``argv`` and run the chosen subcommand's ``func``; the project's own errors
    become ``error: ...`` on stderr and exit code 2 (shared by ``accel`` and ``energy``)."""
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SnnbitsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

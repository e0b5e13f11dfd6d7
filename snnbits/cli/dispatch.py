"""Parse the command line and run one subcommand: the one place that maps errors to exit codes.

Exit codes of ``accel`` and ``energy``:

==== ==========================================================================
0    success
1    the command ran, and what it checked does not hold (e.g. ``accel accuracy``
     found an SNN prediction that differs from the integer ANN's)
2    a user error: bad option, bad input file, impossible size, unusable output
     path (``error: ...`` on stderr); argparse's own usage errors too
70   an internal error, i.e. a bug (``internal error: ...``; ``--debug`` shows
     the traceback)
130  interrupted (Ctrl-C)
141  the reader of the output went away (broken pipe, e.g. ``accel info | head``)
==== ==========================================================================
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from snnbits.errors import SnnbitsError

from .ui import printable

EXIT_OK = 0
EXIT_USER = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h)
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

EXIT_CODES_HELP = (
    "exit codes: 0 success; 1 a check failed; 2 user error (bad option, input file or output path); "
    "70 internal error (a bug: rerun with --debug and report it); 130 interrupted"
)


class UsageError(SnnbitsError):
    """A user mistake detected by the CLI itself (bad option value or combination of options)."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in the house style: one ``error: ...`` line, exit code 2.

    Subcommand parsers made by ``add_subparsers`` are of this class too."""

    def error(self, message: str):
        self.exit(EXIT_USER, f"error: {printable(message)} (see '{self.prog} --help')\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unrecognized argument is reported by the subcommand's parser (its
        ``--help`` lists what it takes), not by the top-level one."""
        args, extras = self.parse_known_args(args, namespace)
        if extras:
            self._parser_of(args).error(f"unrecognized arguments: {' '.join(extras)}")
        return args

    def _parser_of(self, args) -> argparse.ArgumentParser:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                sub = action.choices.get(getattr(args, action.dest, None) or "")
                if sub is not None:
                    return sub._parser_of(args) if isinstance(sub, Parser) else sub
        return self


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on the command and on every subcommand (so it may come anywhere)."""
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (for bug reports)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                 help="show the full traceback of an error (for bug reports)")


def dispatch(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    """Parse ``argv`` and run the chosen subcommand's ``func(args) -> int``.

    :class:`~snnbits.errors.SnnbitsError` (every package's user errors) becomes
    ``error: <message>`` on stderr and exit code 2; Ctrl-C exits 130; anything
    else is a bug: one ``internal error: ...`` line and exit code 70, or the
    full traceback with ``--debug``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv  # until the parser has spoken
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, or a usage error already printed
            return 0 if e.code is None else e.code if isinstance(e.code, int) else EXIT_USER
        debug = bool(getattr(args, "debug", False))
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USER
        return int(args.func(args) or 0)
    except SnnbitsError as e:
        if debug:
            traceback.print_exc()
        print(f"error: {printable(e, keep_newlines=True)}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader closed the pipe: stop quietly; keep Python from complaining at exit
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_BROKEN_PIPE
    except Exception as e:  # noqa: BLE001 - the last line of defence: a bug, reported in one line
        if debug:
            traceback.print_exc()
        print(f"internal error: {type(e).__name__}: {printable(e)} "
              f"(please report it; rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL

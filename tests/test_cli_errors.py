"""One place maps errors to exit codes (snnbits.cli.dispatch): user errors, bugs, Ctrl-C, --debug."""

import subprocess
import sys
import textwrap

import pytest

from cli_util import ROOT, assert_user_error, cli, cli_env
from snnbits.cli import accel as accel_cli
from snnbits.cli.dispatch import EXIT_INTERNAL, UsageError, dispatch
from snnbits.cli.ui import esc, printable
from snnbits.errors import SnnbitsError


def _with_bug(prog: str, argv: list[str], target: str) -> subprocess.CompletedProcess:
    """Run the real CLI ``prog`` in a subprocess with ``target`` (module:function) replaced by a bug."""
    mod, fn = target.split(":")
    code = textwrap.dedent(f"""
        import sys, {mod}
        def bug(*a, **k):
            raise RuntimeError("planted bug")
        {mod}.{fn} = bug
        from snnbits.cli.{prog} import main
        sys.exit(main({argv!r}))
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), cwd=ROOT,
                          timeout=300)


def test_user_error_is_one_line_and_exit_2(tmp_path):
    p = cli("accel", "info", tmp_path / "missing.npz")
    assert_user_error(p, "missing.npz: no such file")
    assert p.stderr.startswith("error: ") and p.stderr.count("\n") == 1


def test_a_bug_is_one_line_with_exit_70_and_no_traceback():
    p = _with_bug("accel", ["info"], "golden.convert:convert")
    assert p.returncode == EXIT_INTERNAL == 70, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stderr == ("internal error: RuntimeError: planted bug "
                        "(please report it; rerun with --debug for the traceback)\n")


@pytest.mark.parametrize("argv", [["--debug", "info"], ["info", "--debug"]], ids=["before", "after"])
def test_debug_shows_the_traceback(argv):
    p = _with_bug("accel", argv, "golden.convert:convert")
    assert p.returncode == 70
    assert "Traceback (most recent call last)" in p.stderr and "planted bug" in p.stderr
    assert p.stderr.rstrip().endswith("(please report it; rerun with --debug for the traceback)")


def test_energy_maps_errors_the_same_way(tmp_path):
    p = _with_bug("energy", ["report", str(tmp_path / "t.npz")], "snnbits.cli.energy:report_from_files")
    assert p.returncode == 70 and "Traceback" not in p.stderr and "internal error: RuntimeError" in p.stderr
    p = _with_bug("energy", ["report", str(tmp_path / "t.npz"), "--debug"], "snnbits.cli.energy:report_from_files")
    assert p.returncode == 70 and "Traceback" in p.stderr
    assert_user_error(cli("energy", "report", tmp_path / "t.npz"), "no such file")


def test_debug_on_a_user_error_shows_where_it_came_from(tmp_path):
    p = cli("accel", "--debug", "info", tmp_path / "missing.npz")
    assert p.returncode == 2 and "Traceback" in p.stderr and "error: " in p.stderr


def _parser(func):
    import argparse

    parser = argparse.ArgumentParser(prog="t")
    sub = parser.add_subparsers()
    sub.add_parser("go").set_defaults(func=func)
    return parser


def _raise(exc):
    def func(args):
        raise exc

    return func


@pytest.mark.parametrize("exc, code", [(UsageError("bad"), 2), (SnnbitsError("bad"), 2), (KeyboardInterrupt(), 130),
                                       (ValueError("bad"), 70), (KeyError("k"), 70), (MemoryError(), 70),
                                       (BrokenPipeError(), 141)])
def test_exit_codes(exc, code, capsys, monkeypatch):
    import os

    monkeypatch.setattr(os, "dup2", lambda a, b: None)  # keep pytest's stdout
    assert dispatch(_parser(_raise(exc)), ["go"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        assert err == "error: bad\n"
    if code == 70:
        assert err.startswith(f"internal error: {type(exc).__name__}")


def test_only_snnbits_errors_are_user_errors():
    """Every package's error type derives from the root; a plain ValueError is a bug (exit 70)."""
    from accel.errors import AccelError
    from energy.errors import EnergyError
    from golden.errors import GoldenError

    for t in (AccelError, EnergyError, GoldenError, UsageError):
        assert issubclass(t, SnnbitsError)
    assert dispatch(_parser(_raise(ValueError("x"))), ["go"]) == 70


def test_no_command_prints_help_and_exits_2(capsys):
    assert accel_cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_argparse_errors_exit_2():
    p = cli("accel", "run", "--mode", "nope", "--random", "1", "--out", "x.npz")
    assert p.returncode == 2 and "invalid choice" in p.stderr and "Traceback" not in p.stderr


def test_broken_pipe_is_quiet():
    p = subprocess.Popen([sys.executable, "-m", "accel", "info", "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=cli_env(), cwd=ROOT)
    p.stdout.close()  # the reader goes away before the first line
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) in (0, 141)
    assert "Traceback" not in err and "internal error" not in err, err


def test_control_characters_in_errors_are_escaped(tmp_path):
    p = cli("accel", "info", tmp_path / "a\x1b[2Jb\x07.npz")
    assert_user_error(p, r"a\x1b[2Jb\x07.npz")
    assert "\x1b" not in p.stderr and "\x07" not in p.stderr


def test_printable_and_esc():
    assert printable("a\x1b[2J\tb\nc\x9b\u202e") == r"a\x1b[2J\tb\nc\x9b\u202e"
    assert printable("x\ny", keep_newlines=True) == "x\ny"
    assert esc("[bold red]x[/]") == r"\[bold red]x\[/]"
    assert esc("ok name-1.2") == "ok name-1.2"

"""Helpers for the command-line tests: run a CLI in a subprocess, snapshot a folder tree."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_env(**extra) -> dict:
    """The environment of a CLI subprocess: this checkout first on the path, a wide terminal."""
    env = dict(os.environ, COLUMNS="160", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def cli(prog: str, *args, cwd=None, timeout=600, env=None, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m prog args...`` (prog: ``accel`` or ``energy``) and capture its output."""
    return subprocess.run([sys.executable, "-m", prog, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env or cli_env(), **kw)


def assert_user_error(p: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit code 2, one ``error: ...`` naming every needle, and no traceback."""
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "error: " in p.stderr, p.stderr
    for n in needles:
        assert n in p.stderr, (n, p.stderr)


def snapshot(root: Path, skip: tuple = ()) -> dict:
    """Every entry under ``root`` (not following links): kind, mode, size and content hash.

    ``skip``: paths whose subtree is left out (the output a command may write)."""
    root = Path(root)
    skip = tuple(Path(s).absolute() for s in skip)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        for name in sorted(dirnames + filenames):
            p = d / name
            if any(p == s or s in p.parents for s in skip):
                continue
            st = p.lstat()
            entry = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
            if stat.S_ISREG(st.st_mode):
                entry += (st.st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            elif stat.S_ISLNK(st.st_mode):
                entry += (os.readlink(p),)
            out[str(p.relative_to(root))] = entry
        dirnames[:] = [n for n in dirnames if not any(d / n == s for s in skip)]
    return out


def run_main(main, argv, capsys) -> tuple[int, str, str]:
    """Run a CLI's ``main(argv)`` in this process: (exit code, stdout, stderr)."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_user_error_in_process(rc: int, out: str, err: str, *needles: str) -> None:
    """As :func:`assert_user_error`, for :func:`run_main`'s result."""
    assert "Traceback" not in err + out, err
    assert rc == 2, (rc, err)
    assert err.startswith("error: "), err
    for n in needles:
        assert n in err, (n, err)

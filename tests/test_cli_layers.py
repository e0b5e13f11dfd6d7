"""The front end sits above the libraries: they never import it, and they never print."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("golden", "rtl", "accel", "energy")
#: scripts run with ``python -m`` that live in a library package (they report what they wrote)
SCRIPTS = {"golden/training/make_default.py"}


def _modules():
    for lib in LIBRARIES:
        for path in sorted((ROOT / lib).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if path.name != "__main__.py":  # `python -m accel` / `python -m energy` start the front end
                yield rel, ast.parse(path.read_text(), rel)


def _imports(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("rel, tree", list(_modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_libraries_never_import_the_front_end_or_print(rel, tree):
    assert not {n for n in _imports(tree) if n == "snnbits.cli" or n.startswith("snnbits.cli.")}, rel
    if rel not in SCRIPTS:
        calls = [n.lineno for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("print", "exit")]
        assert not calls, f"{rel} prints or exits at line(s) {calls}"


def test_energy_no_longer_shares_the_accel_dispatcher():
    for rel, tree in _modules():
        if rel.startswith("energy/"):
            assert not any(n.startswith("accel") for n in _imports(tree)), rel


def test_console_scripts_point_into_the_front_end():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"accel": "snnbits.cli.accel:main", "energy": "snnbits.cli.energy:main"}
    import importlib

    for target in scripts.values():
        mod, fn = target.split(":")
        assert callable(getattr(importlib.import_module(mod), fn))

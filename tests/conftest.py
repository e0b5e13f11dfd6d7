"""Test tiers and hypothesis profiles.

Plain ``pytest`` runs the fast tier: every test not marked ``slow`` or ``cocotb``.
``pytest -m slow`` runs the slow tier (the demo end to end, README commands that
take minutes, kill and Ctrl-C runs, the default model's full accuracy), ``pytest
-m cocotb`` the generated Verilog under a simulator, and ``pytest --all`` every
tier (``bash .ci/run``).  A test file named on the command line runs whole
(``pytest tests/test_demo.py`` runs the demo tests) unless ``-m`` says otherwise.
"""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=150, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", default=False,
                     help="run every tier: fast, slow and cocotb (overrides -m; what .ci/run does)")


TIERS = ("slow", "cocotb")


def _named_files(config) -> set[Path]:
    files = set()
    for arg in config.args:
        p = Path(arg.split("::")[0])
        p = p if p.is_absolute() else Path(config.invocation_params.dir) / p
        if p.is_file():
            files.add(p.resolve())
    return files


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Deselect the slow and cocotb tiers unless asked for (-m, --all, or the file by name)."""
    if config.getoption("--all") or config.option.markexpr:
        return
    named = _named_files(config)
    keep, drop = [], []
    for item in items:
        tier = any(item.get_closest_marker(t) for t in TIERS)
        (drop if tier and Path(item.path).resolve() not in named else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep

"""Test tiers and hypothesis profiles.

Plain ``pytest`` runs the fast tier (every test not marked ``slow`` or ``cocotb``;
pyproject.toml's ``addopts`` deselects those).  ``pytest -m slow`` runs the slow
tier (the demo end to end, README commands that take minutes, kill and Ctrl-C
runs, the default model's full accuracy), ``pytest -m cocotb`` the generated
Verilog under a simulator, and ``pytest --all`` every tier (``bash .ci/run``).
"""

import os

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


def pytest_configure(config):
    if config.getoption("--all"):
        config.option.markexpr = ""

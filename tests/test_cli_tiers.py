"""Test tiers (tests/conftest.py): plain pytest runs the fast tier; -m, --all and a file named
on the command line select the others."""

import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

EXAMPLE = """
import pytest

def test_fast():
    pass

@pytest.mark.slow
def test_slow():
    pass

@pytest.mark.cocotb
def test_verilog():
    pass
"""


@pytest.fixture
def project(pytester):
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
                               'markers = ["slow: slow", "cocotb: cocotb"]\n')
    tests = pytester.mkdir("tests")
    (tests / "conftest.py").write_text((HERE / "conftest.py").read_text())
    (tests / "test_a.py").write_text(EXAMPLE)
    (tests / "test_b.py").write_text(EXAMPLE.replace("def test_", "def test_b_"))
    return pytester


@pytest.mark.parametrize("args, expected", [
    ((), ["test_b_fast", "test_fast"]),
    (("-m", "slow"), ["test_b_slow", "test_slow"]),
    (("-m", "cocotb"), ["test_b_verilog", "test_verilog"]),
    (("--all",), ["test_b_fast", "test_b_slow", "test_b_verilog", "test_fast", "test_slow", "test_verilog"]),
    (("tests/test_a.py",), ["test_fast", "test_slow", "test_verilog"]),
    (("tests/test_a.py", "-m", "not slow"), ["test_fast", "test_verilog"]),
    (("tests/test_a.py::test_slow",), ["test_slow"]),
    (("tests",), ["test_b_fast", "test_fast"]),
])
def test_tiers(project, args, expected):
    result = project.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", *args)
    assert sorted(re.findall(r"::(test_\w+)", result.stdout.str())) == expected


def test_ci_runs_every_tier():
    ci = (HERE.parent / ".ci" / "run").read_text()
    assert re.search(r"python -m pytest .*--all", ci)

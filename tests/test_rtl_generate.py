# amaranth: UnusedElaboratable=no
"""Verilog generation and the ``accel rtl`` subcommand (no simulator needed)."""

from __future__ import annotations

import argparse
import re

import pytest

from snnbits.cli.accel import rtl as cmd_rtl
from snnbits.cli.dispatch import UsageError
from rtl.generate import generate_verilog
from rtl.pe import Comparator, NeuronPE

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _ports(text: str, module: str) -> dict[str, int]:
    """Port name -> width, from the generated Verilog of ``module``."""
    found = re.search(rf"^module {module}\(.*?^endmodule", text, re.MULTILINE | re.DOTALL)
    assert found, f"no module {module}"
    widths = {}
    for kind, rng, name in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", found.group(0),
                                      re.MULTILINE):
        widths[name] = int(rng) + 1 if rng else 1
    return widths


def test_generate_verilog_ports_follow_the_signature(tmp_path):
    pe = NeuronPE(acc_width=21, in_width=14, s_width=12, bits=4, in_bits=6)
    path = generate_verilog(pe, tmp_path / "out", "neuron_pe")
    assert path == tmp_path / "out" / "neuron_pe.v"
    ports = _ports(path.read_text(), "neuron_pe")
    assert ports == {"clk": 1, "rst": 1, "start": 1, "S": 12, "init": 21, "n_fire": 3, "pad": 3, "a": 14,
                     "a_valid": 1, "a_last": 1, "idle": 1, "a_ready": 1, "spike": 1, "spike_valid": 1,
                     "t": 3, "done": 1, "u": 21}


def test_generate_verilog_combinational_pe_has_no_clock(tmp_path):
    path = generate_verilog(Comparator(acc_width=8, s_width=4, bits=3), tmp_path, "cmp")
    assert _ports(path.read_text(), "cmp") == {"u": 8, "S": 4, "t": 2, "thr": 6, "spike": 1}


@pytest.mark.parametrize("name", ["", "1abc", "a-b", None])
def test_generate_verilog_rejects_bad_names(tmp_path, name):
    with pytest.raises(ValueError, match="name must be a Verilog identifier"):
        generate_verilog(Comparator(acc_width=8, s_width=4, bits=3), tmp_path, name)


def test_generate_verilog_rejects_non_components(tmp_path):
    with pytest.raises(TypeError, match="component must be an amaranth wiring.Component, not 3"):
        generate_verilog(3, tmp_path, "x")


def _parse(argv):
    parser = argparse.ArgumentParser(prog="accel")
    cmd_rtl.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_rtl_writes_every_pe(tmp_path, capsys):
    args = _parse(["rtl", "--out", str(tmp_path), "--acc-width", "20", "--bits", "3"])
    assert args.func(args) == 0
    written = capsys.readouterr().out.split()
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["accumulator.v", "comparator.v", "neuron_pe.v", "reset.v"]
    assert _ports((tmp_path / "neuron_pe.v").read_text(), "neuron_pe")["u"] == 20
    assert _ports((tmp_path / "comparator.v").read_text(), "comparator")["t"] == 2


def test_cli_rtl_reports_bad_widths(tmp_path):
    args = _parse(["rtl", "--out", str(tmp_path), "--acc-width", "8", "--in-width", "9"])
    with pytest.raises(UsageError, match=r"accel rtl: in_width must not exceed acc_width \(8\), not 9"):
        args.func(args)
    assert not list(tmp_path.iterdir())

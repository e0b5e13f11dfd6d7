"""``accel run`` and ``accel info``: end to end, and clean errors for user mistakes."""

import json
import subprocess
import sys

import numpy as np
import pytest

from snnbits.cli.accel import main
from golden import ir, trace
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return ir.save(random_network(np.random.default_rng(5)), tmp_path_factory.mktemp("m") / "model.npz")


def test_run_writes_a_trace_equal_to_the_simulation(model, tmp_path):
    out = tmp_path / "t.npz"
    assert main(["run", str(model), "--random", "6", "--seed", "3", "--mode", "literal", "-T", "3", "--out", str(out)]) == 0
    t = trace.load(out)
    net = ir.load(model)
    inet = convert(net)
    x = random_inputs(np.random.default_rng(3), net.input.shape, net.input.bits, 6)
    res = simulate(inet, x, T=3)
    assert t.meta["mode"] == "literal" and t.meta["T"] == 3
    for k in res.spikes:
        assert np.array_equal(t.result.spikes[k], res.spikes[k])


def test_run_reads_npz_inputs(model, tmp_path):
    net = ir.load(model)
    x = random_inputs(np.random.default_rng(0), net.input.shape, net.input.bits, 4)
    np.savez(tmp_path / "in.npz", x=x, y=np.zeros(4, dtype=int))
    assert main(["run", str(model), "--input", str(tmp_path / "in.npz"), "--out", str(tmp_path / "t.npz")]) == 0
    assert np.array_equal(trace.load(tmp_path / "t.npz").result.pixels, x)


def test_info_json(model, capsys):
    assert main(["info", str(model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    inet = convert(ir.load(model))
    assert [l["name"] for l in info["layers"]] == [l.name for l in inet.layers]
    assert [l["acc_bits"] for l in info["layers"]] == [l.acc_bits for l in inet.layers]


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "{tmp}/missing.npz", "--random", "2", "--out", "{tmp}/t.npz"], "missing.npz: no such file"),
        (["run", "{model}", "--random", "2", "-T", "9", "--out", "{tmp}/t.npz"], "T must be an integer in 1..B=4, not 9"),
        (["run", "{model}", "--input", "{tmp}/bad.npz", "--out", "{tmp}/t.npz"], "no array 'x'"),
        (["run", "{model}", "--out", "{tmp}/t.npz"], "give one of --input FILE, --random N or --digits"),
        (["info", "{model}", "--weight-bits", "1"], "argument --weight-bits: must be an integer in 2..24 or 'auto', not '1'"),
    ],
)
def test_user_errors_exit_2_without_traceback(model, tmp_path, args, message):
    np.savez(tmp_path / "bad.npz", z=np.zeros(2))
    argv = [a.format(tmp=tmp_path, model=model) for a in args]
    p = subprocess.run([sys.executable, "-m", "accel", *argv], capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert "Traceback" not in p.stderr


def test_help_teaches():
    p = subprocess.run([sys.executable, "-m", "accel", "run", "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    assert "--mode" in p.stdout and "literal" in p.stdout and "Example" in p.stdout

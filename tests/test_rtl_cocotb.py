# amaranth: UnusedElaboratable=no
"""cocotb tier: the generated Verilog of NeuronPE, simulated, against golden.neuron.

Each test generates Verilog at test time into its own build folder (pytest's
``tmp_path``, or ``$RTL_BUILD_DIR/<sim>/<test id>``; never committed), writes its stimulus to ``cases.npz`` there, and runs the bench
``snnbits.cosim.tb_neuron`` with the project's one cocotb runner (:mod:`snnbits.cosim.runner`).

Environment:
  SIM        simulator, ``icarus`` (default) or ``verilator``
  RTL_SEED   seed of the random stimulus (default: fresh, printed; rerun with it)
  RTL_CASES  random evaluations per realistic configuration (default 4000)
  WAVES=1    dump waveforms (FST for Icarus, VCD for Verilator) into the build folder
  RTL_BUILD_DIR  keep build folders there (e.g. ``build/cocotb``) instead of tmp_path
  CI         when set, a missing simulator fails instead of skipping
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import numpy as np
import pytest

from rtl.generate import generate_verilog
from rtl.pe import NeuronPE

from snnbits.cosim.faults import FAULTS
from snnbits.cosim.runner import missing_simulator, run_bench
from snnbits.cosim.stimulus import (Cases, RandomLayer, exhaustive_cases, golden_layer_cases, min_acc_width,
                                     random_cases)

pytestmark = [pytest.mark.cocotb, pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")]

SIM = os.getenv("SIM", "icarus")
SEED = int(os.getenv("RTL_SEED", random.SystemRandom().randrange(2**31)))
N_RANDOM = int(os.getenv("RTL_CASES", "4000"))
BENCH = "snnbits.cosim.tb_neuron"


def require_simulator(sim: str) -> str:
    """Return ``sim`` if it can run; else skip (locally) or fail (when ``CI`` is set)."""
    reason = missing_simulator(sim)
    if reason:
        if os.getenv("CI"):
            pytest.fail(reason + " (CI must run the cocotb tier)")
        pytest.skip(reason)
    return sim


@pytest.fixture
def simulator(monkeypatch) -> str:
    """The simulator named by ``SIM`` (default icarus); skips locally / fails in CI if missing."""
    return require_simulator(SIM)


@pytest.mark.parametrize("ci", ["", "1"])
def test_missing_simulator_skips_locally_and_fails_in_ci(monkeypatch, tmp_path, ci):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no iverilog
    if ci:
        monkeypatch.setenv("CI", ci)
        with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y iverilog.*CI must run"):
            require_simulator("icarus")
    else:
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match=r"install it: apt-get install -y iverilog$"):
            require_simulator("icarus")


def build_dir_for(request, sub: str = "") -> Path:
    """``$RTL_BUILD_DIR/<sim>/<test id>`` if set (to keep waveforms), else under pytest's tmp_path
    (unique per session, so concurrent pytest runs never share a build folder)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    root = os.getenv("RTL_BUILD_DIR")
    path = Path(root).resolve() / SIM / name if root else request.getfixturevalue("tmp_path") / "sim_build"
    path = path / sub if sub else path
    path.mkdir(parents=True, exist_ok=True)
    return path


def _icarus_dump_module(bdir: Path, toplevel: str) -> Path:
    """A Verilog-2005 waveform dumper (the runner's own needs -g2012, see SIM_BUILD_ARGS)."""
    path = bdir / "waves_dump.v"
    path.write_text(f"module waves_dump;\ninitial begin\n  $dumpfile(\"{bdir / (toplevel + '.fst')}\");\n"
                    f"  $dumpvars(0, {toplevel});\nend\nendmodule\n")
    return path


def run_neuron_bench(request, sim: str, dut: NeuronPE, cases: Cases, *, seed: int, gaps: bool = True,
                     sub: str = ""):
    """Generate, build and simulate; returns ``(n_failed, mismatch lines, log path, log text)``."""
    bdir = build_dir_for(request, sub)
    src = generate_verilog(dut, bdir, "neuron_pe")
    case_file = cases.save(bdir / "cases.npz", bits=dut.bits, in_bits=dut.in_bits, seed=seed)
    waves = os.getenv("WAVES", "0") not in ("", "0")
    sources, build_args, build_waves = [src], [], waves
    if waves and sim == "icarus":
        sources.append(_icarus_dump_module(bdir, "neuron_pe"))
        build_args += ["-s", "waves_dump"]
        build_waves = False
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.delenv("WAVES", raising=False)  # the runner would override our choice with it
    print(f"cocotb {sim}: {len(cases)} evaluations, seed {seed} (RTL_SEED={seed}), build folder {bdir}")
    res = run_bench(sources=sources, toplevel="neuron_pe", module=BENCH, build_dir=bdir,
                    env={"NEURON_CASES": str(case_file)}, sim=sim, waves=build_waves, extra_build_args=build_args,
                    test_filter=None if gaps else r".*neuron_matches_golden.*gaps=False.*")
    text = res.log.read_text()
    mismatches = re.findall(r"\bERROR\s+\S+\s+MISMATCH (.*)$", text, flags=re.MULTILINE)
    assert res.tests >= 1, f"no cocotb test ran; see {res.log}"
    return res.failed, mismatches, res.log, text


def _assert_passed(result):
    n_failed, mismatches, log, text = result
    if n_failed:
        shown = "\n".join(mismatches[:20]) or text[-3000:]
        pytest.fail(f"{n_failed} cocotb test(s) failed ({len(mismatches)} mismatches), log {log}:\n{shown}",
                    pytrace=False)


def corner_cases(spec: RandomLayer) -> Cases:
    """Extreme inputs at the derived width: all steps at the ends of the synaptic range,
    the extreme ``init`` values, the smallest and largest ``S``."""
    lo, hi = -(1 << (spec.in_width - 1)), (1 << (spec.in_width - 1)) - 1
    ilo, ihi = spec.init_range
    rows = [(a, init, S) for a in (lo, hi, spec.syn_range[0], spec.syn_range[1]) for init in (ilo, ihi, 0)
            for S in (1, (1 << spec.s_width) - 1)]
    n, B = len(rows), spec.bits
    return Cases(np.array([[a] * B for a, _, _ in rows], np.int64), np.full(n, B), np.array([r[1] for r in rows]),
                 np.array([r[2] for r in rows]), np.full(n, B), np.zeros(n, np.int64), np.full(n, "corner"),
                 np.arange(n))


REALISTIC = {
    "fan64_w8_b4": RandomLayer(fan_in=64, weight_bits=8, bits=4, s_width=12),
    "fan576_w8_b4": RandomLayer(fan_in=576, weight_bits=8, bits=4, s_width=14),
    "fan16_w4_b2": RandomLayer(fan_in=16, weight_bits=4, bits=2, s_width=8),
}


@pytest.mark.parametrize("config", list(REALISTIC))
def test_neuron_random_realistic(request, simulator, config):
    """Random evaluations of realistic layers (plus corner cases) at the derived accumulator
    width; no wrap may occur, so the RTL must equal the (non-wrapping) golden neuron."""
    spec = REALISTIC[config]
    n = N_RANDOM if config == "fan64_w8_b4" else max(1, N_RANDOM // 4)
    seed = SEED + sum(map(ord, config))
    cases = Cases.concat([corner_cases(spec), random_cases(spec, n, seed)])
    dut = NeuronPE(acc_width=spec.acc_width, in_width=spec.in_width, s_width=spec.s_width, bits=spec.bits)
    _assert_passed(run_neuron_bench(request, simulator, dut, cases, seed=seed))


@pytest.mark.parametrize("bits, in_width", [(2, 4), (3, 4), (4, 3)])
def test_neuron_exhaustive_small_inputs(request, simulator, bits, in_width):
    """Every sequence of ``bits`` input steps with ``a`` over the whole signed ``in_width`` range
    (4-bit for B = 2, 3; 3-bit for B = 4, to keep Icarus under a minute)."""
    s_width = 3
    init_values = list(range(-20, 21, 3))
    acc_width = min_acc_width(in_width, bits, 0, (min(init_values), max(init_values)))
    dut = NeuronPE(acc_width=acc_width, in_width=in_width, s_width=s_width, bits=bits)
    cases = exhaustive_cases(in_width, bits, S_values=range(1, 1 << s_width), init_values=init_values)
    _assert_passed(run_neuron_bench(request, simulator, dut, cases, seed=SEED))


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_broken_neuron_is_reported(request, simulator, fault):
    """A PE with a known fault must fail the bench, and the report must name
    layer, neuron, time step, expected and actual."""
    spec = REALISTIC["fan64_w8_b4"]
    dut = FAULTS[fault](acc_width=spec.acc_width, in_width=spec.in_width, s_width=spec.s_width, bits=spec.bits)
    # u == thr exactly is rare at realistic widths: the exhaustive small cases hit it
    cases = Cases.concat([exhaustive_cases(2, spec.bits, S_values=range(1, 8), init_values=range(-9, 10)),
                          random_cases(spec, 200, SEED)])
    n_failed, mismatches, log, _ = run_neuron_bench(request, simulator, dut, cases, seed=SEED, gaps=False)
    assert n_failed >= 1, f"the {fault!r} fault went unnoticed; see {log}"
    assert mismatches, f"no MISMATCH line in {log}"
    pattern = (r"layer \w+ neuron \d+ \(case \d+, seed \d+\) time step (t=\d+: spike expected [01], "
               r"actual [01]|accumulate: spikes equal); membrane after accumulation expected -?\d+, actual -?\d+")
    assert all(re.search(pattern, m) for m in mismatches), mismatches[:3]


GOLDEN_NETS = {  # name: (random_network keyword arguments, T, bitplanes)
    "conv_res_pool_T4": (dict(bits=4), 4, False),
    "strided_groups_T3_bitplanes": (dict(bits=4, strides=True, groups=True), 3, True),
}


@pytest.mark.parametrize("net", list(GOLDEN_NETS))
def test_neuron_golden_layer_traces(request, simulator, net):
    """Every hidden layer of a converted network, driven with its own golden a(t) traces
    (golden.simulate.synaptic_steps), S, init, acc_bits, syn_bits and T; the spikes must
    equal the golden run's (checked here for the cases, and in the bench for the RTL)."""
    from golden.convert import convert
    from golden.random import random_inputs, random_network
    from golden.simulate import simulate

    kwargs, T, bitplanes = GOLDEN_NETS[net]
    rng = np.random.default_rng(SEED)
    model = random_network(rng, **kwargs)
    inet = convert(model, weight_bits=8, bitplanes=bitplanes)
    res = simulate(inet, random_inputs(rng, model.input.shape, model.input.bits, 4), T=T, mode="literal")
    hidden = [layer for layer in inet.layers if not layer.is_output]
    assert hidden
    for k, layer in enumerate(hidden):
        cases, spikes, membrane = golden_layer_cases(inet, layer, res, max_neurons=600, seed=SEED + k)
        for i in range(len(cases)):  # the cases reproduce the golden run (twin == simulate)
            want_s, want_u = twin_neuron(cases, i, layer.bits)
            assert (want_s.tolist(), int(want_u)) == (spikes[i].tolist(), int(membrane[i])), (
                f"layer {layer.name} neuron {int(cases.neuron[i])}: twin differs from golden.simulate")
        dut = NeuronPE(acc_width=layer.acc_bits, in_width=layer.syn_bits, s_width=max(1, layer.S_bits),
                       bits=layer.bits, in_bits=int(cases.t_in[0] + cases.pad[0]))
        _assert_passed(run_neuron_bench(request, simulator, dut, cases, seed=SEED, gaps=False, sub=layer.name))


def twin_neuron(cases: Cases, i: int, bits: int):
    from golden import neuron

    s, u = neuron.neuron(np.array(cases.steps(i)).reshape(-1, 1), int(cases.init[i]), int(cases.S[i]), bits,
                         int(cases.n_fire[i]), B_in=int(cases.t_in[i] + cases.pad[i]))
    return s[:, 0], u[0]

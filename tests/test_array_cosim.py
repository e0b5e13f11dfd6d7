"""cocotb tier: whole layers on the generated PE-array Verilog, against golden traces and the cycle model.

For every array shape and sparsity level: the output spikes and membranes of every
tile equal the golden simulation bit for bit, and each tile's RTL cycle count equals
the cycle model's (:mod:`accel.model`) exactly.  A model perturbed by one cycle per
tile must be caught.

Environment: ``SIM`` (``icarus`` default), ``RTL_SEED`` (stall pattern, default 0), ``CI`` (a missing simulator fails instead
of skipping), ``RTL_BUILD_DIR`` (keep build folders there instead of tmp_path).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import numpy as np
import pytest

from accel.model import ArrayTiming
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate

from rtl.cosim.runner import make_jobs, missing_simulator, run_cosim

pytestmark = [pytest.mark.cocotb, pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")]

SIM = os.getenv("SIM", "icarus")
SEED = int(os.getenv("RTL_SEED", "0"))
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "golden" / "data" / "default.npz"


def require_simulator(sim: str) -> str:
    reason = missing_simulator(sim)
    if reason:
        if os.getenv("CI"):
            pytest.fail(reason + " (CI must run the cocotb tier)")
        pytest.skip(reason)
    return sim


@pytest.fixture
def simulator() -> str:
    return require_simulator(SIM)


@pytest.mark.parametrize("ci", ["", "1"])
def test_missing_simulator_skips_locally_and_fails_in_ci(monkeypatch, tmp_path, ci):
    monkeypatch.setenv("PATH", str(tmp_path))
    if ci:
        monkeypatch.setenv("CI", ci)
        with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y iverilog.*CI must run"):
            require_simulator("icarus")
    else:
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match=r"install it: apt-get install -y iverilog$"):
            require_simulator("icarus")


def _build_dir(request, tmp_path) -> Path:
    root = os.getenv("RTL_BUILD_DIR")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return Path(root).resolve() / SIM / name if root else tmp_path / "sim_build"


@functools.cache
def _case(net_kind: str, sparsity: str, images: int):
    """(integer network, golden result): random nets with residual/pool, grouped convs and T < B."""
    if net_kind == "residual":
        net, T = random_network(np.random.default_rng(11)), None
    else:  # grouped convs, odd sizes, T = 3 < B (pad folded into finish)
        net, T = random_network(np.random.default_rng(12), groups=True, input_shape=(2, 7, 9), channels=(4, 4)), 3
    inet = convert(net, bitplanes=True)
    rng = np.random.default_rng(5)
    x = random_inputs(rng, net.input.shape, net.input.bits, images)
    if sparsity == "sparse":
        x = x * (rng.random(x.shape) < 0.25)
    return inet, simulate(inet, x, T=T)


def _run(request, tmp_path, sim, inet, res, shape, layers=None, timing=ArrayTiming(), gaps=0.0):
    jobs, widths = make_jobs(inet, res, *shape, layers=layers, timing=timing)
    r = run_cosim(_build_dir(request, tmp_path), jobs, widths, *shape, sim, gaps=gaps, seed=SEED)
    rates = ", ".join(f"{k} {v.mean() * 100:.0f}%" for k, v in res.spikes.items())
    print(f"{shape[0]}x{shape[1]}: {r.tiles} tiles, RTL {r.rtl_cycles} cycles, model {r.model_cycles}, "
          f"{r.cycles_per_s:,.0f} cycles/s; spike rates {rates}; log {r.log}")
    return jobs, r


CASES = [
    ((1, 1), "residual", "dense", 1, ("q1", "fc1_q", "fc2")),
    ((2, 4), "residual", "dense", 2, None),
    ((2, 4), "grouped", "sparse", 2, None),
    ((4, 4), "residual", "sparse", 2, None),
    ((4, 4), "grouped", "dense", 2, None),
    ((8, 8), "residual", "dense", 2, None),
]


@pytest.mark.parametrize("shape, net_kind, sparsity, images, layers", CASES,
                         ids=[f"{s[0]}x{s[1]}-{k}-{p}" for s, k, p, _, _ in CASES])
def test_array_equals_golden_and_model_cycles(request, tmp_path, simulator, shape, net_kind, sparsity, images, layers):
    inet, res = _case(net_kind, sparsity, images)
    jobs, r = _run(request, tmp_path, simulator, inet, res, shape, layers)
    if r.n_failed:
        pytest.fail(f"{len(r.mismatches)} mismatches, log {r.log}:\n" + "\n".join(r.mismatches[:20]), pytrace=False)
    assert r.tiles == len(jobs)
    assert r.rtl_cycles == r.model_cycles == int(jobs.meta[:, 5].sum())


def test_model_one_cycle_short_per_tile_is_caught(request, tmp_path, simulator):
    """A model that forgets the DRAIN cycle: every tile must be flagged, nothing else."""
    inet, res = _case("residual", "dense", 2)
    jobs, r = _run(request, tmp_path, simulator, inet, res, (2, 2), layers=("q1",), timing=ArrayTiming(drain=0))
    assert r.n_failed == 1
    assert len(r.mismatches) == len(jobs) and all("CYCLES" in m for m in r.mismatches)
    assert r.rtl_cycles - r.model_cycles == len(jobs)


def test_stalls_are_the_only_extra_cycles(request, tmp_path, simulator):
    """Idle event source and stalled sink in 30 % of the cycles: outputs still exact, and every
    tile takes the model's cycles plus exactly the cycles in which it waited."""
    inet, res = _case("grouped", "dense", 1)
    jobs, r = _run(request, tmp_path, simulator, inet, res, (2, 2), gaps=0.3)
    if r.n_failed:
        pytest.fail(f"{len(r.mismatches)} mismatches, log {r.log}:\n" + "\n".join(r.mismatches[:20]), pytrace=False)
    assert r.stall_cycles > 0.2 * r.model_cycles
    assert r.rtl_cycles == r.model_cycles


@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason=f"bundled model {DEFAULT_MODEL} not committed yet")
def test_bundled_model_on_the_array(request, tmp_path, simulator):
    from golden.datasets import digits_test
    from golden.models import load_model

    inet = convert(load_model("default"), bitplanes=True)
    res = simulate(inet, digits_test().x[:1])
    jobs, r = _run(request, tmp_path, simulator, inet, res, (4, 4))
    if r.n_failed:
        pytest.fail(f"{len(r.mismatches)} mismatches, log {r.log}:\n" + "\n".join(r.mismatches[:20]), pytrace=False)
    assert r.rtl_cycles == r.model_cycles

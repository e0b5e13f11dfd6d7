"""cocotb tier: whole images through the generated Verilog of the accelerator top.

For every array shape and network: the logits equal the golden model's, every
spike written to every layer's spike memory (seen through the write monitor)
equals the golden trace bit for bit, every tile of every layer issues its
beats, each image's cycles equal the cycle model's exactly, and the activity a
monitor counts inside the RTL (ops by kind, events, spike memory reads and
writes, read enables of the weight and parameter banks) equals the cycle
model's counters.  Every planted
fault is reported with a specific reason within the watchdog's bound.

Environment: ``SIM`` (``icarus`` default, or ``verilator``), ``RTL_SEED`` (the
back-pressure pattern), ``RTL_BUILD_DIR`` (keep build folders there), ``WAVES=1``,
``CI`` (a missing simulator fails instead of skipping).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path

import numpy as np
import pytest

from accel.program import _ceil, compile_program, plan, weight_plan
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate

from snnbits.cosim.corners import tie_corner, width_corner
from snnbits.cosim.runner import missing_simulator, run_accel

pytestmark = [pytest.mark.cocotb, pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")]

SIM = os.getenv("SIM", "icarus")
SEED = int(os.getenv("RTL_SEED", "0"))


@pytest.fixture
def simulator() -> str:
    reason = missing_simulator(SIM)
    if reason:
        if os.getenv("CI"):
            pytest.fail(reason + " (CI must run the cocotb tier)")
        pytest.skip(reason)
    return SIM


def _build_dir(request, tmp_path) -> Path:
    root = os.getenv("RTL_BUILD_DIR")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    return Path(root).resolve() / SIM / name if root else tmp_path / "sim_build"


@functools.cache
def network(kind: str):
    """(integer network as the machine runs it, pixels, T)."""
    if kind == "bundled":
        from golden.datasets import digits_test
        from golden.models import load_model

        return dataclasses.replace(convert(load_model("default")), bitplanes=True), digits_test().x[:1], None
    rng = np.random.default_rng({"residual": 11, "grouped": 12, "strided": 13, "balanced": 13, "shifted": 14}[kind])
    if kind == "shifted":  # a pixel term and a spike term of different scales: per-term weight shifts
        from golden.random import mixed_scale_network

        net = mixed_scale_network(rng, pixel_bits=8, bits=2, skip="identity", size=5, channels=3)
        x = random_inputs(rng, net.input.shape, net.input.bits, 1)
        inet = convert(net, weight_bits=5, bitplanes=True, term_shifts=True)
        assert max(t.shift for l in inet.layers for t in l.terms) > 0
        return inet, x, None
    if kind == "residual":  # residual merged into its conv, 2x2 pool in hardware, two images
        net, T, n = random_network(rng, input_shape=(2, 6, 6), channels=(4, 4)), None, 2
    elif kind == "grouped":  # grouped convs, odd sizes, T = 3 < B
        net, T, n = random_network(rng, groups=True, input_shape=(2, 5, 7), channels=(4, 4)), 3, 1
    elif kind == "balanced":  # layers of similar weight sizes: two regions of the largest are less than all
        net, T, n = random_network(rng, strides=True, input_shape=(2, 7, 7), channels=(4, 6), pool=True), 2, 1
    else:  # a 1x1 conv with stride 3 > kernel, an overlapping 3x3/1 pool composed into the next conv, T < B
        net, T, n = _strided(rng), 2, 1
    x = random_inputs(rng, net.input.shape, net.input.bits, n)
    return convert(net, bitplanes=True), x, T


def _strided(rng):
    from golden import ir
    from golden.random import calibrate

    nodes = [ir.Input(name="input", inputs=(), shape=(2, 10, 10), bits=4, scale=1.0),
             ir.Conv2d(name="c0", inputs=("input",), weight=rng.normal(0, 0.5, (4, 2, 1, 1)), stride=(3, 3)),
             ir.QCFS(name="q0", inputs=("c0",), lam=1.0, bits=3),
             ir.Conv2d(name="c1", inputs=("q0",), weight=rng.normal(0, 0.3, (6, 4, 3, 3)), padding=(1, 1)),
             ir.QCFS(name="q1", inputs=("c1",), lam=1.0, bits=3),
             ir.AvgPool2d(name="pool", inputs=("q1",), kernel=(3, 3), stride=(1, 1)),
             ir.Conv2d(name="c2", inputs=("pool",), weight=rng.normal(0, 0.3, (4, 6, 2, 2))),
             ir.QCFS(name="q2", inputs=("c2",), lam=1.0, bits=3),
             ir.Flatten(name="flat", inputs=("q2",)),
             ir.Linear(name="out", inputs=("flat",), weight=rng.normal(0, 0.3, (3, 4)))]
    return calibrate(ir.network(nodes, name="strided"), random_inputs(rng, (2, 10, 10), 4, 32))


def cosim(request, tmp_path, inet, x, T, shape, wplan=None, scan=None, **kw):
    res = simulate(inet, x, T=T)
    p = plan(inet, *shape, T, scan=scan)
    prog = compile_program(p, weights=wplan(p) if wplan else None)
    run = run_accel(prog, res, _build_dir(request, tmp_path), sim=SIM, seed=SEED,
                    waves=os.getenv("WAVES", "0") not in ("", "0"), **kw)
    print(f"{shape[0]}x{shape[1]}: {len(x)} image(s), RTL cycles {run.observation.cycles}, model "
          f"{run.expected.cycles.tolist()}, stalls {run.observation.stalls}, {run.bench.seconds:.1f} s; log {run.bench.log}")
    return prog, run


CASES = [
    ((1, 1), "grouped"),
    ((2, 4), "residual"),
    ((3, 5), "strided"),
    ((2, 3), "shifted"),
    ((4, 4), "bundled"),
    ((8, 8), "bundled"),
    ((16, 4), "bundled"),
]


@pytest.mark.parametrize("shape, kind", CASES, ids=[f"{s[0]}x{s[1]}-{k}" for s, k in CASES])
def test_whole_images_equal_golden_and_model(request, tmp_path, simulator, shape, kind):
    inet, x, T = network(kind)
    _, run = cosim(request, tmp_path, inet, x, T, shape)
    if not run.ok:
        pytest.fail(f"{len(run.mismatches)} mismatch(es), log {run.bench.log}:\n" + "\n".join(run.mismatches),
                    pytrace=False)
    assert run.observation.cycles == run.expected.cycles.tolist()


SCAN_CASES = [((2, 4), "residual", 1), ((4, 4), "bundled", 4), ((4, 4), "bundled", 32)]


@pytest.mark.parametrize("shape, kind, scan", SCAN_CASES, ids=[f"{s[0]}x{s[1]}-{k}-scan{n}" for s, k, n in SCAN_CASES])
def test_scan_width_from_the_config(request, tmp_path, simulator, shape, kind, scan):
    """Configured scan widths other than the default: the compiled machine has the config's K, its spikes equal
    golden's and its cycles equal what the cycle model gives for that config (and differ from the default K's)."""
    from accel.config import ArrayConfig
    from accel.model import evaluate, profile

    inet, x, T = network(kind)
    cfg = ArrayConfig(rows=shape[0], cols=shape[1], scan=scan)
    prog, run = cosim(request, tmp_path, inet, x, T, shape, scan=cfg.scan)
    assert run.ok, run.mismatches
    prof = profile(inet, simulate(inet, x, T=T))
    stats = evaluate(prof, cfg)
    assert prog.plan.scan == stats.plan.scan == cfg.scan_banks != ArrayConfig(rows=shape[0]).scan_banks
    assert sum(run.observation.cycles) == stats.cycles
    assert stats.cycles != evaluate(prof, ArrayConfig(rows=shape[0], cols=shape[1])).cycles


def _padded():
    """A 1x1 conv padded by 1 (its border outputs have empty windows: zero ops and pseudo unit reads)."""
    from golden import ir
    from golden.random import calibrate

    rng = np.random.default_rng(21)
    nodes = [ir.Input(name="input", inputs=(), shape=(2, 5, 5), bits=4, scale=1.0),
             ir.Conv2d(name="c0", inputs=("input",), weight=rng.normal(0, 0.5, (4, 2, 1, 1)), padding=(1, 1)),
             ir.QCFS(name="q0", inputs=("c0",), lam=1.0, bits=3),
             ir.Conv2d(name="c1", inputs=("q0",), weight=rng.normal(0, 0.3, (4, 4, 3, 3)), padding=(1, 1)),
             ir.QCFS(name="q1", inputs=("c1",), lam=1.0, bits=3),
             ir.Flatten(name="flat", inputs=("q1",)),
             ir.Linear(name="out", inputs=("flat",), weight=rng.normal(0, 0.1, (3, 196)))]
    net = calibrate(ir.network(nodes, name="padded"), random_inputs(rng, (2, 5, 5), 4, 32))
    return convert(net, bitplanes=True), random_inputs(rng, (2, 5, 5), 4, 2), None


@pytest.mark.parametrize("shape, kind", [((4, 4), "bundled3"), ((2, 3), "padded")])
def test_activity_counted_in_the_rtl_equals_the_model(request, tmp_path, simulator, shape, kind):
    """A monitor counts, cycle by cycle inside the generated Verilog, the ops the PE array executes by kind,
    the ACC ops carrying a spike, the scan units read per tensor, the spike words and bits written, the cycles
    the pipeline advances, the words the weight and parameter banks read (their read enables, port by port):
    each equals the cycle model's."""
    if kind == "bundled3":
        inet, x, T = network("bundled")
        from golden.datasets import digits_test

        x = digits_test().x[:3]
    else:
        inet, x, T = _padded()
    prog, run = cosim(request, tmp_path, inet, x, T, shape)
    assert run.ok, run.mismatches
    act = run.observation.activity
    assert act is not None and act["go"] == sum(c.cycles for c in run.expected.counters)
    assert sum(c.acc for c in run.expected.counters) > sum(c.events for c in run.expected.counters)  # zero ops
    # the checker is not vacuous: a model one count off in any counter is reported
    from snnbits.cosim.expect import check_activity

    for field in ("shift", "events", "spike_writes", "image_rows"):
        exp = dataclasses.replace(run.expected, counters=[dataclasses.replace(c) for c in run.expected.counters])
        setattr(exp.counters[-2], field, getattr(exp.counters[-2], field) + 1)
        assert any(m.startswith(f"ACTIVITY layer {exp.counters[-2].name} {field}")
                   for m in check_activity(prog, exp, run.observation)), field
    exp = dataclasses.replace(run.expected, counters=[dataclasses.replace(c) for c in run.expected.counters])
    exp.counters[0].cycles += 1
    assert any(m.startswith("ACTIVITY cycles") for m in check_activity(prog, exp, run.observation))
    # one bank port read once more (or once less) than the model says is reported
    for key in ("weight_reads", "param_reads"):
        for d in (1, -1):
            obs = dataclasses.replace(run.observation, activity={**act, key: act[key] + d})
            assert any(m.startswith(f"ACTIVITY {key}") for m in check_activity(prog, run.expected, obs)), key


def test_stalls_are_the_only_extra_cycles(request, tmp_path, simulator):
    """The image source idles and the logits sink refuses in 30 % of the cycles."""
    inet, x, T = network("residual")
    _, run = cosim(request, tmp_path, inet, x, T, (2, 2), gaps=0.3)
    assert run.ok, run.mismatches
    assert run.observation.stalls > 0


def test_streamed_weights_double_buffered(request, tmp_path, simulator):
    """Weights that do not fit stream in per image at 16 bits per cycle, two regions."""
    inet, x, T = network("balanced")

    def two_regions(p):
        two = p.rows * 2 * _ceil(2 * int(weight_plan(p).layer_words.max()), 2) * p.lanes * p.weight_width
        return weight_plan(p, capacity_bits=two, offchip_bits_per_cycle=16)

    prog, run = cosim(request, tmp_path, inet, x, T, (2, 2), wplan=two_regions)
    assert prog.wplan.streamed and prog.wplan.regions == 2
    assert run.ok, run.mismatches


def test_membranes_reach_the_derived_width(request, tmp_path, simulator):
    inet, x = width_corner()
    _, run = cosim(request, tmp_path, inet, x, None, (2, 2))
    assert run.ok, run.mismatches
    lanes = np.concatenate([b[2] for b in run.observation.logits[0]])
    assert int(lanes.max()) == inet.output.acc_hi and int(lanes.min()) == inet.output.acc_lo


def _fault_stimulus(kind):
    if kind == "tie":
        inet, x = tie_corner()
        return inet, x, None
    if kind == "width":
        inet, x = width_corner()
        return inet, x, None
    inet, x, T = network("residual")
    return inet, x[:1], T


FAULTS = {
    "gt": ("tie", {}, "SPIKES"),
    "fire_late": ("residual", {}, "PROTOCOL image 0: spurious spike write"),
    "ignore_ready": ("residual", {"gaps": 0.5}, "PROTOCOL logits: valid fell"),
    "drop_tile": ("residual", {}, "COVERAGE image 0 layer"),
    "drop_event": ("residual", {}, "SPIKES"),
    "narrow": ("width", {}, "LOGITS"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_planted_fault_is_caught(request, tmp_path, simulator, fault):
    kind, kw, reason = FAULTS[fault]
    inet, x, T = _fault_stimulus(kind)
    shape = (2, 2) if kind != "residual" else (1, 2)
    if fault == "narrow":
        kw = dict(kw, acc_width=plan(inet, *shape).acc_width - 1)
    else:
        kw = dict(kw, fault=fault)
    _, run = cosim(request, tmp_path, inet, x, T, shape, **kw)
    assert any(m.startswith(reason) for m in run.mismatches), (reason, run.mismatches[:8])

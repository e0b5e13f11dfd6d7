# amaranth: UnusedElaboratable=no
"""Fast tier: the accelerator top (rtl.top) and its lean PE (rtl.pe.LeanPE) under amaranth.sim.

Whole images of small networks through the top: the logits and every spike
written to the spike memories equal the golden model, every tile of every
layer issues its beats, and each image's cycles equal the cycle model's
(accel.machine) exactly.  Every planted fault is caught with a specific reason,
within the watchdog's bound.  The cocotb tier (test_accel_cosim.py) runs the
same checks on the generated Verilog, on larger arrays and the bundled model.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from accel.machine import TIMING, Timing
from accel.program import _ceil, compile_program, plan, weight_plan
from golden import ir
from golden.convert import convert
from golden.random import calibrate, random_inputs, random_network
from golden.simulate import simulate
from rtl.pe import LeanPE, PEOp
from rtl.top import FAULTS, Accelerator, MachineParams

from snnbits.cosim.build import build_top, machine_params
from snnbits.cosim.corners import tie_corner, width_corner
from snnbits.cosim.expect import check, expected
from snnbits.cosim.fast import run_fast

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _tiny(seed=0, **kw):
    """input 1x5x5 (4-bit) -> conv 3x3 (+ residual, pool) -> linear logits: a few hundred cycles."""
    rng = np.random.default_rng(seed)
    args = dict(input_shape=(1, 5, 5), channels=(2,), classes=3, bits=3) | kw
    net = random_network(rng, **args)
    return convert(net, bitplanes=True), random_inputs(rng, net.input.shape, net.input.bits, 2)


def run(inet, x, rows, cols, *, T=None, scan=1, fault=None, acc_width=None, gaps=0.0, budget=2.0):
    inet = dataclasses.replace(inet, bitplanes=True)
    res = simulate(inet, x, T=T)
    prog = compile_program(plan(inet, rows, cols, T, scan=scan))
    exp = expected(prog, res)
    top = build_top(prog, fault=fault, acc_width=acc_width)
    obs = run_fast(prog, top, x, max_cycles=int(budget * exp.cycles.max()) + 200, gaps=gaps, seed=3)
    return prog, exp, obs, check(prog, exp, obs, limit=0)


# ------------------------------------------------------------------ contract


def test_top_timing_is_the_cycle_models():
    inet, _ = _tiny()
    top = build_top(compile_program(plan(inet, 2, 2, scan=1)))
    assert top.timing == dataclasses.asdict(TIMING)
    assert top.pipeline_depth == TIMING.drain


def test_machine_params_are_validated():
    inet, _ = _tiny()
    hw = compile_program(plan(inet, 2, 3, scan=1)).hardware()
    with pytest.raises(ValueError, match=r"^scan must be a power of two, not 3$"):
        MachineParams.from_dict(dict(hw, scan=3))
    with pytest.raises(ValueError, match=r"^lanes must be >= cols \(3\), not 2$"):
        MachineParams.from_dict(dict(hw, lanes=2))
    with pytest.raises(TypeError, match=r"^rows must be a positive integer, not '2'$"):
        MachineParams.from_dict(dict(hw, rows="2"))
    with pytest.raises(ValueError, match=r"missing \['rows'\]"):
        MachineParams.from_dict({k: v for k, v in hw.items() if k != "rows"})
    with pytest.raises(ValueError, match=r"^fault must be one of"):
        build_top(compile_program(plan(inet, 2, 3, scan=1)), fault="nope")


# ------------------------------------------------------------------ the lean PE against its twins


def _pe_run(pe, ops):
    """Apply (op, w, p, pad) per cycle; returns (u after each op, spike during each op)."""
    us, spikes = [], []

    async def bench(ctx):
        for op, w, p, pad in ops:
            ctx.set(pe.op, op)
            ctx.set(pe.w, w)
            ctx.set(pe.p, p)
            ctx.set(pe.pad, pad)
            spikes.append(ctx.get(pe.spike))
            await ctx.tick()
            us.append(ctx.get(pe.u))

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return us, spikes


def _wrap(v, width):
    v &= (1 << width) - 1
    return v - (1 << width) if v >> (width - 1) else v


def test_lean_pe_accumulates_like_the_twin_exhaustively():
    """LOAD, SHIFT_ADD, ADD, FINISH from every 5-bit membrane with every 3-bit weight and parameter
    (golden.neuron's accumulate_step and shift, wrapped to the register's width)."""
    from golden import neuron

    A, W = 5, 3
    pe = LeanPE(weight_width=W, acc_width=A, max_pad=2)
    ops = []
    for hi, lo, w in itertools.product(range(-(1 << (W - 1)), 1 << (W - 1)), range(1 << (W - 1)),
                                       range(-(1 << (W - 1)), 1 << (W - 1))):
        ops += [(PEOp.LOAD, hi, 0, 0), (PEOp.SHIFT_ADD, lo, 0, 0), (PEOp.SHIFT_ADD, w, 0, 0), (PEOp.ADD, w, 0, 0),
                (PEOp.FINISH, 0, -hi * 3, 2), (PEOp.NOP, w, 7, 1)]
    want, u = [], 0
    for op, w, p, pad in ops:
        u = {PEOp.LOAD: w, PEOp.SHIFT_ADD: neuron.accumulate_step(u, w), PEOp.ADD: u + w,
             PEOp.FINISH: neuron.shift(u, pad) + p, PEOp.NOP: u}[op]
        u = _wrap(u, A)
        want.append(u)
    us, spikes = _pe_run(pe, ops)
    assert us == want
    assert not any(spikes)  # only FIRE spikes


@pytest.mark.parametrize("shifts", [(0, 1, 2, 3, 4, 5), (0, 5), (3,)])
def test_lean_pe_shifts_its_weight_exhaustively(shifts):
    """ADD and SHIFT_ADD of every 4-bit weight at every shift of the PE: u + (w << shift), u*2 + (w << shift)
    (a barrel shifter, a multiplexer over two copies, a constant shift)."""
    A, W = 12, 4
    pe = LeanPE(weight_width=W, acc_width=A, shifts=shifts)
    ops, want, u = [], [], 0
    for w, sh in itertools.product(range(-(1 << (W - 1)), 1 << (W - 1)), shifts):
        for op in (PEOp.ADD, PEOp.SHIFT_ADD):
            ops.append((op, w, 0, 0, sh))
            u = _wrap((u if op == PEOp.ADD else 2 * u) + (w << sh), A)
            want.append(u)
    us = []

    async def bench(ctx):
        for op, w, p, pad, sh in ops:
            ctx.set(pe.op, op)
            ctx.set(pe.w, w)
            ctx.set(pe.shift, sh)
            await ctx.tick()
            us.append(ctx.get(pe.u))

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert us == want


@pytest.mark.parametrize("fault", [None, "gt"])
def test_lean_pe_fires_like_the_twin_exhaustively(fault):
    """FIRE over every membrane and every threshold that fits the width: spike iff u >= thr, reset by
    subtraction (the twin's fire_step); the '>' fault differs exactly where u == thr."""
    from golden import neuron

    A = 6
    pe = LeanPE(weight_width=4, acc_width=A, fault=fault)
    ops, want_s, want_u = [], [], []
    for u0, thr in itertools.product(range(-(1 << (A - 1)), 1 << (A - 1)), range(0, 1 << (A - 1))):
        ops += [(PEOp.LOAD, 0, 0, 0), (PEOp.FINISH, 0, u0, 0), (PEOp.FIRE, 0, -thr, 0)]
        s, u1 = neuron.fire_step(u0, thr, 1, 1)
        want_s.append(int(s))
        want_u.append(int(u1))
    us, spikes = _pe_run(pe, ops)
    got_s, got_u = spikes[2::3], us[2::3]
    if fault is None:
        assert got_s == want_s and got_u == want_u
    else:
        ties = [i for i, (u0, thr) in enumerate(itertools.product(range(-(1 << (A - 1)), 1 << (A - 1)),
                                                                range(0, 1 << (A - 1)))) if u0 == thr]
        assert [i for i, (a, b) in enumerate(zip(got_s, want_s)) if a != b] == ties


# ------------------------------------------------------------------ whole images


def test_whole_images_equal_golden_and_model():
    """Residual merged into its conv, 2x2 pool addressed in hardware, two images back to back on 2x3."""
    inet, x = _tiny(0)
    _, exp, obs, bad = run(inet, x, 2, 3, scan=2)
    assert not bad, bad[:5]
    assert obs.cycles == exp.cycles.tolist() and len(obs.cycles) == 2


@pytest.mark.parametrize("timing", [Timing(setup=0), Timing(drain=3), Timing(image_row=2)])
def test_a_model_one_cycle_off_is_reported_on_every_image(timing):
    inet, x = _tiny(0)
    prog, exp, obs, bad = run(inet, x, 2, 3, scan=2)
    assert not bad
    res = simulate(dataclasses.replace(inet, bitplanes=True), x)
    off = check(prog, expected(prog, res, timing), obs, limit=0)
    assert [m.split(":")[0] for m in off] == ["CYCLES image 0", "CYCLES image 1"]


def test_grouped_strided_T_below_B_on_an_odd_array():
    inet, x = _tiny(4, channels=(2, 2), groups=True, strides=True, input_shape=(2, 6, 6), residual=False)
    _, exp, obs, bad = run(inet, x[:1], 3, 1, T=2, scan=1)
    assert not bad, bad[:5]


def test_per_term_weight_shifts():
    """A pixel term and a spike term of different scales (converted with per-term shifts): the weight
    memory holds the stored values, the PEs shift each lane weight by its term's shift."""
    from golden.random import mixed_scale_network

    rng = np.random.default_rng(5)
    net = mixed_scale_network(rng, pixel_bits=8, bits=2, skip="conv", size=4, channels=2)
    inet = convert(net, weight_bits=5, bitplanes=True, term_shifts=True)
    prog, exp, obs, bad = run(inet, random_inputs(rng, net.input.shape, 8, 1), 2, 2, scan=2)
    assert prog.plan.max_shift > 0 and prog.plan.weight_width <= 5
    assert not bad, bad[:5]


def _conv_logits():
    """A conv as the output layer: one logits beat per tile (many beats to back-pressure)."""
    rng = np.random.default_rng(2)
    nodes = [ir.Input(name="input", inputs=(), shape=(1, 4, 5), bits=3, scale=1.0),
             ir.Conv2d(name="c0", inputs=("input",), weight=rng.normal(0, 0.5, (3, 1, 3, 3)), padding=(1, 1))]
    return convert(ir.network(nodes), bitplanes=True), random_inputs(rng, (1, 4, 5), 3, 2)


def test_back_pressure_adds_exactly_the_stall_cycles():
    """The image source idle and the logits sink refusing in 30 % of the cycles: outputs exact,
    cycles minus stalls equal the model's."""
    inet, x = _conv_logits()
    _, exp, obs, bad = run(inet, x, 2, 2, gaps=0.3)
    assert not bad, bad[:5]
    assert obs.stalls >= 5


@pytest.mark.parametrize("regions, bits_per_cycle", [(2, 16), (1, 8)])
def test_streamed_weights(regions, bits_per_cycle):
    """Weights that do not fit: they stream in per image; the layers wait exactly as the model says."""
    inet, x = _tiny(1, input_shape=(2, 6, 6), channels=(4, 4), classes=3, bits=3)
    p = plan(inet, 2, 2, scan=2)
    two = p.rows * 2 * _ceil(2 * int(weight_plan(p).layer_words.max()), 2) * p.lanes * p.weight_width
    wp = weight_plan(p, capacity_bits=two if regions == 2 else two - 1, offchip_bits_per_cycle=bits_per_cycle)
    prog = compile_program(p, weights=wp)
    res = simulate(inet, x[:1])
    exp = expected(prog, res)
    obs = run_fast(prog, build_top(prog), x[:1], max_cycles=int(2 * exp.cycles.max()) + 200)
    assert wp.streamed and wp.regions == regions
    assert not check(prog, exp, obs), check(prog, exp, obs)[:5]


def test_membranes_reach_the_derived_width_on_the_array():
    """All-positive weights and all-maximum pixels: a logit equals acc_hi, another acc_lo, exactly."""
    inet, x = width_corner()
    prog, exp, obs, bad = run(inet, x, 2, 2)
    assert not bad, bad[:5]
    lanes = obs.logits[0][0][2]
    assert prog.plan.acc_width == inet.output.acc_bits
    assert int(lanes.max()) == inet.output.acc_hi and int(lanes.min()) == inet.output.acc_lo


# ------------------------------------------------------------------ planted faults


FAULT_CASES = {
    # fault: (stimulus, run keywords, the reason the checker must give)
    "gt": ("tie", {}, "SPIKES"),
    "fire_late": ("tiny", {}, "PROTOCOL image 0: spurious spike write"),
    "ignore_ready": ("beats", {"gaps": 0.5}, "PROTOCOL logits: valid fell"),
    "drop_tile": ("tiny", {}, "COVERAGE image 0 layer"),
    "drop_event": ("tiny", {}, "SPIKES"),
    "narrow": ("width", {}, "LOGITS"),
}


def fault_stimulus(kind):
    if kind == "tie":
        return tie_corner()
    if kind == "width":
        return width_corner()
    if kind == "beats":
        return _conv_logits()
    inet, x = _tiny(0)
    return inet, x[:1]


def test_tie_stimulus_runs_clean_without_the_fault():
    """The control of the '>' fault: the tie is computed exactly by the correct comparator."""
    inet, x = tie_corner()
    assert not run(inet, x, 2, 2)[3]


def test_every_fault_has_a_case():
    assert set(FAULT_CASES) == set(FAULTS) | {"narrow"}


@pytest.mark.parametrize("fault", sorted(FAULT_CASES))
def test_planted_fault_is_caught(fault):
    kind, kw, reason = FAULT_CASES[fault]
    inet, x = fault_stimulus(kind)
    if fault == "narrow":
        acc = plan(inet, 2, 2).acc_width
        _, exp, obs, bad = run(inet, x, 2, 2, acc_width=acc - 1, **kw)
    else:
        _, exp, obs, bad = run(inet, x, 2, 2, fault=fault, **kw)
    assert any(line.startswith(reason) for line in bad), (reason, bad[:8])
    assert obs.watchdog is None or fault == "ignore_ready"


def test_watchdog_ends_a_stuck_run_in_bounded_time():
    """An image whose last row never comes: the bench gives up after its budget and says why."""
    inet, x = _tiny(0)
    prog = compile_program(plan(inet, 2, 2, scan=1))
    top = build_top(prog)
    short = x[:1].copy()
    obs = run_fast(prog, top, short, max_cycles=150, gaps=0.0, seed=0, rows_limit=1)
    assert obs.watchdog and "no 'done' within 150 cycles" in obs.watchdog


def test_rtl_imports_no_model_code():
    """rtl/ is pure Amaranth: the harness joins it with the models, never the other way round."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "rtl"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ("accel", "golden", "energy") for n in names), (path.name, names)

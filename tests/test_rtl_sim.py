# amaranth: UnusedElaboratable=no
"""Fast tier: amaranth.sim testbenches of every PE against its twin in golden.neuron.

Exhaustive for small widths, hypothesis beyond.  The PEs wrap at their exact
widths, so where a small-width exhaustive test overflows, the expected value is
the twin's result wrapped to the same width (``wrap``); the no-wrap property of
realistic widths is tested separately (``test_neuron_no_wrap_at_derived_width``).
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden import neuron as twin
from rtl.pe import Accumulator, Comparator, NeuronPE, Reset, Shifter

from snnbits.cosim.faults import GreaterThanNeuronPE, NoInitNeuronPE
from snnbits.cosim.stimulus import min_acc_width, wrap

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # examples: the project profile


def _run(dut, bench, clocked=True):
    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _srange(width):
    return range(-(1 << (width - 1)), 1 << (width - 1))


# --- constructors -----------------------------------------------------------------------------

@pytest.mark.parametrize("cls, kwargs, name", [
    (NeuronPE, dict(acc_width=0, in_width=4, s_width=4, bits=4), "acc_width"),
    (NeuronPE, dict(acc_width=12, in_width=-1, s_width=4, bits=4), "in_width"),
    (NeuronPE, dict(acc_width=12, in_width=4, s_width=4, bits=0), "bits"),
    (Shifter, dict(width=8, max_shift=-1), "max_shift"),
    (Comparator, dict(acc_width=8, s_width=0, bits=2), "s_width"),
])
def test_constructor_rejects_bad_width_value(cls, kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name} must be a (positive|non-negative) integer, not -?\d+$"):
        cls(**kwargs)


@pytest.mark.parametrize("bad", ["12", 12.0, True, None])
def test_constructor_rejects_bad_width_type(bad):
    with pytest.raises(TypeError, match=rf"^acc_width must be a positive integer, not {bad!r}$"):
        NeuronPE(acc_width=bad, in_width=4, s_width=4, bits=4)


def test_constructor_is_keyword_only():
    with pytest.raises(TypeError):
        NeuronPE(12, 4, 4, 4)


def test_in_width_wider_than_acc_is_rejected():
    with pytest.raises(ValueError, match=r"^in_width must not exceed acc_width \(8\), not 9$"):
        NeuronPE(acc_width=8, in_width=9, s_width=4, bits=4)


def test_latency_properties():
    assert Shifter(width=8, max_shift=3).latency == 0
    assert Comparator(acc_width=8, s_width=4, bits=4).latency == 0
    assert Reset(acc_width=8, thr_width=7).latency == 0
    assert Accumulator(acc_width=8, in_width=4).latency == 1
    pe = NeuronPE(acc_width=12, in_width=4, s_width=4, bits=4)
    assert pe.latency == 2
    assert pe.evaluation_cycles(4, 4) == 10
    with pytest.raises(ValueError, match=r"^t_fire must be in 1\.\.4, not 5$"):
        pe.evaluation_cycles(4, 5)


# --- combinational PEs, exhaustive ------------------------------------------------------------

@pytest.mark.parametrize("width, max_shift", [(5, 3), (6, 1)])
def test_shifter_exhaustive(width, max_shift):
    dut = Shifter(width=width, max_shift=max_shift)
    cases = list(itertools.product(_srange(width), range(max_shift + 1)))
    got = []

    async def bench(ctx):
        for u, n in cases:
            ctx.set(dut.u, u)
            ctx.set(dut.n, n)
            got.append(ctx.get(dut.u_out))

    _run(dut, bench, clocked=False)
    want = [wrap(twin.shift(u, n), width) for u, n in cases]
    assert got == want


@pytest.mark.parametrize("acc_width, s_width, bits", [(6, 3, 3), (5, 2, 4), (4, 4, 1)])
def test_comparator_exhaustive(acc_width, s_width, bits):
    dut = Comparator(acc_width=acc_width, s_width=s_width, bits=bits)
    cases = list(itertools.product(_srange(acc_width), range(1 << s_width), range(1, bits + 1)))
    got = []

    async def bench(ctx):
        for u, S, t in cases:
            ctx.set(dut.u, u)
            ctx.set(dut.S, S)
            ctx.set(dut.t, t)
            got.append((ctx.get(dut.spike), ctx.get(dut.thr)))

    _run(dut, bench, clocked=False)
    want = [(int(twin.compare(u, twin.threshold(S, bits, t))), twin.threshold(S, bits, t))
            for u, S, t in cases]
    assert got == want


@pytest.mark.parametrize("acc_width, thr_width", [(5, 4), (4, 6)])
def test_reset_exhaustive(acc_width, thr_width):
    dut = Reset(acc_width=acc_width, thr_width=thr_width)
    cases = list(itertools.product(_srange(acc_width), (0, 1), range(1 << thr_width)))
    got = []

    async def bench(ctx):
        for u, s, thr in cases:
            ctx.set(dut.u, u)
            ctx.set(dut.spike, s)
            ctx.set(dut.thr, thr)
            got.append(ctx.get(dut.u_out))

    _run(dut, bench, clocked=False)
    assert got == [wrap(twin.reset(u, s, thr), acc_width) for u, s, thr in cases]


@SETTINGS
@given(data=st.data(), acc_width=st.integers(16, 40), s_width=st.integers(8, 16), bits=st.integers(1, 8))
def test_combinational_pes_wide_hypothesis(data, acc_width, s_width, bits):
    """Comparator, reset and shifter at realistic widths: no truncation anywhere in the compare."""
    cmp = Comparator(acc_width=acc_width, s_width=s_width, bits=bits)
    rst = Reset(acc_width=acc_width, thr_width=len(cmp.thr))
    shf = Shifter(width=acc_width, max_shift=bits)
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    vectors = data.draw(st.lists(st.tuples(st.integers(lo, hi), st.integers(0, (1 << s_width) - 1),
                                           st.integers(1, bits), st.integers(0, bits)), min_size=1, max_size=30))
    got = []

    async def bench(ctx):
        for u, S, t, n in vectors:
            ctx.set(cmp.u, u)
            ctx.set(cmp.S, S)
            ctx.set(cmp.t, t)
            spike, thr = ctx.get(cmp.spike), ctx.get(cmp.thr)
            ctx.set(rst.u, u)
            ctx.set(rst.spike, spike)
            ctx.set(rst.thr, thr)
            ctx.set(shf.u, u)
            ctx.set(shf.n, n)
            got.append((spike, thr, ctx.get(rst.u_out), ctx.get(shf.u_out)))

    m = Module()
    m.submodules += [cmp, rst, shf]
    _run(m, bench, clocked=False)
    want = []
    for u, S, t, n in vectors:
        thr = twin.threshold(S, bits, t)
        spike = int(twin.compare(u, thr))
        want.append((spike, thr, twin.reset(u, spike, thr), wrap(twin.shift(u, n), acc_width)))
    assert got == want


# --- accumulator: random operation sequences --------------------------------------------------

_OPS = st.one_of(
    st.tuples(st.just("clear")),
    st.tuples(st.just("step"), st.integers(-8, 7)),
    st.tuples(st.just("finish"), st.integers(0, 3), st.integers(-128, 127)),
    st.tuples(st.just("load"), st.integers(-128, 127)),
    st.tuples(st.just("idle")),
)


@SETTINGS
@given(ops=st.lists(_OPS, min_size=1, max_size=40))
def test_accumulator_matches_twin(ops):
    acc_width = 8
    dut = Accumulator(acc_width=acc_width, in_width=4, max_pad=3)
    got = []

    async def bench(ctx):
        for op in ops:
            for port in (dut.clear, dut.step, dut.finish, dut.load):
                ctx.set(port, 0)
            if op[0] == "step":
                ctx.set(dut.step, 1)
                ctx.set(dut.a, op[1])
            elif op[0] == "finish":
                ctx.set(dut.finish, 1)
                ctx.set(dut.pad, op[1])
                ctx.set(dut.init, op[2])
            elif op[0] == "load":
                ctx.set(dut.load, 1)
                ctx.set(dut.d, op[1])
            elif op[0] == "clear":
                ctx.set(dut.clear, 1)
            for _ in range(dut.latency):
                await ctx.tick()
            got.append(ctx.get(dut.u))

    _run(dut, bench)
    u, want = 0, []
    for op in ops:
        if op[0] == "clear":
            u = 0
        elif op[0] == "step":
            u = twin.accumulate_step(u, op[1])
        elif op[0] == "finish":
            u = twin.shift(u, op[1]) + op[2]
        elif op[0] == "load":
            u = op[1]
        u = wrap(u, acc_width)
        want.append(u)
    assert got == want


# --- the neuron -------------------------------------------------------------------------------

def simulate_neuron(dut, cases, gap_seed=None):
    """Run ``cases`` ((a_steps, init, S, T, pad) tuples) through ``dut``; return per-case
    ``(spikes, u_acc, cycles)``.  With ``gap_seed``, idle cycles are inserted at random
    between input steps (``a_valid`` low)."""
    rng = random.Random(gap_seed)
    results = []

    async def bench(ctx):
        for a_steps, init, S, T, pad in cases:
            assert ctx.get(dut.idle) == 1
            ctx.set(dut.start, 1)
            ctx.set(dut.S, S)
            ctx.set(dut.init, init)
            ctx.set(dut.n_fire, T)
            ctx.set(dut.pad, pad)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles, last_at = 1, None
            for i, a in enumerate(a_steps):
                while gap_seed is not None and rng.random() < 0.3:
                    ctx.set(dut.a_valid, 0)
                    await ctx.tick()
                    cycles += 1
                assert ctx.get(dut.a_ready) == 1
                ctx.set(dut.a, int(a))
                ctx.set(dut.a_valid, 1)
                ctx.set(dut.a_last, int(i == len(a_steps) - 1))
                last_at = cycles  # index of the cycle that accepts this step
                await ctx.tick()
                cycles += 1
            ctx.set(dut.a_valid, 0)
            spikes, u_acc, first_at = [], None, None
            for _ in range(len(a_steps) + 2 * dut.bits + 4):
                if ctx.get(dut.spike_valid):
                    if u_acc is None:
                        u_acc, first_at = ctx.get(dut.u), cycles
                    assert ctx.get(dut.t) == len(spikes) + 1
                    spikes.append(ctx.get(dut.spike))
                    done = ctx.get(dut.done)
                    await ctx.tick()
                    cycles += 1
                    if done:
                        break
                else:
                    await ctx.tick()
                    cycles += 1
            results.append((spikes, u_acc, cycles, first_at - last_at))

    _run(dut, bench)
    return results


def check_neuron(dut, cases, results):
    for n, ((a_steps, init, S, T, pad), (spikes, u_acc, _, lat)) in enumerate(zip(cases, results)):
        want_spikes, want_u = twin.neuron(np.array(a_steps).reshape(-1, 1), init, S, dut.bits, T,
                                          B_in=len(a_steps) + pad)
        want = [int(s) for s in want_spikes[:, 0]]
        assert (spikes, u_acc) == (want, int(want_u[0])), (
            f"neuron case {n}: a={list(a_steps)} init={init} S={S} T={T} pad={pad}: "
            f"expected spikes {want} u_acc {int(want_u[0])}, got spikes {spikes} u_acc {u_acc}")
        assert lat == dut.latency


@pytest.mark.parametrize("bits", [2, 3])
def test_neuron_exhaustive_small(bits):
    """Every input sequence of T_in = bits steps with a in the 4-bit range, for a few S/init."""
    in_width = 4
    acc_width = min_acc_width(in_width, bits, 0, init_range=(-16, 16))
    dut = NeuronPE(acc_width=acc_width, in_width=in_width, s_width=3, bits=bits)
    rng = random.Random(1234 + bits)
    cases = [(seq, rng.randint(-16, 16), rng.randint(1, 7), bits, 0)
             for seq in itertools.product(_srange(in_width), repeat=bits)]
    results = simulate_neuron(dut, cases)
    check_neuron(dut, cases, results)
    assert all(r[2] == dut.evaluation_cycles(bits, bits) for r in results)


@SETTINGS
@given(data=st.data(), bits=st.integers(1, 4), in_bits_extra=st.integers(0, 2))
def test_neuron_hypothesis(data, bits, in_bits_extra):
    in_bits = bits + in_bits_extra
    in_width, s_width = 5, 4
    acc_width = min_acc_width(in_width, in_bits, 0, init_range=(-200, 200))
    dut = NeuronPE(acc_width=acc_width, in_width=in_width, s_width=s_width, bits=bits, in_bits=in_bits)
    case = st.tuples(
        st.integers(1, in_bits).flatmap(
            lambda t_in: st.tuples(st.lists(st.integers(-16, 15), min_size=t_in, max_size=t_in),
                                   st.just(in_bits - t_in))),
        st.integers(-200, 200), st.integers(0, 15), st.integers(1, bits))
    raw = data.draw(st.lists(case, min_size=1, max_size=12))
    cases = [(a, init, S, T, pad) for (a, pad), init, S, T in raw]
    results = simulate_neuron(dut, cases, gap_seed=data.draw(st.integers(0, 2**32 - 1)))
    check_neuron(dut, cases, results)


def test_neuron_no_wrap_at_derived_width():
    """At the derived width, the extreme inputs do not wrap; one bit less, they do."""
    in_width, bits, s_width = 8, 4, 8
    init_range = (-(1 << 10), 1 << 10)
    width = min_acc_width(in_width, bits, 0, init_range=init_range)
    lo, hi = -(1 << (in_width - 1)), (1 << (in_width - 1)) - 1
    cases = [([hi] * bits, init_range[1], 1, bits, 0), ([lo] * bits, init_range[0], 1, bits, 0),
             ([hi] * bits, init_range[0], 255, bits, 0), ([lo] * bits, init_range[1], 255, bits, 0)]
    dut = NeuronPE(acc_width=width, in_width=in_width, s_width=s_width, bits=bits)
    check_neuron(dut, cases, simulate_neuron(dut, cases))
    narrow = NeuronPE(acc_width=width - 1, in_width=in_width, s_width=s_width, bits=bits)
    with pytest.raises(AssertionError, match="neuron case"):
        check_neuron(narrow, cases, simulate_neuron(narrow, cases))


@pytest.mark.parametrize("broken", [GreaterThanNeuronPE, NoInitNeuronPE])
def test_broken_neuron_is_caught(broken):
    """The regression must report a mismatch for a PE with a known fault."""
    bits, in_width = 3, 4
    acc_width = min_acc_width(in_width, bits, 0, init_range=(-16, 16))
    dut = broken(acc_width=acc_width, in_width=in_width, s_width=3, bits=bits)
    rng = random.Random(99)
    cases = [(seq, rng.randint(-16, 16), rng.randint(1, 7), bits, 0)
             for seq in itertools.product(_srange(in_width), repeat=bits)][::16]
    with pytest.raises(AssertionError, match="neuron case"):
        check_neuron(dut, cases, simulate_neuron(dut, cases))

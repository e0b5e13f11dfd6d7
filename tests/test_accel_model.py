"""accel.model: the sweep/energy-facing cycle model of the accelerator, its counts and its checks.

The cycles themselves are the machine's closed form (accel.machine), proven equal
to the per-op reference interpreter in test_accel_machine.py and to the RTL in
the co-simulation tests; here: the model reports those cycles, splits them into
busy/idle/stalled, counts traffic and operations consistently, rejects
configurations that cannot hold the network, and keeps its invariants on random
spike traces.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.machine import TIMING, network_cycles, run_reference
from accel.model import OPS, evaluate, profile, run_model
from accel.program import compile_program, plan, weight_plan
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import SimResult, simulate

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _net(seed: int, **kw):
    return random_network(np.random.default_rng(seed), **kw)


@functools.cache
def _nets():
    """(integer network, simulation result) pairs: residual+pool, grouped with T < B, no pool."""
    out = []
    for seed, kw, T in [
        (1, {}, None),
        (2, dict(groups=True, input_shape=(2, 7, 9), channels=(4, 4)), 3),
        (3, dict(residual=False, pool=False, input_shape=(1, 6, 6)), None),
    ]:
        net = _net(seed, **kw)
        inet = convert(net, bitplanes=True)
        x = random_inputs(np.random.default_rng(seed), net.input.shape, net.input.bits, 2)
        out.append((inet, simulate(inet, x, T=T)))
    return tuple(out)


@pytest.fixture
def nets():
    return _nets()


@pytest.mark.parametrize("shape", [(1, 1), (2, 4), (3, 5), (8, 8), (16, 1)])
def test_model_reports_the_machines_cycles(nets, shape):
    for inet, res in nets:
        stats = evaluate(profile(inet, res), ArrayConfig(rows=shape[0], cols=shape[1]))
        p = plan(inet, *shape, res.T)
        cycles, layers = network_cycles(p, res)
        assert np.array_equal(stats.image_cycles, cycles)
        assert stats.cycles == int(cycles.sum())
        for ls, lc in zip(stats.layers, layers):
            assert np.array_equal(ls.tile_cycles, lc.tile_ops)
            assert ls.cycles_busy == int(lc.ops.sum()) and ls.cycles_stalled == 0
        assert stats.total("cycles_idle") == res.pixels.shape[0] * (
            p.image.view[0] * p.image.view[1] + len(p.layers) * (TIMING.setup + TIMING.drain))


def test_one_image_by_hand():
    """One linear layer on a 2x2 image, 1 x 2 array: every unit, op and count written out."""
    from golden import ir

    nodes = [ir.Input(name="input", inputs=(), shape=(1, 2, 2), bits=4, scale=1.0),
             ir.Flatten(name="flat", inputs=("input",)),
             ir.Linear(name="out", inputs=("flat",), weight=np.array([[0.5, -0.25, 1.0, 0.1], [-1.0, 0.3, 0.2, 0.7]]))]
    inet = convert(ir.network(nodes), bitplanes=True)
    x = np.array([[[[0, 15], [1, 8]]]])
    res = simulate(inet, x)
    stats = run_model(inet, res, ArrayConfig(rows=1, cols=2))
    (layer,) = stats.layers
    # bit planes MSB first: [0,1,0,1] [0,1,0,0] [0,1,0,0] [0,1,1,0]; one channel, two rows: two units per
    # plane (K = 16 channels of one row each), with 1+1, 1+0, 1+0, 1+1 set bits
    assert layer.events == 6
    per_plane = [max(1, 1) + max(1, 1), 1 + 1, 1 + 1, 1 + 1]
    tile = sum(per_plane) + 1 + 1  # FINISH, READOUT
    assert layer.tile_cycles.tolist() == [[tile]]
    assert stats.image_cycles.tolist() == [2 + TIMING.setup + tile + TIMING.drain]
    assert layer.ops["synaptic_ops"] == 6 * 2  # each event reaches both neurons
    # both PEs add on each of the 8 ACC ops (zero ones included) and on FINISH; READOUT adds nothing
    assert layer.ops["pe_adds"] == 2 * (sum(per_plane) + 1)
    c = layer.counters
    assert (c.acc, c.events, c.load, c.shift, c.finish, c.readout, c.fire) == (8, 6, 1, 3, 1, 1, 0)
    # 8 units (two rows of four planes), each a word from the image's one bank (channel 0)
    assert layer.activity["spike_reads"] == {0: 8}
    # both halves of the one weight bank are read on the 6 ACC ops with a set bit (not on the 2 zero ops,
    # FINISH or READOUT); the one parameter bank on FINISH only
    assert layer.activity["weight_reads"] == 2 * 6
    assert layer.activity["param_reads"] == 1
    assert layer.activity["membrane_writes"] == 2 * (8 + 1) and layer.activity["membrane_reads"] == 2 * (8 + 1 + 1)


def test_the_reference_interpreter_agrees_on_a_whole_network(nets):
    inet, res = nets[1]
    stats = run_model(inet, res, ArrayConfig(rows=3, cols=2))
    ref = run_reference(compile_program(plan(inet, 3, 2, res.T)), res.pixels)
    assert np.array_equal(stats.image_cycles, ref.cycles)
    assert [ls.events for ls in stats.layers] == [ref.events[ls.name] for ls in stats.layers]


def test_narrow_accumulator_is_rejected(nets):
    inet, res = nets[0]
    with pytest.raises(AccelError, match=r"\[pe\] acc_bits = 4 is narrower than layer '\w+''s \d+-bit accumulator"):
        run_model(inet, res, ArrayConfig(acc_bits=4))


def test_spike_sram_too_small_is_rejected(nets):
    inet, res = nets[0]
    with pytest.raises(AccelError, match=r"\[memory\] spike_sram_kib = 0.01 is too small: .* need \d+ bits"):
        run_model(inet, res, ArrayConfig(spike_sram_kib=0.01))


def test_weight_sram_too_small_for_one_layer_is_rejected(nets):
    inet, res = nets[0]
    with pytest.raises(AccelError, match=r"config <defaults>: \[memory\] weight_sram_kib = 0.01: weight memory: "
                                         r"\d+ bits is too small for layer '[^']+' alone"):
        run_model(inet, res, ArrayConfig(weight_sram_kib=0.01))


def test_weights_not_resident_stream_and_stall(nets):
    inet, res = nets[0]
    prof = profile(inet, res)
    cfg = ArrayConfig(rows=2, cols=2)
    resident = evaluate(prof, cfg)
    p = plan(inet, 2, 2, res.T)
    wp = weight_plan(p)
    small = dataclasses.replace(cfg, weight_sram_kib=(wp.bits - 1) / 8192, offchip_bits_per_cycle=16)
    s = evaluate(prof, small)
    assert resident.weights_resident and not s.weights_resident
    streamed = weight_plan(p, small.weight_sram_bits, 16)
    assert s.sram_bits()["offchip"][0] == int(streamed.beats.sum()) * p.lanes * p.weight_width * prof.images
    assert s.total("cycles_stalled") == s.cycles - resident.cycles > 0
    assert resident.total("cycles_stalled") == 0 and resident.sram_bits()["offchip"] == (0, 0)


def test_counts_follow_the_definitions(nets):
    inet, res = nets[0]
    stats = run_model(inet, res, ArrayConfig(rows=2, cols=3))
    N = res.pixels.shape[0]
    for l, ls in zip(inet.layers, stats.layers):
        c = ls.counters
        assert set(ls.ops) == set(OPS)
        spikes = 0 if l.is_output else int(np.asarray(res.spikes[l.name]).sum())
        assert ls.ops["spikes"] == c.spikes == spikes  # the ones FIRE writes are the golden spikes
        assert c.finish == N * ls.tiles and c.fire == (0 if l.is_output else N * ls.tiles * res.T)
        assert ls.ops["pe_adds"] == 6 * (c.acc + c.finish + c.fire)
        assert ls.ops["events"] == c.events <= c.acc
        assert ls.cycles == c.cycles and c.ops == ls.cycles_busy
        assert ls.ops["synaptic_ops"] <= ls.ops["pe_adds"]
        assert 0 <= ls.pe_utilization <= 1


# ------------------------------------------------------------------ invariants on random traces


def _random_trace(inet, rng, rate: float, N: int = 2) -> SimResult:
    """A trace with Bernoulli(rate) spikes everywhere (the model only counts, it does not care about values)."""
    T = inet.bits
    res = SimResult(T=T, pixels=rng.integers(0, 1 << inet.input.bits, (N,) + tuple(inet.input.shape)))
    for l in inet.layers:
        if not l.is_output:
            res.spikes[l.name] = (rng.random((T, N) + tuple(l.out_shape)) < rate).astype(np.uint8)
    return res


def _thin(res: SimResult, rng) -> tuple[SimResult, SimResult]:
    """Split every spike train into two disjoint halves."""
    a = SimResult(T=res.T, pixels=res.pixels)
    b = SimResult(T=res.T, pixels=res.pixels)
    for k, s in res.spikes.items():
        keep = rng.random(s.shape) < 0.5
        a.spikes[k] = (s & keep).astype(np.uint8)
        b.spikes[k] = (s & ~keep).astype(np.uint8)
    return a, b


@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.05, 0.5), R=st.integers(1, 6), C=st.integers(1, 6))
@SETTINGS
def test_events_are_linear_in_the_spikes_and_cost_at_most_a_cycle_each(seed, rate, R, C):
    rng = np.random.default_rng(seed)
    nets = _nets()
    inet = nets[int(rng.integers(len(nets)))][0]
    full = _random_trace(inet, rng, rate)
    a, b = _thin(full, rng)
    cfg = ArrayConfig(rows=R, cols=C)
    sf, sa, sb = (evaluate(profile(inet, r), cfg) for r in (full, a, b))
    spiking = [not any(inet.is_input(s) for s in l.sources) for l in inet.layers]  # pixels are not thinned
    for lf, la, lb in (t for t, keep in zip(zip(sf.layers, sa.layers, sb.layers), spiking) if keep):
        assert la.events + lb.events == lf.events
        removed = lf.events - la.events
        assert 0 <= lf.cycles - la.cycles <= removed


def test_zero_spikes_cost_one_cycle_per_unit(nets):
    """No spike at all: every unit of every window costs exactly its one cycle."""
    inet, res = nets[0]
    zero = SimResult(T=res.T, pixels=np.zeros_like(res.pixels))
    for k, s in res.spikes.items():
        zero.spikes[k] = np.zeros_like(np.asarray(s))
    stats = run_model(inet, zero, ArrayConfig(rows=2, cols=2))
    _, layers = network_cycles(plan(inet, 2, 2, res.T), zero)
    for ls, lc in zip(stats.layers, layers):
        assert ls.events == 0
        assert np.array_equal(lc.scan, np.maximum(lc.units, 0) + (lc.scan - lc.units))
        assert (lc.scan >= lc.units).all()

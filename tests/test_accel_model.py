"""accel.model: the vectorized cycle model equals the naive per-cycle loop; invariants on random traces."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.model import ArrayTiming, evaluate, profile, reference_layer_cycles, run_model, tiling
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import SimResult, simulate

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _net(seed: int, **kw):
    return random_network(np.random.default_rng(seed), **kw)


@functools.cache
def _nets():
    """(integer network, simulation result) pairs: residual+pool, grouped, bit planes, T < B."""
    out = []
    for seed, kw, bitplanes, T in [
        (1, {}, False, None),
        (2, dict(groups=True, input_shape=(2, 7, 9), channels=(4, 4)), True, 3),
        (3, dict(residual=False, pool=False, input_shape=(1, 6, 6)), True, None),
    ]:
        net = _net(seed, **kw)
        inet = convert(net, bitplanes=bitplanes)
        x = random_inputs(np.random.default_rng(seed), net.input.shape, net.input.bits, 2)
        out.append((inet, simulate(inet, x, T=T)))
    return tuple(out)


@pytest.fixture
def nets():
    return _nets()


@pytest.mark.parametrize("shape", [(1, 1), (2, 4), (4, 4), (8, 8), (3, 5), (16, 1)])
def test_vectorized_model_equals_naive_per_cycle_loop(nets, shape):
    for inet, res in nets:
        prof = profile(inet, res)
        stats = evaluate(prof, ArrayConfig(rows=shape[0], cols=shape[1]))
        for lp, ls in zip(prof.layers, stats.layers):
            ref = reference_layer_cycles(lp, inet, *shape)
            assert ref.dtype == ls.tile_cycles.dtype and ref.shape == ls.tile_cycles.shape
            assert np.array_equal(ref, ls.tile_cycles), (inet.name, lp.name, shape)
            assert ls.cycles_busy + ls.cycles_idle == int(ls.tile_cycles.sum())


def test_tile_cycle_formula_by_hand():
    """One linear layer, 1 x 2 array: every tile sees all input spikes."""
    net = _net(4, input_shape=(1, 2, 2), channels=(), residual=False, pool=False, classes=2)
    inet = convert(net, bitplanes=True)
    res = simulate(inet, np.array([[[[0, 15], [1, 8]]]]))
    stats = run_model(inet, res, ArrayConfig(rows=1, cols=2))
    first = stats.layers[0]
    # input bit planes MSB first: [0,1,0,1] [0,1,0,0] [0,1,0,0] [0,1,1,0] -> events per step 2,1,1,2
    T = res.T
    tiles = first.tiles
    assert first.events == 6 * tiles
    assert list(first.tile_cycles[0]) == [1 + (2 + 1 + 1 + 2) + 1 + 1 + T] * tiles
    assert first.ops["accumulates"] == 6 * int(np.prod(inet.layers[0].out_shape))


def test_tiling_maps_every_neuron_exactly_once(nets):
    for inet, _ in nets:
        for layer in inet.layers:
            for R, C in [(1, 1), (3, 2), (4, 8)]:
                til = tiling(inet, layer, R, C)
                ids = np.concatenate([til.neurons(k) for k in range(til.tiles)])
                ids = ids[ids >= 0]
                assert np.array_equal(np.sort(ids), np.arange(int(np.prod(layer.out_shape))))
                assert int(np.broadcast_to(til.mapped, til.grid).sum()) == len(ids)


def test_perturbed_timing_changes_every_tile(nets):
    inet, res = nets[0]
    prof = profile(inet, res)
    a = evaluate(prof, ArrayConfig(rows=2, cols=2))
    b = evaluate(prof, ArrayConfig(rows=2, cols=2), ArrayTiming(drain=0))
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.tile_cycles - 1, lb.tile_cycles)


def test_weight_sram_too_small_is_rejected(nets):
    inet, res = nets[0]
    with pytest.raises(AccelError, match=r"config <defaults> with 4x4 array: \[memory\] weight_sram_kib = 0.01 .* "
                                         r"too small for layer '[^']+': its \d+ weights need \d+ bits"):
        run_model(inet, res, dataclasses.replace(ArrayConfig().with_shape(4, 4), weight_sram_kib=0.01))


def test_narrow_accumulator_is_rejected(nets):
    inet, res = nets[0]
    with pytest.raises(AccelError, match=r"\[pe\] acc_bits = 4 is narrower than layer 'q0'"):
        run_model(inet, res, ArrayConfig(acc_bits=4))


def test_weights_not_resident_stall_on_offchip_loads(nets):
    inet, res = nets[0]
    prof = profile(inet, res)
    weights = sum(lp.weights for lp in prof.layers) * 8
    cfg = ArrayConfig(weight_sram_kib=max(lp.weights for lp in prof.layers) * 8 / 8192, offchip_bits_per_cycle=32)
    s = evaluate(prof, cfg)
    assert not s.weights_resident
    assert s.sram_bits()["offchip"][0] == weights * prof.images
    assert s.total("cycles_stalled") == sum(-(-lp.weights * 8 // 32) for lp in prof.layers) * prof.images
    assert evaluate(prof, ArrayConfig()).total("cycles_stalled") == 0


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


@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.05, 0.5), R=st.integers(1, 8), C=st.integers(1, 8))
@SETTINGS
def test_halving_the_spike_rate_halves_the_events(seed, rate, R, C):
    rng = np.random.default_rng(seed)
    nets = _nets()
    inet = nets[int(rng.integers(len(nets)))][0]
    full = _random_trace(inet, rng, rate)
    a, b = _thin(full, rng)
    cfg = ArrayConfig(rows=R, cols=C)
    sf, sa, sb = (evaluate(profile(inet, r), cfg) for r in (full, a, b))
    spiking = [not any(inet.is_input(s) for s in l.sources) for l in inet.layers]  # pixels are not thinned
    for lf, la, lb in (t for t, keep in zip(zip(sf.layers, sa.layers, sb.layers), spiking) if keep):
        # events are linear in the spikes: the two halves sum to the whole, tile by tile
        assert la.events + lb.events == lf.events
        # each removed event removes at most one accumulate cycle, and never adds one
        removed = lf.events - la.events
        assert 0 <= lf.cycles - la.cycles <= removed
        assert la.ops["accumulates"] + lb.ops["accumulates"] == lf.ops["accumulates"]
    # the halves split the events about evenly
    ev = [(lf.events, la.events) for lf, la, keep in zip(sf.layers, sa.layers, spiking) if keep]
    full_ev, half_ev = sum(e[0] for e in ev), sum(e[1] for e in ev)
    if full_ev > 400:
        assert 0.4 < half_ev / full_ev < 0.6


@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.0, 0.6), R=st.integers(1, 8), C=st.integers(1, 8),
       axis=st.sampled_from(["rows", "cols"]))
@SETTINGS
def test_a_twice_larger_array_is_at_most_twice_faster(seed, rate, R, C, axis):
    rng = np.random.default_rng(seed)
    nets = _nets()
    inet = nets[int(rng.integers(len(nets)))][0]
    prof = profile(inet, _random_trace(inet, rng, rate))
    small = evaluate(prof, ArrayConfig(rows=R, cols=C))
    big = evaluate(prof, ArrayConfig(rows=2 * R if axis == "rows" else R, cols=2 * C if axis == "cols" else C))
    for ls, lb in zip(small.layers, big.layers):
        assert ls.cycles / 2 <= lb.cycles <= ls.cycles, ls.name
    assert small.cycles / 2 <= big.cycles <= small.cycles


def test_zero_spikes_cost_only_null_events(nets):
    inet, _ = nets[2]
    res = _random_trace(inet, np.random.default_rng(0), 0.0)
    res.pixels[:] = 0
    s = run_model(inet, res, ArrayConfig(rows=2, cols=2))
    assert s.total("events") == 0
    for l, lp in zip(s.layers, profile(inet, res).layers):
        assert np.all(l.tile_cycles == 3 + lp.n_pos + (lp.T if lp.hidden else 1))
    assert s.ops()["accumulates"] == 0 and s.ops()["synaptic_ops"] == 0


def test_synaptic_ops_equal_a_ones_weight_simulation(nets):
    """The separable fan-out count equals applying every term with all-ones weights to the events."""
    from golden.simulate import apply_term

    for inet, res in nets:
        for lp, layer in zip(profile(inet, res).layers, inet.layers):
            want = 0
            for term in layer.terms:
                st = next(s for s in lp.sources if s.source == term.source)
                shape = inet.source_shape(term.source)
                ev = st.events.reshape(st.events.shape[:2] + tuple(shape)).astype(np.int64)
                ones = dataclasses.replace(term, weight=np.ones_like(term.weight))
                want += sum(int(apply_term(ones, e).sum()) for e in ev)
            assert lp.synaptic_ops == want, (inet.name, lp.name)

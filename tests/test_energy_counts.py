"""Trace counts: exact synapse counting against brute force (the ideal lower bound adds exactly
these), and the paper's Section 6.3 left-shift argument."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy import counts
from energy.baselines import method_activity
from energy.counts import section63_ratio
from energy.errors import EnergyError
from golden.convert import Kind, SumPool, Term, convert
from golden.errors import GoldenError
from golden.ir import QCFS, BatchNorm, Conv2d, Flatten, Input, Linear, network
from golden.random import random_inputs, random_network
from golden.simulate import SimResult, simulate

# ------------------------------------------------------------------ brute force


def _pre_positions(pre, shape, pos):
    """Explicitly enumerate where input position ``pos`` lands after the pre ops (with multiplicity)."""
    cur = [(tuple(pos), tuple(shape))]
    for p in pre:
        nxt = []
        for q, shp in cur:
            if isinstance(p, SumPool):
                (kh, kw), (sh, sw) = p.kernel, p.stride
                C, H, W = shp
                Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
                c, y, x = q
                for oy in range(Ho):
                    for ox in range(Wo):
                        if oy * sh <= y < oy * sh + kh and ox * sw <= x < ox * sw + kw:
                            nxt.append(((c, oy, ox), (C, Ho, Wo)))
            else:
                C, H, W = shp
                c, y, x = q
                nxt.append(((c * H * W + y * W + x,), (C * H * W,)))
        cur = nxt
    return cur


def _synapses_of(term: Term, q, shp):
    """Explicitly enumerate the outgoing synapses of (pre-processed) position ``q``."""
    n = 0
    if term.kind is Kind.LINEAR:
        for _o in range(term.weight.shape[0]):
            n += 1
    elif term.kind is Kind.IDENTITY:
        n += 1
    else:
        O, Cg, kh, kw = term.weight.shape
        C, H, W = shp
        (sh, sw), (ph, pw), g = term.stride, term.padding, term.groups
        Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        c, y, x = q
        og = O // g
        for o in range(O):
            if o // og != c // Cg:
                continue
            for oy in range(Ho):
                for ox in range(Wo):
                    for i in range(kh):
                        for j in range(kw):
                            if oy * sh - ph + i == y and ox * sw - pw + j == x:
                                n += 1
    return n


def brute_synaptic_ops(term: Term, events: np.ndarray) -> int:
    """Loop over every event and every outgoing synapse of its position."""
    total = 0
    shape = events.shape[1:]
    fan = {}
    for idx in zip(*np.nonzero(events)):
        n, pos = idx[0], idx[1:]
        if pos not in fan:
            fan[pos] = sum(_synapses_of(term, q, shp) for q, shp in _pre_positions(term.pre, shape, pos))
        for _event in range(int(events[(n,) + tuple(pos)])):
            total += fan[pos]
    return total


# ------------------------------------------------------------------ strategies


@st.composite
def nets(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(3, 7)), draw(st.integers(3, 7))
    net = random_network(
        rng,
        input_shape=(C, H, W),
        input_bits=draw(st.integers(1, 6)),
        bits=draw(st.integers(1, 5)),
        channels=tuple(draw(st.lists(st.sampled_from([2, 4]), min_size=1, max_size=2))),
        pool=draw(st.booleans()),
        residual=draw(st.booleans()),
        groups=draw(st.booleans()),
        classes=draw(st.integers(2, 4)),
    )
    bitplanes = draw(st.booleans())
    for wb in range(8, 21):
        try:
            inet = convert(net, weight_bits=wb, bitplanes=bitplanes)
            break
        except GoldenError:
            continue
    x = random_inputs(rng, (C, H, W), net.input.bits, draw(st.integers(1, 3)))
    T = draw(st.integers(1, inet.bits))
    return inet, simulate(inet, x, T=T)


@given(nets())
def test_synaptic_ops_equal_brute_force_on_random_networks(case):
    inet, res = case
    acts = counts.activity(inet, res)
    ideal = method_activity("ours_ideal", inet, res)  # the ideal event-driven lower bound adds exactly these
    for layer, a, lc in zip(inet.layers, acts, ideal.layers):
        expect = 0
        for t in layer.terms:
            if inet.is_input(t.source):
                if inet.bitplanes:
                    P = inet.input.bits
                    expect += brute_synaptic_ops(t, sum((res.pixels >> b) & 1 for b in range(P)))
            else:
                expect += brute_synaptic_ops(t, res.spikes[t.source].sum(0))
        assert a.synaptic_ops == expect, layer.name
        if inet.bitplanes or inet.input.name not in layer.sources:  # multi-bit pixels are MACs
            syn = [o for o in lc.ops if o.category == "synaptic"]
            assert sum(o.count for o in syn) == expect == lc.synaptic_adds, layer.name
            assert all(o.op == "int_add" and o.bits == layer.acc_bits for o in syn)


@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.sampled_from([1, 2, 3]),
    stride=st.integers(1, 2),
    pad=st.integers(0, 2),
    groups=st.sampled_from([1, 2]),
    pool=st.booleans(),
)
def test_synaptic_ops_equal_brute_force_on_strided_padded_grouped_pooled_convs(seed, k, stride, pad, groups, pool):
    rng = np.random.default_rng(seed)
    C, O, H, W = 2 * groups, 2 * groups, 7, 6
    pre = (SumPool((2, 2), (1, 2)),) if pool else ()
    term = Term(source="s", pre=pre, kind=Kind.CONV, weight=rng.integers(-3, 4, (O, C // groups, k, k)),
                stride=(stride, stride), padding=(pad, pad), groups=groups)
    events = rng.integers(0, 3, (2, C, H, W)) * (rng.random((2, C, H, W)) < 0.4)
    assert counts.synaptic_ops(term, events) == brute_synaptic_ops(term, events)


def test_synaptic_ops_refuses_negative_counts():
    term = Term(source="s", pre=(), kind=Kind.IDENTITY, weight=np.ones(2, dtype=np.int64))
    with pytest.raises(EnergyError, match="non-negative"):
        counts.synaptic_ops(term, -np.ones((1, 2, 2, 2), dtype=np.int64))


@pytest.fixture(scope="module")
def small_case():
    rng = np.random.default_rng(7)
    net = random_network(rng, input_shape=(2, 6, 6), channels=(4, 4))
    inet = convert(net)
    x = random_inputs(rng, net.input.shape, net.input.bits, 3)
    return inet, simulate(inet, x)


def test_activity_refuses_missing_spikes(small_case):
    inet, res = small_case
    name = inet.layers[0].name
    broken = SimResult(res.T, res.pixels, bits=res.bits, spikes={k: v for k, v in res.spikes.items() if k != name})
    with pytest.raises(EnergyError, match=name):
        counts.activity(inet, broken)


# ------------------------------------------------------------------ Section 6.3


def test_section63_formula():
    # s k^2 c_in at 90 % sparsity, k = 3, c_in = 512: the paper prints 406.8, the formula gives 460.8
    assert section63_ratio(0.1, 3, 512) == pytest.approx(460.8, rel=1e-12)
    assert section63_ratio(0.1, 3, 512) != pytest.approx(406.8, rel=1e-3)


def test_section63_from_real_counts():
    """A 3x3 conv reading 512 channels whose every input slot spikes exactly once in T = 10
    steps (density 0.1): synaptic ops per left shift come out at exactly 460.8."""
    B, C, H = 10, 512, 5
    rng = np.random.default_rng(0)
    net = network([
        Input(name="input", inputs=(), shape=(1, H, H), bits=4, scale=1.0),
        Conv2d(name="c0", inputs=("input",), weight=rng.normal(0, 1, (C, 1, 1, 1))),
        QCFS(name="q0", inputs=("c0",), lam=1.0, bits=B),
        Conv2d(name="c1", inputs=("q0",), weight=rng.normal(0, 0.05, (1, C, 3, 3))),
        BatchNorm(name="bn1", inputs=("c1",), gamma=np.ones(1), beta=np.zeros(1), mean=np.zeros(1), var=np.ones(1)),
        QCFS(name="q1", inputs=("bn1",), lam=1.0, bits=B),
        Flatten(name="f", inputs=("q1",)),
        Linear(name="fc", inputs=("f",), weight=rng.normal(0, 1, (2, (H - 2) ** 2))),
    ], name="sec63")
    inet = convert(net, weight_bits=16)
    res = simulate(inet, random_inputs(rng, (1, H, H), 4, 1))
    s = np.zeros((B, 1, C, H, H), dtype=np.uint8)
    for c in range(C):
        s[c % B, 0, c] = 1  # channel c spikes at step c mod 10, everywhere
    res.spikes["q0"] = s
    a = {x.layer: x for x in counts.activity(inet, res)}["q1"]
    assert a.input_density == pytest.approx(0.1)
    assert a.shift_ops == (H - 2) ** 2 * B  # one left shift per neuron per input step
    assert a.synaptic_per_shift == pytest.approx(section63_ratio(0.1, 3, C), rel=1e-12)

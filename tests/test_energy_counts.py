"""Operation counts: exact synapse counting against brute force, energy = counts x table
by hand, the baselines' structure, and the paper's Section 6.3 left-shift argument."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy import counts
from energy.costs import load_costs, parse_costs
from energy.counts import OpCount
from energy.errors import EnergyError
from energy.model import price, section63_ratio
from energy.report import energy_report
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
    w = counts.ours(inet, res)
    for layer, a, lc in zip(inet.layers, acts, w.layers):
        expect = 0
        for t in layer.terms:
            if inet.is_input(t.source):
                if inet.bitplanes:
                    P = inet.input.bits
                    expect += brute_synaptic_ops(t, sum((res.pixels >> b) & 1 for b in range(P)))
            else:
                expect += brute_synaptic_ops(t, res.spikes[t.source].sum(0))
        assert a.synaptic_ops == expect, layer.name
        syn = [r for r in lc.compute if r.category == "synaptic"]
        assert len(syn) == 1 and syn[0].ops == expect and syn[0].op == "int_add" and syn[0].bits == layer.acc_bits


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


# ------------------------------------------------------------------ energy = counts x costs, by hand

INT_TABLE = {  # integer energies; every op priced independently of width (scaling "constant")
    "int_add": 1, "int_mult": 10, "shift": 100, "compare": 1000, "reset": 10000, "fp32_add": 3, "fp32_mult": 7,
}


def int_table(sram_pj=64, dram_pj=128, sram_bytes=1 << 30):
    d = {"schema_version": 1, "name": "integers"}
    for op, e in INT_TABLE.items():
        d[op] = {"scaling": "constant", "points": [{"bits": 32 if op.startswith("fp32") else 8, "energy_pj": e, "source": "t"}]}
    d["sram"] = {"scaling": "constant", "points": [{"bits": 64, "energy_pj": sram_pj, "capacity_bytes": sram_bytes, "source": "t"}]}
    d["dram"] = {"scaling": "constant", "points": [{"bits": 64, "energy_pj": dram_pj, "source": "t"}]}
    return parse_costs(d, "int-table")


@pytest.fixture(scope="module")
def small_case():
    rng = np.random.default_rng(7)
    net = random_network(rng, input_shape=(2, 6, 6), channels=(4, 4))
    inet = convert(net)
    x = random_inputs(rng, net.input.shape, net.input.bits, 3)
    return inet, simulate(inet, x)


def test_ours_energy_is_counts_times_integer_costs_by_hand(small_case):
    inet, res = small_case
    acts = counts.activity(inet, res)
    e = price(counts.ours(inet, res), int_table())  # SRAM at 1 pJ per bit everywhere
    N = res.pixels.shape[0]
    total_compute = total_memory = 0
    for layer, a, le in zip(inet.layers, acts, e.layers):
        macs = sum(r.ops for r in le.compute if r.category == "mac" and r.op == "int_mult")
        hidden = not layer.is_output
        spikes = int(res.spikes[layer.name].sum()) if hidden else 0
        compute = (a.synaptic_ops * 1 + macs * (10 + 1) + a.neurons * a.in_steps * 100 + a.neurons * 1
                   + (a.neurons * res.T * 1000 + spikes * 10000 if hidden else 0))
        assert le.compute_energy_pj == compute, layer.name
        n_out = int(np.prod(layer.out_shape))
        reads = sum(int(np.prod(inet.source_shape(t.source))) * (inet.input.bits if inet.is_input(t.source) else res.T)
                    for t in layer.terms)
        memory = ((a.synaptic_ops + macs) * layer.weight_bits          # one weight read per synaptic op / MAC
                  + 2 * a.neurons * a.in_steps * layer.acc_bits         # membrane read + write per input step
                  + N * reads                                           # input maps read once
                  + N * n_out * (res.T if hidden else layer.acc_bits))  # output written once
        assert le.memory_energy_pj == memory, layer.name
        assert sum(r.energy_pj for r in le.compute) == le.compute_energy_pj
        total_compute += compute
        total_memory += memory
    assert e.compute_energy_pj == total_compute
    assert e.memory_energy_pj == total_memory
    assert e.total_energy_pj == total_compute + total_memory
    cat = e.by_category()
    assert cat["shift"] == sum(a.shift_ops for a in acts) * 100
    assert sum(cat.values()) == e.total_energy_pj


def test_memory_is_priced_by_buffer_size(small_case):
    inet, res = small_case
    cheap = price(counts.ours(inet, res), int_table(sram_pj=64, dram_pj=128, sram_bytes=1 << 30))
    all_dram = price(counts.ours(inet, res), int_table(sram_pj=64, dram_pj=128, sram_bytes=1))
    assert all(r.memory == "sram" for l in cheap.layers for r in l.memory)
    assert all(r.memory == "dram" for l in all_dram.layers for r in l.memory)
    assert all_dram.memory_energy_pj == 2 * cheap.memory_energy_pj
    assert all_dram.compute_energy_pj == cheap.compute_energy_pj


def test_dense_ann_baselines_by_hand():
    """One linear layer on 3 pixels: every count can be written down."""
    net = network([
        Input(name="input", inputs=(), shape=(3,), bits=2, scale=1.0),
        Linear(name="fc", inputs=("input",), weight=np.array([[1.0, -0.5, 0.25], [0.5, 0.5, -1.0]]), bias=np.zeros(2)),
    ], name="tiny")
    inet = convert(net, weight_bits=8)
    N = 5
    t = int_table()
    # FP32: 6 MACs per image (mult 7 + add 3), bias add 3 per neuron; no activation on logits
    fp = price(counts.ann_fp32(inet, N), t)
    assert fp.compute_energy_pj == N * (6 * (7 + 3) + 2 * 3)
    # memory at 1 pJ/bit: weights 6 x 32, membrane 2 x 2 x 32, pixels 3 x 32, logits 2 x 32
    assert fp.memory_energy_pj == N * (6 * 32 + 2 * 2 * 32 + 3 * 32 + 2 * 32)
    q = price(counts.qann(inet, N), t)
    A = inet.output.acc_bits
    assert q.compute_energy_pj == N * (6 * (10 + 1) + 2 * 1)
    assert q.memory_energy_pj == N * (6 * inet.output.weight_bits + 2 * 2 * A + 3 * 2 + 2 * A)


def test_bit_serial_is_ours_without_sparsity(small_case):
    inet, res = small_case
    N = res.pixels.shape[0]
    bs = counts.bit_serial(inet, N, res.T)
    acts = counts.activity(inet, res)
    for a, lc in zip(acts, bs.layers):
        syn = sum(r.ops for r in lc.compute if r.category == "synaptic")
        assert syn == a.dense_synapses  # every bit plane, zeros included
        assert syn >= a.synaptic_ops
    # with every spike set, ours equals the bit-serial ANN
    ones = SimResult(res.T, res.pixels, bits=res.bits, spikes={k: np.ones_like(v) for k, v in res.spikes.items()})
    assert counts.ours(inet, ones).layers == bs.layers


def test_rate_coded_uses_simulation_or_says_it_estimates(small_case):
    inet, res = small_case
    sim = counts.rate_coded(inet, res.pixels, codes=res.codes)
    assert not sim.estimated and "golden.baselines.rate_coded" in sim.note
    est = counts.rate_coded(inet, res.pixels, T=128, codes=res.codes)  # beyond the simulator's range
    assert est.estimated and "ESTIMATED" in est.note
    assert "refused" in est.note
    with pytest.raises(EnergyError, match="no codes"):
        counts.rate_coded(inet, res.pixels, T=128)
    # no shifts in a rate-coded SNN; T = 2**B compares per hidden neuron
    assert all(r.category != "shift" for l in sim.layers for r in l.compute)


def test_code_major_dataflow(small_case):
    inet, res = small_case
    acts = counts.activity(inet, res)
    w = counts.ours(inet, res, "code_major")
    for layer, a, lc in zip(inet.layers, acts, w.layers):
        mem = {(m.category, m.direction): m.bits for m in lc.memory}
        assert mem[("membrane", "read")] == a.neurons * layer.acc_bits
        macs = sum(r.ops for r in lc.compute if r.op == "int_mult")
        assert mem[("weights", "read")] == (a.active_synapses + macs) * layer.weight_bits
        assert a.active_synapses <= a.synaptic_ops
    with pytest.raises(EnergyError, match="dataflow"):
        counts.ours(inet, res, "diagonal")


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


def test_left_shifts_are_a_small_share_of_compute(small_case):
    inet, res = small_case
    rep = energy_report(inet, res, load_costs())
    assert 0 < rep.left_shift_share < 0.2
    assert rep.left_shift_share_total < rep.left_shift_share


def test_report_totals_and_ratios(small_case):
    inet, res = small_case
    rep = energy_report(inet, res, load_costs())
    assert [m.method for m in rep.methods] == ["ours", "ann_fp32", "ann_int8", "qann", "bit_serial", "rate_coded"]
    for m in rep.methods:
        assert m.total_energy_pj == pytest.approx(sum(l.total_energy_pj for l in m.layers), rel=1e-12)
        assert m.compute_energy_pj == pytest.approx(sum(r.energy_pj for l in m.layers for r in l.compute), rel=1e-12)
    r = {x.baseline: x for x in rep.ratios}
    assert r["qann"].compute == pytest.approx(rep.method("qann").compute_energy_pj / rep.ours.compute_energy_pj)
    assert r["ann_fp32"].compute > r["ann_int8"].compute > 1  # FP32 MACs cost most
    with pytest.raises(EnergyError, match="unknown baseline"):
        energy_report(inet, res, load_costs(), baselines=("spinnaker",))


def test_opcount_rows_are_frozen():
    r = OpCount("synaptic", "int_add", 8, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.ops = 2


def test_ann_baselines_do_not_depend_on_bitplanes():
    net = random_network(np.random.default_rng(11), input_shape=(1, 6, 6), channels=(4,))
    a, b = convert(net, bitplanes=False), convert(net, bitplanes=True)
    for make in (counts.ann_fp32, counts.ann_int8, counts.qann):
        assert make(a, 2).layers == make(b, 2).layers


@given(nets(), st.sampled_from(["step_major", "code_major", "weight_stationary"]))
def test_every_total_is_the_sum_of_count_times_cost(case, dataflow):
    """Integer costs make every product exact: layer and method totals must equal the
    sums of count x unit cost over their rows, for ours and every baseline."""
    inet, res = case
    table = int_table(sram_pj=64, dram_pj=128, sram_bytes=256)  # small buffers SRAM, large ones DRAM
    rep = energy_report(inet, res, table, dataflow=dataflow)
    for m in rep.methods:
        tc = tm = 0
        for l in m.layers:
            c = sum(r.ops * INT_TABLE[r.op] for r in l.compute)
            mem = sum(r.bits * (1 if r.buffer_bytes <= 256 else 2) for r in l.memory)
            assert l.compute_energy_pj == c and l.memory_energy_pj == mem, (m.method, l.layer)
            assert l.total_energy_pj == c + mem
            tc, tm = tc + c, tm + mem
        assert m.compute_energy_pj == tc and m.memory_energy_pj == tm and m.total_energy_pj == tc + tm, m.method
        assert sum(m.by_category().values()) == tc + tm


def test_weight_stationary_reads_every_weight_once_per_image(small_case):
    inet, res = small_case
    N = res.pixels.shape[0]
    methods = [counts.ours(inet, res, "weight_stationary"), counts.qann(inet, N, "weight_stationary"),
               counts.bit_serial(inet, N, res.T, "weight_stationary"),
               counts.rate_coded(inet, res.pixels, codes=res.codes, dataflow="weight_stationary")]
    for w in methods:
        for layer, lc in zip(inet.layers, w.layers):
            params = sum(t.weight.size for t in layer.terms)
            reads = [m for m in lc.memory if m.category == "weights"]
            assert len(reads) == 1 and reads[0].bits == params * N * layer.weight_bits, (w.method, layer.name)
    step = counts.ours(inet, res, "step_major")
    for a, b in zip(methods[0].layers, step.layers):
        assert [m for m in a.memory if m.category == "membrane"] == [m for m in b.memory if m.category == "membrane"]

"""Bit-exactness of the SNN against the integer QCFS ANN, on random networks.

The integer ANN here is an independent brute-force evaluator (explicit loops over
every output neuron and every synapse) of the integer definition in NOTES.md; the
SNN is the golden simulator in both modes.  Everything is compared with
``np.array_equal`` after checking dtype and shape.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from golden.baselines import variant
from golden.convert import Kind, SumPool
from golden.simulate import simulate, synaptic_steps
from golden import neuron

from strategies import networks


def check(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert a.dtype.kind in "iu" and b.dtype.kind in "iu", f"{what}: dtypes {a.dtype}, {b.dtype}"
    assert np.array_equal(a, b), f"{what}: {np.argwhere(a != b)[:5].tolist()} differ"


# ------------------------------------------------------------ brute force integer ANN


def _pre(term, x):
    """Sum pooling / flatten on one sample, with loops."""
    for p in term.pre:
        if isinstance(p, SumPool):
            (kh, kw), (sh, sw) = p.kernel, p.stride
            C, H, W = x.shape
            Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
            y = np.zeros((C, Ho, Wo), dtype=np.int64)
            for c in range(C):
                for i in range(Ho):
                    for j in range(Wo):
                        for di in range(kh):
                            for dj in range(kw):
                                y[c, i, j] += x[c, i * sh + di, j * sw + dj]
            x = y
        else:
            x = x.reshape(-1)
    return x


def _term(term, x):
    x = _pre(term, x)
    w = term.weight
    if term.kind is Kind.IDENTITY:
        return x * w.reshape((-1,) + (1,) * (x.ndim - 1))
    if term.kind is Kind.LINEAR:
        return np.array([sum(int(w[o, i]) * int(x[i]) for i in range(x.shape[0])) for o in range(w.shape[0])], dtype=np.int64)
    O, Cg, kh, kw = w.shape
    C, H, W = x.shape
    (sh, sw), (ph, pw), g = term.stride, term.padding, term.groups
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((O, Ho, Wo), dtype=np.int64)
    og = O // g
    for o in range(O):
        grp = o // og
        for i in range(Ho):
            for j in range(Wo):
                acc = 0
                for c in range(Cg):
                    for di in range(kh):
                        for dj in range(kw):
                            r, s = i * sh + di - ph, j * sw + dj - pw
                            if 0 <= r < H and 0 <= s < W:
                                acc += int(w[o, c, di, dj]) * int(x[grp * Cg + c, r, s])
                y[o, i, j] = acc
    return y


def brute_force_ann(inet, x, T):
    """Integer QCFS ANN: acc = sum W k + bias + S//2, k = clip(floor(acc / S), 0, L), T MSBs kept."""
    codes, accs = {}, {}
    for n in range(x.shape[0]):
        vals = {inet.input.name: x[n]}
        for layer in inet.layers:
            acc = sum(_term(t, vals[t.source]) for t in layer.terms)
            acc = acc + layer.init.reshape((-1,) + (1,) * (acc.ndim - 1))
            accs.setdefault(layer.name, []).append(acc)
            if not layer.is_output:
                L = (1 << layer.bits) - 1
                S = layer.S.reshape((-1,) + (1,) * (acc.ndim - 1))
                k = np.clip(acc // S, 0, L)
                k = (k >> (layer.bits - T)) << (layer.bits - T)
                vals[layer.name] = k
                codes.setdefault(layer.name, []).append(k)
    return {k: np.stack(v) for k, v in codes.items()}, {k: np.stack(v) for k, v in accs.items()}


# ------------------------------------------------------------ properties


@given(networks(), st.data())
def test_snn_spikes_are_the_bits_of_the_integer_ann(case, data):
    net, inet, x = case
    T = data.draw(st.integers(1, inet.bits), label="T")
    codes, accs = brute_force_ann(inet, x, T)
    lit = simulate(inet, x, T=T, mode="literal", membranes=True)
    for layer in inet.layers:
        check(lit.membrane[layer.name], accs[layer.name], f"{layer.name} membrane")
        if layer.is_output:
            continue
        k = codes[layer.name]
        bits = np.stack([(k >> (layer.bits - 1 - t)) & 1 for t in range(T)])
        check(lit.spikes[layer.name], bits.astype(np.uint8), f"{layer.name} spikes vs ANN code bits")
    check(lit.logits(inet), accs[inet.output.name], "logits")


@given(networks(), st.data())
def test_literal_equals_fast(case, data):
    net, inet, x = case
    T = data.draw(st.integers(1, inet.bits), label="T")
    a = simulate(inet, x, T=T, mode="literal", membranes=True)
    b = simulate(inet, x, T=T, mode="fast", membranes=True)
    assert a.spikes.keys() == b.spikes.keys() and a.membrane.keys() == b.membrane.keys()
    for k in a.membrane:
        check(a.membrane[k], b.membrane[k], f"{k} membrane")
    for k in a.spikes:
        check(a.spikes[k], b.spikes[k], f"{k} spikes")
        check(a.codes[k], b.codes[k], f"{k} codes")


@given(networks())
def test_neuron_twin_reproduces_every_layer(case):
    """The whole-neuron twin, fed the synaptic sums of each step, gives the layer's trace."""
    net, inet, x = case
    res = simulate(inet, x, mode="fast")
    for layer in inet.layers:
        a = synaptic_steps(inet, layer, res)
        init = layer.init.reshape((1, -1) + (1,) * (a.ndim - 3))
        if layer.is_output:
            u = np.zeros(a.shape[1:], dtype=np.int64)
            for t in range(a.shape[0]):
                u = neuron.accumulate_step(u, a[t])
            check(u + init, res.membrane[layer.name], f"{layer.name} logits")
            continue
        S = layer.S.reshape((1, -1) + (1,) * (a.ndim - 3))
        spikes, u_acc = neuron.neuron(a, init, S, layer.bits)
        check(u_acc, res.membrane[layer.name], f"{layer.name} membrane")
        check(spikes, res.spikes[layer.name].astype(np.int64), f"{layer.name} spikes")


@given(networks(max_bits=6), st.data())
def test_ablation_simulator_with_everything_on_is_exact(case, data):
    """The paper's switches all on, any T <= B: the baseline simulator is the exact SNN."""
    net, inet, x = case
    T = data.draw(st.integers(1, inet.bits), label="T")
    ex = simulate(inet, x, T=T)
    v = variant(inet, x, T, left_shift=True, bias_shift=True, modified_if=True)
    for k in ex.spikes:
        check(v.spikes[k], ex.spikes[k], f"{k} spikes")
    assert np.array_equal(v.logits, ex.logits(inet).astype(np.float64))


@given(networks())
def test_bitplane_input_equals_multibit_input(case):
    import dataclasses

    net, inet, x = case
    a = simulate(dataclasses.replace(inet, bitplanes=False), x, mode="literal", membranes=True)
    b = simulate(dataclasses.replace(inet, bitplanes=True), x, mode="literal", membranes=True)
    for k in a.membrane:
        check(a.membrane[k], b.membrane[k], f"{k} membrane")


@given(networks(), st.integers(1, 5))
def test_chunked_run_equals_full_run(case, chunk):
    net, inet, x = case
    full = simulate(inet, x)
    parts = [simulate(inet, x[i : i + chunk]) for i in range(0, len(x), chunk)]
    for k in full.membrane:
        check(np.concatenate([p.membrane[k] for p in parts]), full.membrane[k], k)


def test_T_below_B_keeps_the_most_significant_bits():
    from golden.convert import convert
    from golden.random import random_inputs, random_network

    rng = np.random.default_rng(3)
    inet = convert(random_network(rng, bits=6))
    x = random_inputs(rng, (2, 8, 8), 4, 20)
    full = simulate(inet, x)
    first = inet.layers[0].name  # reads pixels only: same accumulation at any T
    for T in range(1, 7):
        r = simulate(inet, x, T=T, mode="literal")
        mask = (1 << 6) - (1 << (6 - T))  # the T MSBs of a 6-bit code
        check(r.codes[first], full.codes[first] & mask, f"T={T}")
        check(r.spikes[first], full.spikes[first][:T], f"T={T} spikes")

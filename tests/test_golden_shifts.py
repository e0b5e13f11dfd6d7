"""Per-term shifts (``convert(..., term_shifts=True)``): exactness, storage and fidelity.

A shifted term keeps its *effective* integer weights in ``Term.weight`` (what every sum of
the integer network uses) and stores ``Term.stored = weight >> shift`` in ``weight_bits``
bits.  Checked here on random networks whose layers mix terms of different scales
(pixels and spikes, convolutions and residual identities):

* the SNN still equals the brute-force integer ANN bit for bit, and so does a brute-force
  ANN that computes each term as hardware does, ``(sum stored * k) << shift``;
* stored weights fit the width and ``weight == stored << shift`` exactly;
* the rounding grid of every weight and bias is never coarser than without shifts (the
  guarantee; a code-by-code match cannot be guaranteed, see ``docs/integer-network.md``);
* layers without room for a shift convert exactly as without the option.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import test_golden_exact as exact
from golden.convert import MAX_S, Term, convert
from golden.errors import GoldenError
from golden.fidelity import fidelity, float_codes
from golden.ir import QCFS, Input, Linear, network
from golden.models import load_model
from golden.random import mixed_scale_network, random_inputs
from golden.simulate import simulate
from strategies import networks


@st.composite
def mixed_networks(draw):
    """(network, integer network with shifts, integer network without, pixel batch)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    net = mixed_scale_network(rng, pixel_bits=draw(st.integers(1, 12)), bits=draw(st.integers(1, 8)),
                        skip=draw(st.sampled_from(["conv", "identity"])), channels=draw(st.sampled_from([1, 2, 4])),
                        size=draw(st.integers(3, 5)))
    wb, bitplanes = draw(st.integers(4, 12)), draw(st.booleans())
    while True:  # the smallest width >= wb that holds the folded weights
        try:
            plain = convert(net, weight_bits=wb, bitplanes=bitplanes)
            break
        except GoldenError:
            wb += 1
            if wb > 20:
                raise
    shifted = convert(net, weight_bits=wb, bitplanes=bitplanes, term_shifts=True)
    x = random_inputs(rng, net.input.shape, net.input.bits, draw(st.integers(1, 4)))
    return net, shifted, plain, x


def any_networks():
    """Mixed-scale networks, and the random networks of the exactness tests converted with shifts."""
    def with_shifts(case):
        net, inet, x = case
        return net, convert(net, weight_bits=inet.weight_bits, bitplanes=inet.bitplanes, term_shifts=True), inet, x

    return st.one_of(mixed_networks(), networks().map(with_shifts))


def hardware_ann(inet, x):
    """The integer ANN as hardware computes it: each term's products on the stored values, the
    term's sum shifted left by ``Term.shift``; accumulators (after the bias) per layer."""
    accs = {}
    for n in range(x.shape[0]):
        vals = {inet.input.name: x[n]}
        for layer in inet.layers:
            acc = sum(exact._term(dataclasses.replace(t, weight=t.stored, shift=0), vals[t.source]) << t.shift
                      for t in layer.terms)
            acc = acc + layer.init.reshape((-1,) + (1,) * (acc.ndim - 1))
            accs.setdefault(layer.name, []).append(acc)
            if not layer.is_output:
                vals[layer.name] = np.clip(acc // layer.S.reshape((-1,) + (1,) * (acc.ndim - 1)), 0, (1 << layer.bits) - 1)
    return {k: np.stack(v) for k, v in accs.items()}


# ------------------------------------------------------------------ exactness


@given(any_networks(), st.data())
def test_snn_with_shifts_is_the_integer_ann_bit_for_bit(case, data):
    net, inet, _, x = case
    T = data.draw(st.integers(1, inet.bits), label="T")
    codes, accs = exact.brute_force_ann(inet, x, T)
    lit = simulate(inet, x, T=T, mode="literal", membranes=True)
    fast = simulate(inet, x, T=T, mode="fast", membranes=True)
    for layer in inet.layers:
        exact.check(lit.membrane[layer.name], accs[layer.name], f"{layer.name} membrane (literal)")
        exact.check(fast.membrane[layer.name], accs[layer.name], f"{layer.name} membrane (fast)")
        if layer.is_output:
            continue
        k = codes[layer.name]
        bits = np.stack([(k >> (layer.bits - 1 - t)) & 1 for t in range(T)])
        exact.check(lit.spikes[layer.name], bits.astype(np.uint8), f"{layer.name} spikes vs ANN code bits")


@given(any_networks())
def test_stored_values_shifted_left_give_the_same_accumulators(case):
    """What docs/integer-network.md tells hardware to do with Term.shift is what golden computes."""
    net, inet, _, x = case
    want = simulate(inet, x, membranes=True)
    got = hardware_ann(inet, x)
    for layer in inet.layers:
        exact.check(got[layer.name], want.membrane[layer.name], f"{layer.name} accumulator")


@given(any_networks())
def test_stored_weights_fit_and_shift_back_to_the_weights(case):
    net, inet, _, x = case
    for layer in inet.layers:
        assert layer.weight_bits <= inet.weight_bits, layer.name
        for t in layer.terms:
            assert t.stored.dtype == np.int64 and t.stored.shape == t.weight.shape
            assert np.array_equal(t.stored << t.shift, t.weight), (layer.name, t.source)
            lim = 1 << (inet.weight_bits - 1)
            assert -lim < int(t.stored.min(initial=0)) and int(t.stored.max(initial=0)) < lim
        # the term with the most headroom is not shifted (the output layer's bias may have more)
        assert min(layer.shifts) == 0 or layer.is_output, (layer.name, layer.shifts)


# ------------------------------------------------------------------ never coarser


@given(any_networks())
def test_no_weight_or_bias_is_rounded_on_a_coarser_grid(case):
    """Term t of channel c is rounded to multiples of 2**shift_t / S[c] output LSBs (or logit units)
    per code, the bias to multiples of 1 / S[c]; without shifts both are 1 / S0[c].  With shifts
    every grid is at least as fine: S[c] >= 2**shift_t * S0[c] for every term with a weight in c."""
    net, shifted, plain, x = case
    for a, b in zip(shifted.layers, plain.layers):
        assert a.name == b.name
        assert np.all(a.S >= b.S), a.name
        for t in a.terms:
            C = t.weight.shape[0]
            used = np.abs(t.weight.reshape(C, -1)).max(1) > 0
            assert np.all(a.S[used] >= b.S[used] << t.shift), (a.name, t.source, t.shift)


@given(any_networks())
def test_layers_without_a_shift_convert_exactly_as_without_the_option(case):
    net, shifted, plain, x = case
    for a, b in zip(shifted.layers, plain.layers):
        if any(a.shifts):
            continue
        assert np.array_equal(a.S, b.S) and np.array_equal(a.bias, b.bias) and np.array_equal(a.half, b.half)
        assert (a.acc_lo, a.acc_hi, a.psum_lo, a.psum_hi) == (b.acc_lo, b.acc_hi, b.psum_lo, b.psum_hi)
        for t, u in zip(a.terms, b.terms):
            assert t.weight.dtype == u.weight.dtype and np.array_equal(t.weight, u.weight)


def test_the_bundled_model_has_no_room_for_shifts():
    """Its residual layer's two terms are of similar scale in some channel, and its output bias is
    not smaller than its weights: with the option every integer is the same (so the documented
    numbers of the bundled model hold with and without it)."""
    net = load_model(None)
    for w in (4, 8, 12):
        a, b = convert(net, w, term_shifts=True), convert(net, w)
        for la, lb in zip(a.layers, b.layers):
            assert la.shifts == (0,) * len(la.terms)
            assert np.array_equal(la.S, lb.S) and np.array_equal(la.bias, lb.bias)
            assert all(np.array_equal(t.weight, u.weight) for t, u in zip(la.terms, lb.terms))


def test_mixed_pixel_and_spike_layer_matches_the_float_model_far_better_with_shifts():
    """At 8-bit weights, a layer summing 8-bit pixels and 2-bit spikes: the pixel term's weights
    are ~1/85 of the spike term's, so one S leaves them a few levels.  Over 20 seeded networks the
    layer's local match (fed the float model's input codes) rises from under 95 % to over 98 %,
    and it is higher with shifts on every one of these seeds."""
    before, after = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        net = mixed_scale_network(rng, pixel_bits=8, bits=2, skip=("conv", "identity")[seed % 2])
        x = random_inputs(rng, net.input.shape, net.input.bits, 64)
        ref = float_codes(net, x)
        plain = fidelity(net, convert(net, 8), x, reference_codes=ref).layer("q1").local_fraction
        shifted_net = convert(net, 8, term_shifts=True)
        assert shifted_net.layer("q1").shifts[0] > 0  # the spike term is shifted, the pixel term is not
        shifted = fidelity(net, shifted_net, x, reference_codes=ref).layer("q1").local_fraction
        assert shifted > plain, (seed, plain, shifted)
        before.append(plain)
        after.append(shifted)
    assert np.mean(before) < 0.95 < 0.98 < np.mean(after), (np.mean(before), np.mean(after))


def test_output_bias_takes_part_in_the_shift():
    """A classifier whose folded weights are ~300x its biases: without shifts the 8-bit output
    layer has S = 1 and every bias rounds to 0, so an image whose inputs are all zero gives tied
    logits; with shifts the weight term is shifted and the biases keep their order."""
    nodes = [Input(name="input", inputs=(), shape=(3,), bits=4, scale=1.0),
             Linear(name="fc0", inputs=("input",), weight=np.eye(3), bias=np.zeros(3)),
             QCFS(name="q", inputs=("fc0",), lam=1.0, bits=4),
             Linear(name="out", inputs=("q",), weight=np.diag([1500.0, -1200.0, 750.0]),
                    bias=np.array([0.1, 0.3, 0.2]))]
    net = network(nodes, name="bias")
    x = np.zeros((1, 3), np.int64)
    plain, shifted = convert(net, 8), convert(net, 8, term_shifts=True)
    assert plain.output.S[0] == 1 and not plain.output.bias.any()
    assert shifted.output.shifts[0] > 0 and shifted.output.bias.argmax() == 1
    assert simulate(shifted, x).predictions(shifted)[0] == 1 == int(np.argmax(nodes[-1].bias))


def test_an_output_bias_larger_than_tiny_weights_changes_nothing():
    """Weights so small that S sits at its cap, biases larger: no weight is shifted, so the layer
    (S capped at 2**30 included) is the one converted without the option."""
    nodes = [Input(name="input", inputs=(), shape=(2,), bits=4, scale=1.0),
             Linear(name="out", inputs=("input",), weight=np.array([[1e-12, 0], [0, -3e-12]]), bias=np.array([0.5, 2.0]))]
    net = network(nodes, name="tiny")
    a, b = convert(net, 8, term_shifts=True).output, convert(net, 8).output
    assert a.shifts == (0,) and int(a.S[0]) == int(b.S[0]) == MAX_S
    assert np.array_equal(a.bias, b.bias) and np.array_equal(a.terms[0].weight, b.terms[0].weight)


def test_term_rejects_a_shift_its_weights_do_not_allow():
    w = np.array([[4, -8, 12]], np.int64)
    assert np.array_equal(Term("x", (), "linear", w, shift=2).stored, [[1, -2, 3]])
    with pytest.raises(GoldenError, match="not a multiple of 2\\*\\*3"):
        Term("x", (), "linear", w, shift=3)
    for bad in (-1, 63, 1.0, True):
        with pytest.raises(GoldenError, match="shift must be an integer in 0..62"):
            Term("x", (), "linear", w, shift=bad)


def test_shifts_stop_where_the_accumulator_would_pass_53_bits():
    """A pixel term ~2**38 times smaller than the spike term would need a 38-bit shift: the common
    exponent is lowered until the accumulator fits the 53 bits golden computes exactly."""
    rng = np.random.default_rng(0)
    net = mixed_scale_network(rng, pixel_bits=4, bits=4, skip="identity", channels=2)
    nodes = [dataclasses.replace(n, scale=2.0**-38) if isinstance(n, Input) else n for n in net.nodes]
    tiny = network(nodes, name="tiny-pixels")
    inet = convert(tiny, 12, term_shifts=True)
    layer = inet.layer("q1")
    assert layer.acc_bits <= 53 and 0 < max(layer.shifts) < 38, (layer.acc_bits, layer.shifts)
    assert inet.layer("q1").acc_bits + 1 > 53 - 12 or convert(tiny, 12).layer("q1").acc_bits == layer.acc_bits
    assert int(layer.S.max()) <= MAX_S << max(layer.shifts)

"""golden.fidelity: the match of the integer network to the float QCFS model, and the
``--weight-bits auto`` search.

The counts are checked against an independent computation: the brute-force integer ANN of
``test_golden_exact`` against the float64 reference's QCFS codes."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import test_golden_exact as exact
from golden import reference
from golden.convert import convert
from golden.datasets import digits_test
from golden.errors import GoldenError
from golden.fidelity import DEFAULT_MATCH, auto_weight_bits, check_match, fidelity, float_codes
from golden.ir import QCFS, Input, Linear, network
from golden.models import load_model
from strategies import networks
from test_golden_shifts import mixed_networks


def float_reference(net, x):
    """Every QCFS node's codes, and the predictions, from the float64 forward pass."""
    vals = reference.forward(net, x, return_all=True)
    codes = {n.name: reference.qcfs_codes(vals[n.inputs[0]], n.lam, n.bits) for n in net.nodes if isinstance(n, QCFS)}
    return codes, vals[net.output].reshape(len(x), -1).argmax(1)


def local_brute_force(inet, layer, x, codes):
    """Layer ``layer`` fed ``codes`` of its sources (one image at a time, loops)."""
    out = []
    for n in range(len(x)):
        acc = sum(exact._term(t, x[n] if inet.is_input(t.source) else codes[t.source][n]) for t in layer.terms)
        acc = acc + layer.init.reshape((-1,) + (1,) * (acc.ndim - 1))
        if not layer.is_output:
            acc = np.clip(acc // layer.S.reshape((-1,) + (1,) * (acc.ndim - 1)), 0, (1 << layer.bits) - 1)
        out.append(acc)
    return np.stack(out)


@given(st.one_of(networks(max_bits=6).map(lambda c: (c[0], c[1], c[2])),
                 mixed_networks().map(lambda c: (c[0], c[1], c[3]))))
def test_counts_equal_an_independent_count(case):
    net, inet, x = case
    codes, pred = float_reference(net, x)
    ints, accs = exact.brute_force_ann(inet, x, inet.bits)
    f = fidelity(net, inet, x)
    assert f.images == len(x) and [l.name for l in f.layers] == [l.name for l in inet.layers]
    for layer in inet.layers:
        m = f.layer(layer.name)
        local = local_brute_force(inet, layer, x, codes)
        if layer.is_output:
            assert m.kind == "output" and m.compared == len(x)
            assert m.matching == int(np.sum(accs[layer.name].reshape(len(x), -1).argmax(1) == pred))
            assert m.local_matching == int(np.sum(local.reshape(len(x), -1).argmax(1) == pred))
        else:
            assert m.kind == "hidden" and m.compared == codes[layer.name].size
            assert m.matching == int(np.sum(ints[layer.name] == codes[layer.name]))
            assert m.local_matching == int(np.sum(local == codes[layer.name]))
    assert f.minimum == min(l.fraction for l in f.layers)


def test_a_losslessly_quantized_network_matches_everywhere():
    """Folded weights of exactly one output LSB per code: the integers are the float model's."""
    nodes = [Input(name="input", inputs=(), shape=(4,), bits=4, scale=15.0),
             Linear(name="fc0", inputs=("input",), weight=np.eye(4)),
             QCFS(name="q", inputs=("fc0",), lam=15.0, bits=4),
             Linear(name="out", inputs=("q",), weight=np.eye(4)[::-1] * 2.0)]
    net = network(nodes, name="lossless")
    x = np.random.default_rng(0).integers(0, 16, (50, 4))
    f = fidelity(net, convert(net, 8), x)
    assert all(l.matching == l.compared == l.local_matching for l in f.layers)


def test_an_integer_network_of_another_model_is_refused():
    net = load_model(None)
    inet = dataclasses.replace(convert(net), model_hash="0" * 64)
    with pytest.raises(GoldenError, match="was not converted from model"):
        fidelity(net, inet, digits_test().x[:2])


# ------------------------------------------------------------------ auto width


def _smallest_by_brute_force(net, x, match, **kw):
    ref = float_codes(net, x)
    for w in range(2, 25):
        try:
            inet = convert(net, w, **kw)
        except GoldenError:
            continue
        if fidelity(net, inet, x, reference_codes=ref).minimum >= match:
            return w
    return None


@pytest.mark.parametrize("match", [0.9, DEFAULT_MATCH, 0.999])
def test_auto_is_the_smallest_width_reaching_the_fraction_on_the_bundled_model(match):
    net, x = load_model(None), digits_test().x[:120]
    a = auto_weight_bits(net, x, match)
    assert a.weight_bits == _smallest_by_brute_force(net, x, match)
    assert a.inet.weight_bits == a.weight_bits and a.fidelity.minimum >= match
    assert [t.weight_bits for t in a.trials] == list(range(2, a.weight_bits + 1))
    assert all(t.fidelity is None or t.fidelity.minimum < match for t in a.trials[:-1])


@settings(max_examples=15)
@given(mixed_networks(), st.sampled_from([0.8, 0.95, 0.99]), st.booleans())
def test_auto_is_the_smallest_width_reaching_the_fraction(case, match, shifts):
    net, _, _, x = case
    want = _smallest_by_brute_force(net, x, match, term_shifts=shifts)
    if want is None:
        with pytest.raises(GoldenError, match="no weight width in 2..24"):
            auto_weight_bits(net, x, match, term_shifts=shifts)
        return
    a = auto_weight_bits(net, x, match, term_shifts=shifts)
    assert a.weight_bits == want and a.inet.term_shifts == shifts


def test_match_need_not_grow_with_the_width():
    """Why auto scans every width upward instead of bisecting: on the bundled model the output
    layer's predictions match the float model's more often at 6 bits than at 7."""
    net, x = load_model(None), digits_test().x
    ref = float_codes(net, x)
    out = convert(net).output.name
    six, seven = (fidelity(net, convert(net, w), x, reference_codes=ref).layer(out).fraction for w in (6, 7))
    assert six > seven


def test_auto_says_when_no_width_reaches_the_fraction():
    net, x = load_model(None), digits_test().x[:40]
    with pytest.raises(GoldenError, match=r"no weight width in 3\.\.4 makes every layer .* match the float model on "
                                          r"100 % of 40 calibration image\(s\); the best, 4 bits, leaves layer"):
        auto_weight_bits(net, x, 1.0, widths=[3, 4])
    with pytest.raises(GoldenError, match=r"converts at none of the widths 2\.\.2 \(convert: layer 'res.act'"):
        auto_weight_bits(net, x, 0.5, widths=[2])
    with pytest.raises(GoldenError, match="widths must lie in 2..24"):
        auto_weight_bits(net, x, 0.5, widths=[1, 8])
    with pytest.raises(GoldenError, match="holds no images"):
        auto_weight_bits(net, x[:0], 0.5)


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.5, float("nan"), float("inf"), True, "0.9", None])
def test_match_must_be_a_fraction(bad):
    with pytest.raises(GoldenError, match=r"match must be a fraction in \(0, 1\]"):
        check_match(bad)

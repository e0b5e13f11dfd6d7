"""The rate-coded QCFS baseline, the Table 4 ablation switches and Theorem I."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from golden.baselines import ABLATIONS, rate_coded, theorem1_bias, variant
from golden.convert import convert
from golden.errors import GoldenError
from golden.random import random_inputs, random_network
from golden.simulate import apply_term, simulate

from strategies import networks


def textbook_qcfs_snn(inet, x, T):
    """The rate-coded IF SNN of QCFS written the textbook way, in float, in the *average*
    domain: u(0) = theta/2, u += W (lam_prev s(t)) + b each step, spike if u >= theta,
    u -= theta; pixels as a constant direct current.  Accumulator units: theta = S * L."""
    L = (1 << inet.bits) - 1
    spikes, logits = {}, None
    for layer in inet.layers:
        cur = 0.0
        for term in layer.terms:
            if inet.is_input(term.source):
                cur = cur + np.broadcast_to(apply_term(term, x).astype(float), (T,) + (len(x),) + layer.out_shape)
            else:
                cur = cur + np.stack([apply_term(term, spikes[term.source][t].astype(np.int64)) * float(L) for t in range(T)])
        bias = layer.bias.reshape((1, -1) + (1,) * (len(layer.out_shape) - 1)).astype(float)
        cur = cur + bias
        if layer.is_output:
            logits = cur.mean(0)
            continue
        theta = (layer.S * L).reshape((1, -1) + (1,) * (len(layer.out_shape) - 1)).astype(float)
        u = np.broadcast_to(theta / 2, cur.shape[1:]).copy()
        out = np.zeros(cur.shape, dtype=np.uint8)
        for t in range(T):
            u += cur[t]
            s = u >= theta
            u -= s * theta
            out[t] = s
        spikes[layer.name] = out
    return spikes, logits


@given(networks(max_bits=5), st.sampled_from([1, 2, 3, 5, 8]))
def test_rate_coded_baseline_is_the_textbook_qcfs_neuron(case, T):
    net, inet, x = case
    want_spikes, want_logits = textbook_qcfs_snn(inet, x, T)
    got = rate_coded(inet, x, T)
    # the textbook run only sees integers and halves here, so float64 is exact: spikes equal
    for k in want_spikes:
        assert np.array_equal(got.spikes[k], want_spikes[k]), k
    assert got.logits == pytest.approx(want_logits, rel=1e-12, abs=1e-9)


def test_theorem1_per_step_bias_sums_to_the_folded_bias():
    rng = np.random.default_rng(0)
    beta, gamma, mu, sigma = rng.normal(size=4)
    sigma = abs(sigma) + 0.1
    for T in (1, 2, 4, 8):
        per_step = theorem1_bias(beta, gamma, mu, sigma, T)
        # the SNN adds (beta_c - gamma mu / sigma) T times; the ANN adds (beta - gamma mu / sigma) once
        assert T * (per_step - gamma * mu / sigma) == pytest.approx(beta - gamma * mu / sigma, rel=1e-12)


def test_bias_per_step_equals_bias_once_in_the_integer_snn():
    """With the modified IF neuron, spreading the bias over the T steps (b/T each) gives
    exactly the trace of adding it once (the switch 'bias_shift' on), bit for bit."""
    rng = np.random.default_rng(2)
    inet = convert(random_network(rng))
    x = random_inputs(rng, (2, 8, 8), 4, 50)
    exact = simulate(inet, x)
    spread = variant(inet, x, inet.bits, left_shift=True, bias_shift=True, modified_if=True)
    for k in exact.spikes:
        assert np.array_equal(spread.spikes[k], exact.spikes[k])
    unshifted = variant(inet, x, inet.bits, left_shift=True, bias_shift=False, modified_if=True)
    assert any(not np.array_equal(unshifted.spikes[k], exact.spikes[k]) for k in exact.spikes)


def test_ours_beats_rate_coding_at_T_equals_B():
    rng = np.random.default_rng(4)
    agree_rate, agree_ours = [], []
    for _ in range(4):
        inet = convert(random_network(rng, channels=(6, 8)))
        x = random_inputs(rng, (2, 8, 8), 4, 200)
        ann = simulate(inet, x).predictions(inet)
        agree_ours.append(np.mean(variant(inet, x, inet.bits, left_shift=True, bias_shift=True, modified_if=True).predictions() == ann))
        agree_rate.append(np.mean(rate_coded(inet, x, inet.bits).predictions() == ann))
    assert np.mean(agree_ours) == 1.0
    assert np.mean(agree_rate) < 0.99


def test_all_ablation_rows_run_and_differ():
    rng = np.random.default_rng(5)
    inet = convert(random_network(rng))
    x = random_inputs(rng, (2, 8, 8), 4, 30)
    preds = [variant(inet, x, 4, left_shift=a, bias_shift=b, modified_if=c).logits for a, b, c in ABLATIONS]
    assert len({p.tobytes() for p in preds}) == len(ABLATIONS)


def test_bad_T():
    inet = convert(random_network(np.random.default_rng(0)))
    with pytest.raises(GoldenError, match=r"T must be an integer in 1\.\.64, not 0"):
        rate_coded(inet, np.zeros((1, 2, 8, 8), dtype=int), 0)

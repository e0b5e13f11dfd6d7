"""golden.simulate: the GEMM dtype is chosen by a bound that is tight, every dtype path is
exact, and a result keeps one byte per hidden neuron while serving spikes and membranes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from golden.convert import IntLayer, IntNetwork, Kind, Term
from golden.errors import GoldenError
from golden.ir import Input
from golden.simulate import SimResult, apply_term, simulate

from strategies import networks
from test_golden_exact import brute_force_ann, check


def _one_linear_layer(weights) -> IntNetwork:
    """Logits = sum_j w_j * x_j over 8-bit pixels: the largest partial sum is 255 * sum(w)."""
    w = np.asarray(weights, np.int64).reshape(1, -1)
    bound = 255 * int(w.sum())
    layer = IntLayer(
        name="out", bits=None, out_shape=(1,), terms=(Term("x", (), Kind.LINEAR, w),),
        S=np.ones(1, np.int64), bias=np.zeros(1, np.int64), half=np.zeros(1, np.int64),
        value_per_unit=np.ones(1), acc_lo=0, acc_hi=bound, syn_lo=0, syn_hi=bound, ops=(),
        psum_lo=0, psum_hi=bound,
    )
    inp = Input(name="x", inputs=(), shape=(w.shape[1],), bits=8, scale=1.0)
    return IntNetwork("edge", inp, bits=1, weight_bits=24, bitplanes=False, layers=(layer,), model_hash="0")


@pytest.mark.parametrize("last, dtype", [(7, "float32"), (8, "float64"), (9, "float64")])
def test_float32_only_below_two_to_the_24(last, dtype):
    """518 weights of 127 and one of ``last``: sum(w) * 255 is 2**24 - 1, 2**24 + 254, 2**24 + 509."""
    w = [127] * 518 + [last]
    inet = _one_linear_layer(w)
    x = np.full((3, len(w)), 255)
    want = np.full((3, 1), 255 * sum(w), np.int64)
    for mode in ("fast", "literal"):
        check(simulate(inet, x, mode=mode).logits(inet), want, mode)
    check(apply_term(inet.output.terms[0], x), want, "apply_term")
    assert inet.output.gemm_dtype == dtype and inet.output.acc_dtype == dtype
    if last == 9:  # 2**24 + 509 is odd: float32 cannot hold it, the fallback was needed
        assert int(np.float32(255) * np.float32(sum(w))) != 255 * sum(w)
        got = (x.astype(np.float32) @ np.asarray(w, np.float32)).astype(np.int64)
        assert not np.array_equal(got, want[:, 0])


@given(networks(), st.sampled_from(["float64", "int64"]), st.data())
def test_every_dtype_path_is_exact(case, dtype, data):
    """Forcing the wider dtypes through every GEMM and epilogue gives the brute-force result."""
    _, inet, x = case
    T = data.draw(st.integers(1, inet.bits), label="T")
    codes, accs = brute_force_ann(inet, x, T)
    forced = property(lambda self: dtype)
    saved = IntLayer.gemm_dtype, IntLayer.acc_dtype, IntLayer.step_dtype
    IntLayer.gemm_dtype = IntLayer.acc_dtype = IntLayer.step_dtype = forced
    try:
        runs = [simulate(inet, x, T=T, mode=m, membranes=True) for m in ("fast", "literal")]
    finally:
        IntLayer.gemm_dtype, IntLayer.acc_dtype, IntLayer.step_dtype = saved
    for res in runs:
        for layer in inet.layers:
            check(res.membrane[layer.name], accs[layer.name], f"{layer.name} membrane ({dtype})")
            if not layer.is_output:
                check(res.codes[layer.name], codes[layer.name], f"{layer.name} codes ({dtype})")


@given(networks(), st.data())
def test_a_result_keeps_codes_and_derives_the_rest(case, data):
    _, inet, x = case
    T = data.draw(st.integers(1, inet.bits), label="T")
    mode = data.draw(st.sampled_from(["fast", "literal"]), label="mode")
    res = simulate(inet, x, T=T, mode=mode)
    kept = simulate(inet, x, T=T, mode=mode, membranes=True)
    N = len(x)
    hidden = [l for l in inet.layers if not l.is_output]
    for l in hidden:
        k = res.codes[l.name]
        assert k.dtype == np.uint8 and k.shape == (N,) + l.out_shape
        s = res.spikes[l.name]
        assert s.dtype == np.uint8 and s.shape == (T, N) + l.out_shape
        bits = np.stack([(k.astype(np.int64) >> (l.bits - 1 - t)) & 1 for t in range(T)])
        check(s, bits, f"{l.name} spikes are the code bits")
        check(res.spike_counts(l.name), bits.sum(0), f"{l.name} spike counts")
        check(res.membrane[l.name], kept.membrane[l.name], f"{l.name} recomputed membrane")
    neurons = sum(int(np.prod(l.out_shape)) for l in hidden)
    logits = int(np.prod(inet.output.out_shape)) * 8
    assert res.nbytes == res.pixels.nbytes + N * (neurons + logits)
    assert kept.nbytes == res.nbytes + N * 8 * neurons
    assert list(res.membrane) == [l.name for l in inet.layers] and list(res.spikes) == [l.name for l in hidden]


def test_assigned_spikes_replace_the_codes():
    rng = np.random.default_rng(0)
    res = SimResult(T=3, pixels=np.zeros((2, 4), np.uint8), bits=4, codes={"a": np.array([[15, 0, 6, 9]] * 2, np.uint8)})
    s = (rng.random((3, 2, 4)) < 0.5).astype(np.uint8)
    res.spikes["a"] = s
    check(res.spikes["a"], s, "spikes as assigned")
    check(res.codes["a"], (s.astype(np.int64) * np.array([8, 4, 2]).reshape(3, 1, 1)).sum(0), "codes follow the spikes")
    with pytest.raises(GoldenError, match="T=3"):
        res.spikes["b"] = s[:2]
    with pytest.raises(KeyError):
        SimResult(T=3, pixels=res.pixels, spikes={"a": s}).codes["a"]  # B unknown: no codes


def test_bad_threads():
    inet, x = _one_linear_layer([1, 2]), np.zeros((1, 2), np.int64)
    for bad in (0, 1.5, True):
        with pytest.raises(GoldenError, match="threads"):
            simulate(inet, x, threads=bad)

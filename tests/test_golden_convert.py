"""The two special cases of choosing S (docs/integer-network.md): all-zero channels and the cap."""

import numpy as np

from golden.convert import convert
from golden.ir import QCFS, Input, Linear, network
from golden.reference import forward, qcfs_codes
from golden.simulate import simulate


def _net(weight, bias, B=4):
    L = (1 << B) - 1
    return network([
        Input(name="x", inputs=(), shape=(weight.shape[1],), bits=3, scale=7.0),
        Linear(name="fc", inputs=("x",), weight=weight, bias=bias),
        QCFS(name="q", inputs=("fc",), lam=float(L), bits=B),
        Linear(name="out", inputs=("q",), weight=np.ones((1, weight.shape[0])), bias=None),
    ])


def test_an_all_zero_channel_gets_S_qmax_and_follows_its_bias():
    w = np.array([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]])
    net = _net(w, np.array([0.25, 2.5]))
    inet = convert(net, weight_bits=8)
    S = inet.layer("q").S
    assert S[1] == 127 and S[0] == 127 // 3
    x = np.random.default_rng(0).integers(0, 8, (20, 3))
    res = simulate(inet, x)
    want = qcfs_codes(forward(net, x, return_all=True)["fc"], 15.0, 4)
    assert np.array_equal(res.codes["q"][:, 1], want[:, 1])
    assert np.all(res.codes["q"][:, 1] == 3)  # floor(2.5 + 1/2): bias 2.5 LSBs, rounded half up


def test_S_is_capped_at_two_to_the_30():
    w = np.array([[1e-12, -3e-13], [2e-12, 1e-12]])
    inet = convert(_net(w, np.zeros(2)), weight_bits=8)
    layer = inet.layer("q")
    assert np.all(layer.S == 1 << 30)
    # input LSB 1 and L_out / lam_out = 1: w is already in output LSBs per input code
    err = np.abs(layer.terms[0].weight / layer.S[:, None] - w)
    assert np.all(err <= 2.0**-31)

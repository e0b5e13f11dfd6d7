"""Corner stimulus for the accelerator benches: networks and images built to hit an edge exactly.

* :func:`width_corner`: one layer (image -> logits) whose all-positive weights
  and all-maximum pixels put a membrane exactly at the top of the derived
  accumulator range, and a second channel at the bottom: an array one bit
  narrower than ``acc_bits`` must get that logit wrong.
* :func:`tie_corner`: a small network whose first hidden layer's bias is moved so
  that one membrane equals its first threshold ``S << (B-1)`` exactly: a
  comparator using ``>`` instead of ``>=`` must get that spike wrong.

Both return ``(inet, pixels)`` with the integer network already as the machine
runs it (pixel bit planes).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from golden import ir
from golden.convert import IntNetwork, convert
from golden.random import calibrate, random_inputs
from golden.simulate import simulate


def width_corner(input_shape=(1, 3, 4), classes: int = 3) -> tuple[IntNetwork, np.ndarray]:
    """Logit 0 reaches ``acc_hi``, logit 1 ``acc_lo``; the layer's ``acc_bits`` is the machine's width."""
    F = int(np.prod(input_shape))
    w = np.full((classes, F), 0.05)
    w[0] = 1.0
    w[1] = -0.75
    nodes = [ir.Input(name="input", inputs=(), shape=tuple(input_shape), bits=8, scale=1.0),
             ir.Flatten(name="flat", inputs=("input",)),
             ir.Linear(name="out", inputs=("flat",), weight=w, bias=np.array([0.5, -0.5] + [0.0] * (classes - 2)))]
    inet = convert(ir.network(nodes, name="width-corner"), bitplanes=True)
    x = np.full((1,) + tuple(input_shape), 255, np.int64)
    layer = inet.output
    logits = simulate(inet, x).logits(inet)
    assert int(logits.max()) == layer.acc_hi and int(logits.min()) == layer.acc_lo, "the corner missed the range"
    return inet, x


def tie_corner(seed: int = 0) -> tuple[IntNetwork, np.ndarray]:
    """A conv -> QCFS -> linear network where one membrane of the hidden layer equals its first threshold."""
    rng = np.random.default_rng(seed)
    nodes = [ir.Input(name="input", inputs=(), shape=(1, 4, 4), bits=4, scale=1.0),
             ir.Conv2d(name="c0", inputs=("input",), weight=rng.normal(0, 0.4, (2, 1, 3, 3)), padding=(1, 1)),
             ir.QCFS(name="q0", inputs=("c0",), lam=1.0, bits=3),
             ir.Flatten(name="flat", inputs=("q0",)),
             ir.Linear(name="out", inputs=("flat",), weight=rng.normal(0, 0.3, (3, 32)))]
    net = calibrate(ir.network(nodes, name="tie-corner"), random_inputs(rng, (1, 4, 4), 4, 32))
    inet = convert(net, bitplanes=True)
    x = random_inputs(rng, (1, 4, 4), 4, 1)
    layer = inet.layers[0]
    u = simulate(inet, x).membrane[layer.name][0]  # (C, H, W), init included
    c, yy, xx = 0, 1, 2
    thr = int(layer.S[c]) << (layer.bits - 1)
    delta = thr - int(u[c, yy, xx])
    bias = layer.bias.copy()
    bias[c] += delta
    tied = dataclasses.replace(layer, bias=bias, acc_hi=layer.acc_hi + max(delta, 0),
                               acc_lo=layer.acc_lo + min(delta, 0))
    inet = dataclasses.replace(inet, layers=(tied,) + inet.layers[1:])
    assert int(simulate(inet, x).membrane[layer.name][0][c, yy, xx]) == thr
    return inet, x

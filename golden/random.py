"""Random, well-conditioned QCFS networks for tests, benchmarks and demos.

Thresholds ``lam`` are calibrated on random inputs (a high percentile of each
QCFS node's pre-activation) so that codes use their whole range instead of
being all zero or all saturated.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .ir import QCFS, Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, Linear, Network, network
from .reference import check_input, eval_node


def _bn(rng, name, src, C):
    return BatchNorm(
        name=name,
        inputs=(src,),
        gamma=rng.uniform(0.5, 1.5, C),
        beta=rng.normal(0, 0.2, C),
        mean=rng.normal(0, 0.2, C),
        var=rng.uniform(0.5, 1.5, C),
    )


def random_network(
    rng: np.random.Generator,
    *,
    input_shape=(2, 8, 8),
    input_bits: int = 4,
    bits: int = 4,
    channels=(4, 6),
    pool: bool = True,
    residual: bool = True,
    classes: int = 5,
    groups: bool = False,
    strides: bool = False,
    name: str = "random",
) -> Network:
    """A conv net: conv-bn-qcfs blocks (optionally a residual block and an avgpool),
    flatten, linear-bn-qcfs, linear logits.  ``strides``: random strides (1 or 2),
    paddings (0 .. k//2) and overlapping pools."""
    C, H, W = input_shape
    nodes = [Input(name="input", inputs=(), shape=tuple(input_shape), bits=input_bits, scale=1.0)]
    prev, pc = "input", C
    for i, oc in enumerate(channels):
        k = int(rng.choice([1, 3]))
        g = int(rng.choice([d for d in (1, 2) if pc % d == 0 and oc % d == 0])) if groups else 1
        cur = network(nodes, name=name).shapes[prev]
        st = int(rng.choice([1, 2])) if strides and min(cur[1:]) >= 4 else 1
        pad = int(rng.integers(0, k // 2 + 1)) if strides else k // 2
        if min(cur[1:]) + 2 * pad < k:
            pad = k // 2
        nodes += [
            Conv2d(
                name=f"conv{i}",
                inputs=(prev,),
                weight=rng.normal(0, 1 / np.sqrt(pc // g * k * k), (oc, pc // g, k, k)),
                bias=rng.normal(0, 0.1, oc) if rng.random() < 0.5 else None,
                stride=(st, st),
                padding=(pad, pad),
                groups=g,
            ),
            _bn(rng, f"bn{i}", f"conv{i}", oc),
            QCFS(name=f"q{i}", inputs=(f"bn{i}",), lam=1.0, bits=bits),
        ]
        prev, pc = f"q{i}", oc
        if residual and i == 0:
            nodes += [
                Conv2d(name="res_conv", inputs=(prev,), weight=rng.normal(0, 1 / np.sqrt(pc * 9), (pc, pc, 3, 3)), padding=(1, 1)),
                _bn(rng, "res_bn", "res_conv", pc),
                Add(name="res_add", inputs=("res_bn", prev)),
                QCFS(name="res_q", inputs=("res_add",), lam=1.0, bits=bits),
            ]
            prev = "res_q"
        cur = network(nodes, name=name).shapes[prev]
        if pool and i == 0 and min(cur[1:]) >= 4:
            ps = int(rng.choice([1, 2])) if strides else 2
            nodes.append(AvgPool2d(name="pool", inputs=(prev,), kernel=(2, 2), stride=(ps, ps)))
            prev = "pool"
    nodes.append(Flatten(name="flatten", inputs=(prev,)))
    net = network(nodes, name=name)
    F = net.shapes["flatten"][0]
    hidden = max(classes * 2, 8)
    nodes += [
        Linear(name="fc1", inputs=("flatten",), weight=rng.normal(0, 1 / np.sqrt(F), (hidden, F)), bias=rng.normal(0, 0.1, hidden)),
        _bn(rng, "fc1_bn", "fc1", hidden),
        QCFS(name="fc1_q", inputs=("fc1_bn",), lam=1.0, bits=bits),
        Linear(name="fc2", inputs=("fc1_q",), weight=rng.normal(0, 1 / np.sqrt(hidden), (classes, hidden)), bias=rng.normal(0, 0.1, classes)),
    ]
    return calibrate(network(nodes, name=name), random_inputs(rng, input_shape, input_bits, 64))


def random_inputs(rng: np.random.Generator, shape, bits: int, n: int) -> np.ndarray:
    return rng.integers(0, 1 << bits, (n,) + tuple(shape))


def calibrate(net: Network, x: np.ndarray, percentile: float = 99.0) -> Network:
    """Set every QCFS threshold, in order, to a percentile of its positive pre-activations
    (one forward pass; each threshold sees the already calibrated layers before it)."""
    x = check_input(net, x)
    nodes, vals = [], {}
    for n in net.nodes:
        a = [vals[i] for i in n.inputs]
        if isinstance(n, QCFS):
            p = a[0][a[0] > 0]
            n = dataclasses.replace(n, lam=max(float(np.percentile(p, percentile)) if p.size else 1.0, 1e-3))
        nodes.append(n)
        vals[n.name] = eval_node(n, a, x)
    return network(nodes, output=net.output, name=net.name)

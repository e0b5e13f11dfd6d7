"""Random, well-conditioned QCFS networks for tests, benchmarks and demos.

Thresholds ``lam`` are calibrated on random inputs (a high percentile of each
QCFS node's pre-activation) so that codes use their whole range instead of
being all zero or all saturated.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import GoldenError
from .ir import QCFS, Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, Linear, Network, network
from .reference import check_input, eval_node


def _bn(rng, name, src, C, log10_gamma=None):
    """BatchNorm with gamma uniform in [0.5, 1.5], or ``10**uniform(*log10_gamma)`` (extreme statistics)."""
    return BatchNorm(
        name=name,
        inputs=(src,),
        gamma=rng.uniform(0.5, 1.5, C) if log10_gamma is None else 10.0 ** rng.uniform(*log10_gamma, C),
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
    log10_gamma: tuple[float, float] | None = None,
) -> Network:
    """A conv net: conv-bn-qcfs blocks (optionally a residual block and an avgpool),
    flatten, linear-bn-qcfs, linear logits.  ``strides``: random strides (1 or 2),
    paddings (0 .. k//2) and overlapping pools.  ``log10_gamma``: BatchNorm gammas
    ``10**uniform(lo, hi)`` per channel instead of ``uniform(0.5, 1.5)`` (extreme statistics:
    channels of one layer apart by up to ``10**(hi - lo)``)."""
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
            _bn(rng, f"bn{i}", f"conv{i}", oc, log10_gamma),
            QCFS(name=f"q{i}", inputs=(f"bn{i}",), lam=1.0, bits=bits),
        ]
        prev, pc = f"q{i}", oc
        if residual and i == 0:
            nodes += [
                Conv2d(name="res_conv", inputs=(prev,), weight=rng.normal(0, 1 / np.sqrt(pc * 9), (pc, pc, 3, 3)), padding=(1, 1)),
                _bn(rng, "res_bn", "res_conv", pc, log10_gamma),
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
        _bn(rng, "fc1_bn", "fc1", hidden, log10_gamma),
        QCFS(name="fc1_q", inputs=("fc1_bn",), lam=1.0, bits=bits),
        Linear(name="fc2", inputs=("fc1_q",), weight=rng.normal(0, 1 / np.sqrt(hidden), (classes, hidden)), bias=rng.normal(0, 0.1, classes)),
    ]
    return calibrate(network(nodes, name=name), random_inputs(rng, input_shape, input_bits, 64))


def mixed_scale_network(rng: np.random.Generator, *, pixel_bits: int, bits: int, skip: str = "conv",
                        channels: int = 4, size: int = 5, classes: int = 4, name: str | None = None) -> Network:
    """A layer that sums terms of different scales: ``q1 = QCFS(bn(conv(q0)) + skip(pixels))``
    with ``q0 = QCFS(bn(conv(pixels)))``, then flatten and a linear classifier.  ``skip``: a 1x1
    ``conv`` of the pixels, or their ``identity``.  Per code, the pixel term's weights are about
    ``(2**bits - 1) / (2**pixel_bits - 1)`` times the spike term's."""
    if skip not in ("conv", "identity"):
        raise GoldenError(f"mixed_scale_network: skip must be 'conv' or 'identity', not {skip!r}")
    C = channels
    nodes = [Input(name="input", inputs=(), shape=(C, size, size), bits=pixel_bits, scale=1.0),
             Conv2d(name="conv0", inputs=("input",), weight=rng.normal(0, 1 / np.sqrt(C * 9), (C, C, 3, 3)),
                    padding=(1, 1)),
             _bn(rng, "bn0", "conv0", C), QCFS(name="q0", inputs=("bn0",), lam=1.0, bits=bits),
             Conv2d(name="conv1", inputs=("q0",), weight=rng.normal(0, 1 / np.sqrt(C * 9), (C, C, 3, 3)),
                    padding=(1, 1)),
             _bn(rng, "bn1", "conv1", C)]
    if skip == "conv":
        nodes += [Conv2d(name="skip", inputs=("input",), weight=rng.normal(0, 1 / np.sqrt(C), (C, C, 1, 1))),
                  Add(name="add", inputs=("bn1", "skip"))]
    else:
        nodes += [Add(name="add", inputs=("bn1", "input"))]
    F = C * size * size
    nodes += [QCFS(name="q1", inputs=("add",), lam=1.0, bits=bits), Flatten(name="flat", inputs=("q1",)),
              Linear(name="fc", inputs=("flat",), weight=rng.normal(0, 1 / np.sqrt(F), (classes, F)),
                     bias=rng.normal(0, 0.1, classes))]
    net = network(nodes, name=name or f"mixed-{skip}")
    return calibrate(net, random_inputs(rng, (C, size, size), pixel_bits, 64))


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

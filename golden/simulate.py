"""Bit-serial simulation of the integer SNN, layer by layer.

Two modes give identical traces (a property test checks every bit):

``literal``
    Time step by time step, as hardware does it: for every input step the
    synaptic sums ``a(t)`` of the binary input spikes (one GEMM per step), then
    the accumulator, shifter, comparator and reset twins of :mod:`golden.neuron`.
``fast``
    Exact integer algebra: one GEMM per layer on the activation codes, then the
    closed form ``clip(floor(acc / S), 0, 2**B - 1)``; spikes are the code's bits.

``T < B`` time steps (default ``T = B``): every hidden layer fires only ``T``
steps, so it emits the ``T`` most significant bits of its code; the layers after
it accumulate those ``T`` steps with their full weights ``2**(B-t)`` (Horner
over ``T`` steps, then ``B - T`` extra shifts).  Equivalently, each layer's
input codes have their ``B - T`` least significant bits cleared.

The first layer sees the pixel codes either as one multi-bit step (integer MACs)
or, with ``IntNetwork.bitplanes``, as ``P`` bit planes MSB first (accumulate only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import neuron, ops
from .convert import IntLayer, IntNetwork, Kind, SumPool, Term
from .errors import GoldenError
from .reference import check_input

MODES = ("fast", "literal")


@dataclass
class SimResult:
    """What a simulation returns: per layer name, int64 arrays with the batch first.

    ``membrane[name]``: membrane after accumulation (bias and half LSB included);
    for the output layer these are the integer logits.
    ``codes[name]``: output codes of hidden layers (their ``T`` MSBs).
    ``spikes[name]``: ``(T, N, ...)`` uint8 output spikes of hidden layers, MSB first.
    """

    T: int
    pixels: np.ndarray
    membrane: dict[str, np.ndarray] = field(default_factory=dict)
    codes: dict[str, np.ndarray] = field(default_factory=dict)
    spikes: dict[str, np.ndarray] = field(default_factory=dict)

    def logits(self, inet: IntNetwork) -> np.ndarray:
        return self.membrane[inet.output.name]

    def predictions(self, inet: IntNetwork) -> np.ndarray:
        out = inet.output
        v = self.codes[out.name] if not out.is_output else self.membrane[out.name]
        return v.reshape(v.shape[0], -1).argmax(1)


def apply_term(term: Term, x: np.ndarray) -> np.ndarray:
    """The integer synaptic map of one term on integer data ``x`` (exact, via float64)."""
    v = x.astype(np.float64)
    for p in term.pre:
        if isinstance(p, SumPool):
            v = ops.sumpool2d(v, p.kernel, p.stride)
        else:
            v = v.reshape(v.shape[0], -1)
    w = term.weight.astype(np.float64)
    if term.kind is Kind.CONV:
        v = ops.conv2d(v, w, term.stride, term.padding, term.groups)
    elif term.kind is Kind.LINEAR:
        v = ops.linear(v, w)
    else:
        v = v * ops.channel_view(w, v.ndim)
    return v.astype(np.int64)


def _check_T(inet: IntNetwork, T: int | None) -> int:
    if T is None:
        return inet.bits
    if not isinstance(T, (int, np.integer)) or isinstance(T, bool) or not 1 <= T <= inet.bits:
        raise GoldenError(f"simulate: T must be an integer in 1..B={inet.bits}, not {T!r}")
    return int(T)


def _mask(B: int, T: int) -> int:
    return ~((1 << (B - T)) - 1)


def input_steps(inet: IntNetwork, res: SimResult, source: str) -> np.ndarray:
    """The input steps ``source`` delivers to the layers that read it, ``(L, N) + shape``:
    its ``T`` spike steps, the ``P`` pixel bit planes (MSB first, ``bitplanes``), or the
    pixel codes as one multi-bit step; positioned by :meth:`IntNetwork.alignment`."""
    if inet.is_input(source):
        x = res.pixels
        if inet.bitplanes:
            P = inet.input.bits
            return np.stack([(x >> (P - 1 - t)) & 1 for t in range(P)])
        return x[None]
    return res.spikes[source]


def synaptic_steps(inet: IntNetwork, layer: IntLayer | str, res: SimResult) -> np.ndarray:
    """Synaptic sums ``a(t)`` of every neuron of ``layer`` at every Horner position.

    Returns ``(D, N) + out_shape`` int64: the accumulator does ``u = 2*u + a[t]``
    for ``t = 0 .. D-1``, then adds ``layer.init``.  Terms whose inputs have fewer
    steps are right-aligned (positions with no input hold zeros; with ``T < B``
    the last ``B - T`` positions are those zero steps, i.e. plain shifts).
    ``res`` must hold the spikes of the layer's sources (any mode).
    """
    if isinstance(layer, str):
        layer = inet.layer(layer)
    al = inet.alignment(layer, res.T)
    N = res.pixels.shape[0]
    a = np.zeros((al.depth, N) + layer.out_shape, dtype=np.int64)
    for term in layer.terms:
        start = al.span(term.source).start
        for t, s in enumerate(input_steps(inet, res, term.source)):
            a[start + t] += apply_term(term, s.astype(np.int64))
    return a


def _run_layer_literal(inet: IntNetwork, layer: IntLayer, res: SimResult) -> None:
    a = synaptic_steps(inet, layer, res)
    init = ops.channel_view(layer.init, a.ndim - 1)
    u = np.zeros(a.shape[1:], dtype=np.int64)
    for t in range(a.shape[0]):
        u = neuron.accumulate_step(u, a[t])
    u = u + init
    res.membrane[layer.name] = u.copy()
    if layer.is_output:
        return
    S = ops.channel_view(layer.S, u.ndim)
    spikes = np.zeros((res.T,) + u.shape, dtype=np.uint8)
    for t in range(1, res.T + 1):
        s, u = neuron.fire_step(u, S, layer.bits, t)
        spikes[t - 1] = s
    res.spikes[layer.name] = spikes
    weights = (1 << (layer.bits - 1 - np.arange(res.T))).reshape((-1,) + (1,) * u.ndim)
    res.codes[layer.name] = (spikes.astype(np.int64) * weights).sum(0)


def _run_layer_fast(inet: IntNetwork, layer: IntLayer, res: SimResult) -> None:
    acc = None
    for term in layer.terms:
        x = res.pixels if term.source == inet.input.name else res.codes[term.source]
        v = apply_term(term, x)
        acc = v if acc is None else acc + v
    acc = acc + ops.channel_view(layer.init, acc.ndim)
    res.membrane[layer.name] = acc
    if layer.is_output:
        return
    B = layer.bits
    k = neuron.code_of(acc, ops.channel_view(layer.S, acc.ndim), B, res.T)
    res.codes[layer.name] = k
    shifts = (B - 1 - np.arange(res.T)).reshape((-1,) + (1,) * k.ndim)
    res.spikes[layer.name] = ((k[None] >> shifts) & 1).astype(np.uint8)


def simulate(inet: IntNetwork, x, T: int | None = None, mode: str = "fast", progress=None) -> SimResult:
    """Run the integer SNN on pixel codes ``x`` (``(N,) + input shape``) for ``T`` steps.

    ``progress``: optional callable ``progress(layer_name)`` called after each layer.
    """
    if mode not in MODES:
        raise GoldenError(f"simulate: mode must be one of {MODES}, not {mode!r}")
    T = _check_T(inet, T)
    res = SimResult(T=T, pixels=check_input(inet, x))
    run = _run_layer_fast if mode == "fast" else _run_layer_literal
    for layer in inet.layers:
        run(inet, layer, res)
        if progress is not None:
            progress(layer.name)
    return res


def integer_ann(inet: IntNetwork, x, T: int | None = None) -> SimResult:
    """The quantized ANN on integers (codes, no spikes): what the SNN must reproduce."""
    return simulate(inet, x, T=T, mode="fast")

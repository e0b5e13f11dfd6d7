"""Baselines for the paper's Table 1 and Table 4: the rate-coded QCFS SNN and the ablations.

One simulator, :func:`variant`, runs the integer network with three switches and
any number of time steps ``T`` (also ``T > B``).  It works in the *total* domain:
the membrane accumulates the sum (not the average) of the per-step input
currents, so that a spike at step ``t`` stands for ``w(t)`` input codes:

* ``left_shift=True``: ``w(t) = 2**(B-t)`` (MSB first; the accumulator shifts left
  once per step).  ``False``: ``w(t) = L / T`` with ``L = 2**B - 1`` (rate code: ``T``
  spikes make the full scale ``lam``).
* ``bias_shift=True``: the folded bias enters once in total (``b / T`` per step, the
  paper's Theorem I).  ``False`` (only meaningful with ``left_shift``): the full bias
  at every step, ``T * b`` in total, as Eq. 8 with an unshifted BN bias.  Without left
  shift the rate code spreads the bias as ``b / T`` per step anyway (QCFS).
* ``modified_if=True``: accumulate all ``T`` steps first, then fire ``T`` steps (the
  paper's neuron).  ``False``: the standard IF neuron, which integrates and fires in
  the same step.  Either way the threshold of step ``t`` is ``S * w(t)`` (a spike
  subtracts exactly what it transmits; reset by subtraction, fires on ``>=``).  The
  membrane starts at half an output LSB (``S // 2``, the QCFS rounding of the exact
  network) with the left shift, and at ``theta / 2`` (QCFS) for the rate code.

The first layer receives the pixels as a direct current, ``1/T`` of the full
product per step.  Everything is scaled by an integer ``D`` (a multiple of ``2T``)
so that the arithmetic is exact integer arithmetic: with all three switches on and
any ``T <= B`` the result equals :func:`golden.simulate.simulate` bit for bit (tested),
``T < B`` included (the ``T`` most significant bits).

:func:`rate_coded` is the QCFS baseline (all switches off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ops
from .convert import IntNetwork
from .errors import GoldenError
from .reference import check_input
from .simulate import apply_term


@dataclass
class VariantResult:
    """``logits``: float, the output layer's accumulator in accumulator units (as the
    exact simulation's ``membrane``); ``spikes[name]``: ``(T, N, ...)`` uint8."""

    T: int
    logits: np.ndarray
    spikes: dict

    def predictions(self) -> np.ndarray:
        return self.logits.reshape(len(self.logits), -1).argmax(1)


def variant(inet: IntNetwork, x, T: int, *, left_shift: bool, bias_shift: bool, modified_if: bool) -> VariantResult:
    """Simulate the integer network with the given neuron/encoding switches for ``T`` steps."""
    if not isinstance(T, (int, np.integer)) or isinstance(T, bool) or not 1 <= T <= 64:
        raise GoldenError(f"baseline simulation: T must be an integer in 1..64, not {T!r}")
    T = int(T)
    B = inet.bits
    L = (1 << B) - 1
    x = check_input(inet, x)
    extra = (T - B) if (left_shift and T > B) else 0
    D = 2 * T * (1 << extra)
    worst = max(l.acc_bits for l in inet.layers) + int(np.ceil(np.log2(D))) + int(np.ceil(np.log2(T))) + 2
    if worst > 62:
        raise GoldenError(f"baseline simulation: T={T} needs {worst}-bit integers; use a smaller T")
    # spike weight of step t, times D (integer)
    if left_shift:
        wD = np.array([D * 2**B >> t for t in range(1, T + 1)], dtype=np.int64)  # D * 2**(B-t)
    else:
        wD = np.full(T, D * L // T, dtype=np.int64)
    spikes: dict[str, np.ndarray] = {}
    logits = None
    for layer in inet.layers:
        cur = None  # per-step input current, (T, N, ...) in D-scaled accumulator units
        for term in layer.terms:
            if term.source == inet.input.name:
                v = apply_term(term, x) * (D // T)
                c = np.broadcast_to(v, (T,) + v.shape)
            else:
                s = spikes[term.source]
                c = np.stack([apply_term(term, s[t].astype(np.int64)) * wD[t] for t in range(T)])
            cur = c if cur is None else cur + c
        bias = ops.channel_view(layer.bias, cur.ndim - 1)
        if left_shift and not bias_shift:
            cur = cur + bias * D
        else:
            cur = cur + bias * (D // T)
        if layer.is_output:
            logits = cur.sum(0) / D
            continue
        S = ops.channel_view(layer.S, cur.ndim - 1)
        thr = [S * wD[t] for t in range(T)]
        # initial membrane: half an output LSB (QCFS rounding, as the exact network) with the
        # left shift; theta / 2 of the rate code (QCFS) without it
        u0 = ops.channel_view(layer.half, cur.ndim - 1) * D if left_shift else thr[0] // 2
        u = np.broadcast_to(u0, cur.shape[1:]).astype(np.int64)
        out = np.zeros(cur.shape, dtype=np.uint8)
        if modified_if:
            u = u + cur.sum(0)
            for t in range(T):
                s = u >= thr[t]
                u = u - s * thr[t]
                out[t] = s
        else:
            for t in range(T):
                u = u + cur[t]
                s = u >= thr[t]
                u = u - s * thr[t]
                out[t] = s
        spikes[layer.name] = out
    return VariantResult(T=T, logits=logits, spikes=spikes)


def rate_coded(inet: IntNetwork, x, T: int) -> VariantResult:
    """The standard rate-coded QCFS SNN: IF neuron, reset by subtraction, initial
    membrane ``theta / 2``, threshold ``theta = lam``, ``T`` steps, direct pixel input."""
    return variant(inet, x, T, left_shift=False, bias_shift=False, modified_if=False)


#: the rows of the paper's Table 4: (left shift, BN bias shift, modified IF)
ABLATIONS = (
    (False, False, False),
    (False, False, True),
    (True, False, False),
    (True, True, False),
    (True, True, True),
)


def theorem1_bias(beta, gamma, mu, sigma, T: int):
    """The paper's per-step BN bias (Theorem I, with the typo of Algorithm 1 fixed):
    ``beta / T + (1 - 1/T) * gamma * mu / sigma``."""
    return beta / T + (1 - 1 / T) * gamma * mu / sigma

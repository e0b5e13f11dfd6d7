"""Software twins of the neuron datapath: one pure function per processing element.

These are the *definition* of what each PE in ``rtl/`` computes.  The golden
simulation (:mod:`golden.simulate`) uses them for its ``literal`` mode, and the
RTL test benches compare the hardware against the very same functions.

All arithmetic is exact signed integer arithmetic on NumPy ``int64`` arrays (or
Python ints); the width analysis of :mod:`golden.convert` guarantees that no
value exceeds the derived accumulator width, so nothing here can overflow.

Dynamics of the modified IF neuron (``B`` output bits, ``T <= B`` time steps,
integer output LSB ``S`` in accumulator units):

Accumulate phase, input steps ``t = 1 .. T_in`` (Horner's rule, MSB first)::

    u <- 0
    u <- (u << 1) + a(t)          for every input step t
    u <- u << (B_in - T_in)        (only when T_in < B_in: the missing LSB steps)
    u <- u + init                  (bias + half LSB, added once, unshifted)

where ``a(t) = sum_j W_ij * s_j(t)`` is the synaptic sum of the input spikes of
step ``t``.  Fire phase, output steps ``t = 1 .. T``::

    thr(t) = S << (B - t)
    s(t)   = 1 if u >= thr(t) else 0          (">=", not ">")
    u      <- u - s(t) * thr(t)               (reset by subtraction)

``s(1) .. s(T)`` are the ``T`` most significant bits of
``clip(floor(u_acc / S), 0, 2**B - 1)``.
"""

from __future__ import annotations

import numpy as np


def accumulate_step(u, a):
    """Accumulator PE, one input step: shift the membrane left by one and add ``a``.

    ``u`` and ``a`` are integers or integer arrays of equal shape; returns ``2*u + a``.
    """
    return (u << 1) + a


def shift(u, n: int = 1):
    """Shifter PE: ``u << n`` (used for the ``B_in - T_in`` missing steps)."""
    return u << n


def threshold(S, B: int, t: int):
    """Threshold of fire step ``t`` (1-based): ``S << (B - t)``."""
    if not 1 <= t <= B:
        raise ValueError(f"fire step t must be in 1..{B}, not {t!r}")
    return S << (B - t)


def compare(u, thr):
    """Comparator PE: spike where ``u >= thr`` (returns 0/1 of ``u``'s integer dtype)."""
    return (np.asarray(u) >= thr).astype(np.int64)


def reset(u, spike, thr):
    """Reset PE: subtract the threshold where the neuron spiked."""
    return u - spike * thr


def fire_step(u, S, B: int, t: int):
    """One fire-phase cycle of the neuron PE: returns ``(spike, u_next)``."""
    thr = threshold(S, B, t)
    s = compare(u, thr)
    return s, reset(u, s, thr)


def neuron(a_steps, init, S, B: int, T: int | None = None, B_in: int | None = None):
    """Whole neuron PE: accumulate ``a_steps`` (shape ``(T_in, ...)``), then fire ``T`` steps.

    ``B_in`` is the bit width the input steps stand for (default: ``len(a_steps)``,
    i.e. all input bits present).  Returns ``(spikes, u_acc)`` where ``spikes`` has
    shape ``(T, ...)`` and ``u_acc`` is the membrane after accumulation (bias and
    half LSB included).
    """
    a_steps = np.asarray(a_steps, dtype=np.int64)
    T = B if T is None else T
    T_in = a_steps.shape[0]
    B_in = T_in if B_in is None else B_in
    u = np.zeros(a_steps.shape[1:], dtype=np.int64)
    for t in range(T_in):
        u = accumulate_step(u, a_steps[t])
    u = shift(u, B_in - T_in) + init
    u_acc = u.copy()
    spikes = np.zeros((T,) + u.shape, dtype=np.int64)
    for t in range(1, T + 1):
        spikes[t - 1], u = fire_step(u, S, B, t)
    return spikes, u_acc


def code_of(u_acc, S, B: int, T: int | None = None):
    """Closed form of the fire phase: the ``T`` MSBs of ``clip(floor(u_acc/S), 0, 2**B-1)``."""
    T = B if T is None else T
    k = np.clip(np.floor_divide(u_acc, S), 0, (1 << B) - 1)
    return k & ~((1 << (B - T)) - 1)

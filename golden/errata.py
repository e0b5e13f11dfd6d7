"""The paper taken literally, neuron by neuron: how often it disagrees with QCFS.

NOTES.md lists three places where the paper's equations are not exact.  This
module measures them on uniform random pre-activations, so that the numbers in
``docs/paper-differences.md`` come from code, not from prose:

1. clip at ``Q = 2**B`` (Eq. 2: ``Q + 1`` codes, but ``B`` spikes carry ``2**B``),
2. no half-LSB initial membrane (Eq. 9 truncates, QCFS rounds),
3. LSB-first input weighting (Eq. 8) against MSB-first firing (Eq. 9).
"""

from __future__ import annotations

import numpy as np


def paper_qcfs_codes(x: np.ndarray, B: int) -> np.ndarray:
    """Eq. 2 literally, in units of lam: ``clip(floor(x * Q + 1/2), 0, Q)``, ``Q = 2**B``."""
    Q = 1 << B
    return np.clip(np.floor(x * Q + 0.5), 0, Q)


def bitserial_codes(x: np.ndarray, B: int, levels: int, half: bool) -> np.ndarray:
    """The bit-serial neuron (Eq. 9, MSB first, thresholds ``lam * 2**(B-t) / levels``),
    optionally with a half-LSB initial membrane; returns the code its spikes spell."""
    u = x * levels + (0.5 if half else 0.0)  # in output LSBs
    k = np.zeros_like(x)
    for t in range(1, B + 1):
        thr = float(1 << (B - t))
        s = u >= thr
        u = u - s * thr
        k = k + s * thr
    return k


def lsb_first_value(bits_msb_first: np.ndarray) -> np.ndarray:
    """What a receiver weighting step ``t`` by ``2**(t-1)`` (Eq. 8) reads from MSB-first spikes."""
    B = bits_msb_first.shape[0]
    return sum(bits_msb_first[t] * (1 << t) for t in range(B))


def paper_mismatch_rates(n: int = 100_000, B: int = 4, seed: int = 0) -> dict[str, float]:
    """Fraction of neurons whose SNN code differs from the ANN's, on ``x ~ U[-0.5, 1.5] lam``.

    ``literal``: Eq. 2 (clip at Q) vs Eq. 9 (no half LSB); ``half_fixed``: the neuron
    gets the half-LSB initial membrane, the clip stays at Q (pitfall 1 alone);
    ``clip_fixed``: both with ``2**B - 1`` levels, still no half LSB (pitfall 2 alone);
    ``both_fixed``: our neuron against our QCFS.
    """
    x = np.random.default_rng(seed).uniform(-0.5, 1.5, n)
    L = (1 << B) - 1
    ann_fixed = np.clip(np.floor(x * L + 0.5), 0, L)
    return {
        "literal": float(np.mean(paper_qcfs_codes(x, B) != bitserial_codes(x, B, 1 << B, half=False))),
        "half_fixed": float(np.mean(paper_qcfs_codes(x, B) != bitserial_codes(x, B, 1 << B, half=True))),
        "clip_fixed": float(np.mean(ann_fixed != bitserial_codes(x, B, L, half=False))),
        "both_fixed": float(np.mean(ann_fixed != bitserial_codes(x, B, L, half=True))),
    }

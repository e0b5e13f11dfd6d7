"""QCFS activation for PyTorch, and the fine-grained L1 loss on its bits (Eq. 10-11).

QCFS (Bu et al., the paper's Eq. 2, with the clip fixed as in ``NOTES.md``
pitfall 1): ``L = 2**B - 1`` levels, trainable threshold ``lam``::

    k = clip(floor(x * L / lam + 1/2), 0, L)        (integer code, B bits)
    a = lam / L * k                                 (the top code is worth exactly lam)

This is :func:`golden.reference.qcfs`, computed in the same order.  The backward
pass is QCFS's straight-through estimator: ``floor`` passes its gradient through
unchanged, the clip does not, so ``da/dx = 1`` for ``0 <= x <= lam`` (up to
half an LSB) and 0 outside, and ``lam`` receives the gradient of both ``x / lam``
and ``lam * (...)``.

The bit regularizer (Eq. 10): ``L_SP`` counts the 1-bits of every hidden
activation code, i.e. the spikes the converted SNN emits at ``T = B``.  The bits
are taken from the code after rounding to the level (``NOTES.md``: the authors'
code truncates, so 2.9999 becomes 2; here it is 3).  Its surrogate gradient
(Eq. 11) is ``d a_t / d a = 1`` for ``0 < a < lam`` and 0 otherwise, for each of
the ``B`` bits, so ``dL_SP / da = B`` inside the range.
"""

from __future__ import annotations

import torch
from torch import nn


class _Floor(torch.autograd.Function):
    """``floor`` with a straight-through gradient."""

    @staticmethod
    def forward(ctx, x):
        return torch.floor(x)

    @staticmethod
    def backward(ctx, g):
        return g


class _BitCount(torch.autograd.Function):
    """Number of 1-bits of the code of ``a`` (forward), Eq. 11 surrogate (backward)."""

    @staticmethod
    def forward(ctx, a, lam, bits: int):
        L = (1 << bits) - 1
        k = torch.clamp(torch.round(a.detach() * L / lam.detach()), 0, L).to(torch.int64)
        count = torch.zeros_like(k)
        for t in range(bits):
            count += (k >> t) & 1
        ctx.save_for_backward(a, lam)
        ctx.bits = bits
        return count.to(a.dtype)

    @staticmethod
    def backward(ctx, g):
        a, lam = ctx.saved_tensors
        inside = ((a > 0) & (a < lam)).to(g.dtype)
        return g * inside * ctx.bits, None, None


def bit_count(a: torch.Tensor, lam: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-element number of 1-bits of QCFS output ``a`` (B-bit code), with the Eq. 11 gradient."""
    return _BitCount.apply(a, lam, bits)


def qcfs(x: torch.Tensor, lam: torch.Tensor, bits: int) -> torch.Tensor:
    """``lam / L * clip(floor(x * L / lam + 1/2), 0, L)``, straight-through ``floor``."""
    L = (1 << bits) - 1
    k = torch.clamp(_Floor.apply(x * L / lam + 0.5), 0, L)
    return lam / L * k


class QCFS(nn.Module):
    """QCFS activation: ``bits`` output bits (``L = 2**bits - 1`` levels), trainable scalar ``lam``.

    ``lam`` starts at 8.0 as in QCFS unless given.  When :attr:`track_bits` is True
    (set by :func:`golden.training.train.train` when the regularizer is on), each
    forward stores the per-image 1-bit count of its output in :attr:`bit_total`
    (a differentiable scalar: the mean over the batch of the sum over neurons).
    """

    def __init__(self, bits: int = 4, lam: float = 8.0):
        super().__init__()
        if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
            raise ValueError(f"QCFS: bits must be an integer in 1..16, not {bits!r}")
        if not lam > 0:
            raise ValueError(f"QCFS: lam must be > 0, not {lam!r}")
        self.bits = bits
        self.lam = nn.Parameter(torch.tensor(float(lam)))
        self.track_bits = False
        self.bit_total: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = qcfs(x, self.lam, self.bits)
        if self.track_bits:
            self.bit_total = bit_count(a, self.lam, self.bits).reshape(a.shape[0], -1).sum(1).mean()
        return a

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Integer codes ``k`` of ``x`` (no gradient)."""
        L = (1 << self.bits) - 1
        with torch.no_grad():
            return torch.clamp(torch.floor(x * L / self.lam + 0.5), 0, L).to(torch.int64)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, lam={float(self.lam.detach()):.4g}"


def qcfs_modules(model: nn.Module) -> list[QCFS]:
    return [m for m in model.modules() if isinstance(m, QCFS)]


def spike_loss(model: nn.Module) -> torch.Tensor:
    """``L_SP`` of Eq. 10 for the last forward pass: 1-bits per image, summed over all QCFS layers.

    Every QCFS module must have run with ``track_bits = True``.
    """
    totals = [m.bit_total for m in qcfs_modules(model)]
    if not totals or any(t is None for t in totals):
        raise RuntimeError("spike_loss: run a forward pass with track_bits enabled on every QCFS module first")
    return torch.stack(totals).sum()

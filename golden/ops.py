"""Tensor kernels shared by the float reference and the integer network.

All take a batch first: images ``(N, C, H, W)``, vectors ``(N, F)``.  The
integer network calls them with ``float64`` arrays holding integers: as long as
every intermediate stays below ``2**53`` (the width analysis guarantees it) the
results are exact, and NumPy's BLAS GEMM does the work.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad2d(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv2d(x: np.ndarray, w: np.ndarray, stride=(1, 1), padding=(0, 0), groups: int = 1) -> np.ndarray:
    """Cross-correlation as in PyTorch: ``x (N, C, H, W)``, ``w (O, C/groups, kh, kw)``."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = pad2d(x, padding)
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    Ho, Wo = win.shape[2], win.shape[3]
    og = O // groups
    out = np.empty((N, O, Ho, Wo), dtype=np.result_type(x, w))
    for g in range(groups):
        # one GEMM: (N*Ho*Wo, Cg*kh*kw) @ (Cg*kh*kw, og)
        cols = win[:, g * Cg : (g + 1) * Cg].transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, Cg * kh * kw)
        wg = w[g * og : (g + 1) * og].reshape(og, Cg * kh * kw)
        out[:, g * og : (g + 1) * og] = (cols @ wg.T).reshape(N, Ho, Wo, og).transpose(0, 3, 1, 2)
    return out


def sumpool2d(x: np.ndarray, kernel=(2, 2), stride=(2, 2)) -> np.ndarray:
    """Sum over each pooling window (average pooling times ``kh*kw``), no padding."""
    win = sliding_window_view(x, tuple(kernel), axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    return win.sum(axis=(4, 5))


def linear(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x @ w.T


def channel_view(v: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a per-channel vector ``(C,)`` to broadcast against ``(N, C, ...)``."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))

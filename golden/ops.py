"""Tensor kernels shared by the float reference and the integer network.

Two layouts, both with the batch first:

* channels first, as in PyTorch (``conv2d``, ``sumpool2d``): images ``(N, C, H, W)``,
  vectors ``(N, F)``; the simple kernels, kept as the readable reference.
* channels last (``*_cl``): images ``(N, H, W, C)``.  A convolution is one GEMM per
  group on a window matrix built by a single strided copy (the windows of a
  zero-padded channels-last image are a strided view, each ``kw * C`` run
  contiguous), written into a buffer the caller reuses, so that a chunk of images
  stays in cache from the copy through the GEMM.  This is what the simulator runs.

The integer network calls them with float arrays holding integers: as long as
every partial sum stays below ``2**24`` (``float32``) or ``2**53`` (``float64``)
the results are exact (:func:`golden.convert.exact_dtype`; BLAS computes each
output as a sum of products, in some order, and every partial sum of integers
below the bound is an exactly representable integer).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view


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


# ------------------------------------------------------------------ channels last


def to_cl(x: np.ndarray) -> np.ndarray:
    """Channels-last view ``(N, H, W, C)`` of ``(N, C, H, W)``; other ranks unchanged."""
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def from_cl(x: np.ndarray) -> np.ndarray:
    """Channels-first view ``(N, C, H, W)`` of ``(N, H, W, C)``; other ranks unchanged."""
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def conv_weights_cl(w: np.ndarray, groups: int, dtype) -> np.ndarray:
    """``(O, C/groups, kh, kw)`` to the GEMM operands of :func:`conv2d_cl`: ``(groups, kh*kw*C/groups, O/groups)``."""
    O, Cg, kh, kw = w.shape
    og = O // groups
    return np.ascontiguousarray(w.reshape(groups, og, Cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, kh * kw * Cg, og), dtype=dtype)


def sumpool2d_cl(x: np.ndarray, kernel, stride, out: np.ndarray) -> np.ndarray:
    """Sum pool of channels-last ``x`` into ``out`` (``(N, Ho, Wo, C)``, any dtype that holds the sums)."""
    (kh, kw), (sh, sw) = kernel, stride
    Ho, Wo = out.shape[1:3]
    for dy in range(kh):
        for dx in range(kw):
            v = x[:, dy : dy + sh * (Ho - 1) + 1 : sh, dx : dx + sw * (Wo - 1) + 1 : sw]
            if dy == 0 and dx == 0:
                np.copyto(out, v, casting="unsafe")
            else:
                np.add(out, v, out=out, casting="unsafe")
    return out


def zero_border(xp: np.ndarray, padding) -> None:
    """Zero the ``padding`` rows and columns around the interior of a channels-last buffer."""
    ph, pw = padding
    if ph:
        xp[:, :ph] = 0
        xp[:, xp.shape[1] - ph :] = 0
    if pw:
        xp[:, :, :pw] = 0
        xp[:, :, xp.shape[2] - pw :] = 0


def conv2d_cl(xp: np.ndarray, w: np.ndarray, kernel, stride, out: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
    """Convolution of the zero-padded channels-last ``xp`` (``(N, Hp, Wp, C)``) with the
    operands ``w`` of :func:`conv_weights_cl`, into ``out`` (``(N*Ho*Wo, O)``, C order).

    ``cols``: a buffer of at least ``N*Ho*Wo*kh*kw*C/groups`` elements of ``w``'s dtype
    for the window matrix (allocated if None); unused for a 1x1 kernel with stride 1
    and one group, where ``xp`` itself is the GEMM operand.
    """
    N, Hp, Wp, C = xp.shape
    G, K, og = w.shape
    (kh, kw), (sh, sw) = kernel, stride
    Cg = C // G
    Ho, Wo = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
    rows = N * Ho * Wo
    if G == 1 and (kh, kw, sh, sw) == (1, 1, 1, 1) and xp.flags.c_contiguous:
        return np.matmul(xp.reshape(rows, C), w[0], out=out)
    s = xp.strides
    for g in range(G):
        win = as_strided(xp[..., g * Cg :], shape=(N, Ho, Wo, kh, kw, Cg),
                         strides=(s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]), writeable=False)
        c = np.empty((rows, K), w.dtype) if cols is None else cols.reshape(-1)[: rows * K].reshape(rows, K)
        np.copyto(c.reshape(win.shape), win)
        np.matmul(c, w[g], out=out[:, g * og : (g + 1) * og])
    return out

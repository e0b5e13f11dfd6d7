"""Tensor kernels shared by the float reference and the integer network.

The interface is channels first, as in PyTorch: images ``(N, C, H, W)``, vectors
``(N, F)``.  The work is done channels last (the ``*_cl`` kernels, images
``(N, H, W, C)``): a convolution is one GEMM per group on a window matrix built
by a single strided copy (the windows of a zero-padded channels-last image are a
strided view, each ``kw * C`` run contiguous), chunk by chunk of images so that
the window matrix stays in cache from the copy through the GEMM.  :func:`conv2d`
returns the channels-last result seen channels first (a transposed view);
elementwise operations keep that layout, so a chain of layers never transposes.

The integer network calls them with float arrays holding integers: as long as
every partial sum stays below ``2**24`` (``float32``) or ``2**53`` (``float64``)
the results are exact (:func:`golden.convert.exact_dtype`; BLAS computes each
output as a sum of products, in some order, and every partial sum of integers
below the bound is an exactly representable integer).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


#: bytes of the window matrix of one chunk of images (what one GEMM reads)
CHUNK_BYTES = 1 << 21


def conv2d(x: np.ndarray, w: np.ndarray, stride=(1, 1), padding=(0, 0), groups: int = 1,
           w_cl: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlation as in PyTorch: ``x (N, C, H, W)``, ``w (O, C/groups, kh, kw)``;
    ``(N, O, Ho, Wo)`` in the dtype of ``x`` and ``w``.  ``w_cl``: ``w`` already
    prepared by :func:`conv_weights_cl` (in the result dtype)."""
    dt = np.result_type(x, w)
    if w_cl is None:
        w_cl = conv_weights_cl(w, groups, dt)
    return from_cl(conv2d_cl_batch(to_cl(x), w_cl, w.shape[2:], stride, padding))


def sumpool2d(x: np.ndarray, kernel=(2, 2), stride=(2, 2)) -> np.ndarray:
    """Sum over each pooling window (average pooling times ``kh*kw``), no padding."""
    N, C, H, W = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    out = np.empty((N, (H - kh) // sh + 1, (W - kw) // sw + 1, C), x.dtype)
    return from_cl(sumpool2d_cl(to_cl(x), kernel, stride, out))


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


def conv2d_cl_batch(x: np.ndarray, w: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Convolution of channels-last ``x`` (``(N, H, W, C)``, any integer or float dtype)
    with the operands ``w`` of :func:`conv_weights_cl`: ``(N, Ho, Wo, O)`` in ``w``'s dtype,
    computed in chunks of images (:data:`CHUNK_BYTES`)."""
    N, H, W, C = x.shape
    G, K, og = w.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    out = np.empty((N, Ho, Wo, G * og), w.dtype)
    n = max(1, min(N, CHUNK_BYTES // max(1, Ho * Wo * K * w.dtype.itemsize)))
    xp = np.empty((n, H + 2 * ph, W + 2 * pw, C), w.dtype)
    zero_border(xp, padding)
    cols = np.empty(n * Ho * Wo * K, w.dtype)
    for n0 in range(0, N, n):
        m = min(N, n0 + n) - n0
        np.copyto(xp[:m, ph : ph + H, pw : pw + W], x[n0 : n0 + m], casting="unsafe")
        conv2d_cl(xp[:m], w, kernel, stride, out[n0 : n0 + m].reshape(-1, G * og), cols)
    return out


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

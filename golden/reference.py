"""Float reference: the QCFS ANN forward pass in NumPy ``float64`` (or ``float32``).

This is the network as trained, with BatchNorm unfolded and real-valued weights.
The integer network of :mod:`golden.convert` differs from it only by weight (and
bias) quantization; :func:`forward` is what accuracy comparisons are made against.
Convolutions run on the channels-last kernels of :mod:`golden.ops` (the same GEMM
machinery as the integer simulation), so ``forward(..., dtype=np.float32)`` is the
float ANN that the simulator's speed is measured against.
"""

from __future__ import annotations

import weakref

import numpy as np

from . import ops
from .errors import GoldenError
from .ir import QCFS, Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, Linear, Network


def qcfs(x: np.ndarray, lam: float, bits: int) -> np.ndarray:
    """``lam / L * clip(floor(x * L / lam + 1/2), 0, L)`` with ``L = 2**bits - 1``."""
    L = (1 << bits) - 1
    return lam / L * np.clip(np.floor(x * L / lam + 0.5), 0, L)


def qcfs_codes(x: np.ndarray, lam: float, bits: int) -> np.ndarray:
    """The integer codes ``k`` of :func:`qcfs` (``a = lam * k / L``)."""
    L = (1 << bits) - 1
    return np.clip(np.floor(x * L / lam + 0.5), 0, L).astype(np.int64)


def check_input(net, x: np.ndarray, source: str = "input") -> np.ndarray:
    """Validate a batch of pixel codes against ``net.input`` (a :class:`Network` or an
    integer network: anything with ``.input`` and ``.name``); return int64."""
    inp = net.input
    x = np.asarray(x)
    if x.ndim != len(inp.shape) + 1 or x.shape[1:] != inp.shape:
        raise GoldenError(f"{source}: shape {x.shape} does not match (N,) + {inp.shape} expected by model {net.name!r}")
    if x.dtype.kind not in "iu":
        if x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.array_equal(x, np.round(x)):
            x = x.astype(np.int64)
        else:
            raise GoldenError(f"{source}: pixel codes must be integers, got dtype {x.dtype}")
    hi = (1 << inp.bits) - 1
    if x.size and (x.min() < 0 or x.max() > hi):
        raise GoldenError(f"{source}: pixel codes must lie in 0..{hi} ({inp.bits}-bit input), found {x.min()}..{x.max()}")
    return x.astype(np.int64)


def forward(net: Network, x: np.ndarray, return_all: bool = False, dtype=np.float64):
    """Forward pass in ``dtype`` (float64 or float32) on integer pixel codes ``x`` (``(N,) + input shape``).

    Returns the output tensor (logits), or with ``return_all`` a dict of every
    node's value.  QCFS nodes' codes are ``qcfs_codes`` of their inputs.
    """
    x = check_input(net, x)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise GoldenError(f"forward: dtype must be float32 or float64, not {dtype}")
    vals: dict[str, np.ndarray] = {}
    for n in net.nodes:
        vals[n.name] = eval_node(n, [vals[i] for i in n.inputs], x, dtype)
    return vals if return_all else vals[net.output]


_PARAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _param(n, what: str, dtype, make):
    """Parameter ``what`` of node ``n`` prepared in ``dtype`` (cached per node)."""
    cache = _PARAMS.setdefault(n, {})
    key = (what, np.dtype(dtype).str)
    if key not in cache:
        cache[key] = make()
    return cache[key]


def eval_node(n, a: list[np.ndarray], x: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Value of node ``n`` in ``dtype`` given its inputs' values ``a`` (``x``: pixel codes)."""
    dtype = np.dtype(dtype)
    if isinstance(n, Input):
        return x.astype(dtype) * dtype.type(n.scale / ((1 << n.bits) - 1))
    if isinstance(n, Conv2d):
        w = _param(n, "weight", dtype, lambda: ops.conv_weights_cl(n.weight, n.groups, dtype))
        v = ops.conv2d(a[0], n.weight, n.stride, n.padding, n.groups, w_cl=w)
        return v if n.bias is None else v + ops.channel_view(n.bias.astype(dtype), v.ndim)
    if isinstance(n, Linear):
        v = a[0] @ _param(n, "weight", dtype, lambda: np.ascontiguousarray(n.weight.T, dtype=dtype))
        return v if n.bias is None else v + n.bias.astype(dtype)
    if isinstance(n, BatchNorm):
        def affine():
            scale = n.gamma / np.sqrt(n.var + n.eps)
            return scale.astype(dtype), (n.beta - n.mean * scale).astype(dtype)
        scale, shift = _param(n, "affine", dtype, affine)
        return a[0] * ops.channel_view(scale, a[0].ndim) + ops.channel_view(shift, a[0].ndim)
    if isinstance(n, QCFS):
        return qcfs(a[0], n.lam, n.bits)
    if isinstance(n, AvgPool2d):
        return ops.sumpool2d(a[0], n.kernel, n.stride) / a[0].dtype.type(n.kernel[0] * n.kernel[1])
    if isinstance(n, Flatten):
        return a[0].reshape(a[0].shape[0], -1)
    if isinstance(n, Add):
        return a[0] + a[1]
    raise GoldenError(f"unknown node {n!r}")  # pragma: no cover - network() rejects unknown nodes

"""Bit-serial simulation of the integer SNN, layer by layer.

Two modes give identical results (a property test checks every bit):

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

How it runs (both modes): activations are kept channels last, ``(N, H, W, C)``;
images are processed in chunks sized so that a chunk's window matrix stays in
cache; each layer's GEMMs run in the narrowest exact dtype recorded by conversion
(:attr:`~golden.convert.IntLayer.gemm_dtype`: ``float32`` when every partial sum is
below ``2**24``, else ``float64``, else ``int64``), and the fast mode's epilogue
(``acc + init``, ``floor(acc / S)``, clip) runs on the chunk in
:attr:`~golden.convert.IntLayer.acc_dtype` (``floor`` of a correctly rounded
quotient of integers below ``2**24`` resp. ``2**53`` is the exact floor).  BLAS
runs on ``threads`` threads (default 1, see :data:`DEFAULT_THREADS`).
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import MutableMapping
from dataclasses import dataclass

import numpy as np

from . import neuron, ops
from .convert import EXACT_BELOW, FlattenOp, IntLayer, IntNetwork, Kind, Term, exact_dtype
from .errors import GoldenError
from .reference import check_input

MODES = ("fast", "literal")

#: BLAS threads of a simulation.  One: the simulator's GEMMs are a few hundred rows
#: each (one cache-sized chunk of images), where a second BLAS thread costs more in
#: synchronization than it gains (``bench/golden_sim.py --threads`` measures it).
DEFAULT_THREADS = 1

def uint_dtype(bits: int) -> np.dtype:
    """Smallest unsigned dtype holding ``bits``-bit codes."""
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if bits <= 8 * np.dtype(dt).itemsize:
            return np.dtype(dt)
    raise GoldenError(f"no unsigned dtype holds {bits}-bit codes")


# ------------------------------------------------------------------ results


class _LayerMap(MutableMapping):
    """Per-layer arrays of a :class:`SimResult`, read and written like a dict."""

    def __init__(self, res: SimResult):
        self._res = res

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {list(self)}>"


class _Codes(_LayerMap):
    def __getitem__(self, name: str) -> np.ndarray:
        r = self._res
        if name in r._codes:
            return r._codes[name]
        if name in r._packed and r.bits is not None:
            s = self._res.spikes[name]
            w = (1 << (r.bits - 1 - np.arange(r.T))).astype(uint_dtype(r.bits)).reshape((-1,) + (1,) * (s.ndim - 1))
            return (s * w).sum(0, dtype=uint_dtype(r.bits))
        raise KeyError(name)

    def __setitem__(self, name: str, codes) -> None:
        self._res._codes[name] = np.asarray(codes)

    def __delitem__(self, name: str) -> None:
        del self._res._codes[name]

    def __iter__(self):
        r = self._res
        return iter([n for n in dict.fromkeys([*r._codes, *r._packed]) if n in r._codes or r.bits is not None])


class _Spikes(_LayerMap):
    def __getitem__(self, name: str) -> np.ndarray:
        r = self._res
        if name in r._packed:
            return np.unpackbits(r._packed[name], axis=0, count=r.T)
        if name in r._codes and r.bits is not None:
            k = r._codes[name]
            shifts = (r.bits - 1 - np.arange(r.T)).astype(k.dtype).reshape((-1,) + (1,) * k.ndim)
            s = np.empty((r.T,) + k.shape, dtype=np.uint8)
            np.bitwise_and(k[None] >> shifts, 1, out=s, casting="unsafe")
            return s
        raise KeyError(name)

    def __setitem__(self, name: str, spikes) -> None:
        s = np.asarray(spikes)
        if s.ndim < 2 or s.shape[0] != self._res.T:
            raise GoldenError(f"SimResult: spikes of {name!r} must have shape (T={self._res.T}, N, ...), not {s.shape}")
        self._res._packed[name] = np.packbits(s != 0, axis=0)
        self._res._codes.pop(name, None)  # codes now follow these spikes

    def __delitem__(self, name: str) -> None:
        del self._res._packed[name]

    def __iter__(self):
        r = self._res
        return iter([n for n in dict.fromkeys([*r._codes, *r._packed]) if n in r._packed or r.bits is not None])


class _Membranes(_LayerMap):
    def __getitem__(self, name: str) -> np.ndarray:
        r = self._res
        if name in r._membrane:
            return r._membrane[name]
        inet = r._inet
        if inet is not None and name in {l.name for l in inet.layers}:
            return _membrane_of(inet, inet.layer(name), r)
        raise KeyError(name)

    def __setitem__(self, name: str, membrane) -> None:
        self._res._membrane[name] = np.asarray(membrane)

    def __delitem__(self, name: str) -> None:
        del self._res._membrane[name]

    def __iter__(self):
        r = self._res
        names = [l.name for l in r._inet.layers] if r._inet is not None else []
        return iter(dict.fromkeys([*names, *r._membrane]))


class SimResult:
    """What a simulation returns: per layer name, arrays with the batch first.

    ``codes[name]``: output codes of hidden layers (their ``T`` MSBs), the smallest
    unsigned dtype (``uint8`` for ``B <= 8``).
    ``spikes[name]``: ``(T, N, ...)`` uint8 output spikes of hidden layers, MSB first.
    ``membrane[name]``: int64 membrane after accumulation (bias and half LSB
    included); for the output layer these are the integer logits.

    What is kept: the pixels (smallest unsigned dtype), the codes of every hidden
    layer and the logits; with ``simulate(..., membranes=True)`` the hidden
    membranes too.  Everything else is derived on access, exactly: spikes are the
    bits of the codes (a new array each time); a hidden membrane that was not kept
    is recomputed from the codes of the layer's sources (one GEMM of that layer).
    Assigning ``spikes[name]`` stores them bit-packed along time and drops the
    layer's stored codes, which then follow from the spikes (when ``bits``, the
    network's ``B``, is known); assigning ``codes[name]`` stores them as given.
    """

    def __init__(self, T: int, pixels, *, bits: int | None = None, membrane=None, codes=None, spikes=None):
        self.T = int(T)
        self.pixels = np.asarray(pixels)
        self.bits = bits
        self._codes: dict[str, np.ndarray] = {}
        self._packed: dict[str, np.ndarray] = {}
        self._membrane: dict[str, np.ndarray] = {}
        self._inet: IntNetwork | None = None  # the network that recomputes membranes (set by simulate)
        self.codes = _Codes(self)
        self.spikes = _Spikes(self)
        self.membrane = _Membranes(self)
        self.codes.update(codes or {})
        self.spikes.update(spikes or {})
        self.membrane.update(membrane or {})

    def logits(self, inet: IntNetwork) -> np.ndarray:
        return self.membrane[inet.output.name]

    def predictions(self, inet: IntNetwork) -> np.ndarray:
        out = inet.output
        v = self.codes[out.name] if not out.is_output else self.membrane[out.name]
        return v.reshape(v.shape[0], -1).argmax(1)

    def spike_counts(self, name: str) -> np.ndarray:
        """Spikes of every neuron of hidden layer ``name`` over the ``T`` steps, ``(N, ...)`` int64."""
        if hasattr(np, "bitwise_count"):
            if name in self._packed:
                return np.bitwise_count(self._packed[name]).sum(0, dtype=np.int64)
            if name in self._codes and self.bits is not None:
                return np.bitwise_count(self._codes[name]).astype(np.int64)
        return self.spikes[name].sum(0, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays kept (pixels, codes, packed spikes, kept membranes)."""
        arrays = [self.pixels, *self._codes.values(), *self._packed.values(), *self._membrane.values()]
        return int(sum(a.nbytes for a in arrays))


# ------------------------------------------------------------------ per-term GEMM operands


@dataclass(frozen=True)
class _Plan:
    """A term prepared for the channels-last engine, in one dtype (no reference to the
    term itself: plans are cached in a dictionary weakly keyed by their term)."""

    kind: Kind
    kernel: tuple[int, int]  # conv only
    stride: tuple[int, int]
    padding: tuple[int, int]
    dtype: np.dtype
    pooled: tuple[int, ...]  # source shape through the sum pools (C, H, W) or (F,)
    out: tuple[int, ...]  # output shape, channels last, one image
    w: np.ndarray  # conv: (groups, kh*kw*C/groups, O/groups); linear: (F, O); identity: (C,)
    pools: tuple  # the term's SumPool pre-ops
    rows: int  # GEMM rows per image
    K: int  # GEMM depth (elements of one window-matrix row)


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cl_shape(shape) -> tuple[int, ...]:
    return (*shape[1:], shape[0]) if len(shape) == 3 else tuple(shape)


def _plan(term: Term, source_shape: tuple[int, ...], dtype) -> _Plan:
    dtype = np.dtype(dtype)
    cache = _PLANS.setdefault(term, {})
    key = (dtype.str, tuple(source_shape))
    if key in cache:
        return cache[key]
    pooled = tuple(source_shape)
    for p in term.pools:
        pooled = p.out_shape(pooled)
    flat = any(isinstance(p, FlattenOp) for p in term.pre)
    w = term.weight
    if term.kind is Kind.CONV:
        wm = ops.conv_weights_cl(w, term.groups, dtype)
    elif flat and len(pooled) == 3:  # channels-last flatten order (h, w, c): permute the columns
        C, H, W = pooled
        perm = np.arange(C * H * W).reshape(C, H, W).transpose(1, 2, 0).reshape(-1)
        wm = np.ascontiguousarray((w[:, perm].T if term.kind is Kind.LINEAR else w[perm]), dtype=dtype)
    else:
        wm = np.ascontiguousarray(w.T if term.kind is Kind.LINEAR else w, dtype=dtype)
    out = _cl_shape(term.output_shape(source_shape))
    K = wm.shape[1] if term.kind is Kind.CONV else math.prod(pooled)
    kernel = tuple(w.shape[2:]) if term.kind is Kind.CONV else (1, 1)
    plan = _Plan(term.kind, kernel, term.stride, term.padding, dtype, pooled, out, wm, term.pools, math.prod(out[:-1]), K)
    cache[key] = plan
    return plan


class _Scratch:
    """Reusable buffers (one per role and dtype), so chunks do not allocate."""

    def __init__(self):
        self._bufs: dict = {}

    def get(self, role: str, shape, dtype) -> np.ndarray:
        n = math.prod(shape)
        key = (role, dtype)
        b = self._bufs.get(key)
        if b is None or b.size < n:
            b = self._bufs[key] = np.empty(max(n, 1), dtype)
        return b[:n].reshape(shape)


def _apply_chunk(plan: _Plan, x: np.ndarray, scratch: _Scratch, role: str) -> np.ndarray:
    """The synaptic map of ``plan`` on channels-last integer data ``x`` (one chunk of
    images): ``(n * rows, O)`` in ``plan.dtype``, in a scratch buffer named ``role``."""
    dt, n = plan.dtype, len(x)
    out = scratch.get(role, (n * plan.rows, plan.out[-1]), dt)
    if plan.kind is Kind.CONV:
        C, H, W = plan.pooled
        ph, pw = plan.padding
        xp = scratch.get("pad", (n, H + 2 * ph, W + 2 * pw, C), dt)
        ops.zero_border(xp, plan.padding)
        _pre_into(plan.pools, x, xp[:, ph : ph + H, pw : pw + W])
        cols = scratch.get("cols", (n * plan.rows * plan.K,), dt)
        return ops.conv2d_cl(xp, plan.w, plan.kernel, plan.stride, out, cols)
    v = scratch.get("in", (n,) + _cl_shape(plan.pooled), dt)
    _pre_into(plan.pools, x, v)
    v = v.reshape(n, -1) if plan.kind is Kind.LINEAR else v.reshape(out.shape)
    if plan.kind is Kind.LINEAR:
        return np.matmul(v, plan.w, out=out)
    return np.multiply(v, plan.w, out=out)


def _pre_into(pools: tuple, x: np.ndarray, dest: np.ndarray) -> None:
    """Write ``x`` through a term's sum ``pools`` (its flatten is a reshape) into ``dest``, cast."""
    if not pools:
        np.copyto(dest, x.reshape(dest.shape), casting="unsafe")
        return
    v = x
    for i, p in enumerate(pools):
        if i == len(pools) - 1:
            o = dest
        else:
            C, H, W = p.out_shape((v.shape[3], v.shape[1], v.shape[2]))
            o = np.empty((len(v), H, W, C), dest.dtype)
        v = ops.sumpool2d_cl(v, p.kernel, p.stride, o)


def _chunks(N: int, plans: list[_Plan]):
    """Image ranges whose window matrices fit :data:`golden.ops.CHUNK_BYTES`."""
    per_image = max((p.rows * p.K * p.dtype.itemsize for p in plans), default=1)
    n = max(1, min(N, ops.CHUNK_BYTES // max(per_image, 1)))
    return [(i, min(N, i + n)) for i in range(0, N, n)]


def _apply_all(plan: _Plan, x: np.ndarray, scratch: _Scratch) -> np.ndarray:
    """The synaptic map on a whole batch ``x`` (channels last), int64 ``(N,) + plan.out``."""
    N = len(x)
    out = np.empty((N,) + plan.out, np.int64)
    for n0, n1 in _chunks(N, [plan]):
        out[n0:n1] = _apply_chunk(plan, x[n0:n1], scratch, "out").reshape((n1 - n0,) + plan.out)
    return out


def _bound_dtype(term: Term, x: np.ndarray) -> np.dtype:
    """Narrowest exact dtype for ``term`` on the integers ``x`` (every partial sum bounded
    by ``max_c sum |w_c| * pool area * max |x|``)."""
    w = np.abs(term.weight.reshape(term.weight.shape[0], -1)).sum(1).max(initial=0)
    xmax = int(np.abs(x).max(initial=0)) if x.size else 0
    return np.dtype(exact_dtype(int(w) * term.pool_area * xmax))


def apply_term(term: Term, x: np.ndarray) -> np.ndarray:
    """The integer synaptic map of one term on integer data ``x`` (channels first, batch
    first: ``(N,) + source shape``): int64 ``(N,) + output shape``, exact (the GEMM
    runs in the narrowest dtype that the magnitudes of ``term`` and ``x`` prove exact)."""
    x = np.asarray(x)
    plan = _plan(term, x.shape[1:], _bound_dtype(term, x))
    return ops.from_cl(_apply_all(plan, ops.to_cl(x), _Scratch()))


# ------------------------------------------------------------------ input steps


def _check_T(inet: IntNetwork, T: int | None) -> int:
    if T is None:
        return inet.bits
    if not isinstance(T, (int, np.integer)) or isinstance(T, bool) or not 1 <= T <= inet.bits:
        raise GoldenError(f"simulate: T must be an integer in 1..B={inet.bits}, not {T!r}")
    return int(T)


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


def _step_planes(inet: IntNetwork, res: SimResult, source: str):
    """Channels-last input steps of ``source`` for the engine (a list, one array per step)."""
    if inet.is_input(source) or source not in res._codes or res.bits is None:
        return [ops.to_cl(s) for s in input_steps(inet, res, source)]
    k = ops.to_cl(res._codes[source])
    return [(k >> (res.bits - 1 - t)) & 1 for t in range(res.T)]


def synaptic_steps(inet: IntNetwork, layer: IntLayer | str, res: SimResult) -> np.ndarray:
    """Synaptic sums ``a(t)`` of every neuron of ``layer`` at every Horner position.

    Returns ``(D, N) + out_shape`` int64: the accumulator does ``u = 2*u + a[t]``
    for ``t = 0 .. D-1``, then adds ``layer.init``.  Terms whose inputs have fewer
    steps are right-aligned (positions with no input hold zeros; with ``T < B``
    the last ``B - T`` positions are those zero steps, i.e. plain shifts;
    :meth:`IntNetwork.alignment`).  ``res`` must hold the spikes of the layer's
    sources (any mode).
    """
    if isinstance(layer, str):
        layer = inet.layer(layer)
    a = _synaptic_steps_cl(inet, layer, res, _Scratch())
    return a.transpose(0, 1, 4, 2, 3) if a.ndim == 5 else a


def _synaptic_steps_cl(inet: IntNetwork, layer: IntLayer, res: SimResult, scratch: _Scratch) -> np.ndarray:
    return np.stack(list(_steps_cl(inet, layer, res, scratch)))


def _steps_cl(inet: IntNetwork, layer: IntLayer, res: SimResult, scratch: _Scratch):
    """Yield the channels-last synaptic sums ``a(t)`` (int64) of ``layer``, Horner position by position."""
    al = inet.alignment(layer, res.T)
    shape = (res.pixels.shape[0],) + _cl_shape(layer.out_shape)
    dt = layer.step_dtype
    terms = [(_plan(t, inet.source_shape(t.source), dt), al.span(t.source), _step_planes(inet, res, t.source))
             for t in layer.terms]
    for pos in range(al.depth):
        a = np.zeros(shape, dtype=np.int64)
        for plan, span, planes in terms:
            if span.start <= pos < span.stop:
                a += _apply_all(plan, planes[pos - span.start], scratch)
        yield a


# ------------------------------------------------------------------ the two modes


def _source_cl(inet: IntNetwork, res: SimResult, source: str) -> np.ndarray:
    return ops.to_cl(res.pixels if inet.is_input(source) else res.codes[source])


def _run_literal(inet: IntNetwork, layer: IntLayer, res: SimResult, keep: bool, scratch: _Scratch) -> None:
    u = np.zeros((res.pixels.shape[0],) + _cl_shape(layer.out_shape), dtype=np.int64)
    for a in _steps_cl(inet, layer, res, scratch):
        u = neuron.accumulate_step(u, a)
    u = u + layer.init
    if layer.is_output or keep:
        res._membrane[layer.name] = ops.from_cl(u)
    if layer.is_output:
        return
    k = np.zeros(u.shape, dtype=uint_dtype(layer.bits))
    for t in range(1, res.T + 1):
        s, u = neuron.fire_step(u, layer.S, layer.bits, t)
        k |= (s << (layer.bits - t)).astype(k.dtype)
    res._codes[layer.name] = ops.from_cl(k)


def _run_fast(inet: IntNetwork, layer: IntLayer, res: SimResult, scratch: _Scratch,
              codes: np.ndarray | None, membrane: np.ndarray | None) -> None:
    """One layer in closed form, chunk by chunk: GEMMs in ``gemm_dtype``, then the epilogue
    in ``acc_dtype``, writing channels-last ``codes`` (hidden) and/or ``membrane`` (int64)."""
    gdt = np.dtype(layer.gemm_dtype)
    edt = np.dtype(max(layer.gemm_dtype, layer.acc_dtype, key=list(EXACT_BELOW).index))
    plans = [_plan(t, inet.source_shape(t.source), gdt) for t in layer.terms]
    srcs = [_source_cl(inet, res, t.source) for t in layer.terms]
    C = layer.out_shape[0]
    init = layer.init.astype(edt)
    S = layer.S.astype(edt)
    L = (1 << layer.bits) - 1 if not layer.is_output else 0
    mask = (L >> (layer.bits - res.T)) << (layer.bits - res.T) if not layer.is_output else 0
    for n0, n1 in _chunks(res.pixels.shape[0], plans):
        acc = None
        for i, (plan, x) in enumerate(zip(plans, srcs)):
            v = _apply_chunk(plan, x[n0:n1], scratch, f"out{i}")
            acc = v if acc is None else np.add(acc, v, out=acc)
        if edt != gdt:
            acc = acc.astype(edt)
        acc += init
        if membrane is not None:
            np.copyto(membrane[n0:n1].reshape(-1, C), acc, casting="unsafe")
        if codes is None:
            continue
        if edt.kind == "f":
            np.divide(acc, S, out=acc)
            np.floor(acc, out=acc)
        else:
            np.floor_divide(acc, S, out=acc)
        np.clip(acc, 0, L, out=acc)
        k = codes[n0:n1].reshape(-1, C)
        np.copyto(k, acc, casting="unsafe")
        if mask != L:
            k &= mask


def _membrane_of(inet: IntNetwork, layer: IntLayer, res: SimResult) -> np.ndarray:
    """A layer's membrane recomputed in closed form from its sources' codes."""
    m = np.empty((res.pixels.shape[0],) + _cl_shape(layer.out_shape), np.int64)
    _run_fast(inet, layer, res, _Scratch(), None, m)
    return ops.from_cl(m)


_BLAS = []


@contextlib.contextmanager
def _blas_threads(n: int):
    """Run the body with ``n`` BLAS threads (threadpoolctl), then restore the previous counts."""
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append([lc for lc in ThreadpoolController().lib_controllers if lc.user_api == "blas"])
    libs = _BLAS[0]
    before = [lc.get_num_threads() for lc in libs]
    try:
        for lc in libs:
            lc.set_num_threads(n)
        yield
    finally:
        for lc, k in zip(libs, before):
            lc.set_num_threads(k)


def simulate(inet: IntNetwork, x, T: int | None = None, mode: str = "fast", progress=None, *,
             membranes: bool = False, threads: int | None = None) -> SimResult:
    """Run the integer SNN on pixel codes ``x`` (``(N,) + input shape``) for ``T`` steps.

    ``membranes``: keep every hidden layer's membrane (int64 per neuron) in the result;
    otherwise only the logits are kept and a hidden membrane is recomputed on access.
    ``threads``: BLAS threads (default :data:`DEFAULT_THREADS`).
    ``progress``: optional callable ``progress(layer_name)`` called after each layer.
    """
    if mode not in MODES:
        raise GoldenError(f"simulate: mode must be one of {MODES}, not {mode!r}")
    T = _check_T(inet, T)
    threads = DEFAULT_THREADS if threads is None else threads
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise GoldenError(f"simulate: threads must be a positive integer, not {threads!r}")
    x = check_input(inet, x)
    res = SimResult(T=T, pixels=x.astype(uint_dtype(inet.input.bits)), bits=inet.bits)
    res._inet = inet
    scratch = _Scratch()
    N = x.shape[0]
    with _blas_threads(threads):
        for layer in inet.layers:
            if mode == "literal":
                _run_literal(inet, layer, res, membranes, scratch)
            else:
                shape = (N,) + _cl_shape(layer.out_shape)
                codes = None if layer.is_output else np.empty(shape, uint_dtype(layer.bits))
                keep = layer.is_output or membranes
                membrane = np.empty(shape, np.int64) if keep else None
                _run_fast(inet, layer, res, scratch, codes, membrane)
                if codes is not None:
                    res._codes[layer.name] = ops.from_cl(codes)
                if keep:
                    res._membrane[layer.name] = ops.from_cl(membrane)
            if progress is not None:
                progress(layer.name)
    return res


def integer_ann(inet: IntNetwork, x, T: int | None = None) -> SimResult:
    """The quantized ANN on integers (codes, no spikes): what the SNN must reproduce."""
    return simulate(inet, x, T=T, mode="fast")

"""Conversion of a QCFS network (:mod:`golden.ir`) to the integer SNN that hardware runs.

The integer definition (``docs/integer-network.md``, after ``NOTES.md``): a
*layer* is one population of neurons: every QCFS node, and the network output.
Its pre-activation is a sum of *terms*; each term reads the integer codes of one
quantized tensor (the input pixels or a QCFS output), optionally sum-pools and
flattens them, and applies an integer conv, linear map, or per-channel identity
(a residual connection).  For output channel ``c``::

    acc = sum_terms Wq * k  +  bias_q[c]  +  half[c]          (half = S[c] // 2)
    k_out = clip(floor(acc / S[c]), 0, 2**B - 1)                (hidden layers)
    logits = acc                                                (output layer, half = 0)

How the integers are chosen (per layer, ``weight_bits`` = w, ``qmax = 2**(w-1) - 1``):

* BN is folded into the preceding conv/linear (and into residual identity terms
  that pass through it); the real weight of a term is expressed in *output LSBs
  per input code*: ``W * (lam_in / L_in) * (L_out / lam_out)`` (times ``1/(kh*kw)``
  for each average pool in front, which becomes a sum pool).
* Hidden layers use a per-output-channel integer LSB ``S[c] = floor(qmax / m_c)``
  where ``m_c`` is the largest folded weight magnitude of channel ``c`` over all
  terms; the output layer uses one ``S`` for all logits (so argmax is preserved).
  ``Wq = rint(W_eff * S)``, ``bias_q = rint(b_eff * S)``.
* ``half = S // 2`` makes ``floor`` round half up, like QCFS, for even and odd ``S``.
* A channel without any nonzero folded weight gets ``S = qmax``; ``S`` is capped at ``2**30``.
* ``term_shifts=True``: terms of very different scales get power-of-two scales aligned to
  the one ``S`` (:attr:`Term.shift`; ``Term.weight`` stays the effective weight, the
  hardware stores :attr:`Term.stored` and shifts it back), chosen so that no weight or
  bias is rounded on a coarser grid than without them (``docs/integer-network.md``).

Widths: the accumulator range is the worst case over all input codes, bias,
the largest threshold ``S << (B-1)`` and every Horner partial sum; it is reported
per layer as ``acc_bits`` (signed).  The synaptic sum of one input step is
``syn_bits`` wide.  Nothing can overflow a register of those widths.  The range
of every partial sum of the synaptic GEMM (``psum_lo``, ``psum_hi``) decides the
dtype the golden model computes it in (:attr:`IntLayer.gemm_dtype`).

The vocabulary every package reads a layer with lives here: a :class:`Term`'s
pre-ops are typed (:class:`SumPool`, :class:`FlattenOp`) and its map is a
:class:`Kind`; :meth:`Term.input_shape`, :meth:`Term.output_shape`,
:meth:`Term.fanout`, :meth:`Term.input_span` and :meth:`Term.pool_adds` answer the
structural questions, :meth:`IntNetwork.source_shape` and
:meth:`IntNetwork.alignment` (the Horner position of every source's steps) the
network-level ones.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

import numpy as np

from .errors import GoldenError
from .ir import QCFS, Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, Linear, Network

#: widest accumulator the golden model computes exactly (float64 GEMM)
MAX_ACC_BITS = 53
#: weight widths :func:`convert` accepts (stored, signed)
MIN_WEIGHT_BITS, MAX_WEIGHT_BITS = 2, 24
#: most IR nodes folded into one layer (bounds the work of the fold and its recursion)
MAX_FOLDED = 256

#: GEMM dtypes of the golden model, narrowest first, with the magnitude every integer
#: (hence every partial sum of an integer dot product) must stay below to be exact
EXACT_BELOW = {"float32": 1 << 24, "float64": 1 << 53, "int64": 1 << 63}


def exact_dtype(bound: int) -> str:
    """Narrowest dtype of :data:`EXACT_BELOW` that holds every integer of magnitude ``<= bound`` exactly."""
    for name, limit in EXACT_BELOW.items():
        if bound < limit:
            return name
    raise GoldenError(f"no exact dtype for integers up to {bound} (int64 holds less than 2**63)")


def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's complement width holding every integer in ``[lo, hi]``."""
    n = 1
    while not (-(1 << (n - 1)) <= lo and hi <= (1 << (n - 1)) - 1):
        n += 1
    return n


class Kind(enum.StrEnum):
    """The synaptic map of a :class:`Term`, applied after its pre-ops."""

    CONV = "conv"  #: integer cross-correlation (stride, zero padding, groups), weight ``(O, C/groups, kh, kw)``
    LINEAR = "linear"  #: integer matrix, weight ``(O, F)``
    IDENTITY = "identity"  #: per-channel integer factor (a residual connection), weight ``(C,)``


def _cover(n_out: int, k: int, s: int, p: int, n_in: int) -> np.ndarray:
    """Per input index of one axis: how many of ``n_out`` windows (size k, stride s, padding p) read it."""
    d = np.zeros(n_in + 1, np.int64)
    lo = np.arange(n_out) * s - p
    hi = np.minimum(lo + k - 1, n_in - 1)
    lo = np.maximum(lo, 0)
    ok = lo <= hi
    np.add.at(d, lo[ok], 1)
    np.add.at(d, hi[ok] + 1, -1)
    return d.cumsum()[:-1]


@dataclass(frozen=True)
class SumPool:
    """Pre-op: sum over ``kernel`` windows moved by ``stride``, no padding (an average
    pool times its area ``kh*kw``, the ``1/(kh*kw)`` being folded into the weights).
    Acts on ``(C, H, W)``."""

    kernel: tuple[int, int]
    stride: tuple[int, int]

    @property
    def area(self) -> int:
        return self.kernel[0] * self.kernel[1]

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        C, H, W = shape
        (kh, kw), (sh, sw) = self.kernel, self.stride
        return C, (H - kh) // sh + 1, (W - kw) // sw + 1

    @property
    def growth_bits(self) -> int:
        """Bits a sum of ``area`` values needs beyond one value's width."""
        return (self.area - 1).bit_length()

    def adds(self, shape: tuple[int, ...]) -> int:
        """Two-input additions that sum every window of a ``shape`` map once (``area - 1`` per output)."""
        return int(np.prod(self.out_shape(shape))) * (self.area - 1)

    def input_span(self, lo, hi, axis: int):
        """Inclusive range of input indices along spatial ``axis`` (0: rows, 1: columns)
        read by the outputs ``lo .. hi`` (integers or arrays)."""
        k, s = self.kernel[axis], self.stride[axis]
        return lo * s, hi * s + k - 1

    def spread(self, f: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """``f`` given per output ``(C, Ho, Wo)``: per input (``shape``), the sum of ``f``
        over the windows that read it."""
        C, Ho, Wo = f.shape
        (kh, kw), (sh, sw) = self.kernel, self.stride
        out = np.zeros(shape, dtype=f.dtype)
        for dy in range(kh):
            for dx in range(kw):
                out[:, dy : dy + sh * (Ho - 1) + 1 : sh, dx : dx + sw * (Wo - 1) + 1 : sw] += f
        return out


@dataclass(frozen=True)
class FlattenOp:
    """Pre-op: ``(C, H, W)`` to ``(C*H*W,)`` in C order (no arithmetic)."""

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int]:
        return (int(np.prod(shape)),)

    def spread(self, f: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return f.reshape(shape)


#: the pre-ops a term applies to its source's codes, in order
PreOp = SumPool | FlattenOp


@dataclass(frozen=True, eq=False)
class Term:
    """One integer-weighted input of a layer.

    ``source``: name of a quantized node (the input node or a QCFS node).
    ``pre``: :data:`PreOp` s applied to the source codes first, in order
    (:class:`SumPool`, :class:`FlattenOp`).  ``kind``: the synaptic map (:class:`Kind`);
    ``weight``: int64, ``(O, C/groups, kh, kw)``, ``(O, F)`` or ``(C,)``: the *effective*
    integer weights, the ones every sum of the integer network uses.

    ``shift``: every weight is a multiple of ``2**shift``; hardware stores
    :attr:`stored` ``= weight >> shift`` (the layer's ``weight_bits`` wide) and shifts
    each product (or the term's partial sum) left by ``shift``.  0 unless the network was
    converted with ``term_shifts=True``.

    Shapes are of one image (no batch axis).
    """

    source: str
    pre: tuple[PreOp, ...]
    kind: Kind
    weight: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    shift: int = 0

    def __post_init__(self):
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "pre", tuple(self.pre))
        for p in self.pre:
            if not isinstance(p, (SumPool, FlattenOp)):
                raise GoldenError(f"Term {self.source!r}: pre-op {p!r} is not a SumPool or FlattenOp")
        if not isinstance(self.shift, (int, np.integer)) or isinstance(self.shift, bool) or not 0 <= self.shift < 63:
            raise GoldenError(f"Term {self.source!r}: shift must be an integer in 0..62, not {self.shift!r}")
        object.__setattr__(self, "shift", int(self.shift))
        if self.shift and np.any(np.asarray(self.weight) % (1 << self.shift)):
            raise GoldenError(f"Term {self.source!r}: shift {self.shift}, but a weight is not a multiple of "
                              f"2**{self.shift}")

    @property
    def stored(self) -> np.ndarray:
        """The values hardware stores: ``weight >> shift`` (exact: every weight is a multiple of ``2**shift``)."""
        return self.weight >> self.shift if self.shift else self.weight

    @property
    def pools(self) -> tuple[SumPool, ...]:
        return tuple(p for p in self.pre if isinstance(p, SumPool))

    @property
    def pool_area(self) -> int:
        """Product of the sum-pool windows: how many codes one pooled input sums."""
        return int(np.prod([p.area for p in self.pools], dtype=np.int64))

    @property
    def elementwise(self) -> bool:
        """True when output ``j`` reads source input ``j`` only (an identity without pre-ops)."""
        return self.kind is Kind.IDENTITY and not self.pre

    @property
    def fan_in(self) -> int:
        """Source codes that reach one output neuron with its whole kernel inside the input."""
        if self.kind is Kind.IDENTITY:
            return self.pool_area
        return int(np.prod(self.weight.shape[1:])) * self.pool_area

    def pool_adds(self, source_shape) -> int:
        """Additions of the term's sum pools on one image of ``source_shape`` (:meth:`SumPool.adds`)."""
        n, shape = 0, tuple(source_shape)
        for p in self.pre:
            if isinstance(p, SumPool):
                n += p.adds(shape)
            shape = p.out_shape(shape)
        return n

    def input_shape(self, source_shape) -> tuple[int, ...]:
        """Shape the synaptic map reads: ``source_shape`` through the pre-ops."""
        shape = tuple(source_shape)
        for p in self.pre:
            shape = p.out_shape(shape)
        return shape

    def output_shape(self, source_shape) -> tuple[int, ...]:
        return self._map_shape(self.input_shape(source_shape))

    def _map_shape(self, shape) -> tuple[int, ...]:
        if self.kind is Kind.CONV:
            _, H, W = shape
            O, _, kh, kw = self.weight.shape
            (sh, sw), (ph, pw) = self.stride, self.padding
            return O, (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        if self.kind is Kind.LINEAR:
            return (self.weight.shape[0],)
        return tuple(shape)

    def input_span(self, lo, hi, axis: int):
        """Map an inclusive range of the synaptic map's input indices along spatial ``axis``
        (0: rows, 1: columns) back through the sum pools to source indices."""
        for p in reversed(self.pools):
            lo, hi = p.input_span(lo, hi, axis)
        return lo, hi

    def fanout(self, source_shape, pre: bool = True) -> np.ndarray:
        """Structural fan-out: per source input (array of ``source_shape``, int64), the
        number of (output neuron, weight) pairs it reaches, through pooling windows,
        padding, stride and groups; zero weights count (they are wired).  With
        ``pre=False`` the pre-ops are skipped and ``source_shape`` is the map's input.

        The synaptic operations of a run are ``sum(events * fanout)``."""
        shapes = [tuple(source_shape)]
        if pre:
            for p in self.pre:
                shapes.append(p.out_shape(shapes[-1]))
        f = self._map_fanout(shapes[-1])
        if pre:
            for p, shape in zip(reversed(self.pre), reversed(shapes[:-1])):
                f = p.spread(f, shape)
        return f

    def _map_fanout(self, shape) -> np.ndarray:
        if self.kind is Kind.CONV:
            C, H, W = shape
            _, Ho, Wo = self._map_shape(shape)
            O, _, kh, kw = self.weight.shape
            (sh, sw), (ph, pw) = self.stride, self.padding
            ry, rx = _cover(Ho, kh, sh, ph, H), _cover(Wo, kw, sw, pw, W)
            return np.broadcast_to((O // self.groups) * ry[None, :, None] * rx[None, None, :], (C, H, W)).copy()
        if self.kind is Kind.LINEAR:
            return np.full(shape, self.weight.shape[0], np.int64)
        return np.ones(shape, np.int64)

    def synapses(self, source_shape, pre: bool = True) -> int:
        """Total structural synapses (sum of :meth:`fanout`) for one image."""
        return int(self.fanout(source_shape, pre).sum())

    def channel_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Per output channel: sum of positive and of negative weights."""
        w = self.weight.reshape(self.weight.shape[0], -1)
        return np.where(w > 0, w, 0).sum(1), np.where(w < 0, w, 0).sum(1)

    def stored_channel_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`channel_sums` of the :attr:`stored` values (times ``2**shift``: the effective sums)."""
        w = self.stored.reshape(self.weight.shape[0], -1)
        return np.where(w > 0, w, 0).sum(1), np.where(w < 0, w, 0).sum(1)


# ------------------------------------------------------------------ step alignment


@dataclass(frozen=True)
class StepSpan:
    """Where one source's input steps sit among a layer's Horner positions.

    ``start``: position of its first step; ``steps``: how many it delivers (``T``
    spike steps; ``P`` pixel bit planes; one multi-bit pixel step, ``multibit``);
    ``shifts``: plain shifts after its last step (``B - T`` when a hidden source fires
    only ``T < B`` steps: the missing LSB steps).  ``start + steps + shifts`` is the
    layer's depth for the deepest source; shallower ones start later (right-aligned).
    """

    source: str
    start: int
    steps: int
    shifts: int
    multibit: bool

    @property
    def stop(self) -> int:
        """One past the position of the last step."""
        return self.start + self.steps


@dataclass(frozen=True)
class StepAlignment:
    """The Horner schedule of one layer: ``u = 2*u + a(t)`` for ``t = 0 .. depth-1``,
    ``a(t)`` summing the steps of every source whose span covers ``t``."""

    depth: int
    spans: tuple[StepSpan, ...]

    @property
    def first(self) -> int:
        """First position holding an input step."""
        return min(s.start for s in self.spans)

    @property
    def last(self) -> int:
        """Last position holding an input step."""
        return max(s.stop for s in self.spans) - 1

    @property
    def pad(self) -> int:
        """Trailing positions without any input step (plain shifts)."""
        return self.depth - 1 - self.last

    def span(self, source: str) -> StepSpan:
        for s in self.spans:
            if s.source == source:
                return s
        raise GoldenError(f"step alignment: no source {source!r} (sources: {[s.source for s in self.spans]})")


@dataclass(frozen=True, eq=False)
class IntLayer:
    """One layer of the integer SNN (see the module docstring for the arithmetic)."""

    name: str
    bits: int | None  # B of a hidden layer; None for the output (logits) layer
    out_shape: tuple[int, ...]
    terms: tuple[Term, ...]
    S: np.ndarray  # (C,) int64, output LSB in accumulator units
    bias: np.ndarray  # (C,) int64
    half: np.ndarray  # (C,) int64, S // 2 for hidden layers, 0 for logits
    value_per_unit: np.ndarray  # (C,) float: real value of one accumulator unit
    acc_lo: int
    acc_hi: int
    syn_lo: int
    syn_hi: int
    ops: tuple[str, ...]  # names of the IR nodes folded into this layer
    psum_lo: int  # range of every partial sum of sum_terms Wq * k over all codes (bias excluded)
    psum_hi: int

    @property
    def init(self) -> np.ndarray:
        """Initial membrane (added once, unshifted): ``bias + half``."""
        return self.bias + self.half

    @property
    def is_output(self) -> bool:
        return self.bits is None

    @property
    def acc_bits(self) -> int:
        return signed_bits(self.acc_lo, self.acc_hi)

    @property
    def syn_bits(self) -> int:
        return signed_bits(self.syn_lo, self.syn_hi)

    @property
    def weight_bits(self) -> int:
        """Signed width of the values hardware stores (:attr:`Term.stored`, every term)."""
        m = max((int(np.abs(t.stored).max(initial=0)) for t in self.terms), default=0)
        return signed_bits(-m, m)

    @property
    def shifts(self) -> tuple[int, ...]:
        """:attr:`Term.shift` of every term, in order."""
        return tuple(t.shift for t in self.terms)

    @property
    def S_bits(self) -> int:
        return int(self.S.max()).bit_length()

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.source for t in self.terms))

    @property
    def gemm_dtype(self) -> str:
        """dtype of this layer's GEMMs on codes: ``float32`` when every partial sum (any
        subset of the products ``Wq * k``, every term, worst-case codes) stays below
        ``2**24``, ``float64`` below ``2**53``, else ``int64`` (:func:`exact_dtype`)."""
        return exact_dtype(max(-self.psum_lo, self.psum_hi))

    @property
    def acc_dtype(self) -> str:
        """dtype that holds the whole accumulator range (bias, half LSB and thresholds
        included) exactly: where ``acc + init`` and ``floor(acc / S)`` are computed."""
        return exact_dtype(max(-self.acc_lo, self.acc_hi))

    @property
    def step_dtype(self) -> str:
        """dtype of the GEMM of one input step (the synaptic sum ``a(t)``, ``syn_bits`` wide)."""
        return exact_dtype(max(-self.syn_lo, self.syn_hi))


@dataclass(frozen=True, eq=False)
class IntNetwork:
    """The integer SNN: layers in execution order, the last one gives the logits."""

    name: str
    input: Input
    bits: int  # B (time steps of a full-precision run)
    weight_bits: int
    bitplanes: bool  # first layer fed with pixel bit planes (accumulate only) instead of MACs
    layers: tuple[IntLayer, ...]
    model_hash: str
    term_shifts: bool = False  # converted with per-term shifts (``convert(..., term_shifts=True)``)

    def layer(self, name: str) -> IntLayer:
        for l in self.layers:
            if l.name == name:
                return l
        raise GoldenError(f"integer network {self.name!r}: no layer {name!r} (layers: {[l.name for l in self.layers]})")

    @property
    def output(self) -> IntLayer:
        return self.layers[-1]

    def is_input(self, source: str) -> bool:
        """True when ``source`` is the network input (pixel codes), not a layer's spikes."""
        return source == self.input.name

    def source_bits(self, source: str) -> int:
        return self.input.bits if self.is_input(source) else self.bits

    def source_shape(self, source: str) -> tuple[int, ...]:
        """Shape (one image) of the codes ``source`` provides: the input's, or a layer's output."""
        return tuple(self.input.shape) if self.is_input(source) else tuple(self.layer(source).out_shape)

    def alignment(self, layer: IntLayer | str, T: int | None = None) -> StepAlignment:
        """Horner schedule of ``layer`` when hidden layers fire ``T`` steps (default ``B``).

        A hidden source delivers ``T`` spike steps followed by ``B - T`` plain shifts;
        the input delivers ``P`` bit planes (``bitplanes``) or one multi-bit step.
        Sources are right-aligned on the deepest one."""
        layer = self.layer(layer) if isinstance(layer, str) else layer
        T = self.bits if T is None else T
        raw = []
        for src in layer.sources:
            if self.is_input(src):
                raw.append((src, self.input.bits if self.bitplanes else 1, 0, not self.bitplanes))
            else:
                raw.append((src, T, self.bits - T, False))
        depth = max(n + e for _, n, e, _ in raw)
        return StepAlignment(depth, tuple(StepSpan(s, depth - n - e, n, e, m) for s, n, e, m in raw))


# ------------------------------------------------------------------ folding


@dataclass(frozen=True)
class _Chain:
    source: str
    pre: tuple
    scale: float  # real value of one (pooled) code unit
    pool_area: int
    shape: tuple[int, ...]


@dataclass
class _RealTerm:
    chain: _Chain
    kind: Kind
    weight: np.ndarray  # float, in value units per code unit
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    groups: int = 1


def _chain(net: Network, name: str) -> _Chain | None:
    """The quantized tensor that node ``name`` reads through avgpool2d/flatten nodes (None if there is none)."""
    path = []
    n = net.node(name)
    while isinstance(n, (AvgPool2d, Flatten)):  # a loop, not recursion: chains may be long
        path.append(n)
        n = net.node(n.inputs[0])
    if isinstance(n, Input):
        c = _Chain(n.name, (), n.scale / ((1 << n.bits) - 1), 1, net.shapes[n.name])
    elif isinstance(n, QCFS):
        c = _Chain(n.name, (), n.lam / ((1 << n.bits) - 1), 1, net.shapes[n.name])
    else:
        return None
    for p in reversed(path):
        if isinstance(p, Flatten):
            c = dataclasses.replace(c, pre=c.pre + (FlattenOp(),), shape=net.shapes[p.name])
        else:
            area = p.kernel[0] * p.kernel[1]
            c = dataclasses.replace(
                c,
                pre=c.pre + (SumPool(tuple(p.kernel), tuple(p.stride)),),
                scale=c.scale / area,
                pool_area=c.pool_area * area,
                shape=net.shapes[p.name],
            )
    return c


def _expr(net: Network, name: str, folded: list[str]) -> tuple[list[_RealTerm], np.ndarray]:
    """Real-valued affine expression of node ``name`` as terms on quantized tensors + bias."""
    n = net.node(name)
    C = net.shapes[name][0]
    c = _chain(net, name)
    if c is not None:
        return [_RealTerm(c, Kind.IDENTITY, np.full(C, c.scale))], np.zeros(C)
    folded.append(name)
    if len(folded) > MAX_FOLDED:
        raise GoldenError(
            f"model {net.name!r}: more than {MAX_FOLDED} nodes (conv2d, linear, batchnorm, add) fold into the layer "
            f"that reads {name!r}; a layer is one affine map between QCFS nodes"
        )
    if isinstance(n, (Conv2d, Linear)):
        src = _chain(net, n.inputs[0])
        if src is None:
            raise GoldenError(
                f"model {net.name!r}: node {name!r} ({n.op}) reads {n.inputs[0]!r}, which is not a quantized "
                "activation; conv2d/linear inputs must be the network input or a QCFS output "
                "(optionally through avgpool2d/flatten)"
            )
        bias = np.zeros(C) if n.bias is None else n.bias.copy()
        if isinstance(n, Conv2d):
            return [_RealTerm(src, Kind.CONV, n.weight * src.scale, n.stride, n.padding, n.groups)], bias
        return [_RealTerm(src, Kind.LINEAR, n.weight * src.scale)], bias
    if isinstance(n, BatchNorm):
        terms, bias = _expr(net, n.inputs[0], folded)
        scale = n.gamma / np.sqrt(n.var + n.eps)
        for t in terms:
            t.weight = t.weight * scale.reshape((-1,) + (1,) * (t.weight.ndim - 1))
        return terms, bias * scale + (n.beta - n.mean * scale)
    if isinstance(n, Add):
        t0, b0 = _expr(net, n.inputs[0], folded)
        t1, b1 = _expr(net, n.inputs[1], folded)
        return t0 + t1, b0 + b1
    raise GoldenError(
        f"model {net.name!r}: node {name!r} ({n.op}) cannot be folded into a layer: avgpool2d and flatten "
        "must act on quantized activations (place them after a QCFS node), and QCFS must be followed by "
        "conv2d, linear, avgpool2d, flatten or add"
    )


#: largest integer LSB ``S`` (see :func:`convert`)
MAX_S = 1 << 30


def _headroom(m: np.ndarray) -> np.ndarray:
    """Per term: the largest ``g >= 0`` with ``2**g * m[t, c] <= max_u m[u, c]`` in every channel
    ``c`` where term ``t`` has a nonzero weight (``m``: ``(terms, channels)`` largest folded
    magnitudes).  A term without a nonzero weight gets ``-1`` (it needs no shift)."""
    M = m.max(0)
    g = np.full(len(m), -1, dtype=np.int64)
    for t, mt in enumerate(m):
        nz = mt > 0
        if not nz.any():
            continue
        with np.errstate(over="ignore"):
            h = np.floor(np.log2(M[nz] / mt[nz])).astype(np.int64)
        h = np.clip(h, 0, 1 << 20)
        h -= np.ldexp(mt[nz], h) > M[nz]  # floor(log2(.)) rounded one too high
        h += np.ldexp(mt[nz], h + 1) <= M[nz]  # or one too low
        g[t] = int(h.min())
    return g


def _scales(m: np.ndarray, shifts: np.ndarray, qmax: int) -> np.ndarray:
    """Per channel, the largest ``S`` with ``m[t, c] * S / 2**shifts[t] <= qmax`` for every term
    (``qmax`` where a channel has no nonzero weight), as float (not yet capped)."""
    with np.errstate(divide="ignore", over="ignore"):
        lim = np.where(m > 0, np.ldexp(float(qmax), shifts)[:, None] / np.where(m > 0, m, 1), np.inf)
    S = np.floor(lim.min(0))
    return np.where(np.isfinite(S), S, qmax)


def convert(net: Network, weight_bits: int = 8, bitplanes: bool = False, term_shifts: bool = False) -> IntNetwork:
    """Convert ``net`` to its integer SNN with ``weight_bits``-bit signed weights.

    ``bitplanes=True`` feeds the first layer the pixel codes as bit planes, MSB
    first, so that every layer only accumulates (the arithmetic is identical).

    ``term_shifts=True`` gives every term of a layer with several terms of different
    scales its own power-of-two scale: the term stores ``weight_bits``-bit values that
    the datapath shifts left by :attr:`Term.shift` (see ``docs/integer-network.md``),
    so that ``S`` can grow until the term with the smallest weights uses the whole
    width.  A layer whose terms leave no room for it (one term, or terms of similar
    scale) converts exactly as without the option.
    """
    if not isinstance(weight_bits, int) or isinstance(weight_bits, bool) or not MIN_WEIGHT_BITS <= weight_bits <= MAX_WEIGHT_BITS:
        raise GoldenError(f"convert: weight_bits must be an integer in {MIN_WEIGHT_BITS}..{MAX_WEIGHT_BITS}, not {weight_bits!r}")
    B = net.bits
    qmax = (1 << (weight_bits - 1)) - 1
    layer_nodes = [n for n in net.nodes if isinstance(n, QCFS)]
    out = net.node(net.output)
    if not isinstance(out, QCFS):
        layer_nodes.append(out)
    if B is None:
        if isinstance(out, Input) or _chain(net, out.name) is not None:
            raise GoldenError(f"convert: model {net.name!r} has no layer to compute")
        B = 1  # a single accumulate-only layer: no time steps beyond the input
    layers = []
    for n in layer_nodes:
        hidden = isinstance(n, QCFS)
        folded: list[str] = []
        C = net.shapes[n.name][0]
        factor = ((1 << B) - 1) / n.lam if hidden else 1.0
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            terms, bias = _expr(net, n.inputs[0] if hidden else n.name, folded)
            w_eff = [t.weight * factor for t in terms]
            b_eff = bias * factor
        for what, vals in [("weight", w) for w in w_eff] + [("bias", b_eff)]:
            if not np.all(np.isfinite(vals)):
                raise GoldenError(
                    f"convert: layer {n.name!r}: a folded {what} overflows float64 (folding {', '.join(reversed(folded))}); "
                    "look for huge weights or biases, a tiny lam, or a BatchNorm var + eps near 0"
                )
        # m[t, c]: largest folded magnitude of term t in channel c (the output layer: over all channels,
        # so that one S serves every logit and argmax is unchanged)
        m = np.array([np.abs(w.reshape(C, -1)).max(1) for w in w_eff]).reshape(len(w_eff), C)
        if not hidden:
            m = np.broadcast_to(m.max(1, initial=0)[:, None], m.shape)
        if term_shifts:
            # the output layer's bias takes part like one more term (it has no shift of its own): its
            # largest magnitude gets the relative precision of the largest weight (logits have no LSB,
            # and an image whose inputs are all zero is decided by the biases alone)
            rows = m if hidden else np.vstack([m, np.full((1, C), np.abs(b_eff).max(initial=0))])
            g = _headroom(rows)
        else:
            g = np.zeros(len(terms) + (0 if hidden else 1), np.int64)
        ctx = _LayerContext(net, n, hidden, B, qmax, weight_bits, bitplanes, terms, w_eff, b_eff, folded, m)
        # the largest common exponent K whose layer fits; K = 0 is the conversion without shifts (a
        # weight shifted by K is at least 2**K, so K > MAX_ACC_BITS - weight_bits cannot fit)
        K = min(int(g.max(initial=0)), MAX_ACC_BITS - weight_bits)
        g = g[: len(terms)]
        while True:
            try:
                layer = ctx.build(K, g)
                break
            except GoldenError:
                if K == 0:
                    raise
                K -= 1
        layers.append(layer)
    return IntNetwork(
        name=net.name,
        input=net.input,
        bits=B,
        weight_bits=weight_bits,
        bitplanes=bool(bitplanes),
        layers=tuple(layers),
        model_hash=net.hash(),
        term_shifts=bool(term_shifts),
    )


@dataclass(frozen=True, eq=False)
class _LayerContext:
    """Everything a layer's integers are chosen from, folded once; :meth:`build` picks
    ``S``, rounds the weights and biases for given per-term shifts and checks the widths."""

    net: Network
    node: object
    hidden: bool
    B: int
    qmax: int
    weight_bits: int
    bitplanes: bool
    terms: list
    w_eff: list
    b_eff: np.ndarray
    folded: list
    m: np.ndarray

    def build(self, K: int, g: np.ndarray) -> IntLayer:
        """The layer with common exponent ``K``: term ``t`` is shifted by ``max(K - g[t], 0)``
        (``g``: :func:`_headroom`); ``S`` is the largest that every stored weight fits, capped
        at ``max(MAX_S, 2**max_shift * S0)`` where ``S0`` is the ``S`` without shifts (``K = 0``)."""
        net, n, hidden, B, qmax, m = self.net, self.node, self.hidden, self.B, self.qmax, self.m
        out_shape = net.shapes[n.name]
        C = out_shape[0]
        L_out = (1 << B) - 1
        shifts = np.where(g >= 0, np.maximum(K - g, 0), 0)
        S = _scales(m, shifts, qmax)
        if np.any(S < 1):
            c = int(np.argmin(S))
            mc = float(m[:, c].max())
            need = int(np.ceil(np.log2(mc + 1))) + 1
            raise GoldenError(
                f"convert: layer {n.name!r} channel {c}: a folded weight is {mc:.4g} output LSBs per input "
                f"code, more than {qmax} ({self.weight_bits}-bit weights allow); use weight_bits >= {need}"
            )
        top = int(shifts.max(initial=0))  # K, unless the output bias asked for more than any weight can give
        cap = MAX_S if top == 0 else np.maximum(MAX_S, np.ldexp(np.minimum(_scales(m, 0 * shifts, qmax), MAX_S), top))
        S = np.minimum(np.minimum(S, cap), 2.0**62).astype(np.int64)  # beyond 2**53 the width check refuses it
        iterms = []
        for t, w, sh in zip(self.terms, self.w_eff, shifts):
            Sb = S.reshape((-1,) + (1,) * (w.ndim - 1))
            stored = np.rint(np.ldexp(w * Sb, -int(sh))).astype(np.int64)
            iterms.append(
                Term(
                    source=t.chain.source,
                    pre=t.chain.pre,
                    kind=t.kind,
                    weight=stored << int(sh),
                    stride=t.stride,
                    padding=t.padding,
                    groups=t.groups,
                    shift=int(sh),
                )
            )
        b_eff = self.b_eff
        with np.errstate(over="ignore"):
            big = np.abs(b_eff * S) >= 2.0**MAX_ACC_BITS
        if np.any(big):
            c = int(np.argmax(big))
            raise GoldenError(
                f"convert: layer {n.name!r} channel {c}: the folded bias is {float(b_eff[c]) * int(S[c]):.4g} accumulator "
                f"units, more than a {MAX_ACC_BITS}-bit accumulator (the widest the golden model computes exactly) holds"
            )
        bias_q = np.rint(b_eff * S).astype(np.int64)
        half = S // 2 if hidden else np.zeros(C, dtype=np.int64)
        # ---- width analysis: worst case over all codes, per channel, in Python ints (no int64 overflow)
        pos = np.zeros(C, dtype=object)
        neg = np.zeros(C, dtype=object)
        syn_pos = np.zeros(C, dtype=object)
        syn_neg = np.zeros(C, dtype=object)
        for t in iterms:  # sums of the stored weights, shifted as Python ints (effective sums may pass 2**63)
            p, q = (v.astype(object) * (1 << t.shift) for v in t.stored_channel_sums())
            is_pixel = t.source == net.input.name
            kmax = (1 << (net.input.bits if is_pixel else B)) - 1
            step = 1 if (not is_pixel or self.bitplanes) else kmax
            pos += p * kmax * t.pool_area
            neg += q * kmax * t.pool_area
            syn_pos += p * step * t.pool_area
            syn_neg += q * step * t.pool_area
        init = bias_q.astype(object) + half.astype(object)
        thr = (S.astype(object) << (B - 1)) if hidden else np.zeros(C, dtype=object)
        acc_hi = int(np.max(np.maximum(pos + np.maximum(init, 0), thr)))
        acc_lo = int(np.min(np.minimum(neg + np.minimum(init, 0), 0)))
        layer = IntLayer(
            name=n.name,
            bits=B if hidden else None,
            out_shape=out_shape,
            terms=tuple(iterms),
            S=S,
            bias=bias_q,
            half=half,
            value_per_unit=(n.lam / L_out / S) if hidden else 1.0 / S,
            acc_lo=acc_lo,
            acc_hi=acc_hi,
            syn_lo=int(syn_neg.min(initial=0)),
            syn_hi=int(syn_pos.max(initial=0)),
            ops=tuple(reversed(self.folded)) + ((n.name,) if hidden else ()),
            psum_lo=int(neg.min(initial=0)),
            psum_hi=int(pos.max(initial=0)),
        )
        if layer.acc_bits > MAX_ACC_BITS:
            raise GoldenError(
                f"convert: layer {n.name!r} needs a {layer.acc_bits}-bit accumulator; the golden model computes "
                f"up to {MAX_ACC_BITS} bits exactly; use fewer weight bits (now {self.weight_bits})"
            )
        if layer.weight_bits > self.weight_bits:  # pragma: no cover - S is chosen so that every stored weight fits
            raise GoldenError(f"convert: layer {n.name!r}: stored weights need {layer.weight_bits} bits, "
                              f"more than {self.weight_bits}")
        return layer

"""The accelerator's program: an integer SNN lowered onto an ``R x C`` machine, and its memory images.

The machine (``docs/architecture.md``) runs a whole network for one image from its
memories: a compact weight memory banked by PE row, a spike memory per tensor
(bitmaps), a per-row parameter memory, and a program memory of layer
descriptors.  This module is the one place where the integer network
(:mod:`golden.convert`) becomes that program:

* :func:`plan` lowers every layer to *hardware terms* and tiles it.  Only two
  term kinds exist in hardware: a **conv** (groups, stride, padding, an optional
  power-of-two sum pool in front) on a spatial tensor, and a **linear** map on
  any tensor.  A residual identity becomes a depthwise 1x1 conv (merged into a
  conv on the same source when its sum fits the weight width), an identity on
  a vector becomes a diagonal linear map, and sum pools the hardware cannot
  address directly are composed into the kernel (exact; refused with an error
  where composition is not exact).  A plan needs no weight layout, so the cycle
  model (:mod:`accel.machine`) can sweep array shapes quickly.
* :func:`compile_program` lays out the memories (weight banks, parameter banks,
  descriptors) of a plan: a :class:`Program`.  :func:`write_program` writes them
  as ``$readmemh`` hex files and one ``.npz``, with ``manifest.json``.

Everything here is integer NumPy; nothing imports the RTL.  The RTL reads the
descriptor field list from the manifest (:attr:`Program.fields`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from golden.convert import IntLayer, IntNetwork, Term, signed_bits

from . import config as _config
from .errors import AccelError

SCHEMA_VERSION = 1
FORMAT = "snnbits-accel-program"

#: the hardware term kinds
CONV, LINEAR = "conv", "linear"


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _pow2(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


def _bits(v: int) -> int:
    """Width of an unsigned field holding ``0 .. v``."""
    return max(1, int(v).bit_length())


# ------------------------------------------------------------------ tensors


@dataclass(frozen=True)
class TensorSpec:
    """A spike memory (or the image memory, ``id == 0``).

    ``view = (Cv, Hv, Wv)``: a spatial tensor is stored as itself, a vector of
    ``F`` values as ``(ceil(F / C), 1, C)`` (value ``n`` at channel ``n // C``,
    bit ``n % C``).  One word holds one (plane, channel, row) of ``Wv`` bits;
    words are banked by channel mod ``K`` (the scan width, ``banks``) at address
    ``(t * cr + c // K) * Hv + y`` (``cr = ceil(Cv / K)``).  The image memory
    holds all ``planes`` bit planes of a row in one word instead (plane ``t`` at
    bits ``t*Wv .. (t+1)*Wv - 1``, address ``(c // K) * Hv + y``).
    """

    id: int
    name: str
    shape: tuple[int, ...]
    view: tuple[int, int, int]
    planes: int
    image: bool
    banks: int  # K of the machine: channels read per cycle

    @property
    def cr(self) -> int:
        return _ceil(self.view[0], self.banks)

    @property
    def word_bits(self) -> int:
        return self.view[2] * (self.planes if self.image else 1)

    @property
    def depth(self) -> int:
        """Words of the deepest bank."""
        return max(self.bank_depths())

    def bank_depths(self) -> list[int]:
        """Words of each bank: bank ``b`` holds the channels ``c = b (mod K)``."""
        Cv, Hv, _ = self.view
        planes = 1 if self.image else self.planes
        out = []
        for b in range(self.banks):
            n = max(0, -(-(Cv - b) // self.banks))
            out.append(((planes - 1) * self.cr + n) * Hv if n else 0)
        return out

    @property
    def plane_stride(self) -> int:
        """Address distance between two planes (0 for the image: planes share a word)."""
        return 0 if self.image else self.cr * self.view[1]

    @property
    def bits(self) -> int:
        return sum(self.bank_depths()) * self.word_bits


def tensor_view(shape, cols: int) -> tuple[int, int, int]:
    if len(shape) == 3:
        return tuple(int(s) for s in shape)
    F = int(np.prod(shape))
    return (_ceil(F, cols), 1, cols)


# ------------------------------------------------------------------ hardware terms and layers


@dataclass(frozen=True, eq=False)
class HwTerm:
    """One term as the hardware runs it.

    ``kind`` is :data:`CONV` (output spatial) or :data:`LINEAR` (output a vector).
    The term reads tensor ``src`` (view ``(Cs, Hs, Ws)``) at Horner positions
    ``start .. start + steps - 1`` of its layer (source step ``t`` at position
    ``start + t``).  ``pool = (pkh, pkw, psh, psw)``: the raw rows/columns of
    pooled row ``py`` are ``py*psh .. py*psh + pkh - 1`` (``pk <= ps``, ``ps`` a
    power of two; ``(1, 1, 1, 1)``: no pool); ``ext = (Hp, Wp)``: pooled rows and
    columns that exist (the valid extent).  Conv: ``weight (O, Cg, kh, kw)`` on the
    pooled tensor; linear: ``weight (F, J)`` with ``J = Cs * Hp * Wp`` and input
    ``j = (c * Hp + py) * Wp + px``.

    ``weight`` holds the values the weight memory stores (``golden.convert.Term.stored``);
    the term's effective weights are ``weight << shift`` (``shift``: the golden term's
    :attr:`~golden.convert.Term.shift`, a constant the PEs apply to every lane weight of
    the term's events).
    """

    kind: str
    src: int
    source: str
    start: int
    steps: int
    view: tuple[int, int, int]
    pool: tuple[int, int, int, int]
    ext: tuple[int, int]
    weight: np.ndarray = field(repr=False)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    note: str = ""
    shift: int = 0

    @property
    def effective(self) -> np.ndarray:
        """The effective integer weights: ``weight << shift``."""
        return self.weight << self.shift if self.shift else self.weight

    @property
    def kernel(self) -> tuple[int, int]:
        return tuple(self.weight.shape[2:]) if self.kind == CONV else (1, 1)

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    @property
    def og(self) -> int:
        return self.out_channels // self.groups

    @property
    def cg(self) -> int:
        return self.view[0] // self.groups

    @property
    def J(self) -> int:
        return self.view[0] * self.ext[0] * self.ext[1]

    def channel_window(self, g: np.ndarray | int, R: int):
        """Input channels ``[lo, hi)`` a conv tile group ``g`` reads (the groups of rows ``g*R ..``)."""
        O = self.out_channels
        o_lo = np.asarray(g) * R
        o_hi = np.minimum(o_lo + R, O) - 1
        return (o_lo // self.og) * self.cg, (o_hi // self.og + 1) * self.cg

    def ncw(self, R: int) -> int:
        """Widest channel window over all tile groups."""
        lo, hi = self.channel_window(np.arange(_ceil(self.out_channels, R)), R)
        return int((hi - lo).max())


@dataclass(frozen=True, eq=False)
class HwLayer:
    """One layer on the machine: tiling, Horner positions, terms, parameters.

    Tiles ``(g, y, xc)`` in C order over ``grid = (G, HO, X)``; PE ``(r, c)`` holds
    output channel ``g*R + r`` of the view ``(OV, HO, WO)``, row ``y``, column
    ``xc*C + c``.  A vector layer's view is ``(ceil(F/C), 1, C)``: PE ``(r, c)`` of
    tile ``k`` holds neuron ``k*R*C + r*C + c``.
    """

    index: int
    name: str
    flat: bool
    hidden: bool
    last: bool
    out_shape: tuple[int, ...]
    view: tuple[int, int, int]
    grid: tuple[int, int, int]
    T: int  # fire steps of a hidden layer
    n_pos: int  # active Horner positions
    pad: int  # trailing positions folded into FINISH
    terms: tuple[HwTerm, ...]
    out_tensor: int | None
    S: np.ndarray = field(repr=False)  # per logical output channel
    init: np.ndarray = field(repr=False)
    acc_bits: int = 0

    @property
    def tiles(self) -> int:
        return int(np.prod(self.grid))

    @property
    def fire_ops(self) -> int:
        """Ops after a tile's scan: FINISH, READOUT (last layer), FIRE x T (hidden)."""
        return 1 + int(self.last) + (self.T if self.hidden else 0)

    @property
    def pslots(self) -> int:
        return 1 + (self.T if self.hidden else 0)

    def active(self, pos: int) -> list[int]:
        """Indices of the terms that have an input step at Horner position ``pos``."""
        return [i for i, t in enumerate(self.terms) if t.start <= pos < t.start + t.steps]


@dataclass(frozen=True, eq=False)
class Plan:
    """The lowered network on an ``rows x cols`` machine (no memory layout yet)."""

    rows: int
    cols: int
    scan: int  # K: channels the encoder reads per cycle (spike memory banks), a power of two >= rows
    bits: int  # B
    T: int
    pixel_bits: int
    tensors: tuple[TensorSpec, ...]
    layers: tuple[HwLayer, ...]
    weight_width: int  # width of the stored weight values (golden.convert.Term.stored)
    acc_width: int
    lanes: int  # V: weight elements one bank delivers per event (a power of two >= C and >= every kw)
    inet: IntNetwork = field(repr=False)

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def image(self) -> TensorSpec:
        return self.tensors[0]

    @property
    def shifts(self) -> tuple[int, ...]:
        """The per-term weight shifts the PEs apply, sorted (``(0,)``: no weight shifter)."""
        return tuple(sorted({0} | {t.shift for l in self.layers for t in l.terms}))

    @property
    def max_shift(self) -> int:
        return self.shifts[-1]

    def bank_elements(self) -> np.ndarray:
        """Weight elements stored in each bank (``(R,)``), without materializing them."""
        out = np.zeros(self.rows, np.int64)
        for layer in self.layers:
            for t in layer.terms:
                out += _term_elements(layer, t, self.rows, self.cols)
        return out


def _rows_with(n_channels: int, R: int) -> np.ndarray:
    """Per bank r: tile groups in which row r holds a channel (``g*R + r < n``)."""
    r = np.arange(R)
    return np.maximum(0, -(-(n_channels - r) // R))


def _term_elements(layer: HwLayer, t: HwTerm, R: int, C: int) -> np.ndarray:
    n = _rows_with(layer.view[0], R)
    if t.kind == CONV:
        return n * t.ncw(R) * t.kernel[0] * t.kernel[1]
    return n * t.J * C


# ------------------------------------------------------------------ lowering


def _pooled(hw: tuple[int, int], k, s) -> tuple[int, int]:
    return ((hw[0] - k[0]) // s[0] + 1, (hw[1] - k[1]) // s[1] + 1)


def _compose_conv(w, stride, padding, ext, k, s, hw_in, where):
    """Sum pool ``(k, s)`` (input ``hw_in``) then conv ``w`` -> one conv on the pool's input.

    Exact when the pool does not overlap (``k <= s``; rows beyond the last pool
    window are cut by the valid extent) or when the conv has no padding on that
    axis; otherwise a padded position would pick up real inputs.
    """
    O, Cg, kh, kw = w.shape
    for ax in (0, 1):
        if k[ax] > s[ax] and padding[ax] > 0:
            raise AccelError(
                f"{where}: an overlapping sum pool (kernel {k}, stride {s}) in front of a conv with padding "
                f"{padding} cannot be composed into the kernel exactly; use a pool with kernel <= stride, "
                "or a conv without padding")
    K = ((kh - 1) * s[0] + k[0], (kw - 1) * s[1] + k[1])
    out = np.zeros((O, Cg) + K, np.int64)
    for dy in range(k[0]):
        for dx in range(k[1]):
            out[:, :, dy: dy + (kh - 1) * s[0] + 1: s[0], dx: dx + (kw - 1) * s[1] + 1: s[1]] += w
    new_ext = tuple(hw_in[ax] if k[ax] > s[ax] else min(hw_in[ax], ext[ax] * s[ax]) for ax in (0, 1))
    return out, (stride[0] * s[0], stride[1] * s[1]), (padding[0] * s[0], padding[1] * s[1]), new_ext


def _compose_linear(w, k, s, hw_in):
    """Sum pool ``(k, s)`` then a linear map over the pooled ``(..., Hp, Wp)`` -> a map over the pool's input."""
    Hp, Wp = w.shape[-2:]
    out = np.zeros(w.shape[:-2] + tuple(hw_in), np.int64)
    for dy in range(k[0]):
        for dx in range(k[1]):
            out[..., dy: dy + (Hp - 1) * s[0] + 1: s[0], dx: dx + (Wp - 1) * s[1] + 1: s[1]] += w
    return out


def _hardware_pool(k, s) -> bool:
    return all(k[a] <= s[a] and _pow2(s[a]) for a in (0, 1))


def _lower_term(inet: IntNetwork, layer: IntLayer, term: Term, tensor: TensorSpec, cols: int) -> HwTerm:
    where = f"layer {layer.name!r} (term reading {term.source!r})"
    pools = [(tuple(p.kernel), tuple(p.stride)) for p in term.pools]
    src_shape = tensor.shape
    spatial_out = len(layer.out_shape) == 3
    notes = []
    if spatial_out:
        if len(src_shape) != 3:
            raise AccelError(f"{where}: a spatial output needs a spatial source, got shape {src_shape}")
        C, H, W = src_shape
        dims = [(H, W)]
        for k, s in pools:
            dims.append(_pooled(dims[-1], k, s))
        if term.kind == "identity":
            w = term.stored.reshape(-1, 1, 1, 1).astype(np.int64)
            stride, padding, groups = (1, 1), (0, 0), C
            notes.append("identity as a depthwise 1x1 conv")
        elif term.kind == "conv":
            w = np.asarray(term.stored, np.int64)
            stride, padding, groups = tuple(term.stride), tuple(term.padding), int(term.groups)
        else:
            raise AccelError(f"{where}: a {term.kind} term cannot produce a spatial output")
        ext = dims[-1]
        for i in range(len(pools) - 1, 0, -1):
            w, stride, padding, ext = _compose_conv(w, stride, padding, ext, *pools[i], dims[i], where)
            notes.append(f"sumpool {pools[i][0]}/{pools[i][1]} composed into the kernel")
        pool = (1, 1, 1, 1)
        if pools:
            k, s = pools[0]
            if _hardware_pool(k, s):
                pool = (k[0], k[1], s[0], s[1])
                ext = (min(ext[0], dims[1][0]), min(ext[1], dims[1][1]))
                notes.append(f"sumpool {k}/{s} addressed in hardware")
            else:
                w, stride, padding, ext = _compose_conv(w, stride, padding, ext, k, s, dims[0], where)
                notes.append(f"sumpool {k}/{s} composed into the kernel")
        return HwTerm(CONV, tensor.id, tensor.name, 0, 0, tensor.view, pool, tuple(ext), w, stride, padding,
                      groups, "; ".join(notes), term.shift)
    # vector output: a linear map (an identity is a diagonal one)
    F_out = int(np.prod(layer.out_shape))
    if term.kind == "identity":
        n_in = F_out
        w = np.zeros((F_out, n_in), np.int64)
        w[np.arange(F_out), np.arange(F_out)] = term.stored
        notes.append("identity as a diagonal linear map")
    elif term.kind == "linear":
        w = np.asarray(term.stored, np.int64)
    else:
        raise AccelError(f"{where}: a {term.kind} term cannot produce a vector output")
    pool, ext = (1, 1, 1, 1), (1, tensor.view[2])
    if len(src_shape) == 3:
        C, H, W = src_shape
        dims = [(H, W)]
        for k, s in pools:
            dims.append(_pooled(dims[-1], k, s))
        w = w.reshape((F_out, C) + dims[-1])
        for i in range(len(pools) - 1, 0, -1):
            w = _compose_linear(w, *pools[i], dims[i])
            notes.append(f"sumpool {pools[i][0]}/{pools[i][1]} composed into the weights")
        ext = dims[min(1, len(pools))] if pools else (H, W)
        if pools:
            k, s = pools[0]
            if _hardware_pool(k, s):
                pool = (k[0], k[1], s[0], s[1])
                notes.append(f"sumpool {k}/{s} addressed in hardware")
            else:
                w = _compose_linear(w, k, s, dims[0])
                ext = dims[0]
                notes.append(f"sumpool {k}/{s} composed into the weights")
        w = w.reshape(F_out, -1)
    else:
        J = tensor.view[0] * tensor.view[2]
        w = np.pad(w, ((0, 0), (0, J - w.shape[1])))
    return HwTerm(LINEAR, tensor.id, tensor.name, 0, 0, tensor.view, pool, tuple(ext), w, note="; ".join(notes),
                  shift=term.shift)


def _merge_identities(terms: list[HwTerm], qmax: int) -> list[HwTerm]:
    """Fold a depthwise 1x1 identity into a conv on the same source at the kernel's centre tap,
    when the conv reads output position (y, x) there (stride 1, padding < kernel) and the sums fit
    (with per-term shifts, the merged term takes the smaller shift and the other's values are
    shifted up to it)."""
    out = list(terms)
    for ident in [t for t in terms if t.note.startswith("identity as a depthwise")]:
        if ident.pool != (1, 1, 1, 1) or ident.ext != ident.view[1:]:
            continue
        for i, conv in enumerate(out):
            if conv is ident or conv.kind != CONV or conv.src != ident.src or conv.note:
                continue
            (kh, kw), (ph, pw) = conv.kernel, conv.padding
            O = conv.out_channels
            if conv.stride != (1, 1) or not (ph < kh and pw < kw) or O != conv.view[0] or conv.pool != ident.pool:
                continue
            o = np.arange(O)
            s = min(conv.shift, ident.shift)
            w = conv.weight << (conv.shift - s)
            w[o, o % conv.cg, ph, pw] += ident.weight[:, 0, 0, 0] << (ident.shift - s)
            if np.abs(w).max() > qmax:
                continue
            out[i] = dataclasses.replace(conv, weight=w, shift=s, note="identity merged into the centre tap")
            out.remove(ident)
            break
    return out


#: default scan width: channels the encoder reads per cycle (at least the array's rows)
SCAN = _config.SCAN


def plan(inet: IntNetwork, rows: int, cols: int, T: int | None = None, scan: int | None = None, *,
         cache: dict | None = None) -> Plan:
    """Lower ``inet`` onto a ``rows x cols`` machine running ``T`` time steps (default ``B``).

    ``scan``: channels the encoder reads per cycle (default :data:`SCAN`, raised to
    the next power of two >= ``rows``).  ``cache``: a dict reused across calls on
    the same network (the lowered terms depend only on ``cols``), for sweeps.

    The first layer always reads pixel bit planes (accumulate only, identical
    integers to multi-bit input): a network converted without them is run with them.  Raises :class:`AccelError` for what the machine
    cannot run, naming the layer and the alternative.
    """
    for name, v in (("rows", rows), ("cols", cols)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise AccelError(f"plan: {name} must be a positive integer, not {v!r}")
    B = inet.bits
    T = B if T is None else T
    if not isinstance(T, int) or isinstance(T, bool) or not 1 <= T <= B:
        raise AccelError(f"plan: T must be an integer in 1..B={B}, not {T!r}")
    R, C = rows, cols
    if not inet.bitplanes:
        inet = dataclasses.replace(inet, bitplanes=True)
    if scan is not None and (not isinstance(scan, int) or isinstance(scan, bool) or scan < 1):
        raise AccelError(f"plan: scan must be a positive integer, not {scan!r}")
    K = 1 << (max(rows, SCAN if scan is None else scan) - 1).bit_length()
    P = inet.input.bits
    tensors = [TensorSpec(0, inet.input.name, tuple(inet.input.shape), tensor_view(inet.input.shape, C), P, True, K)]
    by_name = {inet.input.name: tensors[0]}
    qmax = (1 << (inet.weight_bits - 1)) - 1
    layers = []
    for li, layer in enumerate(inet.layers):
        last = li == len(inet.layers) - 1
        key = (li, C)
        if cache is not None and key in cache:
            terms = cache[key]
        else:
            terms = [_lower_term(inet, layer, t, by_name[t.source], C) for t in layer.terms]
            terms = _merge_identities(terms, qmax)
            if cache is not None:
                cache[key] = terms
        # the Horner schedule (golden's): sources right-aligned, T < B as trailing shifts
        align = inet.alignment(layer, T)
        spans = {sp.source: sp for sp in align.spans}
        D = align.depth
        first = min(sp.start for sp in spans.values())
        lastpos = max(sp.stop for sp in spans.values()) - 1
        terms = [dataclasses.replace(t, start=spans[t.source].start - first, steps=spans[t.source].steps)
                 for t in terms]
        flat = len(layer.out_shape) != 3
        view = tensor_view(layer.out_shape, C)
        grid = (_ceil(view[0], R), view[1], _ceil(view[2], C))
        hidden = not layer.is_output
        out_tensor = None
        if hidden:
            spec = TensorSpec(len(tensors), layer.name, tuple(layer.out_shape), view, T, False, K)
            tensors.append(spec)
            by_name[layer.name] = spec
            out_tensor = spec.id
        layers.append(HwLayer(li, layer.name, flat, hidden, last, tuple(layer.out_shape), view, grid, T,
                              lastpos - first + 1, D - 1 - lastpos, tuple(terms), out_tensor,
                              layer.S.astype(np.int64), layer.init.astype(np.int64), layer.acc_bits))
    if cache is not None and ("wmax", C) in cache:
        wmax = cache[("wmax", C)]
    else:
        wmax = max(int(np.abs(t.weight).max(initial=0)) for l in layers for t in l.terms)
        if cache is not None:
            cache[("wmax", C)] = wmax
    kw_max = max([t.kernel[1] for l in layers for t in l.terms if t.kind == CONV] + [1])
    lanes = 1 << (max(C, kw_max) - 1).bit_length()
    return Plan(R, C, K, B, T, P, tuple(tensors), tuple(layers), signed_bits(-wmax, wmax),
                max(l.acc_bits for l in inet.layers), lanes, inet)


# ------------------------------------------------------------------ descriptor format

#: layer descriptor fields (in order, LSB first); widths come from the program
LAYER_FIELDS = ("flat", "hidden", "last", "out", "G", "HO", "X", "OV", "WO", "T", "pad", "npos", "pbase", "pslots",
                "wwords")
#: term descriptor fields; "wbase" holds R values.  An event at window channel ``cw``, row ``row``
#: (conv: kernel row ky; linear: pooled row py) and pooled column ``px`` of tile group ``g`` reads
#: the weight elements from ``wbase[r] + g*gstride + cw*cistride + row*kystride + (0 if conv else px*C)``;
#: the PEs add each lane's element shifted left by ``shift`` (the term's effective weight)
TERM_FIELDS = ("en", "conv", "src", "shift", "start", "steps", "Cs", "Hs", "pstride", "pkh", "pkw", "pshl", "pswl",
               "Hp", "Wp", "kh", "kw", "sh", "sw", "ph", "pw", "og", "cg", "qstep", "rstep", "qh0", "rh0",
               "cstep", "chi0", "gstride", "cistride", "kystride", "wbase")


def _layer_desc(p: Plan, layer: HwLayer, pbase: int, wwords) -> dict:
    OV, HO, WO = layer.view
    G, _, X = layer.grid
    return dict(flat=int(layer.flat), hidden=int(layer.hidden), last=int(layer.last), out=layer.out_tensor or 0,
                G=G, HO=HO, X=X, OV=OV, WO=WO, T=layer.T if layer.hidden else 0, pad=layer.pad, npos=layer.n_pos,
                pbase=pbase, pslots=layer.pslots, wwords=[int(v) for v in wwords])


def _term_desc(p: Plan, layer: HwLayer, t: HwTerm, wbase) -> dict:
    R, C = p.rows, p.cols
    src = p.tensors[t.src]
    Cs, Hs, _ = t.view
    pkh, pkw, psh, psw = t.pool
    d = dict(en=1, conv=int(t.kind == CONV), src=t.src, shift=t.shift, start=t.start, steps=t.steps, Cs=Cs, Hs=Hs,
             pstride=src.plane_stride, pkh=pkh, pkw=pkw, pshl=psh.bit_length() - 1, pswl=psw.bit_length() - 1,
             Hp=t.ext[0], Wp=t.ext[1], wbase=list(int(v) for v in wbase))
    zero = dict.fromkeys(("kh", "kw", "sh", "sw", "ph", "pw", "og", "cg", "qstep", "rstep", "qh0", "rh0",
                          "cstep", "chi0", "gstride", "cistride", "kystride"), 0)
    d.update(zero)
    if t.kind == CONV:
        (kh, kw), (sh, sw), (ph, pw) = t.kernel, t.stride, t.padding
        og, cg = t.og, t.cg
        O = t.out_channels
        o_hi0 = min(O, R) - 1
        d.update(kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, og=og, cg=cg, qstep=R // og, rstep=R % og,
                 qh0=o_hi0 // og, rh0=o_hi0 % og, cstep=(R // og) * cg, chi0=(o_hi0 // og + 1) * cg,
                 gstride=t.ncw(R) * kh * kw, cistride=kh * kw, kystride=kw)
    else:
        d.update(og=1, chi0=Cs, gstride=t.J * C, cistride=t.ext[0] * t.ext[1] * C, kystride=t.ext[1] * C)
    return d


# ------------------------------------------------------------------ weight memory: resident or streamed


@dataclass(frozen=True)
class WeightPlan:
    """Where the weights live.

    ``resident``: all layers in the weight memory at once (loaded with the memory
    image, never per image).  ``streamed``: they do not fit; per image the layers
    stream in, in order, through the ``weights`` stream (one bank word of
    ``beat_bits`` per beat, a beat every ``period`` cycles of the off-chip link),
    layer ``j`` into region ``j mod regions`` of ``region_words`` words per bank,
    once layer ``j - regions`` has finished (two regions: the next layer loads
    while this one runs).  ``layer_words[l, r]``: words layer ``l`` occupies in
    bank ``r`` (its elements plus the word an unaligned read may touch).
    """

    mode: str
    regions: int
    layer_words: np.ndarray
    region_words: int
    beat_bits: int
    period: int
    resident_words: tuple[int, ...]

    @property
    def streamed(self) -> bool:
        return self.mode == "streamed"

    @property
    def bank_words(self) -> list[int]:
        if self.streamed:
            return [2 * _ceil(self.regions * self.region_words, 2)] * self.layer_words.shape[1]
        return list(self.resident_words)

    @property
    def bits(self) -> int:
        return sum(self.bank_words) * self.beat_bits

    @property
    def beats(self) -> np.ndarray:
        """Stream beats of each layer (``(L,)``); all zero when resident."""
        return self.layer_words.sum(1) if self.streamed else np.zeros(self.layer_words.shape[0], np.int64)


def weight_plan(p: Plan, capacity_bits: int | None = None, offchip_bits_per_cycle: int | None = None) -> WeightPlan:
    """Resident if the weights fit ``capacity_bits`` (or no capacity is given); else streamed, with
    two regions if two of the largest layer fit (double-buffered), one otherwise."""
    V, w = p.lanes, p.weight_width
    E = np.array([sum((_term_elements(l, t, p.rows, p.cols) for t in l.terms), np.zeros(p.rows, np.int64))
                  for l in p.layers], np.int64)  # (L, R)
    resident = tuple(2 * _ceil(_ceil(int(e), V) + 1, 2) for e in E.sum(0))
    beat = V * w
    period = 1 if not offchip_bits_per_cycle else _ceil(beat, int(offchip_bits_per_cycle))
    layer_words = -(-E // V) + 1
    if capacity_bits is None or sum(resident) * beat <= capacity_bits:
        return WeightPlan("resident", 0, layer_words, 0, beat, period, resident)
    rw = int(layer_words.max())
    for regions in (2, 1):
        if p.rows * 2 * _ceil(regions * rw, 2) * beat <= capacity_bits:
            return WeightPlan("streamed", regions, layer_words, rw, beat, period, resident)
    worst = p.layers[int(layer_words.max(1).argmax())].name
    need = p.rows * 2 * _ceil(rw, 2) * beat
    raise AccelError(f"weight memory: {capacity_bits} bits is too small for layer {worst!r} alone ({need} bits with "
                     f"{p.rows} banks of {rw} words of {beat} bits); weight_sram_kib >= {math.ceil(need / 8192)}")


# ------------------------------------------------------------------ the program


@dataclass(frozen=True, eq=False)
class Program:
    """A plan with its memory images and packed descriptors.

    ``segments[l][r]``: layer ``l``'s weight elements in bank ``r`` (int64, two's
    complement of ``weight_width`` bits when written), words of ``lanes`` elements;
    ``wplan``: resident or streamed (:class:`WeightPlan`);
    ``params[r]``: ``(words, C)`` int64, lane values of ``acc_width`` bits;
    ``descriptors``: one packed integer per layer; ``fields``: the descriptor
    layout ``[(name, width, count)]``, LSB first (layer fields, then ``max_terms``
    term records).
    """

    plan: Plan
    wplan: WeightPlan
    segments: tuple[tuple[np.ndarray, ...], ...]
    params: tuple[np.ndarray, ...]
    layer_desc: tuple[dict, ...]
    term_desc: tuple[tuple[dict, ...], ...]
    fields: dict
    descriptors: tuple[int, ...]

    @property
    def max_terms(self) -> int:
        return self.fields["max_terms"]

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        """Resident weight memory image per bank (elements); empty banks when streamed."""
        if self.wplan.streamed:
            return tuple(np.zeros(0, np.int64) for _ in range(self.plan.rows))
        return tuple(np.concatenate([seg[r] for seg in self.segments]) for r in range(self.plan.rows))

    def layer_weights(self, layer: int) -> tuple[np.ndarray, ...]:
        """Each bank's elements as layer ``layer`` sees them while it runs."""
        if not self.wplan.streamed:
            return self.weights
        wp, V = self.wplan, self.plan.lanes
        out = []
        for seg in self.segments[layer]:
            bank = np.zeros(wp.regions * wp.region_words * V, np.int64)
            base = (layer % wp.regions) * wp.region_words * V
            bank[base: base + seg.size] = seg
            out.append(bank)
        return tuple(out)

    @property
    def weight_words(self) -> list[int]:
        """Words of each bank (even + odd halves), including the extra word an unaligned read may touch."""
        return self.wplan.bank_words

    def stream_words(self) -> list[int]:
        """The off-chip weight stream of one image (streamed mode): per layer, per bank, its words."""
        p, wp = self.plan, self.wplan
        V, w = p.lanes, p.weight_width
        mask = (1 << w) - 1
        out = []
        for li, seg in enumerate(self.segments):
            for r, elems in enumerate(seg):
                n = int(wp.layer_words[li, r])
                padded = np.zeros(n * V, np.int64)
                padded[: elems.size] = elems
                out += [sum((int(e) & mask) << (i * w) for i, e in enumerate(padded[a * V:(a + 1) * V]))
                        for a in range(n)]
        return out

    @property
    def param_words(self) -> int:
        return max(1, len(self.params[0]))

    def memory_bits(self) -> dict[str, int]:
        p = self.plan
        wb = self.wplan.bits
        return {
            "weights": wb,
            "params": p.rows * self.param_words * p.cols * p.acc_width,
            "program": len(self.descriptors) * self.fields["width"],
            "image": p.image.bits,
            "spikes": sum(t.bits for t in p.tensors[1:]),
        }

    def hardware(self) -> dict:
        """Generation parameters of the RTL top (``rtl.top.Accelerator``), JSON-able."""
        p = self.plan
        return {
            "rows": p.rows, "cols": p.cols, "lanes": p.lanes, "weight_width": p.weight_width,
            "acc_width": p.acc_width, "pixel_bits": p.pixel_bits, "bits": p.bits,
            "max_pad": max(l.pad for l in p.layers), "max_T": p.T, "shifts": list(p.shifts),
            "weight_words": self.weight_words, "param_words": self.param_words, "layers": len(p.layers),
            "streamed": self.wplan.streamed, "regions": self.wplan.regions, "region_words": self.wplan.region_words,
            "scan": p.scan,
            "tensors": [{"id": t.id, "name": t.name, "view": list(t.view), "planes": t.planes, "image": t.image,
                         "depths": t.bank_depths(), "word_bits": t.word_bits} for t in p.tensors],
            "fields": self.fields,
            "out_tiles": p.layers[-1].tiles,
        }


def _field_table(p: Plan, layer_desc, term_desc) -> dict:
    max_terms = max(len(t) for t in term_desc)
    lw = {f: _bits(max(max(d[f]) if f == "wwords" else d[f] for d in layer_desc)) for f in LAYER_FIELDS}
    all_terms = [t for ts in term_desc for t in ts]
    tw = {}
    for f in TERM_FIELDS:
        vals = [max(t[f]) if f == "wbase" else t[f] for t in all_terms]
        tw[f] = _bits(max(vals + [0]))
    layer = [[f, lw[f], p.rows if f == "wwords" else 1] for f in LAYER_FIELDS]
    term = [[f, tw[f], p.rows if f == "wbase" else 1] for f in TERM_FIELDS]
    term_width = sum(w * n for _, w, n in term)
    width = sum(w * n for _, w, n in layer) + max_terms * term_width
    return {"layer": layer, "term": term, "max_terms": max_terms, "term_width": term_width, "width": width}


def pack_descriptor(fields: dict, layer: dict, terms) -> int:
    """Pack one layer's descriptor: layer fields LSB first, then ``max_terms`` term records."""
    out, off = 0, 0

    def put(v, w):
        nonlocal out, off
        if not 0 <= v < (1 << w):
            raise AccelError(f"descriptor: value {v} does not fit {w} bits")
        out |= int(v) << off
        off += w

    for name, w, n in fields["layer"]:
        for v in (layer[name] if name == "wwords" else [layer[name]]):
            put(v, w)
    for i in range(fields["max_terms"]):
        t = terms[i] if i < len(terms) else None
        for name, w, n in fields["term"]:
            vals = (list(t[name]) if name == "wbase" else [t[name]]) if t is not None else [0] * n
            for v in vals:
                put(v, w)
    return out


def _conv_bank_blocks(layer: HwLayer, t: HwTerm, R: int, r: int) -> np.ndarray:
    """Bank r's elements of a conv term: per tile group where row r has a channel, NCW kernel blocks."""
    O = t.out_channels
    kh, kw = t.kernel
    ncw = t.ncw(R)
    n = int(_rows_with(O, R)[r])
    g = np.arange(n)
    o = g * R + r
    lo, hi = t.channel_window(g, R)
    ci = lo[:, None] + np.arange(ncw)[None, :]  # (n, ncw)
    grp = (o // t.og)[:, None]
    ok = (ci < hi[:, None]) & (ci // t.cg == grp)
    local = np.where(ok, ci - grp * t.cg, 0)
    blk = t.weight[o[:, None], local] * ok[:, :, None, None]  # (n, ncw, kh, kw)
    return blk.reshape(-1)


def _linear_bank_blocks(layer: HwLayer, t: HwTerm, R: int, C: int, r: int) -> np.ndarray:
    F = t.out_channels
    n = int(_rows_with(layer.view[0], R)[r])
    k = np.arange(n)
    neurons = (k * R + r)[:, None] * C + np.arange(C)[None, :]  # (n, C)
    ok = neurons < F
    w = t.weight[np.where(ok, neurons, 0)] * ok[:, :, None]  # (n, C, J)
    return w.transpose(0, 2, 1).reshape(-1)


def _param_words(p: Plan, layer: HwLayer) -> np.ndarray:
    """``(R, words, C)`` parameter words of one layer: slot 0 init, slot t = -(S << (B - t))."""
    R, C, B = p.rows, p.cols, p.bits
    G = layer.grid[0]
    slots = layer.pslots
    vals = np.zeros((slots, layer.S.size), np.int64)
    vals[0] = layer.init
    for t in range(1, slots):
        vals[t] = -(layer.S << (B - t))
    if not layer.flat:
        words = _ceil(G, C)
        out = np.zeros((R, words * slots, C), np.int64)
        O = layer.view[0]
        for r in range(R):
            for g in range(G):
                o = g * R + r
                if o < O:
                    out[r, (g // C) * slots: (g // C + 1) * slots, g % C] = vals[:, o]
        return out
    F = layer.S.size
    out = np.zeros((R, G * slots, C), np.int64)
    for r in range(R):
        for k in range(G):
            n = (k * R + r) * C + np.arange(C)
            ok = n < F
            blk = np.where(ok[None, :], vals[:, np.where(ok, n, 0)], 0)
            if layer.hidden:
                blk[0] = np.where(ok, blk[0], -1)  # lanes without a neuron never fire
            out[r, k * slots: (k + 1) * slots] = blk
    return out


def param_word_count(p: Plan, layer: HwLayer) -> int:
    """Parameter words one bank holds for ``layer`` (what :func:`_param_words` lays out)."""
    G = layer.grid[0]
    return (G if layer.flat else _ceil(G, p.cols)) * layer.pslots


def descriptors(p: Plan, wp: WeightPlan) -> tuple[list, list, dict]:
    """Every layer's and term's descriptor values and the descriptor layout (``Program.fields``), from the
    plan and where its weights live, without laying out the weights."""
    R, C, V = p.rows, p.cols, p.lanes
    pbase = 0
    lens = np.zeros(R, np.int64)
    layer_desc, term_desc = [], []
    for li, layer in enumerate(p.layers):
        base = np.full(R, (li % wp.regions) * wp.region_words * V, np.int64) if wp.streamed else lens.copy()
        off = np.zeros(R, np.int64)
        tds = []
        for t in layer.terms:
            tds.append(_term_desc(p, layer, t, base + off))
            off += _term_elements(layer, t, R, C)
        lens += off
        layer_desc.append(_layer_desc(p, layer, pbase, wp.layer_words[li] if wp.streamed else np.zeros(R, np.int64)))
        term_desc.append(tuple(tds))
        pbase += param_word_count(p, layer)
    return layer_desc, term_desc, _field_table(p, layer_desc, term_desc)


def compile_program(inet_or_plan, rows: int | None = None, cols: int | None = None, T: int | None = None, *,
                    weights: WeightPlan | None = None) -> Program:
    """Lay out the memories of a plan (or plan ``inet`` on ``rows x cols`` first); ``weights``: where
    the weights live (default: resident)."""
    p = inet_or_plan if isinstance(inet_or_plan, Plan) else plan(inet_or_plan, rows, cols, T)
    wp = weights if weights is not None else weight_plan(p)
    R, C = p.rows, p.cols
    segments = []  # per layer, per bank: the layer's elements
    params = [[] for _ in range(R)]
    for layer in p.layers:
        seg = [[] for _ in range(R)]
        for t in layer.terms:
            for r in range(R):
                seg[r].append(_conv_bank_blocks(layer, t, R, r) if t.kind == CONV
                              else _linear_bank_blocks(layer, t, R, C, r))
        segments.append(tuple(np.concatenate(b) if b else np.zeros(0, np.int64) for b in seg))
        wmax = max(int(np.abs(b).max(initial=0)) for b in segments[-1])
        if wmax > (1 << (p.weight_width - 1)) - 1:  # pragma: no cover - weight_width is the stored values' width
            raise AccelError(f"layer {layer.name!r}: a stored weight ({wmax}) does not fit {p.weight_width} bits")
        pw = _param_words(p, layer)
        for r in range(R):
            params[r].append(pw[r])
    params = tuple(np.concatenate(pr) for pr in params)
    layer_desc, term_desc, fields = descriptors(p, wp)
    desc = tuple(pack_descriptor(fields, l, t) for l, t in zip(layer_desc, term_desc))
    return Program(p, wp, tuple(segments), params, tuple(layer_desc), tuple(term_desc), fields, desc)


# ------------------------------------------------------------------ memory images


def weight_word_images(prog: Program) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per bank ``(even, odd)`` word images: word ``a`` of the bank lives in ``even[a // 2]`` or
    ``odd[a // 2]``; a word packs ``lanes`` elements, element ``i`` at bits ``i*w .. (i+1)*w - 1``."""
    p = prog.plan
    V, w = p.lanes, p.weight_width
    mask = (1 << w) - 1
    out = []
    for bank, n in zip(prog.weights, prog.weight_words):
        elems = np.zeros(n * V, np.int64)
        elems[: bank.size] = bank
        words = []
        for a in range(n):
            v = 0
            for i, e in enumerate(elems[a * V: (a + 1) * V]):
                v |= (int(e) & mask) << (i * w)
            words.append(v)
        out.append((np.array(words[0::2], dtype=object), np.array(words[1::2], dtype=object)))
    return out


def param_word_images(prog: Program) -> list[np.ndarray]:
    """Per bank the parameter words: lane ``c`` at bits ``c*A .. (c+1)*A - 1`` (two's complement)."""
    A, C = prog.plan.acc_width, prog.plan.cols
    mask = (1 << A) - 1
    out = []
    for bank in prog.params:
        words = [sum((int(v) & mask) << (c * A) for c, v in enumerate(row)) for row in bank]
        out.append(np.array(words or [0], dtype=object))
    return out


def _hex(words, width: int) -> str:
    digits = max(1, _ceil(width, 4))
    return "".join(f"{int(v):0{digits}x}\n" for v in words)


def write_program(prog: Program, out_dir, extra_manifest: dict | None = None) -> Path:
    """Write ``manifest.json``, ``program.npz`` and the ``$readmemh`` images into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p = prog.plan
    mem = {}
    for r, (even, odd) in enumerate(weight_word_images(prog)):
        for half, words in (("even", even), ("odd", odd)):
            name = f"weights_r{r}_{half}.hex"
            (out / name).write_text(_hex(words, p.lanes * p.weight_width))
            mem[name] = {"width": p.lanes * p.weight_width, "depth": len(words)}
    for r, words in enumerate(param_word_images(prog)):
        name = f"params_r{r}.hex"
        (out / name).write_text(_hex(words, p.cols * p.acc_width))
        mem[name] = {"width": p.cols * p.acc_width, "depth": len(words)}
    (out / "program.hex").write_text(_hex(prog.descriptors, prog.fields["width"]))
    mem["program.hex"] = {"width": prog.fields["width"], "depth": len(prog.descriptors)}
    if prog.wplan.streamed:
        words = prog.stream_words()
        (out / "weights_stream.hex").write_text(_hex(words, p.lanes * p.weight_width))
        mem["weights_stream.hex"] = {"width": p.lanes * p.weight_width, "depth": len(words),
                                     "note": "the weights stream of one image, beat by beat"}
    np.savez_compressed(out / "program.npz", schema_version=SCHEMA_VERSION,
                        **{f"weights_l{l}_r{r}": w for l, seg in enumerate(prog.segments) for r, w in enumerate(seg)},
                        **{f"params_r{r}": w for r, w in enumerate(prog.params)})
    manifest = manifest_dict(prog)
    manifest["images"] = mem
    if extra_manifest:
        manifest.update(extra_manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out


def manifest_dict(prog: Program) -> dict:
    p = prog.plan
    return {
        "schema_version": SCHEMA_VERSION,
        "format": FORMAT,
        "model": p.inet.name,
        "model_hash": p.inet.model_hash,
        "array": [p.rows, p.cols],
        "T": p.T,
        "hardware": prog.hardware(),
        "memory_bits": prog.memory_bits(),
        "layers": [
            {"name": l.name, "flat": l.flat, "hidden": l.hidden, "out_shape": list(l.out_shape),
             "grid": list(l.grid), "tiles": l.tiles, "n_pos": l.n_pos, "pad": l.pad, "acc_bits": l.acc_bits,
             "descriptor": prog.layer_desc[l.index],
             "terms": [{"kind": t.kind, "source": t.source, "note": t.note, "kernel": list(t.kernel),
                        "stride": list(t.stride), "padding": list(t.padding), "groups": t.groups,
                        "pool": list(t.pool), "ext": list(t.ext), "shift": t.shift, "descriptor": d}
                       for t, d in zip(l.terms, prog.term_desc[l.index])]}
            for l in p.layers],
    }

"""The accelerator as a machine: its timing, a per-op reference interpreter, and the closed-form cycle model.

The machine (``docs/architecture.md``) runs a :class:`~accel.program.Program`.
Per tile, a sequencer issues one **op** per cycle into a pipeline that ends in
the PE array:

* the zero-skipping encoder scans the tile's input window, Horner position by
  position, term by term, one *unit* per cycle (one raw row of ``K`` channels,
  a bitmap word from each of the ``K`` spike memory banks), and issues one
  ``ACC`` op per set bit (a unit without a set bit, an empty window and a
  position without any term each issue one ``ACC`` op that adds zero).  The first op of a
  position carries the Horner shift; the first op of a tile starts from zero;
* then ``FINISH`` (``u = (u << pad) + init``), ``READOUT`` on the last layer
  (the membranes go out on the logits stream), and ``FIRE`` x ``T`` on a hidden
  layer (``u >= thr``: the spikes are written to the layer's spike memory).

So a tile costs ``sum_pos max(1, sum_terms max(1, sum_words max(popcount, 1))) +
fire_ops`` cycles, with no gap between tiles.  A layer adds :attr:`Timing.setup`
cycles in front (the first word's read) and :attr:`Timing.drain` behind (the
pipeline empties before the next layer may read what this one wrote); an image
adds one cycle per input row beat in front.  Nothing else costs a cycle.

:func:`run_reference` interprets a program op by op (slow; the oracle of the
RTL and of the closed form); :func:`tile_ops` and :func:`network_cycles` are the
closed form (integral images of per-word popcounts; a few NumPy calls per layer).

Both also count what the machine *does* (:class:`LayerCounters`): the ops by
kind, the scan units each tensor's spike memory is read for, the spike words
written, image rows, off-chip weight beats.  The per-cycle activity that follows
from them (every PE adds on every ACC, FINISH and FIRE op; the weight banks are
read on the ACC ops that carry a spike, the parameter banks on FINISH and FIRE) is :func:`machine_activity`'s, which the
energy model prices and the RTL co-simulation checks counter by counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import AccelError
from .program import CONV, HwLayer, HwTerm, Plan, Program, TensorSpec


@dataclass(frozen=True)
class Timing:
    """Fixed cycles of the machine (``rtl.top.Accelerator.timing`` must equal these).

    ``image_row``: cycles per beat of the image stream (one row of pixels);
    ``setup``: cycles between a layer's start and its first op (the first word's
    read); ``drain``: cycles after a layer's last op until the next layer may
    start (the op pipeline's depth: the last spikes are written).
    """

    image_row: int = 1
    setup: int = 1
    drain: int = 2
    loader_start: int = 1


TIMING = Timing()


@dataclass
class LayerCounters:
    """What one layer does on the machine: totals over the images it ran.

    Ops (one per cycle, ``docs/architecture.md``): ``acc`` ACC ops (every scan
    cycle, zero ones included), of which ``events`` carry a set bit, ``load`` start
    a tile (``u <- w``) and ``shift`` start a later Horner position
    (``u <- (u << 1) + w``); ``finish``, ``readout``, ``fire``.  Memories:
    ``unit_reads[tensor id]`` scan units loaded (each reads one word from every
    bank of that tensor, the units of empty windows included); ``spike_writes``
    bank words written by FIRE ops, ``spike_write_bits`` the bits enabled in
    them, ``spikes`` the ones among them; ``image_rows`` image memory words
    written; ``weight_beats`` off-chip weight words taken.  ``cycles``: the
    layer's share of the image cycles (setup, ops, drain, weight stalls; the
    image's rows on the first layer).
    """

    name: str
    cycles: int = 0
    acc: int = 0
    events: int = 0
    load: int = 0
    shift: int = 0
    finish: int = 0
    readout: int = 0
    fire: int = 0
    unit_reads: dict = field(default_factory=dict)
    spike_writes: int = 0
    spike_write_bits: int = 0
    spikes: int = 0
    image_rows: int = 0
    weight_beats: int = 0

    @property
    def ops(self) -> int:
        return self.acc + self.finish + self.readout + self.fire


def image_timeline(layer_ops, image_rows: int, wplan=None, timing: Timing = TIMING):
    """Cycles of one image, and the cycles each layer waited for its weights.

    ``layer_ops[l]``: ops of layer ``l`` (sum over its tiles).  Cycle 0 takes the
    first image row; the rows take ``image_rows * image_row`` cycles.  Layer ``l``
    runs ``setup + ops + drain`` cycles from its start, which is the cycle after
    the previous layer's last drain cycle (the image's last row for layer 0) --
    or later, when its weights stream in (``wplan.streamed``): the loader takes
    the first beat at ``loader_start``, one beat every ``period`` cycles, layer
    after layer, and layer ``j`` only once layer ``j - regions`` has finished.
    Returns ``(cycles, stalled)`` with ``stalled[l]`` the cycles layer ``l`` waited.
    """
    L = len(layer_ops)
    stalled = [0] * L
    ready = image_rows * timing.image_row
    if wplan is None or not wplan.streamed:
        for ops in layer_ops:
            ready += timing.setup + int(ops) + timing.drain
        return ready, stalled
    k, beats, regions = wplan.period, wplan.beats, wplan.regions
    last, done = [0] * L, [0] * L
    for j in range(L):
        first = timing.loader_start if j == 0 else last[j - 1] + k
        if j >= regions:
            first = max(first, done[j - regions] + 1)
        last[j] = first + (int(beats[j]) - 1) * k
        start = max(ready, last[j] + 1)
        stalled[j] = start - ready
        done[j] = start + timing.setup + int(layer_ops[j]) + timing.drain - 1
        ready = done[j] + 1
    return ready, stalled


#: per-resource activity keys of :func:`machine_activity`
ACTIVITY = ("pe_adds", "pe_horner", "membrane_reads", "membrane_writes", "weight_reads", "param_reads",
            "spike_reads", "spike_writes", "image_writes", "logits_beats", "weight_beats", "descriptor_reads")


def tensor_banks(t: TensorSpec) -> int:
    """Memories of a tensor's banks that exist (a bank with no channel has none)."""
    return sum(1 for d in t.bank_depths() if d)


def machine_activity(p: Plan, c: LayerCounters, images: int) -> dict:
    """What the hardware does in one layer (totals over ``images``), from its counters and the RTL's enables.

    * ``pe_adds``: every PE adds on every ACC, FINISH and FIRE op (:class:`rtl.pe.LeanPE`
      has no gating: lanes without a weight, PEs beyond the layer's edge and the zero
      ops of empty units add zero): ``R*C*(acc + finish + fire)``; ``pe_horner``: those
      of them that take ``u << 1`` (the first op of a Horner position: wiring in front
      of the adder);
    * ``membrane_reads``: ``R*C`` per op (the adder's input, READOUT's beat);
      ``membrane_writes``: ``R*C`` per ACC and FINISH op, plus one per spike on FIRE
      (spikes of PEs beyond the layer's edge, whose writes are masked, are not counted);
    * ``weight_reads``: both halves of every weight bank on every ACC op that carries a
      spike (``2R`` words of ``V*w`` bits per event; the zero ops of empty units read
      nothing); ``param_reads``: every parameter bank on every FINISH and FIRE op
      (``R`` words of ``C*A`` bits);
    * ``spike_reads[tensor]``: one word from every bank of the tensor per scan unit;
      ``spike_writes``: bank words written by FIRE ops (``spike_write_bits`` enabled);
      ``image_writes``: image rows; ``logits_beats``: READOUT ops; ``weight_beats``:
      off-chip weight words (each also written into the weight memory);
      ``descriptor_reads``: one layer descriptor per layer and image.
    """
    R, C = p.rows, p.cols
    return {
        "pe_adds": R * C * (c.acc + c.finish + c.fire),
        "pe_horner": R * C * c.shift,
        "membrane_reads": R * C * c.ops,
        "membrane_writes": R * C * (c.acc + c.finish) + c.spikes,
        "weight_reads": 2 * R * c.events,
        "param_reads": R * (c.finish + c.fire),
        "spike_reads": {t: n * tensor_banks(p.tensors[t]) for t, n in sorted(c.unit_reads.items())},
        "spike_writes": c.spike_writes,
        "image_writes": c.image_rows,
        "logits_beats": c.readout,
        "weight_beats": c.weight_beats,
        "descriptor_reads": images,
    }


# ------------------------------------------------------------------ spike tensors as bit arrays


def image_bits(tensor: TensorSpec, pixels: np.ndarray) -> np.ndarray:
    """Bit planes of one image in the image memory's view: ``(P, Cv, Hv, Wv)`` uint8, MSB first."""
    P = tensor.planes
    x = np.asarray(pixels, np.int64).reshape(-1)
    flat = np.zeros(int(np.prod(tensor.view)), np.int64)
    flat[: x.size] = x
    v = flat.reshape(tensor.view)
    return np.stack([(v >> (P - 1 - t)) & 1 for t in range(P)]).astype(np.uint8)


def spike_bits(tensor: TensorSpec, spikes: np.ndarray) -> np.ndarray:
    """Golden spikes ``(T, N, ...)`` of one tensor in its view: ``(T, N, Cv, Hv, Wv)`` uint8."""
    T, N = spikes.shape[:2]
    flat = np.zeros((T, N, int(np.prod(tensor.view))), np.uint8)
    s = spikes.reshape(T, N, -1)
    flat[:, :, : s.shape[2]] = s
    return flat.reshape((T, N) + tensor.view)


# ------------------------------------------------------------------ windows (shared by both models)


def conv_rows(t: HwTerm, y):
    """Pooled rows ``[lo, hi]`` (inclusive; empty if lo > hi) a conv reads for output row ``y``, and ``ky`` of ``lo``."""
    (kh, _), (sh, _), (ph, _) = t.kernel, t.stride, t.padding
    top = np.asarray(y) * sh - ph
    lo, hi = np.maximum(top, 0), np.minimum(top + kh - 1, t.ext[0] - 1)
    return lo, hi, lo - top


def conv_cols(t: HwTerm, layer: HwLayer, xc, C: int):
    """Pooled columns ``[lo, hi]`` a conv reads for column group ``xc``, and ``xb = x0*sw - pw``."""
    (_, kw), (_, sw), (_, pw) = t.kernel, t.stride, t.padding
    x0 = np.asarray(xc) * C
    x1 = np.minimum(x0 + C, layer.view[2]) - 1
    xb = x0 * sw - pw
    return np.maximum(xb, 0), np.minimum(x1 * sw - pw + kw - 1, t.ext[1] - 1), xb


def raw_cols(t: HwTerm, lo, hi):
    """Raw column range ``[a, b]`` of pooled columns ``[lo, hi]`` (the encoder's word mask)."""
    _, pkw, _, psw = t.pool
    return np.asarray(lo) * psw, np.asarray(hi) * psw + pkw - 1


def raw_rows(t: HwTerm, py_lo: int, py_hi: int) -> list[tuple[int, int]]:
    """The raw rows a term scans for pooled rows ``py_lo .. py_hi``: ``[(py, yi), ...]`` in scan order."""
    pkh, _, psh, _ = t.pool
    return [(py, py * psh + dy) for py in range(py_lo, py_hi + 1) for dy in range(pkh)]


def row_valid(t: HwTerm) -> np.ndarray:
    """Raw rows of the source that belong to a pooled row of the valid extent."""
    pkh, _, psh, _ = t.pool
    Hs = t.view[1]
    yi = np.arange(Hs)
    return ((yi % psh) < pkh) & ((yi // psh) < t.ext[0])


# ------------------------------------------------------------------ reference interpreter


@dataclass
class ReferenceRun:
    """What :func:`run_reference` observed, per image.

    ``tensors[id]``: ``(N, planes, Cv, Hv, Wv)`` bits written by the machine;
    ``readout``: ``(N, tiles, R, C)`` int64 membranes of the last layer's READOUT ops;
    ``logits``: those membranes in the golden output layout ``(N,) + out_shape``;
    ``tile_ops[layer]``: ``(N, tiles)`` ops per tile; ``cycles``: ``(N,)`` per image;
    ``events``: ACC ops that carried a set bit, per layer; ``counters``: every layer's
    :class:`LayerCounters`, counted op by op.
    """

    tensors: dict[int, np.ndarray]
    readout: np.ndarray
    logits: np.ndarray
    tile_ops: dict[str, np.ndarray]
    cycles: np.ndarray
    events: dict[str, int] = field(default_factory=dict)
    writes: list = field(default_factory=list)
    counters: list = field(default_factory=list)


def window(p: Plan, layer: HwLayer, t: HwTerm, g: int, y: int, xc: int):
    """The window a term scans in tile (g, y, xc).

    Returns ``(c_lo, c_hi, rows, a, b)``: input channels ``[c_lo, c_hi)``, the raw
    rows ``[(py, yi, row), ...]`` in scan order (``row``: the kernel row ``ky`` of a
    conv, the pooled row ``py`` of a linear map) and the raw column mask ``[a, b]``
    (empty if ``a > b``).
    """
    if t.kind == CONV:
        lo, hi = (int(v) for v in t.channel_window(g, p.rows))
        py_lo, py_hi, ky_lo = (int(v) for v in conv_rows(t, y))
        x_lo, x_hi, _ = (int(v) for v in conv_cols(t, layer, xc, p.cols))
        rows = [(py, yi, ky_lo + py - py_lo) for py, yi in raw_rows(t, py_lo, py_hi)]
    else:
        lo, hi = 0, t.view[0]
        x_lo, x_hi = 0, t.ext[1] - 1
        rows = [(py, yi, py) for py, yi in raw_rows(t, 0, t.ext[0] - 1)]
    a, b = (int(v) for v in raw_cols(t, x_lo, x_hi))
    if x_lo > x_hi:
        a, b = 1, 0
    return lo, hi, rows, a, b


def units(p: Plan, layer: HwLayer, t: HwTerm, g: int, y: int, xc: int):
    """Scan units (one cycle each at least) of a term in a tile: ``[(c0, c1, py, yi, row), ...]``:
    channels ``[c0, c1)`` (at most ``K``, one per bank) of raw row ``yi``; blocks outer, rows inner."""
    lo, hi, rows, a, b = window(p, layer, t, g, y, xc)
    K = p.scan
    return [(c0, min(c0 + K, hi), py, yi, row) for c0 in range(lo, hi, K) for py, yi, row in rows], a, b


def unit_events(p: Plan, plane: np.ndarray, unit, a: int, b: int):
    """Set bits of one unit in the encoder's order: bank ``c mod K`` ascending, then column: ``[(c, xi)]``."""
    c0, c1, _, yi, _ = unit
    K = p.scan
    out = []
    for bank in range(K):
        c = c0 + (bank - c0) % K
        if c >= c1:
            continue
        row = plane[c, yi]
        out += [(c, xi) for xi in range(max(a, 0), min(b, row.size - 1) + 1) if row[xi]]
    return out


def _lane_weights(p: Plan, prog: Program, layer: HwLayer, ti: int, t: HwTerm, g: int, xc: int, unit, c: int,
                  xi: int):
    """``(R, C)`` weights one event adds, read from the weight banks as the hardware does (the stored
    values, shifted left by the term's ``shift``)."""
    R, C, V = p.rows, p.cols, p.lanes
    _, _, _, _, row = unit
    _, pkw, _, psw = t.pool
    px, dx = xi // psw, xi % psw
    d = prog.term_desc[layer.index][ti]
    lo = int(t.channel_window(g, R)[0]) if t.kind == CONV else 0
    eoff = g * d["gstride"] + (c - lo) * d["cistride"] + row * d["kystride"] + (0 if t.kind == CONV else px * C)
    if t.kind == CONV:
        _, _, xb = conv_cols(t, layer, xc, C)
        kx = px - int(xb) - np.arange(C) * t.stride[1]
        ok = (kx >= 0) & (kx < t.kernel[1]) & (dx < pkw)
        idx = np.where(ok, kx, 0)
    else:
        ok = np.full(C, dx < pkw)
        idx = np.arange(C)
    rows_ok = (g * R + np.arange(R)) < layer.view[0]
    w = np.zeros((R, C), np.int64)
    banks = prog.layer_weights(layer.index)
    for r in range(R):
        bank = banks[r]
        e = int(d["wbase"][r]) + eoff
        win = np.zeros(V, np.int64)
        got = bank[e: e + V]
        win[: got.size] = got
        w[r] = np.where(ok & rows_ok[r], win[idx], 0)
    return w << t.shift  # the stored values, shifted to the term's effective weights


def run_reference(prog: Program, pixels, timing: Timing = TIMING, check_width: bool = True) -> ReferenceRun:
    """Interpret ``prog`` op by op on images ``pixels`` (``(N,) + input shape``).

    Slow on purpose (a Python loop over ops); the oracle for the RTL and for the
    closed-form model.  With ``check_width`` every membrane value is checked to
    fit the machine's ``acc_width`` (the width analysis says it must).
    """
    p = prog.plan
    R, C, B = p.rows, p.cols, p.bits
    x = np.asarray(pixels)
    N = x.shape[0]
    lo_acc, hi_acc = -(1 << (p.acc_width - 1)), (1 << (p.acc_width - 1)) - 1
    out_layer = p.layers[-1]
    store = {t.id: np.zeros((N, t.planes) + t.view, np.uint8) for t in p.tensors}
    readout = np.zeros((N, out_layer.tiles, R, C), np.int64)
    tile_ops = {l.name: np.zeros((N, l.tiles), np.int64) for l in p.layers}
    events = {l.name: 0 for l in p.layers}
    cycles = np.zeros(N, np.int64)
    writes = []
    counters = [LayerCounters(l.name) for l in p.layers]
    image_rows = p.image.view[0] * p.image.view[1]
    for n in range(N):
        store[0][n] = image_bits(p.image, x[n])
        counters[0].image_rows += image_rows
        for layer in p.layers:
            cnt = counters[layer.index]
            if prog.wplan.streamed:
                cnt.weight_beats += int(prog.wplan.beats[layer.index])
            prm = prog.params
            G, HO, X = layer.grid
            pslots = layer.pslots
            for tile in range(layer.tiles):
                g, y, xc = np.unravel_index(tile, layer.grid)
                g, y, xc = int(g), int(y), int(xc)
                u = np.zeros((R, C), np.int64)
                ops = 0
                first_op = True
                for pos in range(layer.n_pos):
                    act = layer.active(pos)
                    pos_first = True
                    items = []  # (term index, unit or None, events)
                    for ti in act:
                        t = layer.terms[ti]
                        us, a, b = units(p, layer, t, g, y, xc)
                        if not us:
                            items.append((ti, None, []))
                        plane = store[t.src][n, pos - t.start]
                        items += [(ti, un, unit_events(p, plane, un, a, b)) for un in us]
                    if not act:
                        items.append((None, None, []))
                    for ti, un, evs in items:
                        src = layer.terms[0 if ti is None else ti].src  # the tensor whose banks the unit reads
                        cnt.unit_reads[src] = cnt.unit_reads.get(src, 0) + 1
                        for ev in (evs or [None]):
                            if ev is None:
                                w = np.zeros((R, C), np.int64)
                            else:
                                w = _lane_weights(p, prog, layer, ti, layer.terms[ti], g, xc, un, *ev)
                                events[layer.name] += 1
                                cnt.events += 1
                            if first_op:
                                u = w.copy()
                                cnt.load += 1
                            elif pos_first:
                                u = 2 * u + w
                                cnt.shift += 1
                            else:
                                u = u + w
                            first_op = pos_first = False
                            ops += 1
                            cnt.acc += 1
                            if check_width and (u.min() < lo_acc or u.max() > hi_acc):
                                raise AccelError(f"reference: layer {layer.name!r} tile {tile}: a membrane left the "
                                                 f"{p.acc_width}-bit range ({u.min()} .. {u.max()})")
                # FINISH
                pw_base = prog.layer_desc[layer.index]["pbase"]
                if layer.flat:
                    pword = pw_base + g * pslots
                    lane = lambda s: np.stack([prm[r][pword + s] for r in range(R)])  # noqa: E731
                else:
                    pword = pw_base + (g // C) * pslots
                    lane = lambda s: np.stack([np.full(C, prm[r][pword + s][g % C]) for r in range(R)])  # noqa: E731
                u = (u << layer.pad) + lane(0)
                ops += 1
                cnt.finish += 1
                if layer.last:
                    readout[n, tile] = u
                    ops += 1
                    cnt.readout += 1
                if layer.hidden:
                    rows_ok = (g * R + np.arange(R)) < layer.view[0]
                    x0 = xc * C
                    lanes_ok = (x0 + np.arange(C)) < layer.view[2]
                    for tf in range(1, layer.T + 1):
                        r_ = u + lane(tf)
                        spike = (u >= 0) & (r_ >= 0)
                        u = np.where(spike, r_, u)
                        ops += 1
                        ok = rows_ok[:, None] & lanes_ok[None, :]
                        cnt.fire += 1
                        cnt.spike_writes += int(rows_ok.sum())
                        cnt.spike_write_bits += int(rows_ok.sum() * lanes_ok.sum())
                        cnt.spikes += int((spike & ok).sum())
                        for r in range(R):
                            if rows_ok[r]:
                                ch = g * R + r
                                cs = np.nonzero(lanes_ok)[0]
                                store[layer.out_tensor][n, tf - 1, ch, y, x0 + cs] = spike[r, cs]
                        writes.append((n, layer.index, tile, tf, (spike & ok).astype(np.uint8)))
                tile_ops[layer.name][n, tile] = ops
        layer_ops = [tile_ops[l.name][n].sum() for l in p.layers]
        cycles[n], stalled = image_timeline(layer_ops, image_rows, prog.wplan, timing)
        for i, (ops_l, st) in enumerate(zip(layer_ops, stalled)):
            counters[i].cycles += _layer_cycles(int(ops_l), int(st), i == 0, image_rows, timing)
    logits = readout_to_logits(p, readout)
    return ReferenceRun(store, readout, logits, tile_ops, cycles, events, writes, counters)


def _layer_cycles(ops: int, stalled: int, first: bool, image_rows: int, timing: Timing) -> int:
    """A layer's share of an image's cycles: setup, its ops, drain, weight stalls (and the image rows)."""
    return timing.setup + ops + timing.drain + stalled + (image_rows * timing.image_row if first else 0)


def readout_to_logits(p: Plan, readout: np.ndarray) -> np.ndarray:
    """Membranes of the last layer's READOUT beats ``(N, tiles, R, C)`` in the golden layout."""
    layer = p.layers[-1]
    R, C = p.rows, p.cols
    N = readout.shape[0]
    OV, HO, WO = layer.view
    G, _, X = layer.grid
    full = readout.reshape(N, G, HO, X, R, C).transpose(0, 1, 4, 2, 3, 5).reshape(N, G * R, HO, X * C)
    full = full[:, :OV, :, :WO]
    if layer.flat:
        F = int(np.prod(layer.out_shape))
        return full.reshape(N, -1)[:, :F]
    return full


# ------------------------------------------------------------------ closed form


def _column_prefix(bits: np.ndarray) -> np.ndarray:
    """``(L, N, C, H, W+1)`` int32 prefix sums of the bits along the row (one per source view)."""
    L, N, Cs, Hs, Ws = bits.shape
    cs = np.zeros((L, N, Cs, Hs, Ws + 1), np.int32)
    np.cumsum(bits, axis=4, dtype=np.int32, out=cs[..., 1:])
    return cs


def _term_window_cost(p: Plan, layer: HwLayer, t: HwTerm, cs: np.ndarray, cache: dict | None = None,
                      key=None):
    """Scan cycles, events and units of term ``t`` in every tile, for every source step.

    ``cs``: :func:`_column_prefix` of the ``(L, N, Cs, Hs, Ws)`` source steps.  A unit
    (``K`` channels of one raw row) costs ``max(popcount, 1)`` cycles.  Returns three
    ``(L, N, G, HO, X)`` int64 arrays: ``sum_units max(popcount, 1)`` (0 where the
    window holds no unit), ``sum popcount`` and the number of units.
    """
    L, N, Cs, Hs, W1 = cs.shape
    Ws = W1 - 1
    G, HO, X = layer.grid
    K = p.scan
    valid = row_valid(t).astype(np.int64)
    if t.kind == CONV:
        c_lo, c_hi, _ = conv_cols(t, layer, np.arange(X), p.cols)
        a, b = raw_cols(t, c_lo, c_hi)
        empty = c_lo > c_hi
        lo, hi = t.channel_window(np.arange(G), p.rows)
        py_lo, py_hi, _ = conv_rows(t, np.arange(HO))
        _, _, psh, _ = t.pool
        r0 = np.clip(py_lo * psh, 0, Hs)
        r1 = np.where(py_lo > py_hi, r0, np.clip(py_hi * psh + psh, 0, Hs))
    else:
        a, b = raw_cols(t, np.array([0]), np.array([t.ext[1] - 1]))
        empty = np.array([False])
        lo, hi = np.zeros(G, np.int64), np.full(G, Cs)
        r0, r1 = np.array([0]), np.array([Hs])
    windows = sorted(set(zip(lo.tolist(), hi.tolist())))
    Xc = len(a)
    if cache is not None and all((key, p.cols, K, l, h) in cache for l, h in windows):
        S = None  # every window's cost is known
    else:
        a = np.clip(a, 0, Ws)
        b1 = np.clip(b + 1, 0, Ws)
        pc = np.where(empty | (b1 <= a), 0, cs[..., b1] - cs[..., a]).astype(np.int64)  # (L, N, Cs, Hs, Xc)
        S = np.zeros((L, N, Cs + 1) + pc.shape[3:], np.int64)
        np.cumsum(pc, axis=2, out=S[:, :, 1:])
    cost = np.zeros((L, N, G, HO, Xc), np.int64)
    ev = np.zeros_like(cost)
    nunits = np.zeros((G, HO), np.int64)
    for l, h in windows:
        gs = np.nonzero((lo == l) & (hi == h))[0]
        ckey = None if cache is None else (key, p.cols, K, l, h)
        if ckey is not None and ckey in cache:
            c_, e_, u_ = cache[ckey]
            cost[:, :, gs], ev[:, :, gs], nunits[gs] = c_[:, :, None], e_[:, :, None], u_[None, :]
            continue
        starts = np.arange(l, h, K)
        bs = S[:, :, np.minimum(starts + K, h)] - S[:, :, starts]  # (L, N, J, Hs, Xc)
        per_row_cost = (np.maximum(bs, 1) * valid[:, None]).sum(2)
        per_row_ev = (bs * valid[:, None]).sum(2)
        Pc = np.zeros((L, N, Hs + 1, Xc), np.int64)
        Pe = np.zeros_like(Pc)
        Pc[:, :, 1:] = per_row_cost.cumsum(2)
        Pe[:, :, 1:] = per_row_ev.cumsum(2)
        pv = np.concatenate([[0], valid.cumsum()])
        c_, e_, u_ = Pc[:, :, r1] - Pc[:, :, r0], Pe[:, :, r1] - Pe[:, :, r0], len(starts) * (pv[r1] - pv[r0])
        cost[:, :, gs], ev[:, :, gs], nunits[gs] = c_[:, :, None], e_[:, :, None], u_[None, :]
        if ckey is not None:
            cache[ckey] = (c_, e_, u_)
    shape = (L, N, G, HO, X)
    return (np.broadcast_to(cost, shape), np.broadcast_to(ev, shape),
            np.broadcast_to(nunits[None, None, :, :, None], shape))


def source_bits(p: Plan, tensor: TensorSpec, pixels=None, res=None) -> np.ndarray:
    """``(L, N, Cv, Hv, Wv)`` uint8: the source steps of a tensor (image planes or golden spikes)."""
    if tensor.image:
        x = np.asarray(pixels if pixels is not None else res.pixels)
        return np.stack([image_bits(tensor, xi) for xi in x], axis=1)
    return spike_bits(tensor, np.asarray(res.spikes[tensor.name]))


@dataclass
class LayerCycles:
    """Closed-form result of one layer for ``N`` images."""

    name: str
    tile_ops: np.ndarray  # (N, tiles)
    events: np.ndarray  # (N,) ACC ops carrying a set bit
    units: np.ndarray  # (N,) scan units (K words each) read
    scan: np.ndarray  # (N,) ACC ops (scan cycles, bubbles included)
    stalled: np.ndarray = None  # (N,) cycles the layer waited for streamed weights
    tile_events: np.ndarray = None  # (N, tiles) events per tile
    unit_reads: dict = None  # tensor id -> scan units loaded per image (pseudo units of empty windows included)
    counters: LayerCounters = None  # totals over the images (set by network_cycles)

    def __post_init__(self):
        if self.stalled is None:
            self.stalled = np.zeros(self.tile_ops.shape[0], np.int64)

    @property
    def ops(self) -> np.ndarray:
        return self.tile_ops.sum(1)


def tile_ops(p: Plan, layer: HwLayer, srcs: dict, cache: dict | None = None) -> LayerCycles:
    """Ops of every tile of ``layer`` (closed form).

    ``srcs[tensor id]``: :func:`_column_prefix` of the tensor's :func:`source_bits`;
    ``cache``: window costs reused across plans of the same network (see :func:`prefix_sums`).
    """
    G, HO, X = layer.grid
    N = next(iter(srcs.values())).shape[1]
    per_term = [_term_window_cost(p, layer, t, srcs[t.src][: t.steps], cache, ("window", layer.name, i, p.T))
                for i, t in enumerate(layer.terms)]
    scan = np.zeros((N, G, HO, X), np.int64)
    tile_ev = np.zeros((N, G, HO, X), np.int64)
    nunits = np.zeros(N, np.int64)
    loads: dict[int, int] = {}  # tensor id -> units loaded per image (data independent)
    for pos in range(layer.n_pos):
        act = layer.active(pos)
        if not act:
            scan += 1
            src = layer.terms[0].src  # the encoder reads the first term's banks for the zero op
            loads[src] = loads.get(src, 0) + layer.tiles
            continue
        for ti in act:
            cost, ev, nu = per_term[ti]
            ts = pos - layer.terms[ti].start
            scan += np.maximum(cost[ts], 1)
            tile_ev += ev[ts]
            nunits += nu[ts].reshape(N, -1).sum(1)
            src = layer.terms[ti].src
            loads[src] = loads.get(src, 0) + int(np.maximum(nu[ts][0], 1).sum())
    ops = scan + layer.fire_ops
    return LayerCycles(layer.name, ops.reshape(N, -1), tile_ev.reshape(N, -1).sum(1), nunits,
                       scan.reshape(N, -1).sum(1), tile_events=tile_ev.reshape(N, -1), unit_reads=loads)


def prefix_sums(p: Plan, res=None, pixels=None, cache: dict | None = None) -> dict:
    """:func:`_column_prefix` of every tensor's source bits, by tensor id (``cache``: reused
    across plans, keyed by tensor name and view: spatial views do not depend on the array)."""
    out = {}
    for t in p.tensors:
        key = (t.name, t.view, t.planes)
        if cache is not None and key in cache:
            out[t.id] = cache[key]
            continue
        out[t.id] = _column_prefix(source_bits(p, t, pixels=pixels, res=res))
        if cache is not None:
            cache[key] = out[t.id]
    return out


def network_cycles(p: Plan, res, timing: Timing = TIMING, wplan=None, cache: dict | None = None
                   ) -> tuple[np.ndarray, list[LayerCycles]]:
    """Cycles per image (``(N,)``) from the first pixel beat to the last op's completion, and per layer
    (``wplan``: where the weights live; streamed weights add the cycles layers wait for them;
    ``cache``: see :func:`prefix_sums`)."""
    srcs = prefix_sums(p, res=res, cache=cache)
    layers = [tile_ops(p, l, srcs, cache) for l in p.layers]
    N = layers[0].tile_ops.shape[0]
    per_image = np.zeros(N, np.int64)
    image_rows = p.image.view[0] * p.image.view[1]
    for n in range(N):
        per_image[n], stalled = image_timeline([lc.ops[n] for lc in layers], image_rows, wplan, timing)
        for lc, st in zip(layers, stalled):
            lc.stalled[n] = st
    for i, (layer, lc) in enumerate(zip(p.layers, layers)):
        spikes = int(srcs[layer.out_tensor][..., -1].sum()) if layer.hidden else 0
        lc.counters = _counters(p, layer, lc, spikes, N, wplan, timing, first=i == 0)
    return per_image, layers


def _counters(p: Plan, layer: HwLayer, lc: LayerCycles, spikes: int, N: int, wplan, timing: Timing,
              first: bool) -> LayerCounters:
    """The closed form of :class:`LayerCounters` (what :func:`run_reference` counts op by op)."""
    R, C = p.rows, p.cols
    G, HO, X = layer.grid
    OV, _, WO = layer.view
    rows = np.minimum(R, OV - np.arange(G) * R)  # FIRE writes one word per row that holds a channel
    lanes = np.minimum(C, WO - np.arange(X) * C)  # with the tile's valid columns enabled
    T = layer.T if layer.hidden else 0
    image_rows = p.image.view[0] * p.image.view[1]
    beats = int(wplan.beats[layer.index]) if wplan is not None and wplan.streamed else 0
    return LayerCounters(
        name=layer.name,
        cycles=int(N * (timing.setup + timing.drain + (image_rows * timing.image_row if first else 0))
                   + lc.ops.sum() + lc.stalled.sum()),
        acc=int(lc.scan.sum()), events=int(lc.events.sum()),
        load=N * layer.tiles, shift=N * layer.tiles * (layer.n_pos - 1),
        finish=N * layer.tiles, readout=N * layer.tiles * int(layer.last), fire=N * layer.tiles * T,
        unit_reads={k: N * v for k, v in lc.unit_reads.items()},
        spike_writes=N * T * HO * X * int(rows.sum()),
        spike_write_bits=N * T * HO * int(rows.sum()) * int(lanes.sum()),
        spikes=spikes, image_rows=N * image_rows if first else 0, weight_beats=N * beats)

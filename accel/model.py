"""Cycle-level model of the PE array (``docs/architecture.md``), exact to the RTL's cycle.

Dataflow ``"os-broadcast"``: output-stationary tiles of ``P = rows*cols`` output
neurons; every nonzero input spike in a tile's input bounding box is one event,
broadcast to all PEs.  One tile of one image takes::

    cycles = start + sum_{t in active steps} max(E_t, 1) + drain + finish + (T | readout)

(:class:`ArrayTiming`; ``E_t``: events of Horner position ``t``).  The model
never loops per cycle: a layer's event counts come from integral images of the
spike tensors (box sums over every tile at once), so a whole network costs a few
NumPy calls per layer and array shape.

Two steps: :func:`profile` does the configuration-independent work once per
(network, simulation result) -- integral images, synaptic operation counts; then
:func:`evaluate` runs any :class:`~accel.config.ArrayConfig` on a profile.
:func:`reference_layer_cycles` is the naive per-cycle Python loop, kept as the
slow reference for tests and the benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from golden.convert import IntLayer, IntNetwork, Kind
from golden.simulate import SimResult, input_steps

from .config import ArrayConfig
from .errors import AccelError

MEMORIES = ("weight_sram", "spike_sram", "param", "offchip")
OPS = ("accumulates", "synaptic_ops", "multiplies", "shifts", "compares", "subtracts", "init_adds")


@dataclass(frozen=True)
class ArrayTiming:
    """Fixed cycles of one tile (the RTL controller exposes the same numbers as ``timing``).

    ``start``: accept the tile descriptor, clear membranes; ``drain``: the last
    event's add (weight read latency); ``finish``: ``u = (u << pad) + init``;
    ``readout``: the output layer emits membranes instead of ``T`` fire cycles.
    """

    start: int = 1
    drain: int = 1
    finish: int = 1
    readout: int = 1


# ------------------------------------------------------------------ geometry


@dataclass(frozen=True)
class SourceBox:
    """Inclusive input bounding box of every tile, per axis of the source's 3-D view.

    Arrays broadcast to the tile grid; the 3-D view of a 1-D source of size ``M`` is ``(M, 1, 1)``.
    """

    source: str
    view: tuple[int, int, int]
    ch: tuple[np.ndarray, np.ndarray]
    row: tuple[np.ndarray, np.ndarray]
    col: tuple[np.ndarray, np.ndarray]

    def size(self) -> np.ndarray:
        n = np.ones((1, 1, 1), np.int64)
        for lo, hi in (self.ch, self.row, self.col):
            n = n * np.maximum(hi - lo + 1, 0)
        return n


@dataclass(frozen=True)
class Tiling:
    """How a layer's output neurons map onto the array.

    ``grid``: tile grid shape, tiles in C order; spatial layers ``(ceil(O/R), Ho, ceil(Wo/C))``
    (PE ``(r, c)`` holds neuron ``(g*R + r, y, xc*C + c)``), flat layers ``(ceil(F/P), 1, 1)``
    (PE ``(r, c)`` holds neuron ``k*P + r*C + c``).  ``mapped``: PEs holding a neuron, per tile.
    """

    rows: int
    cols: int
    spatial: bool
    out_shape: tuple[int, ...]
    grid: tuple[int, int, int]
    mapped: np.ndarray
    boxes: tuple[SourceBox, ...]

    @property
    def tiles(self) -> int:
        return int(np.prod(self.grid))

    def neurons(self, tile: int) -> np.ndarray:
        """Flat (C-order) output neuron index held by each PE ``r*cols + c`` of ``tile``; -1 if unmapped."""
        g, y, xc = np.unravel_index(tile, self.grid)
        P = self.rows * self.cols
        out = np.full(P, -1, np.int64)
        if self.spatial:
            O, Ho, Wo = self.out_shape
            for r in range(self.rows):
                for c in range(self.cols):
                    ch, x = g * self.rows + r, xc * self.cols + c
                    if ch < O and x < Wo:
                        out[r * self.cols + c] = (ch * Ho + y) * Wo + x
        else:
            F = self.out_shape[0]
            idx = g * P + np.arange(P)
            out[idx < F] = idx[idx < F]
        return out


def _view3(shape) -> tuple[int, int, int]:
    return tuple(shape) if len(shape) == 3 else (int(np.prod(shape)), 1, 1)


def tiling(inet: IntNetwork, layer: IntLayer, rows: int, cols: int) -> Tiling:
    """Tile grid, mapped PEs and per-source input bounding boxes of ``layer`` on a ``rows x cols`` array."""
    P = rows * cols
    shape = tuple(layer.out_shape)
    spatial = len(shape) == 3
    if spatial:
        O, Ho, Wo = shape
        G, X = -(-O // rows), -(-Wo // cols)
        grid = (G, Ho, X)
        c_lo = (np.arange(G) * rows).reshape(G, 1, 1)
        c_hi = np.minimum(c_lo + rows, O) - 1
        y = np.arange(Ho).reshape(1, Ho, 1)
        x0 = (np.arange(X) * cols).reshape(1, 1, X)
        x1 = np.minimum(x0 + cols, Wo) - 1
        mapped = (c_hi - c_lo + 1) * (x1 - x0 + 1) * np.ones((1, Ho, 1), np.int64)
    else:
        F = int(np.prod(shape))
        K = -(-F // P)
        grid = (K, 1, 1)
        k_lo = (np.arange(K) * P).reshape(K, 1, 1)
        k_hi = np.minimum(k_lo + P, F) - 1
        mapped = k_hi - k_lo + 1
    by_source: dict[str, list] = {}
    for term in layer.terms:
        src_shape = inet.source_shape(term.source)
        src3 = _view3(src_shape)
        full = tuple((np.zeros((1, 1, 1), np.int64), np.full((1, 1, 1), n - 1, np.int64)) for n in src3)
        if not spatial:
            if term.elementwise and len(src_shape) == 1:
                box = ((k_lo, k_hi), full[1], full[2])
            else:  # linear (or a flattened identity): every input may reach every tile
                box = full
        else:
            Cp, Hp, Wp = term.input_shape(src_shape)
            if term.kind is Kind.CONV:
                og = O // term.groups
                Cg = term.weight.shape[1]
                ch = ((c_lo // og) * Cg, (c_hi // og + 1) * Cg - 1)
                (kh, kw), (sh, sw), (ph, pw) = term.weight.shape[2:], term.stride, term.padding
                r = (np.maximum(y * sh - ph, 0), np.minimum(y * sh - ph + kh - 1, Hp - 1))
                q = (np.maximum(x0 * sw - pw, 0), np.minimum(x1 * sw - pw + kw - 1, Wp - 1))
            elif term.kind is Kind.IDENTITY:
                ch, r, q = (c_lo, c_hi), (y, y), (x0, x1)
            else:
                raise AccelError(f"layer {layer.name!r}: a {term.kind} term cannot produce a spatial output")
            box = (ch, term.input_span(*r, 0), term.input_span(*q, 1))
        by_source.setdefault(term.source, []).append((src3, box))
    boxes = []
    for src, items in by_source.items():
        hull = []
        for ax in range(3):
            lo = items[0][1][ax][0]
            hi = items[0][1][ax][1]
            for _, b in items[1:]:
                lo, hi = np.minimum(lo, b[ax][0]), np.maximum(hi, b[ax][1])
            hull.append((lo, hi))
        boxes.append(SourceBox(src, items[0][0], *hull))
    return Tiling(rows, cols, spatial, shape, grid, mapped, tuple(boxes))


# ------------------------------------------------------------------ profile


@dataclass
class SourceSteps:
    """Input steps of one source as the layer sees them: 0/1 event indicators and their integral image."""

    source: str
    start: int  # Horner position of the first step
    events: np.ndarray  # (L, N, C, H, W) uint8: 1 where an event happens
    integral: np.ndarray  # (L, N, C+1, H+1, W+1) int32 (or int64)
    mac: bool  # events carry multi-bit pixels (multiply-accumulate)
    bits_per_input: int  # bits read from the spike SRAM per scanned input


@dataclass
class LayerProfile:
    """Configuration-independent facts of one layer for one batch of images."""

    name: str
    hidden: bool
    T: int
    n_pos: int  # active Horner positions (each costs max(E, 1) cycles)
    first_pos: int
    pad: int  # trailing positions folded into finish
    neurons: int
    weights: int  # stored weights of all terms
    S_bits: int
    acc_bits: int
    weight_bits: int
    sources: list[SourceSteps]
    synaptic_ops: int  # structurally connected adds, whole batch
    out_spikes: int  # whole batch
    in_spike_bits: int  # bits of all input spikes of one image (spike SRAM footprint)
    layer: IntLayer = field(repr=False)


@dataclass
class NetworkProfile:
    name: str
    images: int
    T: int
    layers: list[LayerProfile]
    inet: IntNetwork = field(repr=False)


def _integral(ev: np.ndarray) -> np.ndarray:
    dtype = np.int32 if np.prod(ev.shape[2:]) < 2**31 else np.int64
    I = np.zeros(ev.shape[:2] + tuple(s + 1 for s in ev.shape[2:]), dtype)
    I[:, :, 1:, 1:, 1:] = ev.cumsum(2, dtype=dtype).cumsum(3).cumsum(4)
    return I


def profile(inet: IntNetwork, res: SimResult) -> NetworkProfile:
    """Configuration-independent precomputation for :func:`evaluate` (do it once per trace)."""
    N = int(res.pixels.shape[0])
    layers = []
    for layer in inet.layers:
        al = inet.alignment(layer, res.T)
        steps = []
        for span in al.spans:
            if not inet.is_input(span.source) and span.source not in res.spikes:
                raise AccelError(f"simulation result has no spikes of layer {span.source!r} (has {sorted(res.spikes)})")
            s = input_steps(inet, res, span.source)
            ev = (s != 0).astype(np.uint8).reshape(s.shape[:2] + _view3(s.shape[2:]))
            bpi = inet.input.bits if span.multibit else 1
            steps.append(SourceSteps(span.source, span.start, ev, _integral(ev), span.multibit, bpi))
        syn = 0
        ev_of = {st.source: st.events for st in steps}
        for term in layer.terms:
            ev = ev_of[term.source]
            fan = term.fanout(inet.source_shape(term.source)).reshape(-1)
            syn += int((ev.reshape(-1, fan.size) @ fan).sum())
        neurons = int(np.prod(layer.out_shape))
        layers.append(LayerProfile(
            name=layer.name, hidden=not layer.is_output, T=res.T, n_pos=al.last - al.first + 1, first_pos=al.first,
            pad=al.pad, neurons=neurons, weights=int(sum(t.weight.size for t in layer.terms)),
            S_bits=layer.S_bits, acc_bits=layer.acc_bits, weight_bits=layer.weight_bits, sources=steps,
            synaptic_ops=syn, out_spikes=int(res.spike_counts(layer.name).sum()) if not layer.is_output else 0,
            in_spike_bits=int(sum(st.events.shape[0] * np.prod(st.events.shape[2:]) * st.bits_per_input for st in steps)),
            layer=layer,
        ))
    return NetworkProfile(inet.name, N, res.T, layers, inet)


# ------------------------------------------------------------------ evaluation


@dataclass
class LayerStats:
    """Cycle-model result of one layer for the whole batch (``images`` inferences).

    ``cycles_busy``: ACC, FINISH and FIRE/READOUT cycles; ``cycles_idle``: START and
    DRAIN bubbles; ``cycles_stalled``: waiting for off-chip weights.
    ``sram_bits[memory] = (read_bits, write_bits)``; ``ops[name]`` counts.
    """

    name: str
    images: int
    tiles: int  # per image
    pes: int
    cycles_busy: int
    cycles_idle: int
    cycles_stalled: int
    events: int
    sram_bits: dict[str, tuple[int, int]]
    ops: dict[str, int]
    tile_cycles: np.ndarray = field(repr=False)  # (N, tiles) int64

    @property
    def cycles(self) -> int:
        return self.cycles_busy + self.cycles_idle + self.cycles_stalled

    @property
    def pe_utilization(self) -> float:
        """Useful synaptic adds per PE-cycle (0..1)."""
        return self.ops["synaptic_ops"] / (self.pes * self.cycles) if self.cycles else 0.0


@dataclass
class NetworkStats:
    config: ArrayConfig
    images: int
    layers: list[LayerStats]
    weights_resident: bool  # all weights fit the weight SRAM: loaded once, no per-inference stalls

    def total(self, what: str) -> int:
        return sum(getattr(l, what) for l in self.layers)

    @property
    def cycles(self) -> int:
        return self.total("cycles")

    @property
    def cycles_per_inference(self) -> float:
        return self.cycles / self.images

    def latency_s(self, clock_mhz: float | None = None) -> float:
        return self.cycles_per_inference / ((clock_mhz or self.config.clock_mhz) * 1e6)

    @property
    def pe_utilization(self) -> float:
        return sum(l.ops["synaptic_ops"] for l in self.layers) / (self.config.pes * self.cycles) if self.cycles else 0.0

    def sram_bits(self) -> dict[str, tuple[int, int]]:
        out = {m: [0, 0] for m in MEMORIES}
        for l in self.layers:
            for m, (r, w) in l.sram_bits.items():
                out[m][0] += r
                out[m][1] += w
        return {m: tuple(v) for m, v in out.items()}

    def ops(self) -> dict[str, int]:
        return {k: sum(l.ops[k] for l in self.layers) for k in OPS}


def _boxsum(I: np.ndarray, box: SourceBox) -> np.ndarray:
    """Events of every tile: (L, N) + tile grid."""
    (c0, c1), (r0, r1), (q0, q1) = box.ch, box.row, box.col
    c1, r1, q1 = np.maximum(c1, c0 - 1) + 1, np.maximum(r1, r0 - 1) + 1, np.maximum(q1, q0 - 1) + 1
    return (I[:, :, c1, r1, q1] - I[:, :, c0, r1, q1] - I[:, :, c1, r0, q1] - I[:, :, c1, r1, q0]
            + I[:, :, c0, r0, q1] + I[:, :, c0, r1, q0] + I[:, :, c1, r0, q0] - I[:, :, c0, r0, q0]).astype(np.int64)


def layer_events(lp: LayerProfile, til: Tiling) -> np.ndarray:
    """Events per active Horner position, image and tile: ``(n_pos, N) + grid`` int64."""
    N = lp.sources[0].events.shape[1]
    E = np.zeros((lp.n_pos, N) + til.grid, np.int64)
    for st, box in zip(lp.sources, til.boxes):
        assert st.source == box.source
        e = np.broadcast_to(_boxsum(st.integral, box), (st.events.shape[0], N) + til.grid)
        p = st.start - lp.first_pos
        E[p : p + len(e)] += e
    return E


def check_fits(prof: NetworkProfile, cfg: ArrayConfig) -> None:
    """Reject a configuration whose memories or widths cannot hold a layer."""
    for lp in prof.layers:
        need = lp.weights * cfg.weight_bits
        if need > cfg.weight_sram_bits:
            raise AccelError(
                f"config {cfg.source}: [memory] weight_sram_kib = {cfg.weight_sram_kib} ({cfg.weight_sram_bits} bits) "
                f"is too small for layer {lp.name!r}: its {lp.weights} weights need {need} bits "
                f"(weight_sram_kib >= {math.ceil(need / 8192)})")
        spikes = lp.in_spike_bits + (lp.T * lp.neurons if lp.hidden else lp.neurons * lp.acc_bits)
        if spikes > cfg.spike_sram_bits:
            raise AccelError(
                f"config {cfg.source}: [memory] spike_sram_kib = {cfg.spike_sram_kib} is too small for layer "
                f"{lp.name!r}: its input and output spikes need {spikes} bits (spike_sram_kib >= {math.ceil(spikes / 8192)})")
        if lp.weight_bits > cfg.weight_bits:
            raise AccelError(f"config {cfg.source}: [pe] weight_bits = {cfg.weight_bits} is narrower than layer "
                             f"{lp.name!r}'s {lp.weight_bits}-bit weights")
        if lp.acc_bits > cfg.acc_bits:
            raise AccelError(f"config {cfg.source}: [pe] acc_bits = {cfg.acc_bits} is narrower than layer "
                             f"{lp.name!r}'s {lp.acc_bits}-bit accumulator")


def _layer_os_broadcast(lp: LayerProfile, cfg: ArrayConfig, timing: ArrayTiming, resident: bool, inet) -> LayerStats:
    til = tiling(inet, lp.layer, cfg.rows, cfg.cols)
    E = layer_events(lp, til)  # (n_pos, N) + grid
    N = E.shape[1]
    acc = np.maximum(E, 1).sum(0).reshape(N, -1)
    events = E.sum(0).reshape(N, -1)
    mapped = np.broadcast_to(til.mapped, til.grid).reshape(-1)
    tail = lp.T if lp.hidden else timing.readout
    tile_cycles = timing.start + acc + timing.drain + timing.finish + tail
    busy = int(acc.sum()) + N * til.tiles * (timing.finish + tail)
    idle = N * til.tiles * (timing.start + timing.drain)
    wbits = lp.weights * cfg.weight_bits
    stalled = 0 if resident else N * math.ceil(wbits / cfg.offchip_bits_per_cycle)
    n_events = int(events.sum())
    # spike SRAM bitmap scan: every active step of a source scans its box
    scan = sum(int(np.broadcast_to(b.size(), til.grid).sum()) * st.events.shape[0] * st.bits_per_input
               for st, b in zip(lp.sources, til.boxes)) * N
    accumulates = int((events * mapped[None]).sum())
    n_mapped = int(mapped.sum()) * N
    sram = {
        "weight_sram": (n_events * cfg.pes * cfg.weight_bits, 0 if resident else N * wbits),
        "spike_sram": (scan, N * lp.T * lp.neurons if lp.hidden else N * lp.neurons * cfg.acc_bits),
        "param": (n_mapped * ((lp.S_bits if lp.hidden else 0) + cfg.acc_bits), 0),
        "offchip": (0 if resident else N * wbits, 0),
    }
    mac = any(st.mac for st in lp.sources)
    ops = {
        "accumulates": accumulates,
        "synaptic_ops": lp.synaptic_ops,
        "multiplies": accumulates if mac else 0,
        "shifts": n_mapped * (lp.n_pos + (1 if lp.pad else 0)),
        "compares": n_mapped * lp.T if lp.hidden else 0,
        "subtracts": lp.out_spikes,
        "init_adds": n_mapped,
    }
    return LayerStats(lp.name, N, til.tiles, cfg.pes, busy, idle, stalled, n_events, sram, ops, tile_cycles)


#: dataflow name -> layer evaluation function (docs/architecture.md, "room for a second dataflow")
DATAFLOWS = {"os-broadcast": _layer_os_broadcast}


def evaluate(prof: NetworkProfile, cfg: ArrayConfig, timing: ArrayTiming = ArrayTiming()) -> NetworkStats:
    """Run the cycle model of ``cfg`` on a profiled network and batch."""
    check_fits(prof, cfg)
    total_w = sum(lp.weights for lp in prof.layers) * cfg.weight_bits
    resident = total_w <= cfg.weight_sram_bits
    fn = DATAFLOWS[cfg.dataflow]
    return NetworkStats(cfg, prof.images, [fn(lp, cfg, timing, resident, prof.inet) for lp in prof.layers], resident)


def run_model(inet: IntNetwork, res: SimResult, cfg: ArrayConfig, timing: ArrayTiming = ArrayTiming()) -> NetworkStats:
    """:func:`profile` then :func:`evaluate` (use the two steps to evaluate many configs)."""
    return evaluate(profile(inet, res), cfg, timing)


# ------------------------------------------------------------------ naive reference


def reference_layer_cycles(lp: LayerProfile, inet: IntNetwork, rows: int, cols: int,
                           timing: ArrayTiming = ArrayTiming()) -> np.ndarray:
    """Naive per-cycle Python simulation of the controller: ``(N, tiles)`` cycles.

    Scans every tile's bounding box input by input and advances a cycle counter
    one cycle at a time; slow by design (the benchmark's baseline, the tests' oracle).
    """
    til = tiling(inet, lp.layer, rows, cols)
    N = lp.sources[0].events.shape[1]
    out = np.zeros((N, til.tiles), np.int64)
    boxes = [[tuple(int(np.broadcast_to(a, til.grid).reshape(-1)[k]) for ax in (b.ch, b.row, b.col) for a in ax)
              for k in range(til.tiles)] for b in til.boxes]
    for n in range(N):
        for k in range(til.tiles):
            cycle = 0
            state, left = "START", 0
            pos = 0
            queue = []
            while True:
                cycle += 1
                if state == "START":
                    state, pos = "ACC", 0
                    queue = None
                    for _ in range(timing.start - 1):
                        cycle += 1
                elif state == "ACC":
                    if queue is None:  # the encoder scans this step's boxes
                        queue = 0
                        for st, bx in zip(lp.sources, boxes):
                            p = lp.first_pos + pos - st.start
                            if not 0 <= p < st.events.shape[0]:
                                continue
                            c0, c1, r0, r1, q0, q1 = bx[k]
                            ev = st.events[p, n]
                            for c in range(c0, c1 + 1):
                                for r in range(r0, r1 + 1):
                                    for q in range(q0, q1 + 1):
                                        queue += int(ev[c, r, q])
                        queue = max(queue, 1)  # a step without events still costs its null event
                    queue -= 1
                    if queue == 0:
                        pos += 1
                        queue = None
                        if pos == lp.n_pos:
                            state, left = "DRAIN", timing.drain + timing.finish
                elif state == "DRAIN":
                    left -= 1
                    if left == 0:
                        state, left = "FIRE", (lp.T if lp.hidden else timing.readout)
                elif state == "FIRE":
                    left -= 1
                    if left == 0:
                        break
            out[n, k] = cycle
    return out

"""What a whole-image run of the accelerator must produce, and the checker both benches use.

:class:`Expected` is built from a compiled program and the golden simulation of
the same images (never from the RTL): per image the logits beats (lanes that
hold a logit, and their values), every hidden layer's spike tensor, the cycle
model's cycles, and how many FIRE beats every tile of every layer must issue.

An :class:`Observation` is what a bench saw, as plain data (no log parsing):
logits beats, spike memory write beats (the ``trace`` monitor) and cycles per
image.  :func:`check` compares the two and returns one line per mismatch, each
naming what differed (``CYCLES``, ``LOGITS``, ``SPIKES``, ``COVERAGE``,
``PROTOCOL``, ``WATCHDOG``).  :class:`StreamChecker` watches one stream edge
cycle by cycle.  :func:`check_activity` compares the activity a cocotb monitor
counted inside the RTL (``ACTIVITY``) with the cycle model's counters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from accel.machine import TIMING, LayerCounters, Timing, machine_activity, network_cycles, spike_bits
from accel.program import Program

SCHEMA_VERSION = 1


@dataclass
class Expected:
    """Expected results of ``N`` images (see the module docstring)."""

    logits: np.ndarray  # (N, tiles, R*C) int64
    lanes: np.ndarray  # (tiles, R*C) bool: lanes that hold a logit
    spikes: dict  # tensor id -> (N, T, Cv, Hv, Wv) uint8
    cycles: np.ndarray  # (N,)
    layer_cycles: np.ndarray  # (N, layers)
    fire_beats: np.ndarray  # (layers, max tiles): FIRE beats each tile issues
    tiles: np.ndarray  # (layers,)
    names: list[str]
    counters: list = field(default_factory=list)  # accel.machine.LayerCounters per layer, totals over the images

    def save(self, path):
        np.savez(path, schema_version=SCHEMA_VERSION, logits=self.logits, lanes=self.lanes, cycles=self.cycles,
                 layer_cycles=self.layer_cycles, fire_beats=self.fire_beats, tiles=self.tiles,
                 names=np.array(self.names), spike_ids=np.array(sorted(self.spikes), np.int64),
                 **{f"spikes_{k}": v for k, v in self.spikes.items()})

    @staticmethod
    def load(path) -> "Expected":
        with np.load(path, allow_pickle=False) as f:
            if int(f["schema_version"]) != SCHEMA_VERSION:
                raise ValueError(f"{path}: schema_version must be {SCHEMA_VERSION}")
            return Expected(f["logits"], f["lanes"], {int(k): f[f"spikes_{k}"] for k in f["spike_ids"]},
                            f["cycles"], f["layer_cycles"], f["fire_beats"], f["tiles"], [str(n) for n in f["names"]])


def expected(prog: Program, res, timing: Timing = TIMING) -> Expected:
    """From the golden result ``res`` of the images (same ``T`` as the program) and the cycle model."""
    p = prog.plan
    R, C = p.rows, p.cols
    inet = p.inet
    N = res.pixels.shape[0]
    out = p.layers[-1]
    G, HO, X = out.grid
    OV, _, WO = out.view
    logits = np.asarray(res.logits(inet)).reshape(N, -1)
    full = np.zeros((N, G * R, HO, X * C), np.int64)
    mapped = np.zeros((G * R, HO, X * C), bool)
    if out.flat:
        F = logits.shape[1]
        flat = np.zeros((N, OV * C), np.int64)
        flat[:, :F] = logits
        full[:, :OV, 0, :C] = flat.reshape(N, OV, C)
        m = np.zeros(OV * C, bool)
        m[:F] = True
        mapped[:OV, 0, :C] = m.reshape(OV, C)
    else:
        full[:, :OV, :, :WO] = logits.reshape((N,) + tuple(out.out_shape))
        mapped[:OV, :, :WO] = True
    tiles = full.reshape(N, G, R, HO, X, C).transpose(0, 1, 3, 4, 2, 5).reshape(N, out.tiles, R * C)
    lanes = mapped.reshape(G, R, HO, X, C).transpose(0, 2, 3, 1, 4).reshape(out.tiles, R * C)
    spikes = {t.id: spike_bits(t, np.asarray(res.spikes[t.name])).transpose(1, 0, 2, 3, 4) for t in p.tensors[1:]}
    cycles, layers = network_cycles(p, res, timing, prog.wplan)
    layer_cycles = np.stack([timing.setup + lc.ops + timing.drain + lc.stalled for lc in layers], axis=1)
    ntiles = np.array([l.tiles for l in p.layers])
    beats = np.zeros((len(p.layers), int(ntiles.max())), np.int64)
    for i, l in enumerate(p.layers):
        beats[i, : l.tiles] = l.T if l.hidden else 0
    return Expected(tiles * lanes[None], lanes, spikes, np.asarray(cycles), layer_cycles, beats, ntiles,
                    [l.name for l in p.layers], [lc.counters for lc in layers])


@dataclass
class Observation:
    """One bench's view of a run: per image, beats as plain integers."""

    logits: list = field(default_factory=list)  # per image: list of (tile, last, lanes (R*C,) int64)
    writes: list = field(default_factory=list)  # per image: list of (layer, tile, t, tensor, en, addr[K], data[K], mask[K])
    cycles: list = field(default_factory=list)  # per image
    stalls: int = 0
    protocol: list = field(default_factory=list)  # protocol violations seen by the stream checkers
    watchdog: str | None = None
    activity: dict | None = None  # what the cocotb ActivityMonitor counted (None: not monitored)


def check(prog: Program, exp: Expected, obs: Observation, *, limit: int = 20) -> list[str]:
    """Mismatches between an observed run and the expectation, one line each (empty: all equal)."""
    p = prog.plan
    R, C, K = p.rows, p.cols, p.scan
    out: list[str] = [f"PROTOCOL {v}" for v in obs.protocol]
    if obs.watchdog:
        out.append(f"WATCHDOG {obs.watchdog}")
    N = exp.cycles.shape[0]
    if len(obs.cycles) != N:
        out.append(f"COVERAGE {len(obs.cycles)} of {N} images completed")
    for n in range(min(N, len(obs.cycles))):
        if obs.cycles[n] != int(exp.cycles[n]):
            out.append(f"CYCLES image {n}: rtl {obs.cycles[n]} != model {int(exp.cycles[n])} "
                       f"(per layer, model: {dict(zip(exp.names, exp.layer_cycles[n].tolist()))})")
    for n in range(min(N, len(obs.logits))):
        beats = obs.logits[n]
        tiles = [b[0] for b in beats]
        want_tiles = list(range(exp.lanes.shape[0]))
        if tiles != want_tiles:
            out.append(f"COVERAGE image {n}: logits beats for tiles {tiles[:12]}, expected {want_tiles[:12]}")
        lasts = [b[1] for b in beats]
        if lasts and (lasts[-1] != 1 or any(lasts[:-1])):
            out.append(f"PROTOCOL image {n}: 'last' must mark exactly the final logits beat, got {lasts}")
        for tile, _, lanes in beats:
            if not 0 <= tile < exp.lanes.shape[0]:
                continue
            got = np.asarray(lanes, np.int64) * exp.lanes[tile]
            want = exp.logits[n, tile]
            if not np.array_equal(got, want):
                lane = int(np.nonzero(got != want)[0][0])
                out.append(f"LOGITS image {n} tile {tile} lane {lane} (PE {lane // C},{lane % C}): "
                           f"expected {int(want[lane])}, actual {int(got[lane])}")
    for n in range(min(N, len(obs.writes))):
        seen = {}
        store = {tid: np.zeros_like(v[n]) for tid, v in exp.spikes.items()}
        for layer, tile, t, tensor, en, addr, dat, msk in obs.writes[n]:
            seen[(layer, tile)] = seen.get((layer, tile), 0) + 1
            spec = p.tensors[tensor] if 0 < tensor < len(p.tensors) else None
            lay = p.layers[layer] if layer < len(p.layers) else None
            if spec is None or lay is None or lay.out_tensor != tensor or not 1 <= t <= lay.T:
                out.append(f"PROTOCOL image {n}: spurious spike write (layer {layer}, tile {tile}, t={t}, tensor {tensor})")
                continue
            Cv, Hv, Wv = spec.view
            for b in range(K):
                if not (en >> b) & 1:
                    continue
                plane, rem = divmod(int(addr[b]), spec.cr * Hv)
                cq, yy = divmod(rem, Hv)
                c = cq * K + b
                if plane != t - 1 or c >= Cv:
                    out.append(f"SPIKES image {n} layer {lay.name} tile {tile} t={t}: bank {b} wrote address "
                               f"{int(addr[b])} (plane {plane}, channel {c}, row {yy})")
                    continue
                for x in range(Wv):
                    if (int(msk[b]) >> x) & 1:
                        store[tensor][plane, c, yy, x] = (int(dat[b]) >> x) & 1
        for i, l in enumerate(p.layers):
            for k in range(l.tiles):
                got = seen.get((i, k), 0)
                want = int(exp.fire_beats[i, k])
                if got != want:
                    out.append(f"COVERAGE image {n} layer {l.name} tile {k}: {got} FIRE beats, expected {want}")
        for tid, want in exp.spikes.items():
            got = store[tid]
            if not np.array_equal(got, want[n]):
                t, c, yy, x = (int(v) for v in np.argwhere(got != want[n])[0])
                name = p.tensors[tid].name
                out.append(f"SPIKES image {n} layer {name} t={t + 1} channel {c} row {yy} col {x}: "
                           f"expected {int(want[n][t, c, yy, x])}, actual {int(got[t, c, yy, x])}")
    return out[:limit] if limit else out


def observed_counters(prog: Program, activity: dict) -> list[LayerCounters]:
    """The monitor's counts as :class:`accel.machine.LayerCounters` per layer (``cycles`` left at 0: the
    monitor counts the cycles the pipeline advances per run, see :func:`check_activity`)."""
    p = prog.plan
    out = [LayerCounters(l.name) for l in p.layers]
    for key, n in activity["ops"].items():
        layer, kind, acc = (int(v) for v in key.split(":"))
        c = out[layer]
        if kind == 1:
            c.acc += n
            c.load += n if acc == 0 else 0
            c.shift += n if acc == 1 else 0
        else:
            name = {2: "finish", 3: "readout", 4: "fire"}[kind]
            setattr(c, name, getattr(c, name) + n)
    for layer, n in activity["events"].items():
        out[int(layer)].events += n
    for key, n in activity["unit_reads"].items():
        layer, tensor = (int(v) for v in key.split(":"))
        out[layer].unit_reads[tensor] = out[layer].unit_reads.get(tensor, 0) + n
    for layer, (words, bits, ones) in activity["writes"].items():
        c = out[int(layer)]
        c.spike_writes, c.spike_write_bits, c.spikes = words, bits, ones
    out[0].image_rows = activity["rows"]
    return out


def check_activity(prog: Program, exp: Expected, obs: Observation) -> list[str]:
    """``ACTIVITY`` mismatches between the monitor's counts and the cycle model's, one line each.

    Per layer: every :class:`~accel.machine.LayerCounters` field but ``cycles`` (ops by kind,
    events, unit reads per tensor, spike writes); per run: the cycles the PEs add in
    (``pe_op`` not NOP) against the model's ``pe_adds / (R*C)``, logits and weight beats,
    the weight and parameter bank words read (the read enables counted port by port)
    against the model's ``weight_reads`` and ``param_reads``, and, when nothing stalled,
    the cycles the pipeline advanced against the model's cycles.
    """
    a = obs.activity
    if a is None:
        return []
    p = prog.plan
    R, C = p.rows, p.cols
    out = []
    fields = ("acc", "events", "load", "shift", "finish", "readout", "fire", "unit_reads", "spike_writes",
              "spike_write_bits", "spikes", "image_rows")
    for want, got in zip(exp.counters, observed_counters(prog, a)):
        for f in fields:
            if getattr(got, f) != getattr(want, f):
                out.append(f"ACTIVITY layer {want.name} {f}: rtl {getattr(got, f)} != model {getattr(want, f)}")
    N = exp.cycles.shape[0]
    model = [machine_activity(p, c, N) for c in exp.counters]
    pe = sum(a["pe_ops"].values())
    if R * C * pe != sum(m["pe_adds"] for m in model):
        out.append(f"ACTIVITY pe_adds: rtl {R * C * pe} (R*C x {pe} cycles with pe_op != NOP) != model "
                   f"{sum(m['pe_adds'] for m in model)}")
    for key, rtl in (("logits_beats", a["logits"]), ("weight_beats", a["weight_beats"]),
                     ("weight_reads", a["weight_reads"]), ("param_reads", a["param_reads"])):
        want = sum(m[key] for m in model)
        if rtl != want:
            out.append(f"ACTIVITY {key}: rtl {rtl} != model {want}")
    if obs.stalls == 0:
        want = sum(c.cycles for c in exp.counters)
        if a["go"] != want:
            out.append(f"ACTIVITY cycles: rtl {a['go']} cycles with go != model {want}")
    return out


class StreamChecker:
    """The valid/ready rules of one stream edge, fed one cycle at a time.

    A beat is a cycle with ``valid`` and ``ready``.  Violations: ``valid`` falling
    while ``ready`` was low (a beat withdrawn), the payload changing while
    ``valid`` is high and ``ready`` low, and (with ``allowed``) valid outside the
    cycles the caller allows.
    """

    def __init__(self, name: str):
        self.name = name
        self.beats = 0
        self.violations: list[str] = []
        self._held = None  # payload of a beat offered but not taken
        self.cycle = 0

    def sample(self, valid: bool, ready: bool, payload: int, allowed: bool = True) -> bool:
        if self._held is not None:
            if not valid:
                self.violations.append(f"{self.name}: valid fell at cycle {self.cycle} without ready (beat withdrawn)")
            elif payload != self._held:
                self.violations.append(f"{self.name}: payload changed at cycle {self.cycle} while waiting for ready")
        if valid and not allowed:
            self.violations.append(f"{self.name}: beat offered at cycle {self.cycle} outside its window")
        self._held = payload if valid and not ready else None
        self.cycle += 1
        took = bool(valid and ready)
        self.beats += took
        return took



def save_observation(obs: Observation, path) -> None:
    """Write an observation as plain arrays (wide words as hex strings; no pickles)."""
    lg = [(n, t, l, *lanes) for n, beats in enumerate(obs.logits) for t, l, lanes in beats]
    wr = [(n, a, b, c, d, e) for n, ws in enumerate(obs.writes) for a, b, c, d, e, *_ in ws]
    hexes = [[f"{int(v):x}" for v in (*addr, *dat, *msk)] for ws in obs.writes for *_, addr, dat, msk in ws]
    np.savez(path, schema_version=SCHEMA_VERSION, cycles=np.array(obs.cycles, np.int64),
             stalls=np.int64(obs.stalls), protocol=np.array(obs.protocol, dtype=str),
             watchdog=np.array(obs.watchdog or "", dtype=str),
             logits=np.array(lg, np.int64) if lg else np.zeros((0, 3), np.int64),
             writes=np.array(wr, np.int64).reshape(len(wr), 6),
             words=np.array(hexes, dtype=str) if hexes else np.zeros((0, 0), dtype=str),
             images=np.int64(len(obs.logits)),
             activity=np.array(json.dumps(obs.activity) if obs.activity is not None else "", dtype=str))


def load_observation(path, K: int) -> Observation:
    with np.load(path, allow_pickle=False) as f:
        if int(f["schema_version"]) != SCHEMA_VERSION:
            raise ValueError(f"{path}: schema_version must be {SCHEMA_VERSION}")
        n_img = int(f["images"])
        act = str(f["activity"]) if "activity" in f.files else ""
        obs = Observation(cycles=[int(v) for v in f["cycles"]], stalls=int(f["stalls"]),
                          protocol=[str(v) for v in f["protocol"]], watchdog=str(f["watchdog"]) or None,
                          activity=json.loads(act) if act else None)
        obs.logits = [[] for _ in range(n_img)]
        obs.writes = [[] for _ in range(n_img)]
        for row in f["logits"]:
            obs.logits[int(row[0])].append((int(row[1]), int(row[2]), row[3:].astype(np.int64)))
        for row, words in zip(f["writes"], f["words"]):
            vals = [int(w, 16) for w in words]
            obs.writes[int(row[0])].append((int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]),
                                            vals[:K], vals[K:2 * K], vals[2 * K:]))
    return obs

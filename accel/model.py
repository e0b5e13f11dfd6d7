"""The accelerator's cycle model with its counts, for sweeps and energy (``docs/architecture.md``).

Two steps, so that many array configurations cost little: :func:`profile` does
the configuration-independent work once per (network, simulation result) --
the spike bit arrays and their prefix sums, the synaptic operations and output
spikes from the golden vocabulary -- and :func:`evaluate` runs one
:class:`~accel.config.ArrayConfig`: it lowers the network onto the machine
(:func:`accel.program.plan`), decides where the weights live
(:func:`accel.program.weight_plan`: resident, or streamed at the off-chip
bandwidth), and counts every cycle with the closed form of
:mod:`accel.machine` (equal, image by image, to the RTL's cycles).

Per layer (:class:`LayerStats`): **busy** cycles (the ops the pipeline issues:
scan, FINISH, READOUT, FIRE), **idle** cycles (layer setup and pipeline drain;
the image's rows on the first layer), **stalled** cycles (waiting for streamed
weights); the machine's counters (:class:`accel.machine.LayerCounters`) and the
activity that follows from them (:func:`accel.machine.machine_activity`: what the
energy model prices); memory traffic in bits as the RTL's enables move it
(``weight_sram``, ``spike_sram``, ``param``, ``offchip``; read and write) and
operation counts (:data:`OPS`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from golden.convert import IntNetwork
from golden.simulate import SimResult, input_steps

from .config import ArrayConfig
from .errors import AccelError
from .machine import TIMING, LayerCounters, Timing, machine_activity, network_cycles
from .program import Plan, descriptors, param_word_count, plan, weight_plan

MEMORIES = ("weight_sram", "spike_sram", "param", "offchip")
#: operation counts per layer: adds the PEs perform (zero lanes included), ACC ops that carry a spike,
#: useful synaptic adds (each input spike times its fan-out, golden), output spikes
OPS = ("pe_adds", "events", "synaptic_ops", "spikes")


@dataclass
class NetworkProfile:
    """Configuration-independent facts of one network and batch (see :func:`profile`)."""

    name: str
    images: int
    T: int
    inet: IntNetwork = field(repr=False)
    res: SimResult = field(repr=False)
    synaptic_ops: dict = field(default_factory=dict)  # layer -> structural adds, whole batch
    out_spikes: dict = field(default_factory=dict)  # layer -> output spikes, whole batch
    cache: dict = field(default_factory=dict, repr=False)  # lowered terms and prefix sums, reused by evaluate


@dataclass
class LayerStats:
    """Cycle-model result of one layer for the whole batch (``images`` inferences).

    ``sram_bits[memory] = (read_bits, write_bits)``; ``ops[name]`` counts;
    ``tile_cycles``: ``(N, tiles)`` ops of every tile; ``counters`` and ``activity``:
    :class:`accel.machine.LayerCounters` and :func:`accel.machine.machine_activity`.
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
    tile_cycles: np.ndarray = field(repr=False)
    counters: LayerCounters = field(default=None, repr=False)
    activity: dict = field(default_factory=dict, repr=False)

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
    weights_resident: bool  # all weights fit the weight SRAM: loaded once, no per-inference loads
    image_cycles: np.ndarray = field(repr=False, default=None)  # (N,) each image, first pixel to last op
    plan: Plan = field(repr=False, default=None)  # the network on the machine
    wplan: object = field(repr=False, default=None)  # accel.program.WeightPlan: where the weights live
    params_words: int = 0  # words of each parameter bank
    descriptor_bits: int = 0  # width of one layer descriptor

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


def profile(inet: IntNetwork, res: SimResult) -> NetworkProfile:
    """Configuration-independent precomputation for :func:`evaluate` (once per trace).

    The machine reads pixel bit planes; a network converted with multi-bit pixels
    is profiled as the machine runs it (the integers are the same).
    """
    inet = dataclasses.replace(inet, bitplanes=True) if not inet.bitplanes else inet
    syn, spikes = {}, {}
    for layer in inet.layers:
        n = 0
        for term in layer.terms:
            steps = np.asarray(input_steps(inet, res, term.source))
            fan = term.fanout(inet.source_shape(term.source)).reshape(-1)
            n += int((steps.reshape(-1, fan.size).astype(np.int64) @ fan).sum())
        syn[layer.name] = n
        spikes[layer.name] = 0 if layer.is_output else int(np.asarray(res.spikes[layer.name]).sum())
    return NetworkProfile(inet.name, int(res.pixels.shape[0]), int(res.T), inet, res, syn, spikes)


def machine(prof: NetworkProfile, cfg: ArrayConfig) -> Plan:
    """The network lowered onto ``cfg``'s array and scan width (cached per shape and scan width)."""
    plans = prof.cache.setdefault("plans", {})
    key = (cfg.rows, cfg.cols, cfg.scan_banks)
    if key not in plans:
        plans[key] = plan(prof.inet, cfg.rows, cfg.cols, prof.T, scan=cfg.scan,
                          cache=prof.cache.setdefault("lowering", {}))
    return plans[key]


def check_fits(prof: NetworkProfile, cfg: ArrayConfig):
    """Reject a configuration whose widths or memories cannot hold the network; returns the weight plan."""
    p = machine(prof, cfg)
    worst = max(p.layers, key=lambda l: l.acc_bits)
    if p.acc_width > cfg.acc_bits:
        raise AccelError(f"config {cfg.source}: [pe] acc_bits = {cfg.acc_bits} is narrower than layer "
                         f"{worst.name!r}'s {worst.acc_bits}-bit accumulator (give a config with [pe] acc_bits >= "
                         f"{worst.acc_bits} via --config)")
    if p.weight_width > cfg.weight_bits:
        raise AccelError(f"config {cfg.source}: [pe] weight_bits = {cfg.weight_bits} is narrower than the "
                         f"network's {p.weight_width}-bit weights (give a config with [pe] weight_bits >= "
                         f"{p.weight_width} via --config, or convert at a smaller --weight-bits)")
    spike_bits = sum(t.bits for t in p.tensors)
    if spike_bits > cfg.spike_sram_bits:
        raise AccelError(f"config {cfg.source}: [memory] spike_sram_kib = {cfg.spike_sram_kib} is too small: the "
                         f"image and spike memories need {spike_bits} bits "
                         f"(spike_sram_kib >= {math.ceil(spike_bits / 8192)})")
    try:
        return weight_plan(p, cfg.weight_sram_bits, cfg.offchip_bits_per_cycle)
    except AccelError as e:
        raise AccelError(f"config {cfg.source}: [memory] weight_sram_kib = {cfg.weight_sram_kib}: {e}") from None


def evaluate(prof: NetworkProfile, cfg: ArrayConfig, timing: Timing = TIMING) -> NetworkStats:
    """Run the cycle model of ``cfg`` on a profiled network and batch."""
    wp = check_fits(prof, cfg)
    p = machine(prof, cfg)
    R, C, V = p.rows, p.cols, p.lanes
    N = prof.images
    per_image, lcs = network_cycles(p, prof.res, timing, wp, cache=prof.cache.setdefault("prefix", {}))
    image_rows = p.image.view[0] * p.image.view[1] * timing.image_row
    wword, pword = V * p.weight_width, C * p.acc_width
    layers = []
    for i, (layer, lc) in enumerate(zip(p.layers, lcs)):
        c = lc.counters
        act = machine_activity(p, c, N)
        out_word = p.tensors[layer.out_tensor].word_bits if layer.hidden else 0
        sram = {
            "weight_sram": (act["weight_reads"] * wword, act["weight_beats"] * wword),
            "spike_sram": (sum(n * p.tensors[t].word_bits for t, n in act["spike_reads"].items()),
                           act["spike_writes"] * out_word + act["image_writes"] * p.image.word_bits),
            "param": (act["param_reads"] * pword, 0),
            "offchip": (act["weight_beats"] * wword, 0),
        }
        ops = {"pe_adds": act["pe_adds"], "events": c.events, "synaptic_ops": prof.synaptic_ops[layer.name],
               "spikes": prof.out_spikes[layer.name]}
        busy = int(lc.ops.sum())
        idle = N * (timing.setup + timing.drain) + (N * image_rows if i == 0 else 0)
        layers.append(LayerStats(layer.name, N, layer.tiles, R * C, busy, idle, int(lc.stalled.sum()), c.events,
                                 sram, ops, lc.tile_ops, c, act))
    fields = descriptors(p, wp)[2]
    return NetworkStats(cfg, N, layers, not wp.streamed, per_image, p, wp,
                        max(1, sum(param_word_count(p, l) for l in p.layers)), fields["width"])


def run_model(inet: IntNetwork, res: SimResult, cfg: ArrayConfig, timing: Timing = TIMING) -> NetworkStats:
    """:func:`profile` then :func:`evaluate` (use the two steps to evaluate many configs)."""
    return evaluate(profile(inet, res), cfg, timing)

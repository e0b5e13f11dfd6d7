"""Baselines with the same treatment: cycle and activity models on one generic array and memory hierarchy.

Every method runs the same integer network (``golden.convert.IntNetwork``) on the
same images (``golden.simulate.SimResult``: ``res.codes``, ``res.spikes``,
``res.pixels``), layer by layer, on the same :class:`Hierarchy`:

* ``P`` PEs, output stationary (a PE keeps its neuron's partial sum in a register,
  ``psum_reg``, read and written by every operation it performs);
* one weight SRAM (``weight_sram``, the same capacity for every method, one row of
  ``P`` weights of the method's width per access); weights that do not all fit are
  streamed from DRAM once per image and layer (``offchip``), stalling the array at
  ``offchip_bits_per_cycle``;
* one activation SRAM (``act_sram``): every input map read once per term and every
  output map written once, at the method's storage width (reuse between neighbouring
  outputs held in registers, as for every method);
* per-neuron parameters (threshold and bias) read once per neuron from registers
  (``param_reg``).

With ``fit=True`` every method's weight SRAM holds exactly its own weights and its
activation SRAM every map it stores (input, each layer's output) at its storage
width, instead of the fixed capacities.

**Comparison rule: iso-PE-count and the same memories** (not iso-area: a MAC PE is
larger than an adder PE; :mod:`energy.area` prices that).  Cycles assume one
operation per PE per cycle (a multiply-accumulate, an add, or a bit-serial add) and
perfect load balance within a layer -- a lower bound on every method's cycles
alike -- plus ``1 + fire steps`` cycles per neuron tile, plus off-chip stalls.
Every integer method takes the first layer's multi-bit pixels as dense MACs (zero
pixels included), unless the network feeds bit planes, which the bit-serial
methods then process as spikes.  Cycles give the throughput side: a method with
fewer cycles at the same clock is faster (iso-throughput comparisons divide the
energies by the same work; the cycles say which method would need more PEs).

Methods (:data:`METHODS`):

``ours_ideal``
    the bit-serial SNN as an ideal event-driven machine: one add per input spike per
    connected synapse, the weight read per add, the Horner shift fused with the add,
    ``T`` compares and one subtraction per output spike.  The lower bound for the
    built array (which also adds zero lanes).
``pragmatic``
    a bit-serial ANN that skips zero bits (Albericio et al., MICRO 2017): one add per
    1-bit of each input code per synapse -- exactly our synaptic adds -- with the
    weight shifted by the bit's offset (a barrel shifter per add), the weight read
    once per nonzero input.
``stripes``
    a bit-serial ANN without skipping (Judd et al., MICRO 2016): ``T`` adds per input
    per synapse (zero bits included), the weight read once per input.
``qann_dense`` / ``qann_skip``
    the quantized ANN that the SNN reproduces (``W``-bit weights x ``T``-bit codes),
    pooling first; every MAC, or only MACs of nonzero (pooled) inputs.
``ann_int8`` / ``ann_fp32``
    dense ANNs with 8-bit weights and activations (32-bit accumulation, requantized
    by one multiply) or FP32 MACs.
``rate_coded``
    the rate-coded QCFS SNN at ``rate_steps`` (default ``2**B``) steps, spike counts
    simulated by :func:`golden.baselines.rate_coded`: one add per spike per synapse,
    the bias (and the first layer's direct current) added every step, a compare per
    step, a subtraction per spike.

The hidden layers' requantization is the same threshold ladder for every integer
ANN and for ours (``T`` compares, one subtraction per 1-bit of the output code).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from golden import ops as gops
from golden.convert import IntLayer, IntNetwork, SumPool, Term
from golden.errors import GoldenError
from golden.simulate import SimResult

from .activity import Activity, LayerActivity, Memory, Op, Traffic
from .errors import EnergyError

METHODS = ("ours_ideal", "pragmatic", "stripes", "qann_dense", "qann_skip", "ann_int8", "ann_fp32", "rate_coded")
DESCRIPTIONS = {
    "ours_ideal": "bit-serial SNN (this work), ideal event-driven (lower bound)",
    "pragmatic": "bit-serial ANN skipping zero bits (Pragmatic-style)",
    "stripes": "bit-serial ANN, no skipping (Stripes-like)",
    "qann_dense": "quantized ANN, dense",
    "qann_skip": "quantized ANN skipping zero activations",
    "ann_int8": "INT8 ANN, dense",
    "ann_fp32": "FP32 ANN, dense",
    "rate_coded": "rate-coded QCFS SNN",
}
INT8_ACC_BITS = 32


@dataclass(frozen=True)
class Hierarchy:
    """The generic array and memories every method runs on (validated on construction)."""

    pes: int = 64
    weight_sram_bytes: int = 65536
    act_sram_bytes: int = 524288
    act_word_bits: int = 64
    clock_mhz: float = 200.0
    offchip_bits_per_cycle: int = 64
    fit: bool = False  # each method's weight and activation memories fitted to its own weights and maps

    def __post_init__(self):
        for f in ("pes", "weight_sram_bytes", "act_sram_bytes", "act_word_bits", "offchip_bits_per_cycle"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise EnergyError(f"hierarchy: {f} must be a positive integer, not {v!r}")
        v = self.clock_mhz
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise EnergyError(f"hierarchy: clock_mhz must be a positive number, not {v!r}")


# ------------------------------------------------------------------ counting helpers


def fanout_sum(term: Term, counts: np.ndarray, pre: bool = True) -> int:
    """Sum over images and input positions of ``counts`` x the position's structural
    fan-out through ``term`` (:meth:`golden.convert.Term.fanout`; with ``pre=False``:
    ``counts`` are already pooled and flattened as the term's op expects)."""
    c = np.asarray(counts)
    if not c.size:
        return 0
    f = term.fanout(c.shape[1:], pre).reshape(-1)
    return int((c.reshape(c.shape[0], -1).sum(0, dtype=np.int64) * f).sum())


def pool_first(term: Term, x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """An ANN pools first: (pooled and flattened ``x``, pooling adds, width growth in bits)."""
    v = x.astype(np.int64)
    adds = grow = 0
    for p in term.pre:
        if isinstance(p, SumPool):
            adds += v.shape[0] * p.adds(v.shape[1:])
            v = gops.sumpool2d(v.astype(np.float64), p.kernel, p.stride).astype(np.int64)
            grow += p.growth_bits
        else:
            v = v.reshape(v.shape[0], -1)
    return v, adds, grow


def popcount(x: np.ndarray) -> np.ndarray:
    """Number of 1-bits of every non-negative integer of ``x``."""
    x = np.asarray(x, dtype=np.int64)
    out = np.zeros_like(x)
    v = x.copy()
    while np.any(v):
        out += v & 1
        v >>= 1
    return out


def _numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _steps(inet: IntNetwork, layer: IntLayer, T: int) -> int:
    """Horner positions of a bit-serial layer (input steps of its widest term)."""
    return max(sp.steps for sp in inet.alignment(layer, T).spans)


# ------------------------------------------------------------------ per method


@dataclass
class _Layer:
    """Accumulates one layer's counts for one method."""

    ops: list
    work: int = 0  # PE operations (cycles x P)
    weight_reads: int = 0  # weights fetched
    syn: int = 0
    issued: int = 0

    def add(self, category, op, bits, count, bits_b=None):
        if count:
            self.ops.append(Op(category, op, int(bits), int(count), bits_b))


def _mac(L: _Layer, method: str, macs: int, W: int, xb: int, A: int, pool_adds: int, grow: int):
    if method == "ann_fp32":
        L.add("mac", "fp32_mult", 32, macs)
        L.add("mac", "fp32_add", 32, macs)
        L.add("pool", "fp32_add", 32, pool_adds)
    else:
        L.add("mac", "int_mult", W, macs, xb + grow)
        L.add("mac", "int_add", A, macs)
        L.add("pool", "int_add", xb + grow, pool_adds)
    L.work += macs + pool_adds
    L.weight_reads += macs


def _term(L: _Layer, method: str, inet: IntNetwork, term: Term, res: SimResult, rate: dict | None,
          N: int, W: int, A: int, T: int) -> None:
    is_pixel = inet.is_input(term.source)
    P = inet.input.bits
    if is_pixel:
        values, vbits, steps = res.pixels, P, P
        serial = inet.bitplanes and method in ("ours_ideal", "pragmatic", "stripes")
    else:
        values, vbits, steps = res.codes[term.source], inet.bits, T
        serial = method in ("ours_ideal", "pragmatic", "stripes", "rate_coded")
    if not serial:
        if method in ("ann_int8", "ann_fp32"):
            xb = P if is_pixel else 8
            wbits = 8 if method == "ann_int8" else 32
        else:
            xb, wbits = vbits, W
        pooled, pool_adds, grow = pool_first(term, values)
        skip = method == "qann_skip" and not is_pixel
        macs = fanout_sum(term, (pooled != 0) if skip else np.ones_like(pooled), pre=False)
        _mac(L, method, macs, wbits, xb, A, pool_adds, grow)
        return
    ones = np.ones(values.shape, dtype=np.int64)
    if method == "ours_ideal":
        cnt = res.spikes[term.source].sum(0, dtype=np.int64) if not is_pixel else popcount(values)
        syn = fanout_sum(term, cnt)
        L.add("synaptic", "int_add", A, syn)
        L.syn += syn
        L.issued += syn
        L.work += syn
        L.weight_reads += syn
    elif method == "pragmatic":
        syn = fanout_sum(term, popcount(values))
        L.add("synaptic", "int_add", A, syn)
        L.add("shift", "barrel_shift", W + steps - 1, syn)  # the weight shifted by the bit's offset
        L.syn += syn
        L.issued += syn
        L.work += syn
        L.weight_reads += fanout_sum(term, values != 0)
    elif method == "stripes":
        dense = fanout_sum(term, ones)
        L.add("synaptic", "int_add", A, steps * dense)
        L.syn += fanout_sum(term, popcount(values))
        L.issued += steps * dense
        L.work += steps * dense
        L.weight_reads += dense
    else:  # rate_coded, a hidden source
        syn = fanout_sum(term, rate[term.source])
        L.add("synaptic", "int_add", A, syn)
        L.syn += syn
        L.issued += syn
        L.work += syn
        L.weight_reads += syn


def _widths(method: str, inet: IntNetwork, layer: IntLayer, T: int, rate_T: int):
    """(weight bits, accumulator bits, stored bits of a hidden map, stored bits of a pixel)."""
    if method == "ann_int8":
        return 8, INT8_ACC_BITS, 8, inet.input.bits
    if method == "ann_fp32":
        return 32, 32, 32, 32
    if method == "rate_coded":
        return layer.weight_bits, layer.acc_bits, rate_T, inet.input.bits
    return layer.weight_bits, layer.acc_bits, T, inet.input.bits


def method_activity(method: str, inet: IntNetwork, res: SimResult, hierarchy: Hierarchy = Hierarchy(),
                    rate_steps: int | None = None, rate_spikes: dict | None = None) -> Activity:
    """Cycle and activity model of one method (see the module docstring)."""
    if method not in METHODS:
        raise EnergyError(f"baselines: method must be one of {METHODS}, not {method!r}")
    _check_result(inet, res)
    H = hierarchy
    N = int(res.pixels.shape[0])
    T = int(res.T)
    rate_T = (1 << inet.bits) if rate_steps is None else int(rate_steps)
    rate = None
    if method == "rate_coded":
        rate = rate_spikes if rate_spikes is not None else rate_coded_spikes(inet, res, rate_T)
    wmax = max(_widths(method, inet, l, T, rate_T)[0] for l in inet.layers)
    amax = max(_widths(method, inet, l, T, rate_T)[1] for l in inet.layers)
    total_wbits = sum(sum(int(t.weight.size) for t in l.terms) * _widths(method, inet, l, T, rate_T)[0]
                      for l in inet.layers)
    wcap, acap = H.weight_sram_bytes, H.act_sram_bytes
    if H.fit:
        wcap = max(1, -(-total_wbits // 8))
        maps = _numel(inet.input.shape) * _widths(method, inet, inet.layers[0], T, rate_T)[3]
        for l in inet.layers:
            _, A, store, _ = _widths(method, inet, l, T, rate_T)
            maps += _numel(l.out_shape) * (A if l.is_output else store)
        acap = max(1, -(-maps // 8))
    resident = total_wbits <= wcap * 8
    memories = (
        Memory("weight_sram", "sram", wcap, H.pes * wmax),
        Memory("act_sram", "sram", acap, H.act_word_bits),
        Memory("psum_reg", "register", max(1, H.pes * amax // 8), amax),
        Memory("param_reg", "register", max(1, H.pes * 2 * amax // 8), amax),
        Memory("dram", "dram", 0, 64),
    )
    layers = []
    for layer in inet.layers:
        W, A, store, pix = _widths(method, inet, layer, T, rate_T)
        M_img = _numel(layer.out_shape)
        M = M_img * N
        L = _Layer([])
        for term in layer.terms:
            _term(L, method, inet, term, res, rate, N, W, A, T)
        reads_pixels = inet.input.name in layer.sources
        # per neuron: bias, Horner shifts, the fire / requantization steps
        if method == "ann_fp32":
            L.add("bias", "fp32_add", 32, M)
        elif method == "rate_coded":
            L.add("bias", "int_add", A, M * rate_T * (2 if reads_pixels else 1))
        else:
            L.add("bias", "int_add", A, M)
        if method in ("ours_ideal", "stripes"):
            L.add("shift", "horner_shift", A, M * _steps(inet, layer, T))
        fire = 0
        if not layer.is_output:
            out = res.codes[layer.name]
            if method == "ann_fp32":
                L.add("requant", "compare", 32, M)
                fire = 1
            elif method == "ann_int8":
                L.add("requant", "int_mult", INT8_ACC_BITS, M, 16)
                L.add("requant", "compare", INT8_ACC_BITS, M)
                fire = 1
            elif method == "rate_coded":
                L.add("fire", "compare", A, M * rate_T)
                L.add("fire", "reset", A, int(rate[layer.name].sum()))
                fire = rate_T
            else:
                L.add("fire", "compare", A, M * T)
                L.add("fire", "reset", A, int(popcount(out).sum()))
                fire = T
        wbits_layer = sum(int(t.weight.size) for t in layer.terms) * W
        stall = 0 if resident else N * math.ceil(wbits_layer / H.offchip_bits_per_cycle)
        cycles = math.ceil(L.work / H.pes) + math.ceil(M_img / H.pes) * N * (1 + fire) + stall
        traffic = [Traffic("weight_sram", "read", L.weight_reads * W, "weights")]
        if not resident:
            traffic += [Traffic("dram", "read", N * wbits_layer, "offchip"),
                        Traffic("weight_sram", "write", N * wbits_layer, "offchip")]
        for term in layer.terms:
            n = _numel(inet.source_shape(term.source))
            traffic.append(Traffic("act_sram", "read", N * n * (pix if inet.is_input(term.source) else store),
                                   "activations"))
        out_bits = A if layer.is_output else store
        traffic.append(Traffic("act_sram", "write", M * out_bits, "activations"))
        psum = (L.work + M * (1 + fire)) * A
        traffic += [Traffic("psum_reg", "read", psum, "psum"), Traffic("psum_reg", "write", psum, "psum")]
        traffic.append(Traffic("param_reg", "read", M * (A + (0 if layer.is_output else layer.S_bits)), "params"))
        layers.append(LayerActivity(layer.name, cycles, tuple(L.ops), tuple(traffic), L.syn, L.issued))
    note = ("weights resident in the weight SRAM" if resident else
            f"weights ({total_wbits} bits) exceed the weight SRAM: streamed from DRAM every image")
    if method == "rate_coded":
        note += f"; rate-coded spike counts simulated at T={rate_T}"
    return Activity(method, DESCRIPTIONS[method], N, H.pes, float(H.clock_mhz), memories, tuple(layers), note)


def rate_coded_spikes(inet: IntNetwork, res: SimResult, T: int) -> dict:
    """Spike counts per neuron of the rate-coded QCFS SNN (``golden.baselines.rate_coded``), summed over steps."""
    from golden import baselines

    try:
        r = baselines.rate_coded(inet, res.pixels, T)
    except GoldenError as e:
        raise EnergyError(f"baselines: the rate-coded simulation refused T={T}: {e}") from None
    return {k: v.sum(0, dtype=np.int64) for k, v in r.spikes.items()}


def baseline_activities(inet: IntNetwork, res: SimResult, hierarchy: Hierarchy = Hierarchy(),
                        methods=METHODS, rate_steps: int | None = None) -> dict[str, Activity]:
    """:func:`method_activity` for every method in ``methods`` (the rate-coded simulation runs once)."""
    rate = None
    out = {}
    for m in methods:
        if m == "rate_coded" and rate is None:
            rate = rate_coded_spikes(inet, res, (1 << inet.bits) if rate_steps is None else int(rate_steps))
        out[m] = method_activity(m, inet, res, hierarchy, rate_steps, rate)
    return out


def _check_result(inet: IntNetwork, res: SimResult) -> None:
    for layer in inet.layers:
        need = [s for s in layer.sources if not inet.is_input(s)]
        if not layer.is_output:
            need.append(layer.name)
        for s in need:
            if s not in res.codes or s not in res.spikes:
                raise EnergyError(f"baselines: the simulation result has no codes or spikes of layer {s!r}")

"""Operation and memory-traffic counts: ours (from a trace) and the baselines.

Everything here is integer bookkeeping; :mod:`energy.model` multiplies it by a
cost table.  Counts are totals over the ``images`` of the trace; reports divide
by ``images``.  A :class:`Workload` lists, per layer, :class:`OpCount` rows (an
operation of the cost table at a width, times ``ops``) and :class:`MemCount` rows
(``bits`` moved to or from a buffer of ``buffer_bytes``).

Our SNN, per layer (``D`` input steps: ``B`` for spiking sources, the ``P`` pixel
bit planes with ``--bitplanes``, else one multi-bit pixel step; ``T`` output steps):

* ``synaptic``: one ``acc_bits`` add per input spike per outgoing synapse, exactly
  (pooling paths, padding, stride and groups included; :func:`synaptic_ops`).
* ``mac``: first layer without bit planes: one ``weight_bits x P`` multiply and one
  ``acc_bits`` add per pixel per outgoing synapse, zero pixels included.
* ``shift``: one ``acc_bits`` left shift per neuron per input step (``D``).
* ``bias``: one add per neuron (bias and half LSB, added once).
* ``compare``: ``T`` per hidden neuron; ``reset``: one subtraction per output spike.

Dataflow assumptions (the same for every method; ``docs/energy.md``), layer by
layer, three idealized loop orders (``DATAFLOWS``):

``step_major`` (default; the paper's Appendix A.4 view)
    one input step at a time over the whole layer.  Weights: one ``weight_bits``
    read per synaptic operation (per MAC for the ANNs): an event-driven SNN fetches
    only the weights of spiking inputs.  Membrane: one ``acc_bits`` read and one
    write per neuron per input step (parked in SRAM between steps); one for the
    non-serial ANNs.
``code_major``
    all steps of a neuron at once, one partial-sum register per step in the PE
    (the Horner combination at the end).  Weights: one read per synapse whose input
    has at least one event in the window (dense ANNs: per MAC).  Membrane: one read
    and one write per neuron.
``weight_stationary``
    every weight read once per image (held in the array while the inputs stream
    past), for every method alike; membrane as ``step_major``.

For all three:

* activations: every input map read once per term (spikes: ``T`` bits per neuron,
  zeros included, as a bitmap; ANN codes: their width), every output written once
  (logits: ``acc_bits``); reuse between neighbouring outputs is held in registers.

Each buffer is priced by its size for one image (the cost table's SRAM rule; larger
than the largest SRAM point: DRAM): the layer's weights, its membranes, the map.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from golden.convert import IntLayer, IntNetwork, Term
from golden.errors import GoldenError
from golden.simulate import SimResult, input_steps

from .errors import EnergyError

#: breakdown categories, in report order (compute first, then memory)
COMPUTE_CATEGORIES = ("synaptic", "mac", "pool", "shift", "bias", "compare", "reset")
MEMORY_CATEGORIES = ("weights", "membrane", "activations")

#: loop orders of the memory model (see the module docstring)
DATAFLOWS = ("step_major", "code_major", "weight_stationary")

#: width of the INT8 ANN baseline's accumulator (the usual 32-bit accumulation of int8 MACs)
INT8_ACC_BITS = 32


@dataclass(frozen=True)
class OpCount:
    """``ops`` operations ``op`` (a cost table entry) on ``bits``-wide operands
    (``bits x bits_b`` for a multiplier), reported under ``category``."""

    category: str
    op: str
    bits: int
    ops: int
    bits_b: int | None = None


@dataclass(frozen=True)
class MemCount:
    """``bits`` moved (``direction`` read/write) to or from a buffer of ``buffer_bytes``
    (``memory`` forces SRAM or DRAM; default: SRAM if it fits the table's largest SRAM)."""

    category: str
    direction: str
    bits: int
    buffer_bytes: int
    memory: str | None = None  # "sram"/"dram" when known; None: by size (the cost table's rule)


@dataclass(frozen=True)
class LayerCounts:
    layer: str
    compute: tuple[OpCount, ...]
    memory: tuple[MemCount, ...]


@dataclass(frozen=True)
class Workload:
    """The counts of one method on one batch of ``images``."""

    method: str
    description: str
    images: int
    layers: tuple[LayerCounts, ...]
    estimated: bool = False
    note: str = ""


@dataclass(frozen=True)
class LayerActivity:
    """Spiking activity of one layer of our SNN (totals over the batch).

    ``spike_rate`` = output spikes / (neurons x T); ``input_density`` = input spikes /
    input slots read (the ``s`` of Section 6.3); ``synaptic_per_shift`` = synaptic
    operations per left shift (Section 6.3's ``s k^2 c_in``, measured)."""

    layer: str
    kind: str
    neurons: int
    in_steps: int
    out_steps: int
    input_spikes: int
    input_slots: int
    output_spikes: int
    synaptic_ops: int
    dense_synapses: int
    shift_ops: int
    active_synapses: int  # synapses whose input has >= 1 event in the window (code_major weight reads)

    @property
    def spike_rate(self) -> float:
        return self.output_spikes / (self.neurons * self.out_steps) if self.out_steps else 0.0

    @property
    def input_density(self) -> float:
        return self.input_spikes / self.input_slots if self.input_slots else 0.0

    @property
    def synaptic_per_shift(self) -> float:
        return self.synaptic_ops / self.shift_ops if self.shift_ops else 0.0


# ------------------------------------------------------------------ exact synapse counting


def synaptic_ops(term: Term, counts: np.ndarray) -> int:
    """Synaptic operations of ``term`` when input position ``j`` carries ``counts[..., j]``
    events (``counts``: ``(N,) + source shape`` non-negative integers, e.g. spikes
    summed over time): the sum over events of each event's fan-out
    (:meth:`golden.convert.Term.fanout`), exactly.
    """
    c = np.asarray(counts)
    if c.dtype.kind not in "iub" or (c.size and c.min() < 0):
        raise EnergyError(f"synaptic_ops: counts must be non-negative integers, got dtype {c.dtype}")
    if not c.size:
        return 0
    fan = term.fanout(c.shape[1:]).reshape(-1)
    return int(c.reshape(len(c), -1).sum(0, dtype=np.int64) @ fan)


def fan_out_total(term: Term, source_shape: tuple[int, ...]) -> int:
    """Synapses of ``term`` for one image with every input position active once."""
    return term.synapses(source_shape)


def _ann_geometry(term: Term, source_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """An ANN that pools first: (MACs on the pooled map, pooling adds, pooled-map width growth bits)."""
    macs = term.synapses(term.input_shape(source_shape), pre=False)
    return macs, term.pool_adds(source_shape), sum(p.growth_bits for p in term.pools)


# ------------------------------------------------------------------ helpers


def _numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _bytes(bits: int) -> int:
    return max(1, -(-int(bits) // 8))


def _weight_params(layer: IntLayer) -> int:
    return sum(int(t.weight.size) for t in layer.terms)


def check_result(inet: IntNetwork, res: SimResult) -> None:
    """Refuse a simulation result that lacks spikes of a layer the network reads."""
    for layer in inet.layers:
        for src in layer.sources:
            if not inet.is_input(src) and src not in res.spikes:
                raise EnergyError(f"counts: the trace has no spikes of layer {src!r}, which layer {layer.name!r} reads")
            if not inet.is_input(src) and res.spike_counts(src).shape[1:] != inet.layer(src).out_shape:
                raise EnergyError(
                    f"counts: spikes of layer {src!r} have shape {res.spike_counts(src).shape[1:]}, "
                    f"the model says {inet.layer(src).out_shape}"
                )
        if not layer.is_output and layer.name not in res.spikes:
            raise EnergyError(f"counts: the trace has no spikes of layer {layer.name!r}")


# ------------------------------------------------------------------ ours


def activity(inet: IntNetwork, res: SimResult) -> tuple[LayerActivity, ...]:
    """Per-layer spiking activity and exact synaptic operation counts of our SNN."""
    check_result(inet, res)
    N = int(res.pixels.shape[0])
    out = []
    for layer in inet.layers:
        al = inet.alignment(layer, res.T)
        D = al.depth
        syn = dense = in_spikes = slots = active = 0
        for t in layer.terms:
            shape = inet.source_shape(t.source)
            span = al.span(t.source)
            if span.multibit:
                continue  # multi-bit MACs, counted as such
            if inet.is_input(t.source):  # pixel bit planes
                cnt = input_steps(inet, res, t.source).sum(0, dtype=np.int64)
            else:
                cnt = res.spike_counts(t.source)
            steps = span.steps
            syn += synaptic_ops(t, cnt)
            active += synaptic_ops(t, (cnt > 0).astype(np.int64))
            dense += fan_out_total(t, shape) * N * steps
            in_spikes += int(cnt.sum())
            slots += _numel(shape) * N * steps
        neurons = _numel(layer.out_shape) * N
        spikes = 0 if layer.is_output else int(res.spike_counts(layer.name).sum())
        out.append(
            LayerActivity(
                layer=layer.name,
                kind="output" if layer.is_output else "hidden",
                neurons=neurons,
                in_steps=D,
                out_steps=0 if layer.is_output else res.T,
                input_spikes=in_spikes,
                input_slots=slots,
                output_spikes=spikes,
                synaptic_ops=syn,
                dense_synapses=dense,
                shift_ops=neurons * D,
                active_synapses=active,
            )
        )
    return tuple(out)


def _first_layer_macs(inet: IntNetwork, layer: IntLayer, N: int, acc_bits: int, mult_bits: int, fp32: bool = False) -> list[OpCount]:
    """Dense multi-bit pixel MACs of the terms that read the input (zero pixels included)."""
    rows = []
    for t in layer.terms:
        if not inet.is_input(t.source) or inet.bitplanes:
            continue
        macs, adds, grow = _ann_geometry(t, inet.source_shape(t.source))
        macs *= N
        P = inet.input.bits
        if fp32:
            rows += [OpCount("mac", "fp32_mult", 32, macs), OpCount("mac", "fp32_add", 32, macs)]
            if adds:
                rows.append(OpCount("pool", "fp32_add", 32, adds * N))
        else:
            rows += [OpCount("mac", "int_mult", mult_bits, macs, P + grow), OpCount("mac", "int_add", acc_bits, macs)]
            if adds:
                rows.append(OpCount("pool", "int_add", P + grow, adds * N))
    return rows


def _act_traffic(inet: IntNetwork, layer: IntLayer, N: int, act_bits: int, out_bits: int, pixel_bits: int) -> list[MemCount]:
    """Read every input map once per term, write the output map once."""
    rows = []
    for t in layer.terms:
        n = _numel(inet.source_shape(t.source))
        b = pixel_bits if inet.is_input(t.source) else act_bits
        rows.append(MemCount("activations", "read", n * b * N, _bytes(n * b)))
    n = _numel(layer.out_shape)
    rows.append(MemCount("activations", "write", n * out_bits * N, _bytes(n * out_bits)))
    return rows


def _check_dataflow(dataflow: str) -> None:
    if dataflow not in DATAFLOWS:
        raise EnergyError(f"counts: dataflow must be one of {DATAFLOWS}, not {dataflow!r}")


def ours(inet: IntNetwork, res: SimResult, dataflow: str = "step_major",
         acts: tuple[LayerActivity, ...] | None = None) -> Workload:
    """Our bit-serial SNN on the recorded spikes (see the module docstring).
    ``acts``: :func:`activity` of the same ``inet`` and ``res``, if already computed."""
    _check_dataflow(dataflow)
    acts = activity(inet, res) if acts is None else acts
    N = int(res.pixels.shape[0])
    layers = []
    for layer, a in zip(inet.layers, acts):
        A, W = layer.acc_bits, layer.weight_bits
        macs = _first_layer_macs(inet, layer, N, A, W)
        n_macs = sum(r.ops for r in macs if r.op == "int_mult")
        compute = [OpCount("synaptic", "int_add", A, a.synaptic_ops)] + macs + [
            OpCount("shift", "shift", A, a.shift_ops),
            OpCount("bias", "int_add", A, a.neurons),
        ]
        if not layer.is_output:
            compute += [OpCount("compare", "compare", A, a.neurons * res.T), OpCount("reset", "reset", A, a.output_spikes)]
        per_img = _numel(layer.out_shape)
        fetches = {"step_major": a.synaptic_ops + n_macs, "code_major": a.active_synapses + n_macs,
                   "weight_stationary": _weight_params(layer) * N}[dataflow]
        passes = 1 if dataflow == "code_major" else a.in_steps
        memory = [
            MemCount("weights", "read", fetches * W, _bytes(_weight_params(layer) * W)),
            MemCount("membrane", "read", a.neurons * passes * A, _bytes(per_img * A)),
            MemCount("membrane", "write", a.neurons * passes * A, _bytes(per_img * A)),
        ] + _act_traffic(inet, layer, N, res.T, A if layer.is_output else res.T, inet.input.bits)
        layers.append(LayerCounts(layer.name, tuple(compute), tuple(memory)))
    return Workload("ours", f"bit-serial SNN (this work), T={res.T}, sparsity-aware", N, tuple(layers))


# ------------------------------------------------------------------ baselines


def _dense_ann(inet: IntNetwork, N: int, method: str, description: str, *, act_bits: int | None,
               weight_bits: int | None, acc_bits: int | None, fp32: bool = False,
               dataflow: str = "step_major") -> Workload:
    """A conventional (non-serial, dense) ANN accelerator on the same network: pooling
    first, then one MAC per synapse of the pooled map, zeros included."""
    _check_dataflow(dataflow)
    layers = []
    B = inet.bits
    direct = dataclasses.replace(inet, bitplanes=False)  # an ANN multiplies the multi-bit pixels
    for layer in inet.layers:
        A = acc_bits or layer.acc_bits
        W = weight_bits or layer.weight_bits
        ab = 32 if fp32 else (act_bits or B)
        neurons = _numel(layer.out_shape) * N
        compute = _first_layer_macs(direct, layer, N, A, W, fp32=fp32)
        n_macs = sum(r.ops for r in compute if r.op in ("int_mult", "fp32_mult"))
        for t in layer.terms:
            if inet.is_input(t.source):
                continue
            macs, adds, grow = _ann_geometry(t, inet.source_shape(t.source))
            n_macs += macs * N
            if fp32:
                compute += [OpCount("mac", "fp32_mult", 32, macs * N), OpCount("mac", "fp32_add", 32, macs * N)]
                if adds:
                    compute.append(OpCount("pool", "fp32_add", 32, adds * N))
            else:
                compute += [OpCount("mac", "int_mult", W, macs * N, ab + grow), OpCount("mac", "int_add", A, macs * N)]
                if adds:
                    compute.append(OpCount("pool", "int_add", ab + grow, adds * N))
        compute.append(OpCount("bias", "fp32_add" if fp32 else "int_add", 32 if fp32 else A, neurons))
        if not layer.is_output:
            if fp32:
                compute.append(OpCount("compare", "compare", 32, neurons))  # ReLU / clip
            else:  # requantize: the B-step threshold ladder, every step (no sparsity)
                compute += [OpCount("compare", "compare", A, neurons * ab), OpCount("reset", "reset", A, neurons * ab)]
        per_img = _numel(layer.out_shape)
        wb = 32 if fp32 else W
        memory = [
            MemCount("weights", "read", (_weight_params(layer) * N if dataflow == "weight_stationary" else n_macs) * wb,
                     _bytes(_weight_params(layer) * wb)),
            MemCount("membrane", "read", neurons * A if not fp32 else neurons * 32, _bytes(per_img * (32 if fp32 else A))),
            MemCount("membrane", "write", neurons * A if not fp32 else neurons * 32, _bytes(per_img * (32 if fp32 else A))),
        ] + _act_traffic(inet, layer, N, ab, (32 if fp32 else A) if layer.is_output else ab, 32 if fp32 else inet.input.bits)
        layers.append(LayerCounts(layer.name, tuple(compute), tuple(memory)))
    return Workload(method, description, N, tuple(layers))


def ann_fp32(inet: IntNetwork, N: int, dataflow: str = "step_major") -> Workload:
    return _dense_ann(inet, N, "ann_fp32", "iso-architecture ANN, FP32 MACs, dense", act_bits=32, weight_bits=32,
                      acc_bits=32, fp32=True, dataflow=dataflow)


def ann_int8(inet: IntNetwork, N: int, dataflow: str = "step_major") -> Workload:
    return _dense_ann(inet, N, "ann_int8", f"iso-architecture ANN, INT8 MACs ({INT8_ACC_BITS}-bit accumulate), dense",
                      act_bits=8, weight_bits=8, acc_bits=INT8_ACC_BITS, dataflow=dataflow)


def qann(inet: IntNetwork, N: int, dataflow: str = "step_major") -> Workload:
    return _dense_ann(inet, N, "qann", f"quantized ANN, {inet.bits}-bit activations x {inet.weight_bits}-bit weights, dense",
                      act_bits=inet.bits, weight_bits=None, acc_bits=None, dataflow=dataflow)


def bit_serial(inet: IntNetwork, N: int, T: int | None = None, dataflow: str = "step_major") -> Workload:
    """A bit-serial ANN accelerator (paper A.8): our datapath without sparsity skipping:
    every bit plane of every input is processed, zeros included."""
    T = inet.bits if T is None else T
    ones = SimResult(T=T, pixels=np.full((N,) + tuple(inet.input.shape), (1 << inet.input.bits) - 1), bits=inet.bits)
    for layer in inet.layers:
        if not layer.is_output:
            ones.spikes[layer.name] = np.ones((T, N) + tuple(layer.out_shape), dtype=np.uint8)
    w = ours(inet, ones, dataflow)
    return Workload("bit_serial", f"bit-serial ANN accelerator, {T} bit planes, no sparsity skipping", N, w.layers)


def rate_coded(inet: IntNetwork, x: np.ndarray, T: int | None = None, codes: dict | None = None,
               dataflow: str = "step_major") -> Workload:
    """The rate-coded QCFS SNN at ``T = 2**B`` steps (standard IF neuron).

    Spike counts come from :func:`golden.baselines.rate_coded` (simulated exactly on
    the trace's pixels) when it is available and accepts ``T``; otherwise each neuron's
    spike count is estimated as its code ``k`` scaled by ``T / (2**B - 1)`` (needs
    ``codes``), and the workload says so (``estimated``).

    Per layer: synaptic adds per input spike per synapse at every step; the first
    layer's pixel MACs once (direct input) plus one add of that current per neuron per
    step; the bias (``b / T``) added every step; ``T`` compares; one subtraction per
    spike; no shifts.  Memory as for ours under the same ``dataflow`` (``T`` passes)."""
    _check_dataflow(dataflow)
    B = inet.bits
    T = (1 << B) if T is None else int(T)
    N = int(x.shape[0])
    spikes, estimated, note = None, False, ""
    try:
        from golden import baselines
    except ImportError:
        baselines = None
    why = "golden.baselines.rate_coded is unavailable"
    if baselines is not None and hasattr(baselines, "rate_coded"):
        try:
            r = baselines.rate_coded(inet, x, T)
            spikes = {k: v.sum(0, dtype=np.int64) for k, v in r.spikes.items()}
            note = f"spike counts simulated by golden.baselines.rate_coded at T={T}"
        except GoldenError as e:  # e.g. T beyond what the exact simulator handles
            why = f"golden.baselines.rate_coded refused: {e}"
    if spikes is None:
        if codes is None:
            raise EnergyError(f"rate_coded: {why}, and no codes were given to estimate the spike counts from")
        L = (1 << B) - 1
        spikes = {k: np.rint(v * (T / L)).astype(np.int64) for k, v in codes.items()}
        estimated = True
        note = f"spike counts ESTIMATED as code * T / (2^B - 1) at T={T} ({why})"
    direct = dataclasses.replace(inet, bitplanes=False)  # the rate-coded SNN takes pixels as a direct current
    layers = []
    for layer in inet.layers:
        A, W = layer.acc_bits, layer.weight_bits
        neurons = _numel(layer.out_shape) * N
        compute = _first_layer_macs(direct, layer, N, A, W)
        n_macs = sum(r.ops for r in compute if r.op == "int_mult")
        reads_pixels = any(inet.is_input(s) for s in layer.sources)
        hidden_terms = [t for t in layer.terms if not inet.is_input(t.source)]
        syn = sum(synaptic_ops(t, spikes[t.source]) for t in hidden_terms)
        if dataflow == "step_major":
            weight_reads, passes = syn + n_macs, T
        elif dataflow == "weight_stationary":
            weight_reads, passes = _weight_params(layer) * N, T
        else:
            active = sum(synaptic_ops(t, (spikes[t.source] > 0).astype(np.int64)) for t in hidden_terms)
            weight_reads, passes = active + n_macs, 1
        compute.insert(0, OpCount("synaptic", "int_add", A, syn))
        compute.append(OpCount("bias", "int_add", A, neurons * T * (2 if reads_pixels else 1)))
        if not layer.is_output:
            compute += [OpCount("compare", "compare", A, neurons * T),
                        OpCount("reset", "reset", A, int(spikes[layer.name].sum()))]
        per_img = _numel(layer.out_shape)
        memory = [
            MemCount("weights", "read", weight_reads * W, _bytes(_weight_params(layer) * W)),
            MemCount("membrane", "read", neurons * passes * A, _bytes(per_img * A)),
            MemCount("membrane", "write", neurons * passes * A, _bytes(per_img * A)),
        ] + _act_traffic(inet, layer, N, T, A if layer.is_output else T, inet.input.bits)
        layers.append(LayerCounts(layer.name, tuple(compute), tuple(memory)))
    return Workload("rate_coded", f"rate-coded QCFS SNN, T={T}, sparsity-aware", N, tuple(layers), estimated, note)

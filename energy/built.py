"""The built accelerator's activity in :mod:`energy.activity` terms: what the RTL does, ready to price.

:func:`built_activity` takes a cycle-model result (:func:`accel.model.evaluate`: the
machine's counters per layer, :func:`accel.machine.machine_activity`, exact to the RTL)
and lists, per layer, the operations and the memory traffic of the machine that
``rtl.top.Accelerator`` generates for the network, with every memory at its capacity
and word width:

=====================  =====================================================================
operation              count (``R x C`` PEs, ``A``-bit membranes: the program's ``acc_width``)
=====================  =====================================================================
``synaptic``           ``int_add`` at ``A`` by every PE on every ACC op (the LeanPE does not
                       gate: lanes without a weight, PEs beyond the layer's edge and the zero
                       ops of empty scan units add zero, at full price)
``shift``              ``horner_shift`` on the first ACC op of a Horner position: ``u << 1`` is
                       wiring in front of the adder (``[logic] horner_shift_pj``, 0)
``bias``               ``int_add`` on FINISH (``u << pad`` adds a ``barrel_shift`` when a layer
                       has ``pad > 0``)
``fire``               ``int_add`` on FIRE: the compare is the sum's and ``u``'s sign bits, the
                       reset is the same sum (no comparator)
=====================  =====================================================================

Memories (:func:`machine_memories`), each priced by its own capacity and width
(:mod:`energy.memtable`: flip-flops below the smallest SRAM macro):

* ``weights``: ``2R`` macros (even and odd half of every bank), words of ``V x w``
  bits; the RTL reads both halves of every bank on every ACC op that carries a spike
  (its read enables follow the events: the zero ops of empty scan units, FINISH, FIRE
  and READOUT read nothing); streamed weights are DRAM reads and writes;
* ``params``: ``R`` macros of ``C x A``-bit words, read on every FINISH and FIRE op;
  the layer descriptors (flip-flops), one read per layer and image;
* ``spikes``: the spike and image memories, ``K`` banks; a scan unit reads one word
  from every bank of its tensor, a FIRE op writes one word per PE row that holds a
  channel, an image row is one write;
* ``membranes``: the PEs' ``R x C x A`` flip-flops, read by every op and written by
  every ACC and FINISH op and by every spike.

Two sizings (:data:`SIZINGS`): ``config`` (default) provisions the configuration's
SRAMs -- ``weight_sram_kib`` split evenly into the ``2R`` weight macros, ``spike_sram_kib``
into ``K`` spike macros as wide as the widest tensor word -- as a chip built for many
networks would; ``fitted`` sizes every memory as :mod:`accel.program` compiles it for
this network (what ``accel compile`` generates).  Parameter memories and descriptors
are always fitted.  Leakage: every SRAM macro's standby power (CACTI) over the
layer's cycles; logic leakage has no sourced figure and is not modelled.
"""

from __future__ import annotations

from .activity import Activity, LayerActivity, Memory, Op, Traffic
from .baselines import Hierarchy
from .errors import EnergyError

SIZINGS = ("config", "fitted")
DESCRIPTION = "bit-serial SNN (this work), the built accelerator"


def _bytes(bits: int) -> int:
    return max(1, -(-int(bits) // 8))


def _check(sizing: str) -> None:
    if sizing not in SIZINGS:
        raise EnergyError(f"built accelerator: sizing must be one of {SIZINGS}, not {sizing!r}")


def weight_banks(stats, sizing: str = "config") -> list[tuple[int, int]]:
    """``[(capacity_bytes, macros)]`` of the weight memory, grouped by capacity (bank order kept)."""
    p, cfg = stats.plan, stats.config
    word = p.lanes * p.weight_width
    if sizing == "config":
        return [(max(1, int(cfg.weight_sram_kib * 1024) // (2 * p.rows)), 2 * p.rows)]
    groups: dict[int, int] = {}
    for words in stats.wplan.bank_words:
        cap = _bytes(max(1, words // 2) * word)
        groups[cap] = groups.get(cap, 0) + 2
    return list(groups.items())


def machine_memories(stats, sizing: str = "config") -> tuple[Memory, ...]:
    """The built machine's memories (see the module docstring)."""
    _check(sizing)
    p, cfg = stats.plan, stats.config
    R, C, A, K = p.rows, p.cols, p.acc_width, p.scan
    wword = p.lanes * p.weight_width
    mems = [Memory(f"weights_{i}" if i else "weights", "sram", cap, wword, count)
            for i, (cap, count) in enumerate(weight_banks(stats, sizing))]
    mems.append(Memory("params", "sram", _bytes(stats.params_words * C * A), C * A, R))
    desc = stats.descriptor_bits
    mems.append(Memory("descriptors", "register", _bytes(len(p.layers) * desc), desc))
    if sizing == "config":
        mems.append(Memory("spikes", "sram", max(1, int(cfg.spike_sram_kib * 1024) // K),
                           max(t.word_bits for t in p.tensors), K))
    else:
        for t in p.tensors:
            mems.append(Memory(_tensor_memory(t), "sram", _bytes(max(t.bank_depths()) * t.word_bits), t.word_bits,
                               sum(1 for d in t.bank_depths() if d)))
    mems.append(Memory("membranes", "register", _bytes(R * C * A), A))
    mems.append(Memory("dram", "dram", 0, wword))
    return tuple(mems)


def _tensor_memory(t) -> str:
    return "image" if t.image else f"spikes_{t.name}"


def built_activity(stats, sizing: str = "config") -> Activity:
    """The activity of the built machine on the images of ``stats`` (an :class:`accel.model.NetworkStats`)."""
    _check(sizing)
    p, cfg = stats.plan, stats.config
    R, C, A = p.rows, p.cols, p.acc_width
    wword = p.lanes * p.weight_width
    mems = machine_memories(stats, sizing)
    wgroups = [m for m in mems if m.name.startswith("weights")]
    spikes_mem = {m.name: m for m in mems}
    max_pad = max(l.pad for l in p.layers)
    layers = []
    for hl, ls in zip(p.layers, stats.layers):
        a, c = ls.activity, ls.counters
        ops = [Op("synaptic", "int_add", A, R * C * c.acc), Op("shift", "horner_shift", A, a["pe_horner"]),
               Op("bias", "int_add", A, R * C * c.finish), Op("fire", "int_add", A, R * C * c.fire)]
        if max_pad:
            ops.append(Op("bias", "barrel_shift", A, R * C * c.finish))
        per_bank = a["weight_reads"] // R  # both halves of a bank on every ACC op that carries a spike
        traffic = [Traffic(m.name, "read", per_bank * (m.count // 2) * wword, "weights") for m in wgroups]
        if c.weight_beats:
            traffic += [Traffic("dram", "read", c.weight_beats * wword, "offchip"),
                        Traffic(wgroups[0].name, "write", c.weight_beats * wword, "offchip")]
        traffic += [Traffic("params", "read", a["param_reads"] * C * A, "params"),
                    Traffic("descriptors", "read", a["descriptor_reads"] * stats.descriptor_bits, "params")]
        for tid, words in a["spike_reads"].items():
            t = p.tensors[tid]
            m = spikes_mem["spikes"] if sizing == "config" else spikes_mem[_tensor_memory(t)]
            traffic.append(Traffic(m.name, "read", words * m.word_bits, "activations"))
        if a["spike_writes"]:
            t = p.tensors[hl.out_tensor]
            m = spikes_mem["spikes"] if sizing == "config" else spikes_mem[_tensor_memory(t)]
            traffic.append(Traffic(m.name, "write", a["spike_writes"] * m.word_bits, "activations"))
        if a["image_writes"]:
            m = spikes_mem["spikes"] if sizing == "config" else spikes_mem["image"]
            traffic.append(Traffic(m.name, "write", a["image_writes"] * m.word_bits, "activations"))
        traffic += [Traffic("membranes", "read", a["membrane_reads"] * A, "psum"),
                    Traffic("membranes", "write", a["membrane_writes"] * A, "psum")]
        layers.append(LayerActivity(hl.name, c.cycles, tuple(o for o in ops if o.count), tuple(traffic),
                                    ls.ops["synaptic_ops"], R * C * c.acc))
    what = "weights resident" if stats.weights_resident else \
        f"weights streamed from DRAM every image ({stats.wplan.regions} region(s))"
    note = (f"{R}x{C} PEs, K = {p.scan}, {sizing} memory sizes, {what}; weights read on spike-carrying ACC ops, "
            "parameters on FINISH and FIRE")
    return Activity("built", DESCRIPTION, stats.images, R * C, float(cfg.clock_mhz), mems, tuple(layers), note)


def hierarchy(stats, sizing: str = "config") -> Hierarchy:
    """The generic hierarchy of :mod:`energy.baselines` with the built machine's PE count and memories:
    the same weight and spike/activation SRAM capacities (``fitted``: each method's memories fitted to
    its own weights and maps), the same clock and off-chip bandwidth."""
    _check(sizing)
    cfg = stats.config
    return Hierarchy(pes=stats.config.pes, weight_sram_bytes=max(1, int(cfg.weight_sram_kib * 1024)),
                     act_sram_bytes=max(1, int(cfg.spike_sram_kib * 1024)), clock_mhz=float(cfg.clock_mhz),
                     offchip_bits_per_cycle=int(cfg.offchip_bits_per_cycle), fit=sizing == "fitted")


def horner_as_barrel_pj(activity: Activity, mem) -> float:
    """What the Horner shifts of ``activity`` would cost priced as barrel shifters (pJ, total)."""
    return sum(o.count * mem.barrel_shift_pj(o.bits) for l in activity.layers for o in l.ops
               if o.op == "horner_shift")


# ------------------------------------------------------------------ hooks for accel.sweep (picklable with partial)

_TABLES: dict = {}


def _tables(costs, mem):
    """Tables given as objects or as paths (``None``: the bundled ones), loaded once per process: a partial of
    the hooks with paths pickles to the sweep's workers."""
    from .costs import CostTable
    from .memtable import MemoryTable, load_memory_table

    if not isinstance(costs, CostTable):
        key = ("costs", None if costs is None else str(costs))
        if key not in _TABLES:
            from .report import load_cost_table

            _TABLES[key] = load_cost_table(costs)
        costs = _TABLES[key]
    if not isinstance(mem, MemoryTable):
        key = ("mem", None if mem is None else str(mem))
        if key not in _TABLES:
            _TABLES[key] = load_memory_table(mem)
        mem = _TABLES[key]
    return costs, mem


def energy_pj(stats, costs=None, mem=None, sizing: str = "config") -> float:
    """Energy per inference of the built machine of ``stats`` (pJ): compute, memory and leakage.
    ``costs``/``mem``: tables or their paths (default: the bundled tables)."""
    from .activity import price

    costs, mem = _tables(costs, mem)
    p = price(built_activity(stats, sizing), costs, mem)
    return p.total_energy_pj / p.images


def area_um2(stats, mem=None, sizing: str = "config") -> float | None:
    """Area of the built machine of ``stats`` (um^2, memories and logic); None where the logic model
    does not apply (:func:`energy.area.machine_area`).  ``mem``: the memory table or its path."""
    from .area import machine_area

    _, mem = _tables(load_default_costs(), mem)
    return machine_area(built_activity(stats, sizing), mem, stats).total_um2


def load_default_costs():
    return _tables(None, None)[0]

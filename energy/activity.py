"""Activity counts of an accelerator run and their price: one vocabulary for ours and every baseline.

An :class:`Activity` lists, per layer, the cycles, the operations (:class:`Op`:
an operation of the per-operation table at a width, times a count) and the
memory traffic (:class:`Traffic`: bits moved to or from a named
:class:`Memory` of a kind, capacity and word width).  Counts are totals over
``images``.  A cycle model (the built accelerator's, or the generic array of
:mod:`energy.baselines`) fills it; :func:`price` turns it into energy with the
per-operation table (:mod:`energy.costs`) and the memory table
(:mod:`energy.memtable`), the same for every method:

* operations: ``int_add``, ``int_mult``, ``compare``, ``reset``, ``fp32_add``,
  ``fp32_mult`` from the per-operation table; ``barrel_shift`` (a
  variable-amount shifter) and ``horner_shift`` (the fused ``u << 1`` in front
  of an adder: wiring) from the memory table's ``[logic]``;
* traffic: ``bits / word_bits`` accesses of the memory's word, each priced by
  kind (flip-flop register, SRAM by capacity and width, DRAM);
* leakage: the standby power of every SRAM macro (CACTI, times its ``count``)
  over the layer's cycles at ``clock_mhz`` (``uW x us = pJ``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .costs import CostTable
from .errors import EnergyError
from .memtable import KINDS, MemoryTable

TABLE_OPS = ("int_add", "int_mult", "compare", "reset", "fp32_add", "fp32_mult")
LOGIC_OPS = ("barrel_shift", "horner_shift")
OPS = TABLE_OPS + LOGIC_OPS
COMPUTE_CATEGORIES = ("synaptic", "mac", "pool", "shift", "bias", "fire", "requant")
MEMORY_CATEGORIES = ("weights", "activations", "psum", "params", "offchip")


@dataclass(frozen=True)
class Op:
    """``count`` operations ``op`` on ``bits``-wide operands (``bits x bits_b`` for a multiplier)."""

    category: str
    op: str
    bits: int
    count: int
    bits_b: int | None = None


@dataclass(frozen=True)
class Memory:
    """A memory of the hierarchy: ``kind`` register/sram/dram, ``capacity_bytes``, accessed ``word_bits`` at a time;
    ``count`` identical macros (their traffic is summed under one name; leakage and area count every macro).
    An ``sram`` smaller than the table's smallest macro is priced as flip-flops (the table's rule)."""

    name: str
    kind: str
    capacity_bytes: int
    word_bits: int
    count: int = 1


@dataclass(frozen=True)
class Traffic:
    """``bits`` read or written (``direction``) at memory ``memory``, reported under ``category``."""

    memory: str
    direction: str
    bits: int
    category: str


@dataclass(frozen=True)
class LayerActivity:
    """One layer: ``cycles``, operations, traffic; ``synaptic_adds`` = useful (connected, nonzero) adds,
    ``issued_adds`` = adds the PEs perform (zero lanes included where the hardware does them)."""

    layer: str
    cycles: int
    ops: tuple[Op, ...]
    traffic: tuple[Traffic, ...]
    synaptic_adds: int = 0
    issued_adds: int = 0


@dataclass(frozen=True)
class Activity:
    method: str
    description: str
    images: int
    pes: int
    clock_mhz: float
    memories: tuple[Memory, ...]
    layers: tuple[LayerActivity, ...]
    note: str = ""

    def memory(self, name: str) -> Memory:
        for m in self.memories:
            if m.name == name:
                return m
        raise EnergyError(f"activity {self.method!r}: no memory {name!r} (memories: {[m.name for m in self.memories]})")

    @property
    def cycles(self) -> int:
        return sum(l.cycles for l in self.layers)

    def count(self, op: str | None = None, category: str | None = None) -> int:
        return sum(o.count for l in self.layers for o in l.ops
                   if (op is None or o.op == op) and (category is None or o.category == category))

    def bits(self, memory: str | None = None, direction: str | None = None, category: str | None = None) -> int:
        return sum(t.bits for l in self.layers for t in l.traffic
                   if (memory is None or t.memory == memory) and (direction is None or t.direction == direction)
                   and (category is None or t.category == category))

    @property
    def synaptic_adds(self) -> int:
        return sum(l.synaptic_adds for l in self.layers)

    @property
    def issued_adds(self) -> int:
        return sum(l.issued_adds for l in self.layers)


@dataclass(frozen=True)
class PricedLayer:
    layer: str
    cycles: int
    compute_pj: dict  # category -> pJ (totals over the images)
    memory_pj: dict
    leakage_pj: float

    @property
    def compute_energy_pj(self) -> float:
        return sum(self.compute_pj.values())

    @property
    def memory_energy_pj(self) -> float:
        return sum(self.memory_pj.values())


@dataclass(frozen=True)
class PricedActivity:
    """Energies are totals over ``images``; ``*_per_image`` divide."""

    method: str
    description: str
    images: int
    cycles: int
    layers: tuple[PricedLayer, ...]
    note: str = ""

    @property
    def compute_energy_pj(self) -> float:
        return sum(l.compute_energy_pj for l in self.layers)

    @property
    def memory_energy_pj(self) -> float:
        return sum(l.memory_energy_pj for l in self.layers)

    @property
    def leakage_energy_pj(self) -> float:
        return sum(l.leakage_pj for l in self.layers)

    @property
    def total_energy_pj(self) -> float:
        return self.compute_energy_pj + self.memory_energy_pj + self.leakage_energy_pj

    def per_image(self, what: str = "total") -> float:
        return getattr(self, f"{what}_energy_pj") / self.images

    def by_category(self) -> dict:
        out: dict = {}
        for l in self.layers:
            for d in (l.compute_pj, l.memory_pj):
                for k, v in d.items():
                    out[k] = out.get(k, 0.0) + v
        return out


def op_energy_pj(op: Op, costs: CostTable, mem: MemoryTable) -> float:
    """Energy of one operation ``op`` (pJ)."""
    if op.op in TABLE_OPS:
        return costs.energy_pj(op.op, op.bits, op.bits_b)
    if op.op == "barrel_shift":
        return mem.barrel_shift_pj(op.bits)
    if op.op == "horner_shift":
        return mem.horner_shift_pj
    raise EnergyError(f"activity: unknown operation {op.op!r} (known: {list(OPS)})")


def check(activity: Activity) -> None:
    """Refuse an activity whose traffic names unknown memories or whose counts are negative."""
    names = {m.name for m in activity.memories}
    for m in activity.memories:
        if m.kind not in KINDS:
            raise EnergyError(f"activity {activity.method!r}: memory {m.name!r} kind must be one of {KINDS}, not {m.kind!r}")
        if m.word_bits < 1 or m.capacity_bytes < 0 or m.count < 0:
            raise EnergyError(f"activity {activity.method!r}: memory {m.name!r} needs word_bits >= 1, "
                              "capacity_bytes >= 0 and count >= 0")
    for l in activity.layers:
        for o in l.ops:
            if o.count < 0:
                raise EnergyError(f"activity {activity.method!r} layer {l.layer!r}: {o.op} count {o.count} < 0")
        for t in l.traffic:
            if t.memory not in names:
                raise EnergyError(f"activity {activity.method!r} layer {l.layer!r}: traffic to unknown memory {t.memory!r}")
            if t.bits < 0 or t.direction not in ("read", "write"):
                raise EnergyError(f"activity {activity.method!r} layer {l.layer!r}: bad traffic {t}")


def storage_kind(m: Memory, mem: MemoryTable) -> str:
    """How ``m`` is priced: an SRAM below the table's smallest macro is flip-flops."""
    return mem.kind(m.capacity_bytes) if m.kind == "sram" else m.kind


def price(activity: Activity, costs: CostTable, mem: MemoryTable) -> PricedActivity:
    """Energy of ``activity``: operations x unit energy, traffic x access energy, SRAM leakage x time."""
    check(activity)
    mems = {m.name: m for m in activity.memories}
    kinds = {m.name: storage_kind(m, mem) for m in activity.memories}
    access = {(m.name, d): mem.access_pj(kinds[m.name], m.capacity_bytes, m.word_bits, d)
              for m in activity.memories for d in ("read", "write")}
    leak_uw = sum(m.count * mem.sram_leakage_uw(m.capacity_bytes, m.word_bits)
                  for m in activity.memories if kinds[m.name] == "sram")
    layers = []
    for l in activity.layers:
        comp: dict = {}
        for o in l.ops:
            comp[o.category] = comp.get(o.category, 0.0) + o.count * op_energy_pj(o, costs, mem)
        memo: dict = {}
        for t in l.traffic:
            memo[t.category] = memo.get(t.category, 0.0) + t.bits / mems[t.memory].word_bits * access[(t.memory, t.direction)]
        layers.append(PricedLayer(l.layer, l.cycles, comp, memo, leak_uw * l.cycles / activity.clock_mhz))
    return PricedActivity(activity.method, activity.description, activity.images, activity.cycles, tuple(layers),
                          activity.note)

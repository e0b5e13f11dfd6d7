"""Energy = cost table x counts (Accelergy's rule): pricing a :class:`~energy.counts.Workload`.

Every row keeps its count, its unit energy and their product, so a total is, by
construction, the sum of count x cost over its rows (tests check it by hand).
"""

from __future__ import annotations

from dataclasses import dataclass

from .costs import CostTable
from .counts import COMPUTE_CATEGORIES, MEMORY_CATEGORIES, Workload


@dataclass(frozen=True)
class ComputeRow:
    category: str
    op: str
    bits: int
    bits_b: int | None
    ops: int
    unit_energy_pj: float

    @property
    def energy_pj(self) -> float:
        return self.ops * self.unit_energy_pj


@dataclass(frozen=True)
class MemoryRow:
    category: str
    direction: str
    bits: int
    buffer_bytes: int
    memory: str  # "sram" or "dram"
    unit_energy_pj_per_bit: float

    @property
    def energy_pj(self) -> float:
        return self.bits * self.unit_energy_pj_per_bit


@dataclass(frozen=True)
class LayerEnergy:
    layer: str
    compute: tuple[ComputeRow, ...]
    memory: tuple[MemoryRow, ...]

    @property
    def compute_energy_pj(self) -> float:
        return sum(r.energy_pj for r in self.compute)

    @property
    def memory_energy_pj(self) -> float:
        return sum(r.energy_pj for r in self.memory)

    @property
    def total_energy_pj(self) -> float:
        return self.compute_energy_pj + self.memory_energy_pj

    def by_category(self) -> dict[str, float]:
        """Energy per breakdown category (every category present, in report order)."""
        out = {c: 0.0 for c in COMPUTE_CATEGORIES + MEMORY_CATEGORIES}
        for r in self.compute + self.memory:
            out[r.category] += r.energy_pj
        return out


@dataclass(frozen=True)
class WorkloadEnergy:
    """A priced workload: energies are totals over ``images``; ``*_per_image`` divide."""

    method: str
    description: str
    images: int
    estimated: bool
    note: str
    layers: tuple[LayerEnergy, ...]

    @property
    def compute_energy_pj(self) -> float:
        return sum(l.compute_energy_pj for l in self.layers)

    @property
    def memory_energy_pj(self) -> float:
        return sum(l.memory_energy_pj for l in self.layers)

    @property
    def total_energy_pj(self) -> float:
        return self.compute_energy_pj + self.memory_energy_pj

    @property
    def compute_energy_pj_per_image(self) -> float:
        return self.compute_energy_pj / self.images

    @property
    def total_energy_pj_per_image(self) -> float:
        return self.total_energy_pj / self.images

    def by_category(self) -> dict[str, float]:
        out = {c: 0.0 for c in COMPUTE_CATEGORIES + MEMORY_CATEGORIES}
        for l in self.layers:
            for k, v in l.by_category().items():
                out[k] += v
        return out

    def ops(self, op: str | None = None, category: str | None = None) -> int:
        """Total operation count, filtered by cost-table ``op`` and/or ``category``."""
        return sum(r.ops for l in self.layers for r in l.compute
                   if (op is None or r.op == op) and (category is None or r.category == category))


def price(workload: Workload, table: CostTable) -> WorkloadEnergy:
    """Multiply every count of ``workload`` by its unit energy from ``table``."""
    layers = []
    for lc in workload.layers:
        compute = tuple(
            ComputeRow(r.category, r.op, r.bits, r.bits_b, r.ops, table.energy_pj(r.op, r.bits, r.bits_b))
            for r in lc.compute
        )
        memory = tuple(
            MemoryRow(m.category, m.direction, m.bits, m.buffer_bytes, m.memory or table.memory_kind(m.buffer_bytes),
                      table.memory_pj_per_bit(m.buffer_bytes, m.memory))
            for m in lc.memory
        )
        layers.append(LayerEnergy(lc.layer, compute, memory))
    return WorkloadEnergy(workload.method, workload.description, workload.images, workload.estimated,
                          workload.note, tuple(layers))


def section63_ratio(density: float, k: int, c_in: int) -> float:
    """Section 6.3: synaptic operations per left shift of a ``k x k`` conv layer,
    ``s k^2 c_in c_out H W / (c_out H W) = s k^2 c_in`` with ``s`` the input spike
    density (1 - sparsity).  For ``s = 0.1, k = 3, c_in = 512``: 460.8 (the paper prints 406.8)."""
    return density * k * k * c_in

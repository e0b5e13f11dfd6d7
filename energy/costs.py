"""The per-operation energy table: TOML data in, a frozen :class:`CostTable` out.

The bundled table is ``energy/costs_45nm.toml`` (45 nm CMOS: the paper's Table 6
and Horowitz, ISSCC 2014); its header comment and ``docs/energy.md`` document the
format.  :func:`load_costs` validates everything once, at the edge, against one
declared schema (:data:`COSTS`), and raises :class:`~energy.errors.EnergyError`
naming the file, the entry, the field and the value for anything it does not
understand: another ``schema_version``, unknown or missing operations or fields,
energies that are negative, non-finite or above :data:`MAX_ENERGY_PJ`, widths and
capacities out of range, missing sources.

Width rule (:meth:`OpCost.energy_pj`): with ``f(b) = b`` (``linear``: adders,
shifters, comparators), ``b*b`` (``quadratic``: multipliers; an ``a x b``-bit
multiplier has ``f = a*b``) or ``1`` (``constant``), the energy is piecewise linear
in ``f`` between neighbouring points and proportional to ``f`` beyond the outermost
point.  Memories (:meth:`CostTable.memory_pj_per_bit`): energy per bit is the access
energy divided by the access width; an SRAM's energy is piecewise linear in
``sqrt(capacity)`` between its points and the smallest point's value below them; a
buffer larger than the largest SRAM point is priced as DRAM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from snnbits.schema import Int, List, Num, Obj, Str, Version, check, read_toml

from .errors import EnergyError

SCHEMA_VERSION = 1
DEFAULT_COSTS = Path(__file__).resolve().parent / "costs_45nm.toml"
#: largest energy of one operation or memory access, pJ (1 uJ; a DRAM access is about 1300 pJ)
MAX_ENERGY_PJ = 1e6
#: widest operand or memory access, bits
MAX_BITS = 1024
#: largest SRAM point, bytes (1 PiB)
MAX_CAPACITY_BYTES = 1 << 50
#: most points per operation
MAX_POINTS = 64

#: operation -> accepted scalings (the first is what the bundled table uses)
OPS: dict[str, tuple[str, ...]] = {
    "int_add": ("linear", "quadratic", "constant"),
    "int_mult": ("quadratic", "linear", "constant"),
    "shift": ("linear", "quadratic", "constant"),
    "compare": ("linear", "quadratic", "constant"),
    "reset": ("linear", "quadratic", "constant"),
    "fp32_add": ("constant",),
    "fp32_mult": ("constant",),
    "sram": ("sqrt_capacity", "constant"),
    "dram": ("constant",),
}
MEMORIES = ("sram", "dram")


@dataclass(frozen=True)
class CostPoint:
    """One tabulated energy: ``energy_pj`` per operation (memories: per access of ``bits``)."""

    bits: int
    energy_pj: float
    source: str
    capacity_bytes: int | None = None  # SRAM points only


@dataclass(frozen=True)
class OpCost:
    """All tabulated points of one operation and the rule for other widths."""

    op: str
    scaling: str
    points: tuple[CostPoint, ...]  # sorted by bits (SRAM: by capacity)

    def energy_pj(self, bits: int, bits_b: int | None = None) -> float:
        """Energy of one ``bits``-wide operation (``bits x bits_b`` for a multiplier)."""
        if self.scaling == "constant":
            return self.points[0].energy_pj
        f = _f(self.scaling, bits, bits_b)
        xs = [_f(self.scaling, p.bits) for p in self.points]
        es = [p.energy_pj for p in self.points]
        return _piecewise(f, xs, es)


@dataclass(frozen=True)
class CostTable:
    """A validated energy table (see the module docstring for the rules)."""

    name: str
    path: str
    schema_version: int
    ops: tuple[OpCost, ...]

    def op(self, name: str) -> OpCost:
        for o in self.ops:
            if o.op == name:
                return o
        raise EnergyError(f"cost table {self.path}: no operation {name!r} (known: {[o.op for o in self.ops]})")

    def energy_pj(self, op: str, bits: int, bits_b: int | None = None) -> float:
        """Energy of one operation ``op`` on ``bits``-wide operands (``bits x bits_b`` for ``int_mult``)."""
        return self.op(op).energy_pj(bits, bits_b)

    @property
    def sram_max_bytes(self) -> int:
        return max(p.capacity_bytes for p in self.op("sram").points)

    def memory_kind(self, capacity_bytes: int) -> str:
        """``"sram"`` if a buffer of ``capacity_bytes`` fits the largest SRAM point, else ``"dram"``."""
        return "sram" if capacity_bytes <= self.sram_max_bytes else "dram"

    def memory_pj_per_bit(self, capacity_bytes: int, kind: str | None = None) -> float:
        """Energy per bit moved to or from a buffer of ``capacity_bytes`` (read or write alike).

        ``kind`` (``"sram"``/``"dram"``) overrides the size rule, for memories whose kind
        is known (an on-chip SRAM larger than the largest point is extrapolated in
        ``sqrt(capacity)``)."""
        if kind not in (None, "sram", "dram"):
            raise EnergyError(f"cost table {self.path}: memory kind must be 'sram' or 'dram', not {kind!r}")
        if (kind or self.memory_kind(capacity_bytes)) == "dram":
            p = self.op("dram").points[0]
            return p.energy_pj / p.bits
        sram = self.op("sram")
        per_bit = [p.energy_pj / p.bits for p in sram.points]
        if sram.scaling == "constant":
            return per_bit[0]
        xs = [math.sqrt(p.capacity_bytes) for p in sram.points]
        x = math.sqrt(max(capacity_bytes, sram.points[0].capacity_bytes))
        return _piecewise(x, xs, per_bit)


def _f(scaling: str, bits: int, bits_b: int | None = None) -> float:
    if scaling == "linear":
        return float(bits if bits_b is None else max(bits, bits_b))
    if scaling == "quadratic":
        return float(bits * (bits if bits_b is None else bits_b))
    return 1.0


def _piecewise(x: float, xs: list[float], es: list[float]) -> float:
    """Piecewise linear through ``(xs, es)`` (sorted); proportional to ``x`` outside."""
    if x <= xs[0]:
        return es[0] * x / xs[0] if x != xs[0] else es[0]
    if x >= xs[-1]:
        return es[-1] * x / xs[-1] if x != xs[-1] else es[-1]
    for i in range(len(xs) - 1):
        if xs[i] <= x <= xs[i + 1]:
            if x == xs[i]:
                return es[i]
            if x == xs[i + 1]:
                return es[i + 1]
            return es[i] + (es[i + 1] - es[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])
    raise AssertionError("unreachable")  # pragma: no cover


def _point(op: str) -> Obj:
    fields = {
        "bits": Int(32, 32) if op.startswith("fp32") else Int(1, MAX_BITS),
        "energy_pj": Num(0, MAX_ENERGY_PJ),
        "source": Str(nonempty=True),
    }
    if op == "sram":
        fields["capacity_bytes"] = Int(1, MAX_CAPACITY_BYTES)
    return Obj(fields)


#: the cost table file; rules between points (no two at one width, one point for "constant") are checked by parse_costs
COSTS = Obj({
    "schema_version": Version(SCHEMA_VERSION),
    "name": Str(max_len=200, optional=True),
    **{op: Obj({"scaling": Str(choices=scalings), "points": List(_point(op), 1, MAX_POINTS)}) for op, scalings in OPS.items()},
})


def load_costs(path=None) -> CostTable:
    """Read and validate a cost table (default: the bundled ``costs_45nm.toml``)."""
    path = DEFAULT_COSTS if path is None else Path(path)
    return parse_costs(read_toml(path, f"cost table {path}", EnergyError), str(path))


def parse_costs(data: dict, src: str = "<dict>") -> CostTable:
    """Validate an already parsed TOML document against :data:`COSTS` (``src`` names it in messages)."""
    where = f"cost table {src}"
    doc = check(COSTS, data, where, EnergyError, style="toml")
    ops = []
    for op in OPS:
        entry = doc[op]
        points = [CostPoint(bits=p["bits"], energy_pj=p["energy_pj"], source=p["source"].strip(),
                            capacity_bytes=p.get("capacity_bytes")) for p in entry["points"]]
        key = (lambda q: q.capacity_bytes) if op == "sram" else (lambda q: q.bits)
        points.sort(key=key)
        for a, b in zip(points, points[1:]):
            if key(a) == key(b):
                what = "capacity_bytes" if op == "sram" else "bits"
                raise EnergyError(f"{where}: [{op}] has two points with {what} = {key(a)}")
        if entry["scaling"] == "constant" and len(points) > 1:
            raise EnergyError(f"{where}: [{op}] scaling 'constant' takes exactly one point, not {len(points)}")
        ops.append(OpCost(op=op, scaling=entry["scaling"], points=tuple(points)))
    return CostTable(name=doc.get("name", Path(src).stem), path=src, schema_version=SCHEMA_VERSION, ops=tuple(ops))

"""The per-operation energy table: TOML data in, a frozen :class:`CostTable` out.

The bundled table is ``energy/costs_45nm.toml`` (45 nm CMOS: the paper's Table 6
and Horowitz, ISSCC 2014); its header comment and ``docs/energy.md`` document the
format.  :func:`load_costs` validates everything once, at the edge, and raises
:class:`~energy.errors.EnergyError` naming the file, the entry, the field and the
value for anything it does not understand: another ``schema_version``, unknown or
missing operations or fields, negative or missing energies, missing sources.

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
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import EnergyError

SCHEMA_VERSION = 1
DEFAULT_COSTS = Path(__file__).resolve().parent / "costs_45nm.toml"

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
_TOP = {"schema_version", "name"} | set(OPS)


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


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_costs(path=None) -> CostTable:
    """Read and validate a cost table (default: the bundled ``costs_45nm.toml``)."""
    path = DEFAULT_COSTS if path is None else Path(path)
    src = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise EnergyError(f"cost table {src}: no such file") from None
    except OSError as e:
        raise EnergyError(f"cost table {src}: cannot read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise EnergyError(f"cost table {src}: not valid TOML ({e})") from None
    return parse_costs(data, src)


def parse_costs(data: dict, src: str = "<dict>") -> CostTable:
    """Validate an already parsed TOML document (``src`` names it in messages)."""

    def fail(msg: str):
        raise EnergyError(f"cost table {src}: {msg}")

    if "schema_version" not in data:
        fail(f"missing field 'schema_version' (this version reads schema_version {SCHEMA_VERSION})")
    if data["schema_version"] != SCHEMA_VERSION:
        fail(f"field 'schema_version' is {data['schema_version']!r}; this version reads schema_version {SCHEMA_VERSION}")
    unknown = sorted(set(data) - _TOP)
    if unknown:
        fail(f"unknown entry {unknown[0]!r} (accepted: {sorted(_TOP)})")
    missing = [k for k in OPS if k not in data]
    if missing:
        fail(f"missing entry {missing[0]!r} (every one of {list(OPS)} is required)")
    name = data.get("name", Path(src).stem)
    if not isinstance(name, str):
        fail(f"field 'name' must be a string, not {name!r}")
    ops = []
    for op, scalings in OPS.items():
        entry = data[op]
        if not isinstance(entry, dict):
            fail(f"entry {op!r} must be a table with 'scaling' and 'points', not {entry!r}")
        bad = sorted(set(entry) - {"scaling", "points"})
        if bad:
            fail(f"entry {op!r}: unknown field {bad[0]!r} (accepted: ['points', 'scaling'])")
        scaling = entry.get("scaling")
        if scaling not in scalings:
            fail(f"entry {op!r}: field 'scaling' is {scaling!r}; accepted: {list(scalings)}")
        pts = entry.get("points")
        if not isinstance(pts, list) or not pts:
            fail(f"entry {op!r}: field 'points' must be a non-empty array of tables, not {pts!r}")
        keys = {"bits", "energy_pj", "source"} | ({"capacity_bytes"} if op == "sram" else set())
        points = []
        for i, p in enumerate(pts):
            where = f"entry {op!r} point {i}"
            if not isinstance(p, dict):
                fail(f"{where}: must be a table, not {p!r}")
            bad = sorted(set(p) - keys)
            if bad:
                fail(f"{where}: unknown field {bad[0]!r} (accepted: {sorted(keys)})")
            for k in sorted(keys):
                if k not in p:
                    fail(f"{where}: missing field {k!r}")
            e, b, s = p["energy_pj"], p["bits"], p["source"]
            if not _is_num(e) or e < 0:
                fail(f"{where}: field 'energy_pj' must be a finite number >= 0, not {e!r}")
            if not _is_int(b) or b < 1:
                fail(f"{where}: field 'bits' must be a positive integer, not {b!r}")
            if op.startswith("fp32") and b != 32:
                fail(f"{where}: field 'bits' must be 32 for {op}, not {b!r}")
            if not isinstance(s, str) or not s.strip():
                fail(f"{where}: field 'source' must be a non-empty string, not {s!r}")
            cap = p.get("capacity_bytes")
            if op == "sram" and (not _is_int(cap) or cap < 1):
                fail(f"{where}: field 'capacity_bytes' must be a positive integer, not {cap!r}")
            points.append(CostPoint(bits=b, energy_pj=float(e), source=s.strip(), capacity_bytes=cap))
        key = (lambda q: q.capacity_bytes) if op == "sram" else (lambda q: q.bits)
        points.sort(key=key)
        for a, b in zip(points, points[1:]):
            if key(a) == key(b):
                what = "capacity_bytes" if op == "sram" else "bits"
                fail(f"entry {op!r}: two points with {what} = {key(a)}")
        if scaling == "constant" and len(points) > 1:
            fail(f"entry {op!r}: scaling 'constant' takes exactly one point, not {len(points)}")
        ops.append(OpCost(op=op, scaling=scaling, points=tuple(points)))
    return CostTable(name=name, path=src, schema_version=SCHEMA_VERSION, ops=tuple(ops))

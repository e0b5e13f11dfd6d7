"""Memory, storage and logic costs with sources: TOML in, a frozen :class:`MemoryTable` out.

The bundled table is ``energy/memory_45nm.toml`` (45 nm: CACTI 7 SRAM macros,
the Aladdin register, NanGate 45 nm cell areas, Horowitz's DRAM); every entry
cites its source, and what is derived says so.  :func:`load_memory_table`
reads the file with :func:`snnbits.schema.read_toml` (size cap, bad UTF-8, deep
nesting), checks it against one declared schema (:data:`SCHEMA`) and raises
:class:`~energy.errors.EnergyError` naming the file, the field and the value for
anything it does not accept: another ``schema_version``, unknown or missing
fields, wrong types, negative, non-finite or absurd numbers, empty sources,
duplicate SRAM points, an incomplete cell map.

Storage rules (:meth:`MemoryTable.access_pj`):

* **register** (flip-flops): ``bits x pJ/bit``.  Any buffer smaller than the
  smallest SRAM capacity is flip-flops (a 23-byte buffer of logits is not an
  8 KB SRAM).
* **sram**: the CACTI energy of one access of ``width_bits`` from a macro of
  ``capacity_bytes``.  Between tabulated points: linear in ``log2(width)``
  within each tabulated capacity, then linear in ``log2(capacity)``.  An access
  narrower than the narrowest width of a capacity costs that width's access (a
  word is read whole); wider than its widest, proportionally more (several
  accesses).  Above the largest capacity, energy grows with ``sqrt(capacity)``
  and area and leakage with ``capacity``.
* **dram**: ``bits x pJ/bit``.

Technology scaling (:func:`energy_scale`, :func:`area_scale`): entries measured
at another node (``node_nm``) are scaled to the table's node with Stillmaker and
Baas (2017): area by their table of factors, energy by their ``a Vdd^2 + b Vdd + c``
fits at the table's ``[scaling] vdd``, each linearly interpolated between nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from snnbits.schema import Int, List, Map, Num, Obj, Str, Version, check, read_toml

from .errors import EnergyError

SCHEMA_VERSION = 1
DEFAULT_MEMORY_TABLE = Path(__file__).resolve().parent / "memory_45nm.toml"
KINDS = ("register", "sram", "dram")
DIRECTIONS = ("read", "write")

# ------------------------------------------------------------------ technology scaling (Stillmaker & Baas 2017)

_NODES_NM = (130, 90, 65, 45, 32, 20, 16, 14, 10, 7)
_AREA = (  # _AREA[i][j]: area at node j over area at node i
    (1, 0.44, 0.23, 0.16, 0.072, 0.033, 0.03, 0.027, 0.016, 0.0092),
    (2.3, 1, 0.53, 0.35, 0.16, 0.075, 0.067, 0.061, 0.036, 0.021),
    (4.3, 1.9, 1, 0.66, 0.31, 0.14, 0.13, 0.12, 0.068, 0.039),
    (6.4, 2.8, 1.5, 1, 0.46, 0.21, 0.19, 0.17, 0.1, 0.059),
    (14, 6.1, 3.3, 2.2, 1, 0.46, 0.41, 0.38, 0.22, 0.13),
    (30, 13, 7.1, 4.7, 2.2, 1, 0.89, 0.82, 0.48, 0.28),
    (34, 15, 7.9, 5.3, 2.4, 1.1, 1, 0.91, 0.54, 0.31),
    (37, 16, 8.7, 5.8, 2.7, 1.2, 1.1, 1, 0.59, 0.34),
    (63, 28, 15, 9.8, 4.5, 2.1, 1.9, 1.7, 1, 0.58),
    (110, 48, 25, 17, 7.8, 3.6, 3.2, 2.9, 1.7, 1),
)
_ENERGY = (  # energy at node i is proportional to a Vdd^2 + b Vdd + c
    (7.171, -6.709, 2.904), (4.762, -4.781, 2.092), (3.755, -4.398, 1.975), (1.103, -0.362, 0.2767),
    (0.9559, -0.7823, 0.471), (0.373, -0.1582, 0.04104), (0.2958, -0.1241, 0.03024),
    (0.2363, -0.09675, 0.02239), (0.2068, -0.09311, 0.02375), (0.1776, -0.09097, 0.02447),
)


def _node_index(nm: float) -> float:
    if not _NODES_NM[-1] <= nm <= _NODES_NM[0]:
        raise EnergyError(f"technology scaling: node {nm} nm is outside {_NODES_NM[-1]}..{_NODES_NM[0]} nm")
    for i in range(len(_NODES_NM) - 1):
        a, b = _NODES_NM[i], _NODES_NM[i + 1]
        if b <= nm <= a:
            return i + (a - nm) / (a - b)
    raise AssertionError("unreachable")  # pragma: no cover


def _lerp_rows(x: float, row) -> float:
    i = min(int(math.floor(x)), len(_NODES_NM) - 2)
    f = x - i
    return row(i) * (1 - f) + row(i + 1) * f


def energy_scale(from_nm: float, to_nm: float, vdd: float = 0.8) -> float:
    """Factor that takes an energy measured at ``from_nm`` to ``to_nm`` (Stillmaker & Baas 2017)."""
    def at(nm):
        return _lerp_rows(_node_index(nm), lambda i: _ENERGY[i][0] * vdd**2 + _ENERGY[i][1] * vdd + _ENERGY[i][2])
    return at(to_nm) / at(from_nm)


def area_scale(from_nm: float, to_nm: float) -> float:
    """Factor that takes an area measured at ``from_nm`` to ``to_nm`` (Stillmaker & Baas 2017)."""
    x, y = _node_index(from_nm), _node_index(to_nm)
    return _lerp_rows(x, lambda i: _lerp_rows(y, lambda j: _AREA[i][j]))


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class SramPoint:
    """CACTI figures of one macro: energy per access of ``width_bits``, area, standby leakage."""

    capacity_bytes: int
    width_bits: int
    read_pj: float
    write_pj: float
    area_um2: float
    leakage_uw: float


@dataclass(frozen=True)
class MemoryTable:
    """A validated memory and logic cost table (see the module docstring for the rules)."""

    name: str
    path: str
    node_nm: float
    register_read_pj_per_bit: float  # scaled to node_nm
    register_write_pj_per_bit: float
    register_area_um2_per_bit: float
    dram_pj_per_bit: float
    horner_shift_pj: float
    barrel_shift: tuple[tuple[int, float], ...]  # (bits, pJ)
    nand2_um2: float
    cell_area_um2: MappingProxyType  # NanGate cell -> um^2
    yosys_cells: MappingProxyType  # Yosys generic cell type -> tuple of NanGate cells
    sram: tuple[SramPoint, ...]  # sorted by (capacity, width)
    sources: MappingProxyType  # field -> source text

    # ---- storage kind

    @property
    def sram_min_bytes(self) -> int:
        return self.sram[0].capacity_bytes

    def kind(self, capacity_bytes: int) -> str:
        """``"register"`` below the smallest SRAM macro, else ``"sram"`` (DRAM is only ever chosen explicitly)."""
        return "register" if capacity_bytes < self.sram_min_bytes else "sram"

    # ---- SRAM interpolation

    def _rows(self):
        caps = sorted({p.capacity_bytes for p in self.sram})
        return caps, {c: [p for p in self.sram if p.capacity_bytes == c] for c in caps}

    @staticmethod
    def _in_width(points, width_bits: int, value) -> float:
        ws = [p.width_bits for p in points]
        if width_bits <= ws[0]:
            return value(points[0])
        if width_bits >= ws[-1]:
            return value(points[-1]) * width_bits / ws[-1]
        for a, b in zip(points, points[1:]):
            if a.width_bits <= width_bits <= b.width_bits:
                f = (math.log2(width_bits) - math.log2(a.width_bits)) / (math.log2(b.width_bits) - math.log2(a.width_bits))
                return value(a) + (value(b) - value(a)) * f
        raise AssertionError("unreachable")  # pragma: no cover

    def _sram(self, capacity_bytes: int, width_bits: int, value, beyond: str) -> float:
        _check_pos("capacity_bytes", capacity_bytes)
        _check_pos("width_bits", width_bits)
        caps, rows = self._rows()
        if capacity_bytes < caps[0]:
            raise EnergyError(f"memory table {self.path}: {capacity_bytes} bytes is below the smallest SRAM "
                              f"({caps[0]} bytes); such a buffer is flip-flops (kind 'register')")
        if capacity_bytes >= caps[-1]:
            v = self._in_width(rows[caps[-1]], width_bits, value)
            r = capacity_bytes / caps[-1]
            return v * (math.sqrt(r) if beyond == "sqrt" else r)
        for a, b in zip(caps, caps[1:]):
            if a <= capacity_bytes <= b:
                va, vb = self._in_width(rows[a], width_bits, value), self._in_width(rows[b], width_bits, value)
                f = (math.log2(capacity_bytes) - math.log2(a)) / (math.log2(b) - math.log2(a))
                return va + (vb - va) * f
        raise AssertionError("unreachable")  # pragma: no cover

    def sram_access_pj(self, capacity_bytes: int, width_bits: int, direction: str = "read") -> float:
        """Energy of one ``width_bits`` access (``read`` or ``write``) to an SRAM of ``capacity_bytes``."""
        if direction not in DIRECTIONS:
            raise EnergyError(f"memory table {self.path}: direction must be one of {DIRECTIONS}, not {direction!r}")
        key = "read_pj" if direction == "read" else "write_pj"
        return self._sram(capacity_bytes, width_bits, lambda p: getattr(p, key), "sqrt")

    def sram_area_um2(self, capacity_bytes: int, width_bits: int) -> float:
        return self._sram(capacity_bytes, width_bits, lambda p: p.area_um2, "linear")

    def sram_leakage_uw(self, capacity_bytes: int, width_bits: int) -> float:
        return self._sram(capacity_bytes, width_bits, lambda p: p.leakage_uw, "linear")

    # ---- any storage

    def access_pj(self, kind: str, capacity_bytes: int, width_bits: int, direction: str = "read") -> float:
        """Energy of one ``width_bits`` access to a memory of ``kind`` (``register``, ``sram``, ``dram``)."""
        if kind == "register":
            _check_pos("width_bits", width_bits)
            per = self.register_read_pj_per_bit if direction == "read" else self.register_write_pj_per_bit
            return width_bits * per
        if kind == "dram":
            _check_pos("width_bits", width_bits)
            return width_bits * self.dram_pj_per_bit
        if kind == "sram":
            return self.sram_access_pj(capacity_bytes, width_bits, direction)
        raise EnergyError(f"memory table {self.path}: memory kind must be one of {KINDS}, not {kind!r}")

    def storage_area_um2(self, kind: str, capacity_bytes: int, width_bits: int) -> float:
        """Area of a memory (flip-flop bits for ``register``; DRAM is off chip: 0)."""
        if kind == "register":
            return capacity_bytes * 8 * self.register_area_um2_per_bit
        if kind == "dram":
            return 0.0
        if kind == "sram":
            return self.sram_area_um2(capacity_bytes, width_bits)
        raise EnergyError(f"memory table {self.path}: memory kind must be one of {KINDS}, not {kind!r}")

    def barrel_shift_pj(self, bits: int) -> float:
        """A variable-amount shifter on ``bits``: linear in width through the tabulated points."""
        _check_pos("bits", bits)
        pts = self.barrel_shift
        if bits <= pts[0][0]:
            return pts[0][1] * bits / pts[0][0]
        if bits >= pts[-1][0]:
            return pts[-1][1] * bits / pts[-1][0]
        for (a, ea), (b, eb) in zip(pts, pts[1:]):
            if a <= bits <= b:
                return ea + (eb - ea) * (bits - a) / (b - a)
        raise AssertionError("unreachable")  # pragma: no cover

    def cell_area_of(self, yosys_type: str) -> float:
        """Area of one Yosys generic cell (um^2) by the table's cell map."""
        if yosys_type not in self.yosys_cells:
            raise EnergyError(f"memory table {self.path}: no area for Yosys cell {yosys_type!r} "
                              f"(mapped: {sorted(self.yosys_cells)})")
        return sum(self.cell_area_um2[c] for c in self.yosys_cells[yosys_type])


def _check_pos(name, v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise EnergyError(f"memory table: {name} must be a positive integer, not {v!r}")


# ------------------------------------------------------------------ schema and loader

#: largest energy (pJ), area (um^2), leakage (uW) or capacity a table may state; far beyond any memory
MAX_PJ, MAX_UM2, MAX_UW = 1e9, 1e12, 1e9
MAX_CAPACITY_BYTES = 1 << 50
_POINT = Obj({"capacity_bytes": Int(1, MAX_CAPACITY_BYTES), "width_bits": Int(1, 1 << 20),
              "read_pj": Num(0, MAX_PJ), "write_pj": Num(0, MAX_PJ), "area_um2": Num(0, MAX_UM2),
              "leakage_uw": Num(0, MAX_UW)})
_SOURCE = Str(nonempty=True, max_len=4000)
#: the memory table file; cross-field rules (same lengths, known cells, no duplicate points) are parse_memory_table's
SCHEMA = Obj({
    "schema_version": Version(SCHEMA_VERSION),
    "name": Str(nonempty=True, max_len=500),
    "node_nm": Num(0, 1000, open_lo=True),
    "scaling": Obj({"rule": Str(choices=("stillmaker_baas_2017",)), "vdd": Num(0.3, 2.0), "source": _SOURCE}),
    "register": Obj({"read_pj_per_bit": Num(0, MAX_PJ), "write_pj_per_bit": Num(0, MAX_PJ),
                     "node_nm": Num(0, 1000, open_lo=True, optional=True), "energy_source": _SOURCE,
                     "area_um2_per_bit": Num(0, MAX_UM2), "area_source": _SOURCE}),
    "dram": Obj({"pj_per_bit": Num(0, MAX_PJ), "source": _SOURCE}),
    "logic": Obj({"horner_shift_pj": Num(0, MAX_PJ), "horner_shift_source": _SOURCE,
                  "barrel_shift_bits": List(Int(1, 4096), 1, 64), "barrel_shift_pj": List(Num(0, MAX_PJ), 1, 64),
                  "barrel_shift_source": _SOURCE}),
    "cells": Obj({"library": Str(nonempty=True, max_len=500), "nand2_um2": Num(0, MAX_UM2, open_lo=True),
                  "source": _SOURCE, "area_um2": Map(Num(0, MAX_UM2, open_lo=True), min_len=1, max_len=1000),
                  "yosys": Map(List(Str(pattern=r"\S{1,100}"), 0, 16), min_len=1, max_len=1000)}),
    "sram": Obj({"source": _SOURCE, "points": List(_POINT, 1, 10_000)}),
})


def load_memory_table(path=None) -> MemoryTable:
    """Read and validate a memory table (default: the bundled ``memory_45nm.toml``)."""
    path = DEFAULT_MEMORY_TABLE if path is None else Path(path)
    return parse_memory_table(read_toml(path, f"memory table {path}", EnergyError), str(path))


def parse_memory_table(data: dict, src: str = "<dict>") -> MemoryTable:
    """Validate an already parsed document against :data:`SCHEMA` (``src`` names it in messages)."""
    where = f"memory table {src}"

    def fail(msg: str):
        raise EnergyError(f"{where}: {msg}")

    doc = check(SCHEMA, data, where, EnergyError, style="toml")
    node = doc["node_nm"]
    sc = doc["scaling"]
    reg = doc["register"]
    f = 1.0
    if "node_nm" in reg and reg["node_nm"] != node:
        lo, hi = _NODES_NM[-1], _NODES_NM[0]
        for key, nm in (("[register] node_nm", reg["node_nm"]), ("node_nm", node)):
            if not lo <= nm <= hi:
                fail(f"{key} = {nm:g}: [register] is scaled from its node to the table's, and the scaling "
                     f"({sc['rule']}) covers {lo}..{hi} nm")
        f = energy_scale(reg["node_nm"], node, sc["vdd"])
    lg = doc["logic"]
    if len(lg["barrel_shift_bits"]) != len(lg["barrel_shift_pj"]):
        fail(f"[logic] barrel_shift_bits and barrel_shift_pj must have the same length, "
             f"not {len(lg['barrel_shift_bits'])} and {len(lg['barrel_shift_pj'])}")
    barrel = tuple(sorted(zip(lg["barrel_shift_bits"], lg["barrel_shift_pj"])))
    if len({b for b, _ in barrel}) != len(barrel):
        fail(f"[logic] barrel_shift_bits has duplicate widths: {lg['barrel_shift_bits']!r}")
    cells = doc["cells"]
    for t, names in cells["yosys"].items():
        for c in names:
            if c not in cells["area_um2"]:
                fail(f"[cells.yosys] {t} names cell {c!r}, which has no area in [cells.area_um2] "
                     f"(known: {sorted(cells['area_um2'])})")
    pts = [SramPoint(p["capacity_bytes"], p["width_bits"], p["read_pj"], p["write_pj"], p["area_um2"],
                     p["leakage_uw"]) for p in doc["sram"]["points"]]
    pts.sort(key=lambda p: (p.capacity_bytes, p.width_bits))
    for a, b in zip(pts, pts[1:]):
        if (a.capacity_bytes, a.width_bits) == (b.capacity_bytes, b.width_bits):
            fail(f"[sram] points: two points with capacity_bytes = {a.capacity_bytes} and width_bits = {a.width_bits}")
    return MemoryTable(
        name=doc["name"], path=src, node_nm=node,
        register_read_pj_per_bit=reg["read_pj_per_bit"] * f,
        register_write_pj_per_bit=reg["write_pj_per_bit"] * f,
        register_area_um2_per_bit=reg["area_um2_per_bit"],
        dram_pj_per_bit=doc["dram"]["pj_per_bit"],
        horner_shift_pj=lg["horner_shift_pj"],
        barrel_shift=barrel,
        nand2_um2=cells["nand2_um2"],
        cell_area_um2=MappingProxyType(dict(cells["area_um2"])),
        yosys_cells=MappingProxyType({k: tuple(v) for k, v in cells["yosys"].items()}),
        sram=tuple(pts),
        sources=MappingProxyType({
            "scaling": sc["source"], "register_energy": reg["energy_source"], "register_area": reg["area_source"],
            "dram": doc["dram"]["source"], "horner_shift": lg["horner_shift_source"],
            "barrel_shift": lg["barrel_shift_source"], "cells": cells["source"], "sram": doc["sram"]["source"],
        }),
    )

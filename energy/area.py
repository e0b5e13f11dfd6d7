"""Area from synthesis: Yosys ``stat -json`` generic cells -> um^2 at 45 nm, plus memory macros.

Logic: ``yosys -p "synth; stat -json"`` counts Yosys' generic cells (``$_AND_``,
``$_XOR_``, ``$_MUX_``, ``$_DFF_P_`` ...).  Each is priced as the NanGate 45 nm
X1 cell(s) that implement it (the memory table's ``[cells.yosys]`` map: e.g.
``$_ANDNOT_`` = INV + AND2, ``$_DFFE_PP_`` = DFF + MUX2), and the total is also
given in NAND2 equivalents (area / NAND2_X1 area, 0.798 um^2).  This is a
pre-placement cell area: no routing, no utilization factor, no sizing for timing.

Coarse cells (``$add``, ``$mul``, ``$mem_v2`` ...) mean the netlist was not fully
synthesized and are refused; memories are macros, priced from their capacity
and width by :func:`memory_area_um2` (the table's CACTI SRAM areas or flip-flops).

**The accelerator's area** (:func:`machine_area`): memories from the table, every
macro counted; logic from the synthesized top (``energy/synth_cells.json``, written by
``bench/synth_cells.py``: Yosys generic cells of the top compiled for the bundled model
at several array shapes, split into one PE, the PE array's lane selection, and the
rest of the top).  The rule, :class:`LogicModel`: ``R x C`` times the synthesized PE,
plus the rest fitted by least squares over the synthesized shapes to
``a + b R + c C + d R C + e R C V + f R V`` (``V``: weight lanes per bank word: the lane
selection of a row is a ``V``-to-1 choice per column and a window of ``V`` words).  It applies to
networks with the synthesized widths (weight, membrane, pixel bits, ``B``); for others
the logic area is left out, with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from snnbits.schema import Const, Int, List, Obj, Str, Table, Version, check, read_capped

from .errors import EnergyError
from .memtable import MemoryTable

#: the synthesized cells of the top, for the bundled model's widths (bench/synth_cells.py)
DEFAULT_CELLS = Path(__file__).resolve().parent / "synth_cells.json"
#: largest cells file read
MAX_CELLS_BYTES = 1 << 20


@dataclass(frozen=True)
class LogicArea:
    """Cell area of one synthesized module (``design``: the whole hierarchy)."""

    module: str
    cells: MappingProxyType  # Yosys generic cell type -> count
    area_um2: float
    nand2_um2: float

    @property
    def nand2_equivalents(self) -> float:
        return self.area_um2 / self.nand2_um2

    @property
    def cell_count(self) -> int:
        return sum(self.cells.values())

    @property
    def flip_flops(self) -> int:
        return sum(n for t, n in self.cells.items() if "DFF" in t)


def read_yosys_stat(path) -> dict:
    """Read a ``stat -json`` file (the JSON document alone, e.g. written with ``tee -o``)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise EnergyError(f"yosys stat {path}: no such file") from None
    except OSError as e:
        raise EnergyError(f"yosys stat {path}: cannot read ({e.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise EnergyError(f"yosys stat {path}: not JSON ({e}); write it with `tee -q -o FILE stat -json`") from None


def logic_area(stat: dict, table: MemoryTable, module: str | None = None, src: str = "<stat>") -> LogicArea:
    """Area of ``module`` of a parsed ``stat -json`` document (default: ``design``, the whole hierarchy,
    or the only module when the document has no ``design`` entry)."""
    if not isinstance(stat, dict) or not isinstance(stat.get("modules"), dict):
        raise EnergyError(f"yosys stat {src}: not a `stat -json` document (no 'modules' table)")
    if module is None:
        if isinstance(stat.get("design"), dict):
            entry, module = stat["design"], "design"
        elif len(stat["modules"]) == 1:
            module, entry = next(iter(stat["modules"].items()))
        else:
            raise EnergyError(f"yosys stat {src}: several modules and no 'design' total; name one of "
                              f"{sorted(stat['modules'])}")
    else:
        entry = stat["modules"].get(module) or stat["modules"].get("\\" + module)
        if entry is None:
            raise EnergyError(f"yosys stat {src}: no module {module!r} (modules: {sorted(stat['modules'])})")
    cells = entry.get("num_cells_by_type")
    if not isinstance(cells, dict):
        raise EnergyError(f"yosys stat {src}: module {module!r} has no 'num_cells_by_type'")
    coarse = sorted(t for t in cells if not (t.startswith("$_") and t.endswith("_")) and t.startswith("$"))
    if coarse:
        raise EnergyError(f"yosys stat {src}: module {module!r} holds coarse cells {coarse} (run a full `synth`; "
                          "price memories from their size with energy.area.memory_area_um2)")
    area = 0.0
    for t, n in cells.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise EnergyError(f"yosys stat {src}: module {module!r} cell {t!r} count must be a non-negative integer, not {n!r}")
        if not t.startswith("$"):
            raise EnergyError(f"yosys stat {src}: module {module!r} instantiates {t!r} ({n}x); price submodules "
                              "separately or flatten before `stat`")
        area += n * table.cell_area_of(t)
    return LogicArea(module.lstrip("\\"), MappingProxyType(dict(cells)), area, table.nand2_um2)


def memory_area_um2(table: MemoryTable, capacity_bytes: int, width_bits: int, kind: str | None = None) -> float:
    """Area of a memory of ``capacity_bytes`` read ``width_bits`` at a time (``kind`` default: by size)."""
    return table.storage_area_um2(kind or table.kind(capacity_bytes), capacity_bytes, width_bits)


# ------------------------------------------------------------------ the accelerator's area

_SHAPE = Obj({"rows": Int(1, 4096), "cols": Int(1, 4096), "lanes": Int(1, 1 << 16), "scan": Int(1, 1 << 16),
              "max_pad": Int(0, 64), "pe": Table(), "pes": Int(1, 1 << 24), "array": Table(), "control": Table()})
#: the synthesized cells file (``energy/synth_cells.json``)
CELLS = Obj({
    "format": Const("snnbits-synth-cells"),
    "schema_version": Version(1),
    "source": Str(nonempty=True),
    "date": Str(pattern=r"\d{4}-\d{2}-\d{2}"),
    "model_hash": Str(pattern=r"[0-9a-f]{64}"),
    "widths": Obj({"weight_width": Int(1, 64), "acc_width": Int(1, 128), "pixel_bits": Int(1, 64),
                   "bits": Int(1, 64)}),
    "shapes": List(_SHAPE, min_len=5, max_len=64),
})
FEATURES = ("1", "R", "C", "R*C", "R*C*V", "R*V")


def _features(R, C, V):
    return [1.0, R, C, R * C, R * C * V, R * V]


@dataclass(frozen=True)
class LogicModel:
    """Logic area of the top, from synthesized shapes (see the module docstring); areas in um^2."""

    widths: MappingProxyType
    pe_um2: float
    coef: tuple[float, ...]  # of FEATURES, for everything but the PEs
    shapes: tuple[tuple[int, int, int, float], ...]  # (R, C, V, synthesized non-PE area)
    source: str  # the cells file
    date: str
    model_hash: str
    scan: int = 16  # the configured scan width of the synthesized shapes (each has K = scan raised to >= its rows)

    def rest_um2(self, rows: int, cols: int, lanes: int) -> float:
        return float(np.dot(self.coef, _features(rows, cols, lanes)))

    def area_um2(self, rows: int, cols: int, lanes: int) -> dict:
        """``{"pes": R*C*PE, "array_and_control": fit}``."""
        return {"pes": rows * cols * self.pe_um2, "array_and_control": self.rest_um2(rows, cols, lanes)}

    @property
    def max_fit_error(self) -> float:
        """Largest relative error of the fit at the synthesized shapes."""
        return max(abs(self.rest_um2(R, C, V) - a) / a for R, C, V, a in self.shapes)

    def applies(self, weight_width: int, acc_width: int, pixel_bits: int, bits: int) -> str | None:
        """None if the model's widths are these, else why not."""
        want = {"weight_width": weight_width, "acc_width": acc_width, "pixel_bits": pixel_bits, "bits": bits}
        if dict(self.widths) != want:
            return (f"logic area: synthesized for widths {dict(self.widths)}, this network has {want} "
                    f"(run bench/synth_cells.py for it)")
        return None


def _cells_area(cells, table: MemoryTable, where: str) -> float:
    if not isinstance(cells, dict):
        raise EnergyError(f"{where} must be a table of cell counts, not {cells!r}")
    total = 0.0
    for t, n in cells.items():
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 1 << 40:
            raise EnergyError(f"{where}.{t} must be a cell count (an integer >= 0), not {n!r}")
        total += n * table.cell_area_of(t)
    return total


def load_logic_model(table: MemoryTable, path=None) -> LogicModel:
    """Read the synthesized cells (default: ``energy/synth_cells.json``) and fit the logic model."""
    path = DEFAULT_CELLS if path is None else Path(path)
    where = f"synthesis cells {path}"
    raw = read_capped(path, MAX_CELLS_BYTES, where, EnergyError)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise EnergyError(f"{where}: not JSON ({str(e)[:200]})") from None
    doc = check(CELLS, doc, where, EnergyError)
    pes, rows = set(), []
    for i, sh in enumerate(doc["shapes"]):
        at = f"{where}: field 'shapes[{i}]"
        pe = _cells_area(sh["pe"], table, at + ".pe'")
        pes.add(round(pe, 6))
        rest = _cells_area(sh["array"], table, at + ".array'") + _cells_area(sh["control"], table, at + ".control'")
        rows.append((sh["rows"], sh["cols"], sh["lanes"], rest))
    if len(pes) != 1:
        raise EnergyError(f"{where}: the shapes' PEs differ ({sorted(pes)} um^2); one PE design is expected")
    # the configured scan width: the K of the shape with the fewest rows (no shape's rows raised it further)
    j = min(range(len(doc["shapes"])), key=lambda i: doc["shapes"][i]["rows"])
    scan = doc["shapes"][j]["scan"]
    for i, sh in enumerate(doc["shapes"]):
        if sh["scan"] != _banks(sh["rows"], scan):
            raise EnergyError(f"{where}: field 'shapes[{i}].scan' is {sh['scan']}, but shapes[{j}] was synthesized "
                              f"with scan width {scan} (K = {_banks(sh['rows'], scan)} at {sh['rows']} rows)")
    X = np.array([_features(R, C, V) for R, C, V, _ in rows])
    y = np.array([a for *_, a in rows])
    if np.linalg.matrix_rank(X) < len(FEATURES):
        raise EnergyError(f"{where}: the shapes do not determine the fit {FEATURES} (vary rows, columns and lanes)")
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    return LogicModel(MappingProxyType(dict(doc["widths"])), pes.pop(), tuple(float(c) for c in coef), tuple(rows),
                      path.name, doc["date"], doc["model_hash"], scan)


def _banks(rows: int, scan: int) -> int:
    """The machine's K: ``scan`` raised to the next power of two >= ``rows``."""
    return 1 << (max(rows, scan) - 1).bit_length()


@dataclass(frozen=True)
class MachineArea:
    """Area of the built accelerator (um^2): every memory (all its macros) and, where it applies, the logic."""

    memory_um2: MappingProxyType  # memory name -> area of all its macros
    logic_um2: MappingProxyType | None  # part -> area, None when the logic model does not apply
    logic_note: str

    @property
    def memory_total_um2(self) -> float:
        return sum(self.memory_um2.values())

    @property
    def logic_total_um2(self) -> float | None:
        return None if self.logic_um2 is None else sum(self.logic_um2.values())

    @property
    def total_um2(self) -> float | None:
        """Memories and logic; None when the logic is unknown (see ``logic_note``)."""
        return None if self.logic_um2 is None else self.memory_total_um2 + self.logic_total_um2

    def items(self) -> dict:
        """``{component: um^2}`` (for an Accelergy ART)."""
        out = {f"memory.{k}": v for k, v in self.memory_um2.items()}
        out.update({f"logic.{k}": v for k, v in (self.logic_um2 or {}).items()})
        return out


def machine_area(activity, table: MemoryTable, stats=None, logic: LogicModel | None = None) -> MachineArea:
    """Area of the machine whose memories ``activity`` lists (:func:`energy.built.built_activity`), with the
    logic of ``stats``' array (an :class:`accel.model.NetworkStats`) when the logic model applies."""
    from .activity import storage_kind

    mem = {m.name: m.count * table.storage_area_um2(storage_kind(m, table), m.capacity_bytes, m.word_bits)
           for m in activity.memories if m.kind != "dram"}
    if stats is None:
        return MachineArea(MappingProxyType(mem), None, "logic area: no array given")
    if logic is None:
        try:
            logic = _default_logic(table)
        except EnergyError as e:
            return MachineArea(MappingProxyType(mem), None, str(e))
    p = stats.plan
    why = logic.applies(p.weight_width, p.acc_width, p.pixel_bits, p.bits)
    if not why and p.scan != _banks(p.rows, logic.scan):
        why = (f"logic area: synthesized with scan width {logic.scan} (K = {_banks(p.rows, logic.scan)} at "
               f"{p.rows} rows), this machine has K = {p.scan}")
    if not why and p.shifts != (0,):
        why = f"logic area: synthesized without weight shifters, this network shifts its terms by {list(p.shifts)}"
    if why:
        return MachineArea(MappingProxyType(mem), None, why)
    parts = logic.area_um2(p.rows, p.cols, p.lanes)
    note = (f"{p.rows * p.cols} PEs of {logic.pe_um2:,.0f} um^2 + array and control fitted over "
            f"{len(logic.shapes)} synthesized shapes, max error {logic.max_fit_error:.1%}; {logic.source}, {logic.date}")
    return MachineArea(MappingProxyType(mem), MappingProxyType(parts), note)


_LOGIC: dict = {}


def _default_logic(table: MemoryTable) -> LogicModel:
    key = (table.path, table.nand2_um2)
    if key not in _LOGIC:
        _LOGIC[key] = load_logic_model(table)
    return _LOGIC[key]

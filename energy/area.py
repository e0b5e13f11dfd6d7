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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .errors import EnergyError
from .memtable import MemoryTable


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

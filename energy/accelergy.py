"""Interchange with Accelergy / Timeloop: energy and area reference tables, action counts (YAML).

Formats (Accelergy 0.4, as read by timeloopfe's ``v4/ert.py`` and ``v4/art.py``; energy in pJ,
area in um^2)::

    ERT:
      version: '0.4'
      tables:
      - name: snnbits.PE.int_add            # a component
        actions:
        - name: compute                     # an action
          arguments: {bits: 18}
          energy: 0.0575
    ART:
      version: '0.4'
      tables:
      - name: snnbits.weight_sram
        area: 221984.0
    action_counts:
      version: '0.4'
      local:
      - name: snnbits.PE.int_add
        action_counts:
        - name: compute
          arguments: {bits: 18}
          counts: 1234

Names: operations are ``<prefix>.PE.<op>`` with action ``compute`` and arguments
``bits`` (and ``bits_b`` for a multiplier's second operand); memories of an
activity are ``<prefix>.<memory>`` with actions ``read``/``write`` of one word
(arguments ``width``); the tables themselves export as ``<prefix>.cost_table.sram``
and ``.dram`` (the per-operation table's memory points), ``<prefix>.memory.cacti_sram``
(arguments ``capacity_bytes``, ``width``), ``.memory.register_per_bit``,
``.memory.dram_per_bit`` and ``<prefix>.logic.<piece>``.  A memory's action count is its number
of word accesses, rounded up.

:func:`ert_to_costs` reads an ERT back as a per-operation cost table
(:class:`energy.costs.CostTable`, validated by :func:`energy.costs.parse_costs`):
every component whose last name part is an operation of that table contributes
its actions' ``(bits, energy)`` points, so a Timeloop/Accelergy user can price
our counts with their own tables (``--costs``).

YAML needs PyYAML (the ``accelergy`` extra: ``pip install snnbits[accelergy]``).
"""

from __future__ import annotations

import math

from snnbits.schema import Int, List, Map, Num, Obj, Str, check, read_capped

from .activity import Activity, Op, op_energy_pj, storage_kind
from .costs import OPS as COST_OPS
from .costs import CostTable, parse_costs
from .errors import EnergyError
from .memtable import MemoryTable

VERSION = "0.4"
_SCALING = {"int_add": "linear", "int_mult": "quadratic", "shift": "linear", "compare": "linear", "reset": "linear",
            "fp32_add": "constant", "fp32_mult": "constant", "sram": "sqrt_capacity", "dram": "constant"}


def _args(bits: int, bits_b: int | None = None) -> dict:
    return {"bits": int(bits)} if bits_b is None else {"bits": int(bits), "bits_b": int(bits_b)}


# ------------------------------------------------------------------ export


def costs_to_ert(costs: CostTable, mem: MemoryTable | None = None, prefix: str = "snnbits") -> dict:
    """The per-operation table (and the memory table, if given) as an Accelergy ERT document."""
    tables = []
    for o in costs.ops:
        if o.op in ("sram", "dram"):
            continue
        tables.append({"name": f"{prefix}.PE.{o.op}", "actions": [
            {"name": "compute", "arguments": _args(p.bits), "energy": p.energy_pj} for p in o.points]})
    sram = costs.op("sram")
    tables.append({"name": f"{prefix}.cost_table.sram", "actions": [
        {"name": d, "arguments": {"capacity_bytes": p.capacity_bytes, "width": p.bits}, "energy": p.energy_pj}
        for p in sram.points for d in ("read", "write")]})
    dram = costs.op("dram").points[0]
    tables.append({"name": f"{prefix}.cost_table.dram", "actions": [
        {"name": d, "arguments": {"width": dram.bits}, "energy": dram.energy_pj} for d in ("read", "write")]})
    if mem is not None:
        tables.append({"name": f"{prefix}.memory.cacti_sram", "actions": [
            {"name": d, "arguments": {"capacity_bytes": p.capacity_bytes, "width": p.width_bits},
             "energy": p.read_pj if d == "read" else p.write_pj} for p in mem.sram for d in ("read", "write")]})
        tables.append({"name": f"{prefix}.memory.register_per_bit", "actions": [
            {"name": "read", "arguments": {"width": 1}, "energy": mem.register_read_pj_per_bit},
            {"name": "write", "arguments": {"width": 1}, "energy": mem.register_write_pj_per_bit}]})
        tables.append({"name": f"{prefix}.memory.dram_per_bit", "actions": [
            {"name": d, "arguments": {"width": 1}, "energy": mem.dram_pj_per_bit} for d in ("read", "write")]})
        tables.append({"name": f"{prefix}.logic.horner_shift", "actions": [
            {"name": "compute", "arguments": None, "energy": mem.horner_shift_pj}]})
        tables.append({"name": f"{prefix}.logic.barrel_shift", "actions": [
            {"name": "compute", "arguments": _args(b), "energy": e} for b, e in mem.barrel_shift]})
    return {"ERT": {"version": VERSION, "tables": tables}}


def _op_keys(activity: Activity):
    keys = {}
    for l in activity.layers:
        for o in l.ops:
            k = (o.op, o.bits, o.bits_b)
            keys[k] = keys.get(k, 0) + o.count
    return keys


def _mem_accesses(activity: Activity):
    acc = {}
    for l in activity.layers:
        for t in l.traffic:
            acc[(t.memory, t.direction)] = acc.get((t.memory, t.direction), 0) + t.bits
    words = {m.name: m.word_bits for m in activity.memories}
    return {k: math.ceil(bits / words[k[0]]) for k, bits in acc.items()}


def activity_to_ert(activity: Activity, costs: CostTable, mem: MemoryTable, prefix: str = "snnbits") -> dict:
    """An ERT holding exactly the actions ``activity`` performs, priced with our tables."""
    by_op: dict = {}
    for (op, bits, bits_b) in sorted(_op_keys(activity), key=lambda k: (k[0], k[1], k[2] or 0)):
        e = op_energy_pj(Op("", op, bits, 1, bits_b), costs, mem)
        by_op.setdefault(op, []).append({"name": "compute", "arguments": _args(bits, bits_b), "energy": e})
    tables = [{"name": f"{prefix}.PE.{op}", "actions": acts} for op, acts in by_op.items()]
    for m in activity.memories:
        tables.append({"name": f"{prefix}.{m.name}", "actions": [
            {"name": d, "arguments": {"width": m.word_bits},
             "energy": mem.access_pj(storage_kind(m, mem), m.capacity_bytes, m.word_bits, d)}
            for d in ("read", "write")]})
    return {"ERT": {"version": VERSION, "tables": tables}}


def activity_to_action_counts(activity: Activity, prefix: str = "snnbits") -> dict:
    """The action counts of ``activity`` (totals over its images) under the names of :func:`activity_to_ert`."""
    local: dict = {}
    for (op, bits, bits_b), n in sorted(_op_keys(activity).items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
        local.setdefault(f"{prefix}.PE.{op}", []).append({"name": "compute", "arguments": _args(bits, bits_b), "counts": int(n)})
    widths = {m.name: m.word_bits for m in activity.memories}
    for (name, d), n in _mem_accesses(activity).items():
        local.setdefault(f"{prefix}.{name}", []).append({"name": d, "arguments": {"width": widths[name]}, "counts": int(n)})
    return {"action_counts": {"version": VERSION, "local": [{"name": k, "action_counts": v} for k, v in local.items()]}}


def area_to_art(items: dict, prefix: str = "snnbits") -> dict:
    """An ART from ``{component: area_um2}`` (e.g. :func:`energy.area.memory_area_um2` and
    :class:`energy.area.LogicArea` ``.area_um2`` values)."""
    tables = []
    for name, a in items.items():
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or a < 0:
            raise EnergyError(f"accelergy ART: area of {name!r} must be a finite number >= 0, not {a!r}")
        tables.append({"name": f"{prefix}.{name}", "area": float(a)})
    return {"ART": {"version": VERSION, "tables": tables}}


# ------------------------------------------------------------------ Accelergy's rule and import

#: largest energy (pJ) or count an Accelergy document may state
MAX_ENERGY_PJ, MAX_COUNT = 1e12, 1 << 62
_NAME = Str(nonempty=True, max_len=500)
_ARGS = Map(Int(0, 1 << 62), key=r"[A-Za-z_][A-Za-z0-9_]{0,99}", max_len=64, nullable=True, optional=True)
#: an ERT document (Accelergy 0.3/0.4), as far as this module reads it
ERT = Obj({"ERT": Obj({
    "version": Str(choices=("0.3", "0.4")),
    "tables": List(Obj({"name": _NAME, "actions": List(Obj({"name": _NAME, "arguments": _ARGS,
                                                             "energy": Num(0, MAX_ENERGY_PJ)}), 0, 10_000)}),
                   0, 100_000)})})
#: an action-counts document
ACTION_COUNTS = Obj({"action_counts": Obj({
    "version": Str(choices=("0.3", "0.4")),
    "local": List(Obj({"name": _NAME, "action_counts": List(Obj({"name": _NAME, "arguments": _ARGS,
                                                                  "counts": Int(0, MAX_COUNT)}), 0, 10_000)}),
                  0, 100_000)})})


def _version(doc) -> None:
    """YAML reads ``version: 0.4`` as a number: accept it as the string it means."""
    for key in ("ERT", "action_counts"):
        if isinstance(doc, dict) and isinstance(doc.get(key), dict) and isinstance(doc[key].get("version"), float):
            doc[key]["version"] = str(doc[key]["version"])


def check_ert(doc, src: str = "<ert>") -> dict:
    """Validate an ERT document against :data:`ERT` (``EnergyError`` naming ``src``, the field and the value)."""
    _version(doc)
    return check(ERT, doc, f"accelergy ERT {src}", EnergyError)


def check_action_counts(doc, src: str = "<action counts>") -> dict:
    _version(doc)
    return check(ACTION_COUNTS, doc, f"accelergy action counts {src}", EnergyError)


def _akey(name: str, args) -> tuple:
    return name, tuple(sorted((args or {}).items()))


def energy_from_counts(ert: dict, action_counts: dict, src: str = "<ert>") -> float:
    """Accelergy's energy rule: sum over components and actions of counts x ERT energy (pJ).
    Every counted action must be in the ERT (same component, action name and arguments)."""
    table = {}
    for t in check_ert(ert, src)["ERT"]["tables"]:
        for a in t["actions"]:
            table[(t["name"],) + _akey(a["name"], a.get("arguments"))] = a["energy"]
    total = 0.0
    for c in check_action_counts(action_counts, src)["action_counts"]["local"]:
        for a in c["action_counts"]:
            k = (c["name"],) + _akey(a["name"], a.get("arguments"))
            if k not in table:
                raise EnergyError(f"accelergy {src}: no ERT entry for component {c['name']!r} action {a['name']!r} "
                                  f"arguments {a.get('arguments')!r}")
            total += a["counts"] * table[k]
    return total


def ert_to_costs(ert: dict, src: str = "<ert>") -> CostTable:
    """A per-operation cost table from an ERT (see the module docstring for the names it reads)."""
    doc: dict = {"schema_version": 1, "name": f"Accelergy ERT {src}"[:200]}
    for t in check_ert(ert, src)["ERT"]["tables"]:
        name = t["name"]
        op = name.rsplit(".", 1)[-1]
        if op not in COST_OPS:
            continue
        pts = doc.setdefault(op, {"scaling": _SCALING[op], "points": []})["points"]
        for a in t["actions"]:
            args = a.get("arguments") or {}
            where = f"Accelergy ERT {src}: {name} {a['name']} {args}"[:1000]
            if op in ("sram", "dram"):
                if a.get("name") != "read":
                    continue
                p = {"bits": args.get("width"), "energy_pj": a.get("energy"), "source": where}
                if op == "sram":
                    p["capacity_bytes"] = args.get("capacity_bytes")
            else:
                if "bits_b" in args and args["bits_b"] != args.get("bits"):
                    continue
                p = {"bits": args.get("bits", 32), "energy_pj": a.get("energy"), "source": where}
            if not any(q["bits"] == p["bits"] and q.get("capacity_bytes") == p.get("capacity_bytes") for q in pts):
                pts.append(p)
    if "sram" in doc and len(doc["sram"]["points"]) == 1:
        doc["sram"]["scaling"] = "constant"
    return parse_costs(doc, f"{src} (Accelergy ERT)")


# ------------------------------------------------------------------ YAML


def _yaml():
    try:
        import yaml
    except ImportError:
        raise EnergyError("Accelergy YAML needs PyYAML: pip install 'snnbits[accelergy]'") from None
    return yaml


def dump_yaml(doc: dict) -> str:
    return _yaml().safe_dump(doc, sort_keys=False, default_flow_style=False)


#: largest YAML file read
MAX_YAML_BYTES = 16 << 20


def load_yaml(path) -> dict:
    """Parse a YAML file (safe loader; at most :data:`MAX_YAML_BYTES`); every failure is an ``EnergyError``."""
    yaml = _yaml()
    raw = read_capped(path, MAX_YAML_BYTES, f"accelergy {path}", EnergyError)
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise EnergyError(f"accelergy {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise EnergyError(f"accelergy {path}: nested too deeply") from None
    except yaml.YAMLError as e:
        raise EnergyError(f"accelergy {path}: not valid YAML ({str(e)[:200]})") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise EnergyError(f"accelergy {path}: a value YAML cannot read ({str(e)[:200]})") from None


def load_ert_costs(path) -> CostTable:
    """``--costs FILE.yaml``: an Accelergy ERT file as a per-operation cost table."""
    return ert_to_costs(load_yaml(path), str(path))


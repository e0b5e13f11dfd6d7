"""The energy report as data: the built accelerator, the ideal lower bound and every baseline, one run.

:func:`energy_report` (library, no printing) prices, on the same images and with the
same tables:

* **the built accelerator** (the headline): the machine ``rtl.top.Accelerator``
  generates for the network on an ``R x C`` array, from the cycle model's counters
  (:mod:`accel.model`, exact to the RTL) turned into activity by :mod:`energy.built`;
* **the ideal event-driven lower bound** (``ours_ideal`` of :mod:`energy.baselines`:
  one add and one weight read per input spike per connected synapse, the old
  trace-only count);
* every baseline of :mod:`energy.baselines` on the same PE count and memories.

Ratios are method / built (``> 1``: ours is cheaper), for compute, memory and total
(compute + memory + leakage), all computed in this run; :attr:`EnergyReport.verdicts`
says per baseline whether ours wins, ties (within :data:`TIE_BAND`) or loses.
:func:`load_matching` loads a trace and the model it was made from; the front end
(``snnbits.cli.energy.report_from_files``) runs the cycle model on it (this package
imports no ``accel`` code: it reads the cycle model's result); :func:`to_json` gives
the stable JSON document of ``docs/energy.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from golden import trace as gtrace
from golden.convert import IntNetwork, convert
from golden.errors import GoldenError
from golden.models import load_model
from golden.simulate import SimResult

from . import counts
from .activity import COMPUTE_CATEGORIES, MEMORY_CATEGORIES, Activity, PricedActivity, price
from .area import MachineArea, machine_area
from .baselines import METHODS, baseline_activities
from .built import SIZINGS, built_activity, hierarchy, horner_as_barrel_pj
from .costs import CostTable, load_costs
from .errors import EnergyError
from .memtable import MemoryTable, load_memory_table

JSON_FORMAT = "snnbits-energy-report"
JSON_SCHEMA_VERSION = 2

#: a baseline within this fraction of ours (total energy per image) ties
TIE_BAND = 0.05
#: the baselines, in report order (the ideal lower bound is reported apart)
BASELINES = tuple(m for m in METHODS if m != "ours_ideal")
#: the baselines that skip zeros, as ours does (the demo's summary compares with them)
ZERO_SKIPPING = ("qann_skip", "pragmatic")


@dataclass(frozen=True)
class Ratio:
    """Energy of ``method`` divided by the built accelerator's (> 1: ours is cheaper)."""

    method: str
    compute: float
    memory: float
    total: float


@dataclass(frozen=True)
class Verdict:
    """Where ours wins, ties or loses against one baseline (by total energy per image)."""

    method: str
    outcome: str  # "wins", "ties", "loses" (said of ours)
    ratio: float  # baseline / ours, total
    ours_nj: float
    baseline_nj: float
    sentence: str
    ideal_ratio: float | None = None  # baseline / ours' ideal lower bound (both ideal machines on the generic array)


@dataclass(frozen=True)
class MachineInfo:
    """The built machine the report prices."""

    rows: int
    cols: int
    scan: int
    lanes: int
    weight_width: int
    acc_width: int
    weight_sram_kib: float
    spike_sram_kib: float
    offchip_bits_per_cycle: int
    clock_mhz: float
    sizing: str
    config: str
    weights_resident: bool
    cycles_per_image: float


@dataclass(frozen=True)
class EnergyReport:
    model_name: str
    model_hash: str
    images: int
    B: int
    T: int
    bitplanes: bool
    weight_bits: int
    machine: MachineInfo
    costs_name: str
    costs_path: str
    memtable_name: str
    memtable_path: str
    trace_activity: tuple[counts.LayerActivity, ...]
    activity: Activity  # the built machine's (what --export-accelergy writes)
    built: PricedActivity
    ideal: PricedActivity
    baselines: tuple[PricedActivity, ...]
    horner_barrel_pj: float  # the built machine's Horner shifts priced as barrel shifters (total)
    area: MachineArea | None = None  # the built machine's area (energy.area.machine_area)

    @property
    def methods(self) -> tuple[PricedActivity, ...]:
        return (self.built, self.ideal) + self.baselines

    def method(self, name: str) -> PricedActivity:
        for m in self.methods:
            if m.method == name:
                return m
        raise EnergyError(f"energy report: no method {name!r} (methods: {[m.method for m in self.methods]})")

    @property
    def ratios(self) -> tuple[Ratio, ...]:
        o = self.built
        return tuple(Ratio(m.method, _div(m.compute_energy_pj, o.compute_energy_pj),
                           _div(m.memory_energy_pj, o.memory_energy_pj), _div(m.total_energy_pj, o.total_energy_pj))
                     for m in self.methods[1:])

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        return tuple(verdict(b, self.built, ideal=self.ideal) for b in self.baselines)

    @property
    def horner_share_as_barrel(self) -> float:
        """Share of the Horner shifts in the built machine's compute energy if priced as barrel shifters
        (the paper's Fig. 5a view); as built they are wiring and cost nothing."""
        return _div(self.horner_barrel_pj, self.built.compute_energy_pj + self.horner_barrel_pj)


def _div(a: float, b: float) -> float:
    return a / b if b else float("inf") if a else 0.0


def verdict(base: PricedActivity, ours: PricedActivity, band: float = TIE_BAND,
            ideal: PricedActivity | None = None) -> Verdict:
    """Ours against ``base`` by total energy per image: wins (the baseline costs more than ``1 + band`` times
    ours), loses (less than ``1 - band`` times), else ties.  With ``ideal`` (ours' ideal event-driven bound,
    modelled like the baselines on the generic array) the sentence also gives the like-for-like ratio."""
    r = _div(base.total_energy_pj, ours.total_energy_pj)
    o, b = ours.per_image() / 1e3, base.per_image() / 1e3
    outcome = "wins" if r > 1 + band else "loses" if r < 1 - band else "ties"
    rc = _div(base.compute_energy_pj, ours.compute_energy_pj)
    text = {"wins": f"ours wins: the baseline costs {r:.2f}x ours",
            "loses": f"ours loses: the baseline costs {r:.2f}x ours ({1 / r:.2f}x less)" if r else "ours loses",
            "ties": f"ours ties (within {band:.0%}): the baseline costs {r:.2f}x ours"}[outcome]
    ri = _div(base.total_energy_pj, ideal.total_energy_pj) if ideal is not None else None
    like = f"; like for like, against ours' ideal bound on the same generic array: {ri:.2f}x" if ri is not None else ""
    sentence = (f"{base.description}: {b:,.1f} nJ per image against ours {o:,.1f} nJ; {text} "
                f"(compute alone: {rc:.2f}x{like})")
    return Verdict(base.method, outcome, r, o, b, sentence, ri)


def energy_report(inet: IntNetwork, res: SimResult, stats, costs: CostTable | None = None,
                  mem: MemoryTable | None = None, *, sizing: str = "config", rate_T: int | None = None) -> EnergyReport:
    """Price the built machine, its ideal lower bound and every baseline on the images of ``res`` (a simulation
    or a loaded trace of ``inet``; see the module docstring).  ``stats``: the cycle model's result on them
    (:func:`accel.model.evaluate`: the machine, its configuration and counters); ``costs``/``mem``: the
    tables (default: the bundled ones)."""
    if sizing not in SIZINGS:
        raise EnergyError(f"energy report: sizing must be one of {SIZINGS}, not {sizing!r}")
    N = int(res.pixels.shape[0])
    if N < 1:
        raise EnergyError("energy report: the trace holds no images (N = 0)")
    costs = load_costs() if costs is None else costs
    mem = load_memory_table() if mem is None else mem
    if stats.images != N:
        raise EnergyError(f"energy report: the cycle model ran {stats.images} images, the trace holds {N}")
    acts = counts.activity(inet, res)
    built_act = built_activity(stats, sizing)
    built = price(built_act, costs, mem)
    others = baseline_activities(inet, res, hierarchy(stats, sizing), rate_steps=rate_T)
    ideal = price(others.pop("ours_ideal"), costs, mem)
    base = tuple(price(others[m], costs, mem) for m in BASELINES)
    cfg, p = stats.config, stats.plan
    for priced in (built, ideal, *base):
        for what in ("compute", "memory", "leakage", "total"):
            v = getattr(priced, f"{what}_energy_pj")
            if not math.isfinite(v):
                raise EnergyError(
                    f"energy report: the {what} energy of {priced.method} is {v} pJ, not a finite number; "
                    + (f"the leakage grows as the clock slows: [clock] mhz = {cfg.clock_mhz:g} in config {cfg.source}"
                       if what == "leakage" else f"check the values of {costs.path} and {mem.path}"))
    info = MachineInfo(p.rows, p.cols, p.scan, p.lanes, p.weight_width, p.acc_width, cfg.weight_sram_kib,
                       cfg.spike_sram_kib, cfg.offchip_bits_per_cycle, cfg.clock_mhz, sizing, str(cfg.source),
                       stats.weights_resident, stats.cycles / N)
    return EnergyReport(
        model_name=inet.name, model_hash=inet.model_hash, images=N, B=inet.bits, T=res.T,
        bitplanes=inet.bitplanes, weight_bits=inet.weight_bits, machine=info,
        costs_name=costs.name, costs_path=costs.path, memtable_name=mem.name, memtable_path=mem.path,
        trace_activity=acts, activity=built_act, built=built, ideal=ideal, baselines=base,
        horner_barrel_pj=horner_as_barrel_pj(built_act, mem), area=machine_area(built_act, mem, stats),
    )


def load_matching(trace_path, model=None) -> tuple[gtrace.Trace, IntNetwork]:
    """Load a trace and the model it was made from (default: the bundled model),
    converted as the trace says (weight bits, bit planes, per-term shifts); refuse a mismatch."""
    tr = gtrace.load(trace_path)
    net = load_model(model)
    inet = convert(net, weight_bits=tr.meta["weight_bits"], bitplanes=bool(tr.meta["bitplanes"]),
                   term_shifts=bool(tr.meta.get("term_shifts", False)))
    gtrace.check_matches(tr, inet, src=f"trace file {trace_path}")
    if tr.meta["B"] != inet.bits:
        raise GoldenError(f"trace file {trace_path}: B = {tr.meta['B']}, but model {inet.name!r} has B = {inet.bits}")
    return tr, inet


def load_cost_table(path=None) -> CostTable:
    """``--costs``: a per-operation table (``.toml``) or an Accelergy ERT (``.yaml``/``.yml``)."""
    if path is not None and Path(path).suffix.lower() in (".yaml", ".yml"):
        from .accelergy import load_ert_costs

        return load_ert_costs(path)
    return load_costs(path)


# ------------------------------------------------------------------ JSON


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def _energies(m: PricedActivity) -> dict:
    n = m.images
    return {"compute_energy_pj": _r(m.compute_energy_pj / n), "memory_energy_pj": _r(m.memory_energy_pj / n),
            "leakage_energy_pj": _r(m.leakage_energy_pj / n), "total_energy_pj": _r(m.total_energy_pj / n),
            "by_category_energy_pj": {k: _r(v / n) for k, v in m.by_category().items()}}


def _method_json(m: PricedActivity) -> dict:
    n = m.images
    return {"method": m.method, "description": m.description, "note": m.note, "cycles": _r(m.cycles / n),
            **_energies(m),
            "layers": [{"layer": l.layer, "cycles": _r(l.cycles / n),
                        "compute_energy_pj": _r(l.compute_energy_pj / n),
                        "memory_energy_pj": _r(l.memory_energy_pj / n), "leakage_energy_pj": _r(l.leakage_pj / n),
                        "by_category_energy_pj": {k: _r(v / n) for d in (l.compute_pj, l.memory_pj)
                                                  for k, v in d.items()}}
                       for l in m.layers]}


def to_json(rep: EnergyReport) -> dict:
    """The stable JSON document (``docs/energy.md``): energies and cycles per image, counts as totals."""
    n = rep.images
    a = rep.activity
    return {
        "format": JSON_FORMAT,
        "schema_version": JSON_SCHEMA_VERSION,
        "model": {"name": rep.model_name, "hash": rep.model_hash},
        "trace": {"images": n, "B": rep.B, "T": rep.T, "bitplanes": rep.bitplanes, "weight_bits": rep.weight_bits},
        "machine": dataclasses.asdict(rep.machine),
        "costs": {"name": rep.costs_name, "path": rep.costs_path},
        "memory_table": {"name": rep.memtable_name, "path": rep.memtable_path},
        "categories": {"compute": list(COMPUTE_CATEGORIES), "memory": list(MEMORY_CATEGORIES)},
        "tie_band": TIE_BAND,
        "activity": [
            {"layer": t.layer, "kind": t.kind, "neurons": t.neurons // n, "spike_rate": _r(t.spike_rate),
             "input_density": _r(t.input_density), "output_spikes": t.output_spikes,
             "synaptic_ops": t.synaptic_ops, "issued_adds": l.issued_adds, "shift_ops": t.shift_ops,
             "synaptic_per_shift": _r(t.synaptic_per_shift)}
            for t, l in zip(rep.trace_activity, a.layers)],
        "memories": [dataclasses.asdict(m) for m in a.memories],
        "area": None if rep.area is None else {
            "memory_um2": {k: _r(v) for k, v in rep.area.memory_um2.items()},
            "logic_um2": None if rep.area.logic_um2 is None else {k: _r(v) for k, v in rep.area.logic_um2.items()},
            "total_um2": None if rep.area.total_um2 is None else _r(rep.area.total_um2), "note": rep.area.logic_note},
        "horner_shift_share_as_barrel": _r(rep.horner_share_as_barrel),
        "methods": [_method_json(m) for m in rep.methods],
        "ratios": [{"method": r.method, "compute": _r(r.compute), "memory": _r(r.memory), "total": _r(r.total)}
                   for r in rep.ratios],
        "verdicts": [{"method": v.method, "outcome": v.outcome, "ratio": _r(v.ratio), "ideal_ratio": _r(v.ideal_ratio),
                      "sentence": v.sentence} for v in rep.verdicts],
    }

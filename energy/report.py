"""The energy report as data: ours and every baseline, per layer and in total.

:func:`energy_report` (library, no printing) returns an :class:`EnergyReport`;
:func:`report_from_files` loads a trace, the model and a cost table first and
checks that they belong together; :func:`to_json` gives the stable JSON document
described in ``docs/energy.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden import trace as gtrace
from golden.convert import IntNetwork, convert
from golden.errors import GoldenError
from golden.models import load_model
from golden.simulate import SimResult

from . import counts
from .costs import CostTable, load_costs
from .counts import COMPUTE_CATEGORIES, MEMORY_CATEGORIES, LayerActivity
from .errors import EnergyError
from .model import WorkloadEnergy, price

JSON_FORMAT = "snnbits-energy-report"
JSON_SCHEMA_VERSION = 1

#: the baselines, in report order
BASELINES = ("ann_fp32", "ann_int8", "qann", "bit_serial", "rate_coded")


@dataclass(frozen=True)
class Ratio:
    """Energy of ``baseline`` divided by ours (> 1: ours is cheaper)."""

    baseline: str
    compute: float
    total: float


@dataclass(frozen=True)
class EnergyReport:
    model_name: str
    model_hash: str
    images: int
    B: int
    T: int
    bitplanes: bool
    weight_bits: int
    dataflow: str
    costs_name: str
    costs_path: str
    activity: tuple[LayerActivity, ...]
    ours: WorkloadEnergy
    baselines: tuple[WorkloadEnergy, ...]

    @property
    def methods(self) -> tuple[WorkloadEnergy, ...]:
        return (self.ours,) + self.baselines

    def method(self, name: str) -> WorkloadEnergy:
        for m in self.methods:
            if m.method == name:
                return m
        raise EnergyError(f"energy report: no method {name!r} (methods: {[m.method for m in self.methods]})")

    @property
    def ratios(self) -> tuple[Ratio, ...]:
        o = self.ours
        return tuple(
            Ratio(b.method, _div(b.compute_energy_pj, o.compute_energy_pj), _div(b.total_energy_pj, o.total_energy_pj))
            for b in self.baselines
        )

    @property
    def left_shift_share(self) -> float:
        """Share of the left shifts in our compute energy (the paper's Fig. 5a 'LS')."""
        return _div(self.ours.by_category()["shift"], self.ours.compute_energy_pj)

    @property
    def left_shift_share_total(self) -> float:
        """Share of the left shifts in our compute + memory energy."""
        return _div(self.ours.by_category()["shift"], self.ours.total_energy_pj)


def _div(a: float, b: float) -> float:
    return a / b if b else float("inf") if a else 0.0


def energy_report(inet: IntNetwork, res: SimResult, table: CostTable, *, rate_T: int | None = None,
                  dataflow: str = "step_major", baselines: tuple[str, ...] = BASELINES) -> EnergyReport:
    """Count and price our SNN on ``res`` (a simulation or a loaded trace of ``inet``)
    and every baseline on the same network and images."""
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise EnergyError(f"energy report: unknown baseline {unknown[0]!r} (known: {list(BASELINES)})")
    N = int(res.pixels.shape[0])
    if N < 1:
        raise EnergyError("energy report: the trace holds no images (N = 0)")
    acts = counts.activity(inet, res)
    ours = price(counts.ours(inet, res, dataflow, acts), table)
    make = {
        "ann_fp32": lambda: counts.ann_fp32(inet, N, dataflow),
        "ann_int8": lambda: counts.ann_int8(inet, N, dataflow),
        "qann": lambda: counts.qann(inet, N, dataflow),
        "bit_serial": lambda: counts.bit_serial(inet, N, res.T, dataflow),
        "rate_coded": lambda: counts.rate_coded(inet, res.pixels, rate_T, codes=res.codes, dataflow=dataflow),
    }
    base = tuple(price(make[b](), table) for b in baselines)
    return EnergyReport(
        model_name=inet.name,
        model_hash=inet.model_hash,
        images=N,
        B=inet.bits,
        T=res.T,
        bitplanes=inet.bitplanes,
        weight_bits=inet.weight_bits,
        dataflow=dataflow,
        costs_name=table.name,
        costs_path=table.path,
        activity=acts,
        ours=ours,
        baselines=base,
    )


def load_matching(trace_path, model=None) -> tuple[gtrace.Trace, IntNetwork]:
    """Load a trace and the model it was made from (default: the bundled model),
    converted as the trace says (weight bits, bit planes); refuse a mismatch."""
    tr = gtrace.load(trace_path)
    net = load_model(model)
    inet = convert(net, weight_bits=tr.meta["weight_bits"], bitplanes=bool(tr.meta["bitplanes"]))
    gtrace.check_matches(tr, inet, src=f"trace file {trace_path}")
    if tr.meta["B"] != inet.bits:
        raise GoldenError(f"trace file {trace_path}: B = {tr.meta['B']}, but model {inet.name!r} has B = {inet.bits}")
    return tr, inet


def report_from_files(trace_path, model=None, costs=None, *, rate_T: int | None = None,
                      dataflow: str = "step_major") -> EnergyReport:
    table = load_costs(costs)
    tr, inet = load_matching(trace_path, model)
    return energy_report(inet, tr.result, table, rate_T=rate_T, dataflow=dataflow)


# ------------------------------------------------------------------ JSON


def _r(x: float) -> float:
    return float(f"{x:.6g}")


def _energies(e, n: int) -> dict:
    """Per-image energy totals of a method or a layer (both have the same four views)."""
    return {
        "compute_energy_pj": _r(e.compute_energy_pj / n),
        "memory_energy_pj": _r(e.memory_energy_pj / n),
        "total_energy_pj": _r(e.total_energy_pj / n),
        "by_category_energy_pj": {k: _r(v / n) for k, v in e.by_category().items()},
    }


def _method_json(m: WorkloadEnergy) -> dict:
    n = m.images
    return {
        "method": m.method,
        "description": m.description,
        "estimated": m.estimated,
        "note": m.note,
        **_energies(m, n),
        "layers": [
            {
                "layer": l.layer,
                **_energies(l, n),
                "compute": [
                    {"category": r.category, "op": r.op, "bits": r.bits, "bits_b": r.bits_b, "ops": r.ops,
                     "unit_energy_pj": _r(r.unit_energy_pj), "energy_pj": _r(r.energy_pj / n)}
                    for r in l.compute
                ],
                "memory": [
                    {"category": r.category, "direction": r.direction, "bits": r.bits,
                     "buffer_bytes": r.buffer_bytes, "memory": r.memory,
                     "unit_energy_pj_per_bit": _r(r.unit_energy_pj_per_bit), "energy_pj": _r(r.energy_pj / n)}
                    for r in l.memory
                ],
            }
            for l in m.layers
        ],
    }


def to_json(rep: EnergyReport) -> dict:
    """The stable JSON document (``docs/energy.md``): energies in pJ per image,
    ``ops`` and ``bits`` as totals over the ``images`` of the trace."""
    n = rep.images
    return {
        "format": JSON_FORMAT,
        "schema_version": JSON_SCHEMA_VERSION,
        "model": {"name": rep.model_name, "hash": rep.model_hash},
        "trace": {"images": n, "B": rep.B, "T": rep.T, "bitplanes": rep.bitplanes, "weight_bits": rep.weight_bits},
        "dataflow": rep.dataflow,
        "costs": {"name": rep.costs_name, "path": rep.costs_path},
        "categories": {"compute": list(COMPUTE_CATEGORIES), "memory": list(MEMORY_CATEGORIES)},
        "activity": [
            {
                "layer": a.layer,
                "kind": a.kind,
                "neurons": a.neurons // n,
                "in_steps": a.in_steps,
                "out_steps": a.out_steps,
                "spike_rate": _r(a.spike_rate),
                "input_density": _r(a.input_density),
                "output_spikes": a.output_spikes,
                "synaptic_ops": a.synaptic_ops,
                "dense_synapses": a.dense_synapses,
                "shift_ops": a.shift_ops,
                "active_synapses": a.active_synapses,
                "synaptic_per_shift": _r(a.synaptic_per_shift),
            }
            for a in rep.activity
        ],
        "left_shift_share": {"compute": _r(rep.left_shift_share), "total": _r(rep.left_shift_share_total)},
        "methods": [_method_json(m) for m in rep.methods],
        "ratios": [{"baseline": r.baseline, "compute": _r(r.compute), "total": _r(r.total)} for r in rep.ratios],
    }

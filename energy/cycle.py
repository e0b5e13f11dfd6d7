"""Counts from the cycle model (:mod:`accel.model`) instead of a trace.

:func:`workload_from_stats` turns a :class:`accel.model.NetworkStats` into a
:class:`~energy.counts.Workload` (method ``"accel"``), so the same cost table prices
the PE array the cycle model describes.  :func:`energy_pj` is the per-inference
total (compute + memory), usable as ``accel.sweep``'s ``energy=`` hook.

Mapping (widths from the array configuration: ``acc_bits``, ``weight_bits``):

================  ==========================================================
cycle-model op    priced as
================  ==========================================================
``accumulates``   ``int_add`` at ``acc_bits`` (every mapped PE adds each broadcast event)
``multiplies``    ``int_mult`` ``weight_bits x pixel_bits`` (first layer, MAC mode;
                  their adds are the layer's ``accumulates``)
``shifts``        ``shift`` at ``acc_bits``
``init_adds``     ``int_add`` at ``acc_bits`` (bias)
``compares``      ``compare`` at ``acc_bits``
``subtracts``     ``reset`` at ``acc_bits``
================  ==========================================================

Memories: ``weight_sram`` (category ``weights``) and ``spike_sram``
(``activations``) are SRAMs of the configured size (extrapolated in
``sqrt(capacity)`` beyond the table's largest SRAM point), ``param`` (per-neuron
threshold and bias; ``weights``) an SRAM of the table's smallest size, ``offchip``
(weight loads; ``weights``) DRAM.  Membranes live in PE registers: no traffic.
"""

from __future__ import annotations

import math

from .costs import CostTable, load_costs
from .counts import LayerCounts, MemCount, OpCount, Workload
from .errors import EnergyError
from .model import price

_MEMORY = {  # cycle-model memory -> (category, kind)
    "weight_sram": ("weights", "sram"),
    "spike_sram": ("activations", "sram"),
    "param": ("weights", "sram"),
    "offchip": ("weights", "dram"),
}


def workload_from_stats(stats, *, pixel_bits: int = 8) -> Workload:
    """A :class:`Workload` from a cycle-model result (``stats.config``, ``.images``, ``.layers``)."""
    cfg = stats.config
    A, W = cfg.acc_bits, cfg.weight_bits
    size = {
        "weight_sram": math.ceil(cfg.weight_sram_kib * 1024),
        "spike_sram": math.ceil(cfg.spike_sram_kib * 1024),
        "param": 8192,
        "offchip": 1 << 40,
    }
    layers = []
    for l in stats.layers:
        ops = l.ops
        missing = {"accumulates", "multiplies", "shifts", "init_adds", "compares", "subtracts"} - set(ops)
        if missing:
            raise EnergyError(f"cycle model layer {l.name!r}: missing op counts {sorted(missing)}")
        mults = ops["multiplies"]
        compute = [
            OpCount("synaptic", "int_add", A, ops["accumulates"] - mults),
            OpCount("mac", "int_mult", W, mults, pixel_bits),
            OpCount("mac", "int_add", A, mults),
            OpCount("shift", "shift", A, ops["shifts"]),
            OpCount("bias", "int_add", A, ops["init_adds"]),
            OpCount("compare", "compare", A, ops["compares"]),
            OpCount("reset", "reset", A, ops["subtracts"]),
        ]
        memory = []
        for m, (r, w) in l.sram_bits.items():
            if m not in _MEMORY:
                raise EnergyError(f"cycle model layer {l.name!r}: unknown memory {m!r} (known: {sorted(_MEMORY)})")
            cat, kind = _MEMORY[m]
            memory += [MemCount(cat, "read", r, size[m], kind), MemCount(cat, "write", w, size[m], kind)]
        layers.append(LayerCounts(l.name, tuple(compute), tuple(memory)))
    desc = f"PE array {cfg.rows}x{cfg.cols} ({cfg.dataflow}), cycle model"
    return Workload("accel", desc, stats.images, tuple(layers))


def energy_pj(stats, table: CostTable | None = None, *, pixel_bits: int = 8) -> float:
    """Compute + memory energy per inference of a cycle-model result (pJ)."""
    w = price(workload_from_stats(stats, pixel_bits=pixel_bits), table or _default_table())
    return w.total_energy_pj / w.images


_TABLE: list[CostTable] = []


def _default_table() -> CostTable:
    if not _TABLE:
        _TABLE.append(load_costs())
    return _TABLE[0]

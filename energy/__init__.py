"""45 nm energy and area of the built accelerator, its ideal lower bound and its baselines.

Energy = activity x cost tables (Accelergy's rule).  Modules: :mod:`.costs` (the
per-operation table), :mod:`.memtable` (memories by capacity and width, registers,
DRAM, cell areas), :mod:`.activity` (the activity vocabulary and its price),
:mod:`.built` (the built accelerator's activity, from the cycle model's counters),
:mod:`.baselines` (every method on one generic array), :mod:`.counts` (exact
trace counts), :mod:`.area` (area from synthesis and the memory table),
:mod:`.accelergy` (ERT/ART/action counts), :mod:`.report` (the report as
dataclasses and JSON).  This package imports no ``accel`` code; the ``energy
report`` command, which runs the cycle model, is the front end
:mod:`snnbits.cli.energy`.  See ``docs/energy.md``.
"""

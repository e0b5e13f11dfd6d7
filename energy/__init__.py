"""45 nm energy model of the bit-serial SNN and its baselines: energy = cost table x counts.

Modules: :mod:`.costs` (the versioned TOML cost table), :mod:`.counts` (exact
operation and memory-traffic counts: ours from a trace, and the baselines),
:mod:`.model` (pricing), :mod:`.report` (the report as dataclasses and JSON).
The ``energy report`` command and its tables, CSV and plot are the front end
:mod:`snnbits.cli.energy`.  See ``docs/energy.md``.
"""

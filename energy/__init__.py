"""45 nm energy model of the bit-serial SNN and its baselines: energy = cost table x counts.

Modules: :mod:`.costs` (the versioned TOML cost table), :mod:`.counts` (exact
operation and memory-traffic counts: ours from a trace, and the baselines),
:mod:`.model` (pricing), :mod:`.report` (the report as dataclasses and JSON),
:mod:`.plot`, :mod:`.cli` (``energy report``).  See ``docs/energy.md``.
"""

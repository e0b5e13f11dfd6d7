"""Verilog generation for the processing elements (into build folders only, never committed)."""

from __future__ import annotations

import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

__all__ = ["generate_verilog"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def generate_verilog(component: wiring.Component, out_dir, name: str) -> Path:
    """Write ``component`` as Verilog module ``name`` to ``out_dir/name.v`` and return that path.

    The module's ports are the component's signature (``clk`` and ``rst`` are
    added when it has synchronous logic).  ``out_dir`` is created if missing.
    """
    if not isinstance(component, wiring.Component):
        raise TypeError(f"component must be an amaranth wiring.Component, not {component!r}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be a Verilog identifier, not {name!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(component, name=name, emit_src=False)
    path = out_dir / f"{name}.v"
    path.write_text(text)
    return path

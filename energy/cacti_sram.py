"""Regenerate the ``[[sram.points]]`` of ``energy/memory_45nm.toml`` with CACTI.

Maintenance script, not used at run time.  It runs a built CACTI 7 (the copy
shipped in the ``hwcomponents-cacti`` source distribution on PyPI builds with
``make`` in its ``hwcomponents_cacti/cacti`` folder) for every capacity and
access width of the table: a single-bank, single read/write-port scratchpad
(``cache type "ram"``) at 45 nm with ITRS low-standby-power cells and
peripherals, all other settings from that distribution's
``default_cfg.cfg``, and prints the TOML points (energy per access in pJ,
area in um^2, standby leakage in uW)::

    python -m energy.cacti_sram --cacti DIR/hwcomponents_cacti/cacti \\
        --template DIR/hwcomponents_cacti/default_cfg.cfg > points.toml
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

CAPACITIES = (1024, 4096, 8192, 16384, 32768, 65536, 262144, 1048576, 4194304)
WIDTHS = (32, 64, 128, 256, 512)
CELLS = "itrs-lstp"


def config(template: str, capacity_bytes: int, width_bits: int) -> str:
    """The CACTI input for one SRAM (template settings, then the SRAM's own)."""
    return template + (
        f"\n-size (bytes) {capacity_bytes}\n-read-write port  1\n-block size (bytes) {width_bits // 8}\n"
        f"-technology (u) 0.045\n-output/input bus width  {width_bits}\n-UCA bank 1\n"
        '-cache type "ram"\n-tag size (b) 0\n-associativity 1\n'
    )


def run(cacti_dir: Path, template: str, capacity_bytes: int, width_bits: int) -> dict | None:
    """One CACTI run; ``None`` when CACTI finds no organization (too few rows)."""
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "sram.cfg"
        cfg.write_text(config(template, capacity_bytes, width_bits))
        subprocess.run(["./cacti", "-infile", str(cfg)], cwd=cacti_dir, capture_output=True, timeout=600)
        out = Path(str(cfg) + ".out")
        if not out.exists():
            return None
        row = {k.strip(): v.strip() for k, v in list(csv.DictReader(out.open()))[-1].items()}
    return {
        "capacity_bytes": capacity_bytes,
        "width_bits": width_bits,
        "read_pj": float(row["Dynamic read energy (nJ)"]) * 1e3,
        "write_pj": float(row["Dynamic write energy (nJ)"]) * 1e3,
        "area_um2": float(row["Area (mm2)"]) * 1e6,
        "leakage_uw": float(row["Standby leakage per bank(mW)"]) * 1e3,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m energy.cacti_sram", description=__doc__.splitlines()[0])
    ap.add_argument("--cacti", type=Path, required=True, help="folder holding the built ./cacti")
    ap.add_argument("--template", type=Path, required=True, help="default_cfg.cfg of hwcomponents-cacti")
    args = ap.parse_args(argv)
    template = args.template.read_text().replace('"itrs-lstp\n', '"itrs-lstp"\n')
    for c in CAPACITIES:
        for w in WIDTHS:
            p = run(args.cacti, template, c, w)
            if p is None:
                continue
            sys.stdout.write(
                "[[sram.points]]\n"
                f"capacity_bytes = {c}\nwidth_bits = {w}\n"
                f"read_pj = {p['read_pj']:.4g}\nwrite_pj = {p['write_pj']:.4g}\n"
                f"area_um2 = {p['area_um2']:.6g}\nleakage_uw = {p['leakage_uw']:.4g}\n\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Whole-image co-simulation speed of the accelerator top: Icarus vs Verilator, through the cocotb bench.

    python bench/accel_cosim.py [--arrays 4x4,8x8] [--images 2] [--sims icarus,verilator] [--json out.json]

For each array shape, the bundled model's first test images through the
generated top (``snnbits.cosim.runner.run_accel``): build seconds (Verilog
generation excluded), simulated cycles per second under the bench (driver,
monitors and the per-cycle ``ReadOnly`` sampling in Python), whether the run
was exact, and the ratio of the simulators' total times.  A cold build each
time (a fresh folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel.program import compile_program, plan  # noqa: E402
from golden.convert import convert  # noqa: E402
from golden.datasets import digits_test  # noqa: E402
from golden.models import load_model  # noqa: E402
from golden.simulate import simulate  # noqa: E402
from snnbits.cosim.runner import missing_simulator, run_accel  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrays", default="4x4,8x8")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--sims", default="icarus,verilator")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    inet = dataclasses.replace(convert(load_model("default")), bitplanes=True)
    x = digits_test().x[: args.images]
    res = simulate(inet, x)
    out = {"model_hash": inet.model_hash, "images": args.images, "runs": []}
    for shape in args.arrays.split(","):
        R, C = (int(v) for v in shape.lower().split("x"))
        prog = compile_program(plan(inet, R, C))
        totals = {}
        for sim in args.sims.split(","):
            why = missing_simulator(sim)
            if why:
                print(f"{shape} {sim}: skipped ({why})")
                continue
            bdir = Path(tempfile.mkdtemp(prefix=f"accel_{sim}_"))
            t0 = time.perf_counter()
            run = run_accel(prog, res, bdir, sim=sim)
            wall = time.perf_counter() - t0
            cycles = run.cycles + run.observation.stalls
            sim_s = _sim_seconds(run.bench.log) or run.bench.seconds
            build_s = run.bench.seconds - sim_s
            totals[sim] = run.bench.seconds
            row = {"array": shape, "simulator": sim, "cycles": cycles, "build_s": build_s, "sim_s": sim_s,
                   "cycles_per_s": cycles / sim_s if sim_s else 0.0, "exact": run.ok, "wall_s": wall}
            out["runs"].append(row)
            print(f"{shape} {sim:9s}: build {build_s:6.1f} s, {cycles:,} cycles in {sim_s:6.1f} s = "
                  f"{row['cycles_per_s']:9,.0f} cycles/s; exact: {run.ok}")
            shutil.rmtree(bdir, ignore_errors=True)
        if len(totals) == 2:
            i, v = totals.get("icarus"), totals.get("verilator")
            print(f"{shape}: build + simulation, verilator / icarus = {v / i:.2f}x the time")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


def _sim_seconds(log: Path) -> float | None:
    """The test's real time from cocotb's summary table (the bench's own timing, not parsed for results)."""
    import re

    m = re.search(r"accel_runs_images\s+PASS\s+[\d.]+\s+([\d.]+)", log.read_text())
    return float(m.group(1)) if m else None


if __name__ == "__main__":
    sys.exit(main())

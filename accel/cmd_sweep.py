"""``accel sweep``: the cycle model of the PE array over many array shapes."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.table import Table

from .errors import AccelError


def _sizes(option: str):
    def parse(text: str) -> list[int]:
        try:
            vals = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} takes comma-separated positive integers, not {text!r}") from None
        if not vals or any(v < 1 for v in vals):
            raise argparse.ArgumentTypeError(f"{option} takes comma-separated positive integers, not {text!r}")
        return vals

    return parse


def register(sub) -> None:
    from .cmd_run import add_model_options

    p = sub.add_parser(
        "sweep",
        help="cycle model of the PE array over array shapes (table, CSV, JSON, plot)",
        description=(
            "Run the cycle-level model of the event-driven PE array (docs/architecture.md) for every "
            "ROWS x COLS shape on a trace (--trace) or on images it simulates itself, in parallel. "
            "Shows cycles, latency at the clock, PE utilization and memory traffic per inference; "
            "the Pareto front (fewest cycles for the PEs) is marked with *."
        ),
        epilog="Example: accel sweep --random 4 --rows 1,2,4,8,16 --cols 1,2,4,8,16 --plot sweep.png",
    )
    add_model_options(p)
    p.add_argument("--rows", type=_sizes("--rows"), default=[1, 2, 4, 8, 16], metavar="R,R,...",
                   help="PE rows to try (default: 1,2,4,8,16)")
    p.add_argument("--cols", type=_sizes("--cols"), default=[1, 2, 4, 8, 16], metavar="C,C,...",
                   help="PE columns to try (default: 1,2,4,8,16)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="accelerator TOML (default: the bundled accel/configs/default.toml); rows/cols are swept")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--trace", type=Path, metavar="FILE", help="trace written by 'accel run' from MODEL")
    g.add_argument("--input", type=Path, metavar="FILE", help="pixel codes (.npy, or .npz with 'x') to simulate")
    g.add_argument("--random", type=int, metavar="N", help="simulate N random images (default: 4)")
    g.add_argument("--digits", type=int, nargs="?", const=-1, metavar="N", help="simulate the bundled digits test split")
    p.add_argument("--seed", type=int, default=0, help="seed for --random (default: 0)")
    p.add_argument("-T", "--steps", type=int, default=None, metavar="T", help="time steps when simulating (default: B)")
    p.add_argument("--clock-mhz", type=float, default=None, metavar="MHZ",
                   help="clock for latency (default: the config's [clock] mhz)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="local processes (default: all cores)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run on a Dask scheduler (tcp://host:8786) or Ray (ray://host:10001) instead (optional extras)")
    p.add_argument("--costs", type=Path, default=None, metavar="FILE",
                   help="energy cost table for the energy column (default: the bundled 45 nm table; see energy report)")
    p.add_argument("--no-energy", action="store_true", help="leave out the energy per inference")
    p.add_argument("--csv", type=Path, metavar="FILE", help="write every point as CSV")
    p.add_argument("--json", type=Path, metavar="FILE", help="write every point as JSON")
    p.add_argument("--plot", type=Path, metavar="PNG", help="plot cycles against PEs with the Pareto front")
    p.set_defaults(func=run)


def _inputs(args, inet, net):
    """(SimResult, description) from --trace or by simulating the requested images."""
    from golden import trace as gtrace
    from golden.simulate import simulate

    if args.trace is not None:
        tr = gtrace.load(args.trace)
        if tr.meta["weight_bits"] != inet.weight_bits or tr.meta["bitplanes"] != inet.bitplanes:
            raise AccelError(f"trace file {args.trace}: made with weight_bits={tr.meta['weight_bits']} bitplanes="
                             f"{tr.meta['bitplanes']}, but the sweep converts with weight_bits={inet.weight_bits} "
                             f"bitplanes={inet.bitplanes}; pass the same --weight-bits/--bitplanes")
        gtrace.check_matches(tr, inet, f"trace file {args.trace}")
        return tr.result, f"trace {args.trace}"
    from .cmd_run import get_inputs

    if args.digits is not None:
        from golden.datasets import digits_test

        x = digits_test().x
        x = x if args.digits < 0 else x[: args.digits]
        return simulate(inet, x, T=args.steps), f"{len(x)} digits test image(s)"
    if args.input is None and args.random is None:
        args.random = 4
    x, _ = get_inputs(args, net)
    return simulate(inet, x, T=args.steps), f"{len(x)} simulated image(s)"


def run(args) -> int:
    import dataclasses

    from golden.convert import convert
    from golden.models import load_model

    from . import sweep as sw
    from .config import load_config
    from .model import check_fits, profile
    from .ui import console, progress

    cfg = load_config(args.config)
    if args.clock_mhz is not None:
        if not args.clock_mhz > 0:
            raise AccelError(f"sweep: --clock-mhz must be positive, not {args.clock_mhz}")
        cfg = dataclasses.replace(cfg, clock_mhz=args.clock_mhz)
    shapes = sw.parse_shapes(args.rows, args.cols)
    net = load_model(args.model)
    inet = convert(net, weight_bits=args.weight_bits, bitplanes=args.bitplanes)
    res, what = _inputs(args, inet, net)
    t0 = time.perf_counter()
    prof = profile(inet, res)
    check_fits(prof, cfg)  # before the progress bar: a user error prints cleanly
    with progress() as bar:
        task = bar.add_task(f"sweeping {len(shapes)} array shapes", total=len(shapes))
        points = sw.sweep(prof, cfg, shapes, workers=args.workers, cluster=args.cluster,
                          progress=lambda: bar.advance(task), energy=energy_hook(args.costs, args.no_energy))
    secs = time.perf_counter() - t0

    print_points(points, cfg, title=f"{net.name}: {what}, T = {res.T}, per inference at {cfg.clock_mhz:g} MHz")
    console.print(f"{len(points)} configurations in {secs:.2f} s ({len(points) / secs:.1f} configs/s)")
    meta = {"model": net.name, "model_hash": inet.model_hash, "inputs": what, "T": res.T, "images": prof.images,
            "clock_mhz": cfg.clock_mhz, "config": str(cfg.source), "dataflow": cfg.dataflow}
    if args.csv:
        console.print(f"wrote {sw.write_csv(points, args.csv)}")
    if args.json:
        console.print(f"wrote {sw.write_json(points, args.json, meta)}")
    if args.plot:
        console.print(f"wrote {sw.plot(points, args.plot, title=f'{net.name}: PE-array sweep, per inference')}")
    return 0


def energy_hook(costs=None, disabled: bool = False):
    """The sweep's energy column: the cycle model's counts priced by ``energy.cycle`` (picklable)."""
    if disabled:
        return None
    import functools

    from energy.costs import load_costs
    from energy.cycle import energy_pj

    return functools.partial(energy_pj, table=load_costs(costs))


def print_points(points, cfg, title: str) -> None:
    """Print sweep points as a rich table (also used by ``accel demo``)."""

    from .ui import console

    t = Table(title=f"{title} (* Pareto front)",
              caption="us: latency; util: useful adds per PE-cycle; stall: cycles waiting for off-chip weights (shown when nonzero); "
                      "W/S rd: weight/spike SRAM reads; off: off-chip weight loads (Mbit, shown when nonzero); uJ: energy per inference "
                      "(cycle-model counts x cost table); busy/idle split in --csv/--json", padding=(0, 1))
    stalls = any(p.cycles_stalled for p in points)
    offchip = any(p.sram_read_bits["offchip"] for p in points)
    energy = any(p.energy_pj is not None for p in points)
    cols = ["array", "PEs", "cycles", "us", "util%"] + (["stall"] if stalls else []) + ["W rd Mb", "S rd Mb"]
    cols += (["off Mb"] if offchip else []) + (["uJ"] if energy else [])
    for col in cols:
        t.add_column(col, justify="right", no_wrap=True)
    for p in points:
        cells = [f"{'*' if p.pareto else ' '}{p.rows}x{p.cols}", str(p.pes), f"{p.cycles:,.0f}",
                 f"{p.latency_us:,.1f}", f"{p.pe_utilization * 100:.1f}"]
        cells += [f"{p.cycles_stalled:,.0f}"] if stalls else []
        cells += [f"{p.sram_read_bits['weight_sram'] / 1e6:,.2f}", f"{p.sram_read_bits['spike_sram'] / 1e6:,.2f}"]
        cells += [f"{p.sram_read_bits['offchip'] / 1e6:,.2f}"] if offchip else []
        cells += [f"{p.energy_pj / 1e6:,.2f}"] if energy else []
        t.add_row(*cells)
    console.print(t)

"""``accel sweep``: the cycle model of the PE array over many array shapes."""

from __future__ import annotations

import math
import time

from rich.table import Table

from accel.errors import AccelError
from accel.sweep import CLUSTER_TIMEOUT_S
from snnbits.cli.args import (MAX_ARRAY_DIM, MAX_SHAPES, cluster_address, int_in, int_list_in, model_path, path_arg,
                              positive_float)
from snnbits.cli.dispatch import UsageError
from snnbits.cli.output import FILE_HELP, check_distinct, check_file, writing
from snnbits.cli.ui import esc, plot_text


def register(sub) -> None:
    from .run import add_image_options, add_model_options

    p = sub.add_parser(
        "sweep",
        help="cycle model of the PE array over array shapes (table, CSV, JSON, plot)",
        description=(
            "Run the accelerator's cycle model (docs/architecture.md, exact to the RTL) for every "
            "ROWS x COLS shape on a trace (--trace) or on images it simulates itself, in parallel. "
            "Shows cycles, latency at the clock, PE utilization, memory traffic, the built machine's energy "
            "(energy report's) and its area (memories from the table, logic from synthesis) per configuration; "
            "the Pareto front over latency, energy and area is marked with *."
        ),
        epilog="Example: accel sweep --random 4 --rows 1,2,4,8,16 --cols 1,2,4,8,16 --plot sweep.png",
    )
    add_model_options(p, calibration="the images the sweep simulates, or the trace's")
    p.add_argument("--rows", type=int_list_in(1, MAX_ARRAY_DIM), default=[1, 2, 4, 8, 16], metavar="R,R,...",
                   help=f"PE rows to try, each 1..{MAX_ARRAY_DIM} (default: 1,2,4,8,16); at most {MAX_SHAPES} "
                        "shapes (rows x cols) per sweep")
    p.add_argument("--cols", type=int_list_in(1, MAX_ARRAY_DIM), default=[1, 2, 4, 8, 16], metavar="C,C,...",
                   help=f"PE columns to try, each 1..{MAX_ARRAY_DIM} (default: 1,2,4,8,16)")
    p.add_argument("--scan", type=int_list_in(1, MAX_ARRAY_DIM), default=None, metavar="K,K,...",
                   help="scan widths to try: channels the zero-skipping encoder reads per cycle, each "
                        f"1..{MAX_ARRAY_DIM}, raised to a power of two >= the rows (default: the config's [array] scan)")
    p.add_argument("--config", type=path_arg, metavar="FILE",
                   help="accelerator TOML (default: the bundled accel/configs/default.toml); rows/cols are swept")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--trace", type=path_arg, metavar="FILE", help="trace written by 'accel run' from MODEL")
    add_image_options(p, random_default="; the default, with N = 4", group=g)
    p.add_argument("--clock-mhz", type=positive_float(1e6, 1e-3), default=None, metavar="MHZ",
                   help="clock for latency and leakage energy, 0.001 <= MHZ <= 1e6 (default: the config's [clock] "
                        "mhz)")
    p.add_argument("--workers", type=int_in(1, 1024), default=None, metavar="N",
                   help="local processes, 1..1024 (default: all cores)")
    p.add_argument("--cluster", type=cluster_address, metavar="ADDRESS",
                   help="run on a Dask scheduler (tcp://host:8786) or Ray (ray://host:10001) instead (optional extras); "
                        f"a scheduler that does not answer within {CLUSTER_TIMEOUT_S} s is an error")
    p.add_argument("--costs", type=path_arg, default=None, metavar="FILE",
                   help="per-operation cost table for the energy column (.toml or an Accelergy ERT .yaml; default: "
                        "the bundled 45 nm table; see energy report)")
    p.add_argument("--memory-table", type=path_arg, default=None, metavar="FILE",
                   help="memory and logic cost table (default: the bundled energy/memory_45nm.toml)")
    p.add_argument("--sizing", choices=("config", "fitted"), default="config",
                   help="memory sizes priced: the configuration's (default) or fitted to the network")
    p.add_argument("--no-energy", action="store_true", help="leave out the energy and the area per configuration")
    p.add_argument("--csv", type=path_arg, metavar="FILE", help=f"write every point as CSV ({FILE_HELP})")
    p.add_argument("--json", type=path_arg, metavar="FILE", help=f"write every point as JSON ({FILE_HELP})")
    p.add_argument("--plot", type=path_arg, metavar="PNG",
                   help=f"plot cycles against PEs with the Pareto front (needs matplotlib; {FILE_HELP})")
    p.set_defaults(func=run)


def _inputs(args, net):
    """(integer network, SimResult, description) from --trace or by simulating the requested images;
    ``--weight-bits auto`` calibrates on those images (or on --calibration FILE)."""
    from golden import trace as gtrace
    from golden.simulate import simulate

    from snnbits.cli.args import auto_summary, convert_model, probe_network
    from snnbits.cli.ui import console

    probe = probe_network(args, net)
    if args.trace is not None:
        tr = gtrace.load(args.trace)
        inet, auto, source = convert_model(args, net, probe, default=(tr.result.pixels, f"trace {args.trace}"))
        if auto is not None:
            console.print(esc(auto_summary(auto, source)))
        made = (tr.meta["weight_bits"], tr.meta["bitplanes"], tr.meta.get("term_shifts", False))
        if made != (inet.weight_bits, inet.bitplanes, inet.term_shifts):
            raise AccelError(f"trace file {args.trace}: made with weight_bits={made[0]} bitplanes={made[1]} "
                             f"term_shifts={made[2]}, but the sweep converts with weight_bits={inet.weight_bits} "
                             f"bitplanes={inet.bitplanes} term_shifts={inet.term_shifts}; pass the same "
                             "--weight-bits/--bitplanes/--term-shifts")
        gtrace.check_matches(tr, inet, f"trace file {args.trace}")
        return inet, tr.result, f"trace {args.trace}"
    from .run import get_inputs

    if args.input is None and args.random is None and args.digits is None:
        args.random = 4
    x, _, source = get_inputs(args, probe)
    inet, auto, calibrated_on = convert_model(args, net, probe, default=(x, source))
    if auto is not None:
        console.print(esc(auto_summary(auto, calibrated_on)))
    what = f"{len(x)} digits test image(s)" if args.digits is not None else f"{len(x)} simulated image(s)"
    return inet, simulate(inet, x, T=args.steps), what


def run(args) -> int:
    import dataclasses

    from golden.ir import load

    from accel import sweep as sw
    from accel.config import load_config
    from accel.model import check_fits, profile
    from snnbits.cli.ui import console, progress

    model = model_path(args.model)
    outputs = {"--csv": args.csv, "--json": args.json, "--plot": args.plot}
    for option, path in outputs.items():
        if path is not None:
            check_file(path, option, inputs=[model, args.trace, args.input, args.config, args.costs,
                                             args.memory_table, args.calibration])
    check_distinct(outputs)
    shapes = sw.parse_shapes(args.rows, args.cols)
    if len(shapes) > MAX_SHAPES:
        raise UsageError(f"--rows/--cols: {len(shapes):,} array shapes; a sweep evaluates at most {MAX_SHAPES:,}")
    n_scan = len(dict.fromkeys(args.scan)) if args.scan else 1
    if len(shapes) * n_scan > MAX_SHAPES:
        raise UsageError(f"--rows/--cols/--scan: {len(shapes):,} array shapes x {n_scan} scan widths; a sweep "
                         f"evaluates at most {MAX_SHAPES:,} configurations")
    cfg = load_config(args.config)
    if args.clock_mhz is not None:
        cfg = dataclasses.replace(cfg, clock_mhz=args.clock_mhz)
    net = load(model)
    inet, res, what = _inputs(args, net)
    t0 = time.perf_counter()
    prof = profile(inet, res)
    check_fits(prof, cfg)  # before the progress bar: a user error prints cleanly
    n = len(sw.configurations(cfg, shapes, args.scan))
    with progress() as bar:
        task = bar.add_task(f"sweeping {n} configurations", total=n)
        hooks = energy_hooks(args.costs, args.memory_table, args.sizing, args.no_energy)
        points = sw.sweep(prof, cfg, shapes, workers=args.workers, cluster=args.cluster,
                          progress=lambda: bar.advance(task), scans=args.scan, **hooks)
    secs = time.perf_counter() - t0
    for pt in points:
        bad = {k: v for k, v in dataclasses.asdict(pt).items() if isinstance(v, float) and not math.isfinite(v)}
        if bad:
            raise UsageError(f"sweep: array {pt.rows}x{pt.cols}: {', '.join(f'{k} = {v}' for k, v in bad.items())}, "
                             f"not finite numbers; at a clock of {cfg.clock_mhz:g} MHz (--clock-mhz or [clock] mhz "
                             f"in config {cfg.source}) the latency and the leakage energy grow without bound")

    print_points(points, cfg, title=f"{esc(net.name)}: {esc(what)}, T = {res.T}, per inference at {cfg.clock_mhz:g} MHz")
    console.print(f"{len(points)} configurations in {secs:.2f} s ({len(points) / secs:.1f} configs/s)")
    meta = {"model": net.name, "model_hash": inet.model_hash, "inputs": what, "T": res.T, "images": prof.images,
            "clock_mhz": cfg.clock_mhz, "config": str(cfg.source), "dataflow": cfg.dataflow,
            "sizing": args.sizing, "pareto_over": list(sw.objectives(points))}
    if args.csv:
        with writing(args.csv, "--csv") as tmp:
            sw.write_csv(points, tmp)
        console.print(f"wrote {esc(args.csv)}")
    if args.json:
        with writing(args.json, "--json") as tmp:
            sw.write_json(points, tmp, meta)
        console.print(f"wrote {esc(args.json)}")
    if args.plot:
        with writing(args.plot, "--plot") as tmp:
            sw.plot(points, tmp, title=f"{plot_text(net.name)}: PE-array sweep, per inference")
        console.print(f"wrote {esc(args.plot)}")
    return 0


def energy_hooks(costs=None, memtable=None, sizing: str = "config", disabled: bool = False) -> dict:
    """The sweep's energy and area columns: the built machine priced by ``energy.built`` (picklable partials
    of the table paths; the tables are checked here first, so that a bad file is an error before the sweep)."""
    if disabled:
        return {}
    import functools

    from energy.built import area_um2, energy_pj
    from energy.memtable import load_memory_table
    from energy.report import load_cost_table

    load_cost_table(costs)
    load_memory_table(memtable)
    return {"energy": functools.partial(energy_pj, costs=costs, mem=memtable, sizing=sizing),
            "area": functools.partial(area_um2, mem=memtable, sizing=sizing)}


def print_points(points, cfg, title: str) -> None:
    """Print sweep points as a rich table (also used by ``accel demo``)."""

    from accel.sweep import objectives
    from snnbits.cli.ui import console

    over = {"pes": "PEs", "cycles": "cycles", "latency_us": "latency", "energy_pj": "energy", "area_um2": "area"}
    t = Table(title=f"{title} (* Pareto front over {', '.join(over[k] for k in objectives(points))})",
              caption="K: scan width (channels read per cycle; shown when swept); us: latency; util: useful adds per PE-cycle; stall: cycles waiting for off-chip weights (shown "
                      "when nonzero); W/S rd: weight/spike SRAM reads as the RTL enables them; off: off-chip weight "
                      "loads (Mbit, shown when nonzero); nJ: the built machine's energy per inference; mm2: its area "
                      "(memories and logic); busy/idle split in --csv/--json", padding=(0, 1))
    stalls = any(p.cycles_stalled for p in points)
    scans = len({p.scan for p in points}) > 1
    offchip = any(p.sram_read_bits["offchip"] for p in points)
    energy = any(p.energy_pj is not None for p in points)
    area = any(p.area_um2 is not None for p in points)
    cols = ["array"] + (["K"] if scans else []) + ["PEs", "cycles", "us", "util%"] + (["stall"] if stalls else [])
    cols += ["W rd Mb", "S rd Mb"]
    cols += (["off Mb"] if offchip else []) + (["nJ"] if energy else []) + (["mm2"] if area else [])
    for col in cols:
        t.add_column(col, justify="right", no_wrap=True)
    for p in points:
        cells = [f"{'*' if p.pareto else ' '}{p.rows}x{p.cols}"] + ([str(p.scan)] if scans else [])
        cells += [str(p.pes), f"{p.cycles:,.0f}", f"{p.latency_us:,.1f}", f"{p.pe_utilization * 100:.1f}"]
        cells += [f"{p.cycles_stalled:,.0f}"] if stalls else []
        cells += [f"{p.sram_read_bits['weight_sram'] / 1e6:,.2f}", f"{p.sram_read_bits['spike_sram'] / 1e6:,.2f}"]
        cells += [f"{p.sram_read_bits['offchip'] / 1e6:,.2f}"] if offchip else []
        cells += [f"{p.energy_pj / 1e3:,.1f}" if p.energy_pj is not None else "-"] if energy else []
        cells += [f"{p.area_um2 / 1e6:,.3f}" if p.area_um2 is not None else "-"] if area else []
        t.add_row(*cells)
    console.print(t)

"""``accel demo``: the whole story on the bundled digits model, in one command.

Stages (each prints what it measured; every number comes from this run):

1. convert the model (``--weight-bits W|auto``, ``--term-shifts``) and show the derived
   widths and, per layer, the fraction of codes equal to the float QCFS model's,
2. accuracy on the digits test split: float ANN, integer ANN, SNN at T = 1..B, the
   rate-coded QCFS baseline and the ablation; the count of images whose SNN
   prediction differs from the integer ANN's,
3. write the traces of the whole test split (``fast`` mode) and check them against a
   ``literal`` (time step by time step) run,
4. the energy report on those traces: the built accelerator (4x4, ``accel/configs/small.toml``),
   its ideal lower bound, every baseline on the same PE count and memories, and where
   ours wins, ties and loses,
5. a small PE-array sweep with the cycle model: latency, energy and area per shape,
6. co-simulate a few test images through the RTL PE array (skipped, with a
   message, when no simulator is installed): spikes == golden, cycles == model.

Everything is built in a temporary folder next to ``OUT`` and swapped in for ``OUT``
only when all stages are done (:func:`snnbits.cli.output.building`): an interrupted
or failed run leaves ``OUT`` as it was.  An existing ``OUT`` is replaced only if an
earlier ``accel demo`` made it (it holds the marker file ``.snnbits-demo``) or if it is
empty; any other folder is refused before any work starts.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from accel.config import DEFAULT_CONFIG
from snnbits.cli.args import (MAX_ARRAY_DIM, MODEL_HELP, add_weight_options, auto_summary, check_weight_options, int_in,
                              int_list_in, model_path, path_arg)
from snnbits.cli.dispatch import UsageError
from snnbits.cli.output import building, check_folder
from snnbits.cli.ui import console, esc, plot_text, progress

#: the file that marks a folder as made by ``accel demo`` (and so replaceable by it)
MARKER = ".snnbits-demo"

SHAPES = [1, 2, 4, 8, 16]
#: most test images ``--cosim-images`` runs through the RTL (each takes seconds of simulation)
MAX_COSIM_IMAGES = 64
SMALL_CONFIG = DEFAULT_CONFIG.with_name("small.toml")


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="end to end on the bundled digits model: accuracy, traces, energy, sweep, RTL co-simulation",
        description=__doc__.split("\n\n", 1)[1].split("Everything lands")[0].strip()
        + "\n\nOutputs (in OUT): summary.md, widths.json, accuracy.json/.png, trace.npz, energy.json/.csv/.png, "
        "sweep.csv/.json/.png, cosim.json.",
        epilog="Example: accel demo --out demo-out   |   accel demo --weight-bits auto --cosim-images 0 --no-plots",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", default=None, metavar="MODEL",
                   help=MODEL_HELP + "; its input must match the digits data")
    p.add_argument("--out", type=path_arg, default=Path("demo-out"), metavar="DIR",
                   help=f"output folder (default: ./demo-out), swapped in when the run completes; an existing "
                        f"folder is replaced only if an earlier demo made it (it holds {MARKER}) or it is empty; "
                        "missing parent folders are created")
    p.add_argument("--rows", type=int_list_in(1, MAX_ARRAY_DIM), default=SHAPES, metavar="R,R,...",
                   help=f"array rows to sweep, each 1..{MAX_ARRAY_DIM} (default: {','.join(map(str, SHAPES))})")
    p.add_argument("--cols", type=int_list_in(1, MAX_ARRAY_DIM), default=SHAPES, metavar="C,C,...",
                   help=f"array columns to sweep, each 1..{MAX_ARRAY_DIM} (default: {','.join(map(str, SHAPES))})")
    p.add_argument("--cosim-images", type=int_in(0, MAX_COSIM_IMAGES), default=2, metavar="N",
                   help=f"test images co-simulated through the RTL array, 0..{MAX_COSIM_IMAGES} (default: 2; 0 skips)")
    p.add_argument("--cosim-shape", default="4x4", metavar="RxC",
                   help="PE array shape for the co-simulation, 1..64 rows and columns (default: 4x4)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    add_weight_options(p, calibration="the digits test split")
    p.set_defaults(func=run)


def _write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, indent=1, default=float) + "\n")
    return path


def _plots_available(args) -> bool:
    if args.no_plots:
        return False
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        console.print("[yellow]matplotlib is not installed: plots skipped (pip install 'snnbits[plot]')[/yellow]")
        return False
    return True


def _cosim_shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--cosim-shape must look like 4x4, not {text!r}") from None
    if not (1 <= rows <= 64 and 1 <= cols <= 64):
        raise UsageError(f"--cosim-shape must have 1..64 rows and columns, not {text!r}")
    return rows, cols


def run(args) -> int:
    args.model = model_path(args.model)
    out = check_folder(args.out, "--out", MARKER, inputs=[args.model, args.calibration])
    _cosim_shape(args.cosim_shape)
    check_weight_options(args)
    with building(args.out, "--out", MARKER, note="made by 'accel demo'; the next 'accel demo' into this folder "
                                                "replaces it\n") as partial:
        summary = _build(args, partial)
    console.rule()
    console.print(f"[bold]done in {summary['seconds']:.0f} s; everything is in {esc(out)}[/bold] "
                  f"(summary.md, widths.json, accuracy.*, trace.npz, energy.*, sweep.*"
                  f"{', cosim.json' if summary['cosim']['status'] == 'ran' else ''})")
    return 0


def _build(args, partial: Path) -> dict:
    """Run every stage, writing into ``partial``; return the summary."""
    from golden import datasets, trace
    from golden.errors import GoldenError
    from golden.fidelity import fidelity
    from golden.ir import load

    from snnbits.cli.args import convert_model

    plots = _plots_available(args)
    t_start = time.perf_counter()
    summary: dict = {"model_file": str(args.model)}

    # 1. conversion -------------------------------------------------------------
    console.rule("[bold]1. conversion")
    from .info import info_json, info_table

    net = load(args.model)
    want = datasets.input_node()
    if (net.input.shape, net.input.bits) != (want.shape, want.bits):
        raise GoldenError(f"demo: model input {net.input.shape} x {net.input.bits} bits does not match the digits "
                          f"data ({want.shape} x {want.bits} bits)")
    test = datasets.digits_test()
    split = "the digits test split"
    inet, auto, source = convert_model(args, net, default=(test.x, split))
    if auto is not None:
        console.print(esc(auto_summary(auto, source)))
    fid = auto.fidelity if auto is not None else fidelity(net, inet, test.x)
    console.print(info_table(inet, fidelity=fid, calibration=source or split))
    _write_json(partial / "widths.json", info_json(inet, fid, source or split, auto))
    summary["model"] = {"name": net.name, "hash": inet.model_hash, "B": inet.bits, "weight_bits": inet.weight_bits,
                        "term_shifts": inet.term_shifts,
                        "layers": [{"name": l.name, "acc_bits": l.acc_bits, "syn_bits": l.syn_bits,
                                    "weight_bits": l.weight_bits, "match": fid.layer(l.name).fraction}
                                   for l in inet.layers]}

    # 2. accuracy ---------------------------------------------------------------
    console.rule("[bold]2. accuracy on the digits test split")
    from golden import accuracy

    from .accuracy import for_plot
    from .accuracy import print_report as print_accuracy

    with progress() as bar:
        task = bar.add_task("accuracy", total=accuracy.steps(inet))
        acc = accuracy.evaluate(net, test.x, test.y, inet=inet,
                                progress=lambda what: bar.update(task, advance=1, description=what))
    print_accuracy(acc, console)
    _write_json(partial / "accuracy.json", acc.to_dict())
    if plots:
        accuracy.plot(for_plot(acc), partial / "accuracy.png")
    summary["accuracy"] = acc.to_dict()

    # 3. traces -----------------------------------------------------------------
    console.rule("[bold]3. traces")
    from golden.simulate import simulate

    with progress() as bar:
        task = bar.add_task("simulating (fast, literal)", total=2 * len(inet.layers))
        res = simulate(inet, test.x, mode="fast", progress=lambda _: bar.advance(task))
        lit = simulate(inet, test.x, mode="literal", progress=lambda _: bar.advance(task))
    same = all(np.array_equal(res.membrane[k], lit.membrane[k]) for k in res.membrane) and all(
        np.array_equal(res.spikes[k], lit.spikes[k]) for k in res.spikes)
    trace_path = trace.save(partial / "trace.npz", inet, res, "fast")
    spikes = int(sum(int(s.sum()) for s in res.spikes.values()))
    console.print(f"{len(test)} images, T = {res.T}: {spikes} spikes ({spikes / len(test):.1f} per image); "
                  f"literal run {'[green]identical[/green]' if same else '[bold red]DIFFERENT[/bold red]'} "
                  f"to fast run in every spike and membrane; wrote {trace_path.name}")
    summary["trace"] = {"images": len(test), "T": res.T, "spikes_per_image": spikes / len(test),
                        "literal_equals_fast": bool(same)}

    # 4. energy -----------------------------------------------------------------
    console.rule("[bold]4. energy (45 nm)")
    from snnbits.cli.energy.render import print_table, to_csv
    from accel.config import load_config
    from energy.report import ZERO_SKIPPING, energy_report, to_json

    from accel.model import evaluate, profile

    cfg = load_config(SMALL_CONFIG)  # SRAMs sized for a small network (the default is sized for VGG16)
    wide = {"weight_bits": max(cfg.weight_bits, *(l.weight_bits for l in inet.layers)),
            "acc_bits": max(cfg.acc_bits, *(l.acc_bits for l in inet.layers))}
    if wide != {"weight_bits": cfg.weight_bits, "acc_bits": cfg.acc_bits}:
        import dataclasses

        console.print(f"PE widths of {SMALL_CONFIG.name} widened for this network: {wide['weight_bits']}-bit weights, "
                      f"{wide['acc_bits']}-bit accumulators")
        cfg = dataclasses.replace(cfg, **wide)
    prof = profile(inet, res)
    rep = energy_report(inet, res, evaluate(prof, cfg))
    print_table(rep, console)
    ej = to_json(rep)
    _write_json(partial / "energy.json", ej)
    (partial / "energy.csv").write_text(to_csv(rep))
    if plots:
        from snnbits.cli.energy.plot import plot_report

        plot_report(rep, partial / "energy.png")
    summary["energy"] = {"array": [cfg.rows, cfg.cols], "config": str(cfg.source),
                         "built_pj_per_image": {k: rep.built.per_image(k) for k in
                                                ("compute", "memory", "leakage", "total")},
                         "ideal_pj_per_image": rep.ideal.per_image(),
                         "ratios": [{"method": r.method, "compute": r.compute, "memory": r.memory, "total": r.total}
                                    for r in rep.ratios],
                         "verdicts": [{"method": v.method, "outcome": v.outcome, "ratio": v.ratio,
                                       "zero_skipping": v.method in ZERO_SKIPPING} for v in rep.verdicts]}

    # 5. sweep ------------------------------------------------------------------
    console.rule("[bold]5. PE-array sweep (cycle model)")
    from accel import sweep as sw
    from .sweep import energy_hooks, print_points
    from accel.model import check_fits

    shapes = sw.parse_shapes(args.rows, args.cols)
    check_fits(prof, cfg)
    with progress() as bar:
        task = bar.add_task(f"sweeping {len(shapes)} array shapes", total=len(shapes))
        points = sw.sweep(prof, cfg, shapes, progress=lambda: bar.advance(task), **energy_hooks())
    print_points(points, cfg, title=f"{esc(net.name)}: {len(test)} digits images, per inference at {cfg.clock_mhz:g} MHz")
    meta = {"model": net.name, "model_hash": inet.model_hash, "inputs": "digits test split", "T": res.T,
            "images": prof.images, "clock_mhz": cfg.clock_mhz, "config": str(cfg.source)}
    sw.write_csv(points, partial / "sweep.csv")
    sw.write_json(points, partial / "sweep.json", meta)
    if plots:
        sw.plot(points, partial / "sweep.png", title=f"{plot_text(net.name)}: PE-array sweep, per inference")
    front = [p for p in points if p.pareto]
    summary["sweep"] = {"shapes": len(points), "pareto": [p.flat() for p in front]}

    # 6. RTL co-simulation ------------------------------------------------------
    console.rule("[bold]6. RTL co-simulation")
    summary["cosim"] = _cosim(args, inet, test, partial)

    # summary -------------------------------------------------------------------
    summary["seconds"] = time.perf_counter() - t_start
    _write_json(partial / "summary.json", summary)
    (partial / "summary.md").write_text(_summary_md(summary, acc, rep, front, plots))
    return summary


def _cosim(args, inet, test, folder: Path) -> dict:
    """Run a few images through the RTL array; a missing simulator is a message, not an error."""
    if args.cosim_images <= 0:
        console.print("skipped (--cosim-images 0)")
        return {"status": "skipped", "reason": "--cosim-images 0"}
    try:
        from snnbits.cosim.runner import cosim_network, missing_simulator
    except ImportError as e:
        console.print(f"[yellow]skipped: the RTL extra is not installed ({esc(e)}); pip install 'snnbits[rtl]'[/yellow]")
        return {"status": "skipped", "reason": str(e)}
    why = missing_simulator("auto")
    if why:
        console.print(f"[yellow]skipped: {esc(why)}[/yellow]")
        return {"status": "skipped", "reason": why}
    rows, cols = _cosim_shape(args.cosim_shape)
    x = test.x[: args.cosim_images]
    with progress() as bar:
        task = bar.add_task(f"co-simulating {len(x)} image(s) on a {rows}x{cols} array", total=len(inet.layers))
        result = cosim_network(inet, x, rows, cols, build_dir=folder / "cosim_build",
                               progress=lambda _name: bar.advance(task))
    shutil.rmtree(folder / "cosim_build", ignore_errors=True)
    ok = result["spikes_equal"] and result["cycles_equal"]
    style = "green" if ok else "bold red"
    console.print(f"[{style}]{len(x)} image(s), {len(inet.layers)} layers on a {rows}x{cols} array: spikes equal golden: "
                  f"{result['spikes_equal']}; RTL cycles {result['rtl_cycles']} == model cycles "
                  f"{result['model_cycles']}: {result['cycles_equal']}[/{style}] "
                  f"({result['sim_seconds']:.1f} s of simulation)")
    _write_json(folder / "cosim.json", result)
    return {"status": "ran", **result}


def _summary_md(s: dict, acc, rep, front, plots: bool) -> str:
    from energy.report import TIE_BAND, ZERO_SKIPPING

    B = acc.bits
    lines = [
        f"# Demo summary: {s['model']['name']}",
        "",
        f"Model `{s['model_file']}` (hash `{s['model']['hash'][:16]}`), B = {B} bits, "
        f"{s['model']['weight_bits']}-bit weights{' with per-term shifts' if s['model']['term_shifts'] else ''}. Run took {s['seconds']:.0f} s. All numbers below come from this run.",
        "",
        "## Conversion",
        "",
        "| layer | weight bits | synaptic-sum bits | accumulator bits | codes equal to the float model's |",
        "|---|---:|---:|---:|---:|",
        *[f"| {l['name']} | {l['weight_bits']} | {l['syn_bits']} | {l['acc_bits']} | {100 * l['match']:.2f} % |"
          for l in s["model"]["layers"]],
        "",
        f"## Accuracy ({acc.images} digits test images)",
        "",
        f"- float QCFS ANN: {100 * acc.float_ann:.2f} %",
        f"- integer ANN: {100 * acc.integer_ann:.2f} %",
        *[f"- bit-serial SNN, T = {T}: {100 * a:.2f} %" for T, a in acc.snn.items()],
        "- rate-coded QCFS SNN: " + ", ".join(f"T = {T}: {100 * a:.2f} %" for T, a in acc.rate_coded.items()),
        f"- **images whose SNN (T = {B}) prediction differs from the integer ANN's: {acc.mismatches}**; "
        f"neuron codes that differ: {acc.code_mismatches}",
        f"- spikes per image at T = {B}: {acc.spikes_per_image:.1f}",
        "",
        "## Traces",
        "",
        f"`trace.npz`: {s['trace']['images']} images, T = {s['trace']['T']}; literal run equals fast run: "
        f"{s['trace']['literal_equals_fast']}.",
        "",
        f"## Energy per image (45 nm tables; the built accelerator, {rep.machine.rows}x{rep.machine.cols}, "
        "`accel/configs/small.toml`)",
        "",
        f"Built accelerator: compute {rep.built.per_image('compute') / 1e3:.2f} nJ, memory "
        f"{rep.built.per_image('memory') / 1e3:.2f} nJ, leakage {rep.built.per_image('leakage') / 1e3:.2f} nJ, "
        f"total **{rep.built.per_image() / 1e3:.2f} nJ**; the ideal event-driven lower bound "
        f"{rep.ideal.per_image() / 1e3:.2f} nJ. Every baseline runs on the same PE count and memories.",
        "",
        "| method | compute: method / built | memory: method / built | total: method / built |",
        "|---|---:|---:|---:|",
        *[f"| {r.method} | {r.compute:.2f}x | {r.memory:.2f}x | {r.total:.2f}x |" for r in rep.ratios],
        "",
        "Where ours wins, ties and loses (total energy; a tie is within "
        f"{TIE_BAND:.0%}); the zero-skipping baselines first:",
        "",
        *[f"- **{v.outcome}** against {v.sentence}" for v in sorted(rep.verdicts, key=lambda v: v.method not in
                                                                   ZERO_SKIPPING)],
        "",
        "## PE-array sweep (Pareto front over latency, energy and area; config `accel/configs/small.toml`)",
        "",
        "| array | PEs | cycles | latency (us) | utilization | energy (nJ) | area (mm^2) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[f"| {p.rows}x{p.cols} | {p.pes} | {p.cycles:,.0f} | {p.latency_us:,.1f} | {100 * p.pe_utilization:.1f} % "
          f"| {'-' if p.energy_pj is None else f'{p.energy_pj / 1e3:,.2f}'} "
          f"| {'-' if p.area_um2 is None else f'{p.area_um2 / 1e6:,.3f}'} |" for p in front],
        "",
        "## RTL co-simulation",
        "",
    ]
    c = s["cosim"]
    if c["status"] == "ran":
        lines.append(f"{c['images']} image(s) on a {c['rows']}x{c['cols']} array: spikes equal golden: "
                     f"{c['spikes_equal']}; RTL cycles {c['rtl_cycles']}, model cycles {c['model_cycles']} "
                     f"(equal: {c['cycles_equal']}).")
    else:
        lines.append(f"Skipped: {c['reason']}")
    if plots:
        lines += ["", "## Plots", "", "![accuracy](accuracy.png)", "", "![energy](energy.png)", "", "![sweep](sweep.png)"]
    return "\n".join(lines) + "\n"

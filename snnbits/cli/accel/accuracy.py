"""``accel accuracy [MODEL]``: accuracy of a model and its SNNs on the digits test split.

Tables: float QCFS ANN, integer ANN and bit-serial SNN (T = 1 .. B); the rate-coded
QCFS baseline (T = 1 .. 32); the paper's Table 4 ablation; spikes per layer; and the
number of images whose SNN (T = B) prediction differs from the integer ANN's (must be 0).
The computation is :func:`golden.accuracy.evaluate`; this module only presents it.
"""

from __future__ import annotations

import argparse
import json

from snnbits.cli.args import (MAX_BASELINE_T, MODEL_HELP, add_weight_options, auto_summary, check_weight_options,
                              int_in, model_path, path_arg)
from snnbits.cli.output import FILE_HELP, check_distinct, check_file, write_text, writing
from snnbits.cli.ui import console, esc, plot_text, progress


def register(subparsers) -> None:
    """Add the ``accuracy`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "accuracy",
        help="accuracy of a model, its SNN and the QCFS baselines on the digits test split",
        description="Evaluate MODEL (default: the bundled digits model) on the 360-image digits test "
                    "split: float QCFS ANN, integer ANN, bit-serial SNN for T = 1..B, the rate-coded "
                    "QCFS baseline, the Table 4 ablation and the spiking activity per layer.",
        epilog="Example: accel accuracy --json acc.json --plot acc.png   |   "
               "accel accuracy my_model.npz --weight-bits auto --rate-T 4 16",
    )
    p.add_argument("model", nargs="?", default=None, metavar="MODEL", help=MODEL_HELP)
    add_weight_options(p, calibration="the digits test split")
    p.add_argument("--rate-T", type=int_in(1, MAX_BASELINE_T), nargs="+", default=None, metavar="T",
                   help=f"time steps of the rate-coded QCFS baseline, each 1..{MAX_BASELINE_T} (default: 1 2 4 8 16 32)")
    p.add_argument("--ablation-T", type=int_in(1, MAX_BASELINE_T), nargs="+", default=None, metavar="T",
                   help=f"time steps of the Table 4 ablation, each 1..{MAX_BASELINE_T} (default: 1 2 4 8 16)")
    p.add_argument("--compare", default=None, metavar="MODEL2",
                   help="a second model (e.g. trained without the bit regularizer) to compare with")
    p.add_argument("--json", type=path_arg, default=None, metavar="FILE",
                   help=f"also write the results as JSON ({FILE_HELP})")
    p.add_argument("--plot", type=path_arg, default=None, metavar="FILE.png",
                   help=f"also plot accuracy vs T and spikes per layer (needs matplotlib; {FILE_HELP})")
    p.set_defaults(func=run)


def _load(path):
    """The model at ``path``, refused unless its input is the digits data's."""
    from golden import datasets, ir
    from golden.errors import GoldenError

    net = ir.load(path)
    want = datasets.input_node()
    if (net.input.shape, net.input.bits, net.input.scale) != (want.shape, want.bits, want.scale):
        raise GoldenError(
            f"model file {path}: input is shape {net.input.shape}, {net.input.bits} bits, scale {net.input.scale:g}; "
            f"the digits test split needs shape {want.shape}, {want.bits} bits, scale {want.scale:g}"
        )
    return net


def _evaluate(path, net, args):
    from golden import accuracy, datasets

    from snnbits.cli.args import convert_model

    test = datasets.digits_test()
    inet, auto, source = convert_model(args, net, default=(test.x, "the digits test split"))
    if auto is not None:
        console.print(esc(auto_summary(auto, source)))
    with progress() as prog:
        rate_T = accuracy.RATE_T if args.rate_T is None else tuple(args.rate_T)
        ablation_T = accuracy.ABLATION_T if args.ablation_T is None else tuple(args.ablation_T)
        task = prog.add_task(esc(path.name), total=accuracy.steps(inet, rate_T, ablation_T))
        return accuracy.evaluate(net, test.x, test.y, inet=inet, weight_bits=inet.weight_bits,
                                 rate_T=rate_T, ablation_T=ablation_T,
                                 progress=lambda what: prog.update(task, advance=1, description=f"{esc(path.name)}: {esc(what)}"))


def for_plot(rep):
    """The report with its model name safe for a matplotlib label (a name may hold ``$...$``)."""
    import dataclasses

    return dataclasses.replace(rep, model=plot_text(rep.model))


def _pct(v: float) -> str:
    return f"{100 * v:.2f} %"


def _num(v: float) -> str:
    return f"{100 * v:.2f}"


def print_report(rep, console) -> None:
    from rich.table import Table

    B = rep.bits
    t = Table(title=f"{esc(rep.model)}: accuracy on {rep.images} digits test images (B = {B}, {rep.weight_bits}-bit weights"
                f"{' with per-term shifts' if rep.term_shifts else ''})")
    t.add_column("network")
    t.add_column("T", justify="right")
    t.add_column("accuracy", justify="right")
    t.add_row("float QCFS ANN", "-", _pct(rep.float_ann))
    t.add_row("integer ANN", "-", _pct(rep.integer_ann))
    for T, a in rep.snn.items():
        t.add_row("bit-serial SNN (ours)", str(T), _pct(a))
    console.print(t)

    Ts = sorted(set(rep.rate_coded) | set(rep.snn))
    t = Table(title="Accuracy (%): ours vs rate-coded QCFS SNN (IF, reset by subtraction, u0 = theta/2)")
    t.add_column("SNN", no_wrap=True)
    for T in Ts:
        t.add_column(f"T={T}", justify="right")
    t.add_row("ours", *[_num(rep.snn[T]) if T in rep.snn else "" for T in Ts])
    t.add_row("QCFS rate", *[_num(rep.rate_coded[T]) if T in rep.rate_coded else "" for T in Ts])
    console.print(t)

    if rep.ablation:
        aT = list(rep.ablation[0].accuracy)
        t = Table(title="Ablation, accuracy (%) (paper Table 4)")
        for c in ("shift", "bias", "mod. IF"):
            t.add_column(c, justify="center", no_wrap=True)
        for T in aT:
            t.add_column(f"T={T}", justify="right")
        mark = {True: "yes", False: "-"}
        for r in rep.ablation:
            t.add_row(mark[r.left_shift], mark[r.bias_shift], mark[r.modified_if], *[_num(r.accuracy[T]) for T in aT])
        console.print(t)

    t = Table(title=f"Spiking activity at T = {B} (bit-serial SNN)")
    t.add_column("layer")
    t.add_column("neurons", justify="right")
    t.add_column("spikes / image", justify="right")
    t.add_column("rate", justify="right")
    for a in rep.activity:
        t.add_row(esc(a.name), str(a.neurons), f"{a.spikes_per_image:.1f}", f"{100 * a.rate:.1f} %")
    t.add_row("total", str(sum(a.neurons for a in rep.activity)), f"{rep.spikes_per_image:.1f}", "")
    console.print(t)
    style = "green" if rep.mismatches == 0 and rep.code_mismatches == 0 else "bold red"
    console.print(
        f"[{style}]images whose SNN (T = {B}) prediction differs from the integer ANN's: {rep.mismatches} "
        f"of {rep.images}; neuron codes that differ: {rep.code_mismatches}[/{style}]"
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the tables, write ``--json`` / ``--plot``.  Returns 0, or 1 if the
    SNN disagrees with the integer ANN anywhere."""
    from golden import accuracy

    model = model_path(args.model)
    args.compare = None if args.compare is None else model_path(args.compare, "--compare")
    outputs = {"--json": args.json, "--plot": args.plot}
    for option, path in outputs.items():
        if path is not None:
            check_file(path, option, inputs=[model, args.compare, args.calibration])
    check_distinct(outputs)
    check_weight_options(args)
    net = _load(model)
    other_net = None if args.compare is None else _load(args.compare)  # refused before any work
    rep = _evaluate(model, net, args)
    print_report(rep, console)
    other = None
    if args.compare is not None:
        other = _evaluate(args.compare, other_net, args)
        print_report(other, console)
        console.print(
            f"spikes per image: {esc(rep.model)} {rep.spikes_per_image:.1f}, {esc(other.model)} {other.spikes_per_image:.1f} "
            f"({other.spikes_per_image / max(rep.spikes_per_image, 1e-9):.2f}x); SNN accuracy at T = {rep.bits}: "
            f"{_pct(rep.snn[rep.bits])} vs {_pct(other.snn[other.bits])}"
        )
    if args.json is not None:
        doc = {"model": str(model), "report": rep.to_dict()}
        if other is not None:
            doc["compare"] = {"model": str(args.compare), "report": other.to_dict()}
        write_text(args.json, "--json", json.dumps(doc, indent=1))
        console.print(f"wrote {esc(args.json)}")
    if args.plot is not None:
        with writing(args.plot, "--plot") as tmp:
            accuracy.plot(for_plot(rep), tmp, compare=None if other is None else for_plot(other))
        console.print(f"wrote {esc(args.plot)}")
    bad = any(r.mismatches or r.code_mismatches for r in (rep, other) if r is not None)
    return 1 if bad else 0

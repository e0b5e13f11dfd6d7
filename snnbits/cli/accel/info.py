"""``accel info``: layers, shapes and derived widths of a model's integer SNN, and how closely
each layer matches the float QCFS model (:mod:`golden.fidelity`)."""

from __future__ import annotations

import json

import numpy as np
from rich.table import Table

from .run import add_model_options
from snnbits.cli.args import add_memory_option
from snnbits.cli.ui import console, esc

#: seed of the random calibration images of a model whose input is not the digits data's
RANDOM_SEED = 0


def register(sub) -> None:
    from snnbits.cli.args import RANDOM_CALIBRATION_IMAGES

    p = sub.add_parser(
        "info",
        help="show layers, shapes, derived bit widths and the match to the float model",
        description=(
            "Convert MODEL and show, per SNN layer: output shape, the IR nodes folded into it, "
            "its input sources, the integer LSB S, the per-term weight shifts (--term-shifts), the derived "
            "widths (stored weights, synaptic sum of one step, accumulator/membrane) that guarantee no "
            "overflow, and the fraction of the layer's codes (the output layer: predictions) that equal "
            "the float QCFS model's: 'match' with the whole integer network run, 'local' with the layer "
            "fed the float model's codes. The images: --input FILE, else the digits test split when the "
            f"model's input is the digits data's, else {RANDOM_CALIBRATION_IMAGES} random images "
            f"(uniform pixel codes, seed {RANDOM_SEED})."
        ),
        epilog="Example: accel info -v   |   accel info my_model.npz --input images.npz --weight-bits auto --json",
    )
    add_model_options(p, calibration="", calibration_names=("--input", "--calibration"),
                      calibration_help="images (.npy, or .npz with 'x') of the match columns and of --weight-bits auto "
                                       "(default: the digits test split when the model's input is the digits data's, "
                                       f"else {RANDOM_CALIBRATION_IMAGES} random images, seed {RANDOM_SEED})")
    p.add_argument("--no-match", action="store_true", help="leave out the match to the float model (no simulation)")
    add_memory_option(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("-v", "--verbose", action="store_true", help="also list the IR nodes folded into each layer")
    p.set_defaults(func=run)


def layer_rows(inet, fidelity=None) -> list[dict]:
    """One dict per layer; with ``fidelity`` (:class:`golden.fidelity.Fidelity`) also its match."""
    rows = []
    for l in inet.layers:
        fan_in = sum(int(np.prod(t.weight.shape[1:])) * t.pool_area if t.kind != "identity" else t.pool_area for t in l.terms)
        row = {
            "name": l.name,
            "kind": "output" if l.is_output else "hidden",
            "shape": list(l.out_shape),
            "neurons": int(np.prod(l.out_shape)),
            "fan_in": fan_in,
            "sources": list(l.sources),
            "folded": list(l.ops),
            "bits": l.bits,
            "S_min": int(l.S.min()),
            "S_max": int(l.S.max()),
            "weight_bits": l.weight_bits,
            "syn_bits": l.syn_bits,
            "acc_bits": l.acc_bits,
        }
        if inet.term_shifts:
            row["shifts"] = list(l.shifts)
        if fidelity is not None:
            m = fidelity.layer(l.name)
            row["match"] = {"compared": m.compared, "what": "codes" if m.kind == "hidden" else "predictions",
                            "fraction": m.fraction, "local_fraction": m.local_fraction}
        rows.append(row)
    return rows


def info_json(inet, fidelity=None, calibration: str | None = None, auto=None) -> dict:
    d = {"model": inet.name, "hash": inet.model_hash, "B": inet.bits, "weight_bits": inet.weight_bits,
         "bitplanes": inet.bitplanes, "input": {"shape": list(inet.input.shape), "bits": inet.input.bits}}
    if inet.term_shifts:
        d["term_shifts"] = True
    if auto is not None:
        d["auto"] = {"match": auto.match, "weight_bits": auto.weight_bits,
                     "tried": [{"weight_bits": t.weight_bits, "minimum": None if t.fidelity is None else t.fidelity.minimum,
                                "refused": t.refused} for t in auto.trials]}
    if fidelity is not None:
        d["match"] = {"images": fidelity.images, "source": calibration, "minimum": fidelity.minimum}
    d["layers"] = layer_rows(inet, fidelity)
    return d


def _pct(v: float) -> str:
    return f"{100 * v:.2f} %"


def info_table(inet, verbose: bool = False, fidelity=None, calibration: str | None = None) -> Table:
    """A rich table of :func:`layer_rows`."""
    rows = layer_rows(inet, fidelity)
    t = Table(title=f"{esc(inet.name)}: B = {inet.bits} (T = {inet.bits} steps), {inet.weight_bits}-bit weights"
                    + (" with per-term shifts" if inet.term_shifts else "")
                    + f", input {inet.input.shape} x {inet.input.bits}-bit" + (" as bit planes" if inet.bitplanes else ""),
              caption=None if fidelity is None else
              f"match / local: codes (logits: predictions) equal to the float QCFS model's on {fidelity.images} "
              f"image(s) from {esc(calibration)}; local: the layer fed the float model's codes")
    right = ("fan-in", "w bits", "syn bits", "acc bits", "match", "local")
    cols = ["layer", "shape", "fan-in", "sources"] + (["folded nodes"] if verbose else []) + ["S"]
    cols += (["shifts"] if inet.term_shifts else []) + ["w bits", "syn bits", "acc bits"]
    cols += ["match", "local"] if fidelity is not None else []
    for col in cols:
        t.add_column(col, justify="right" if col in right else "left", overflow="fold")
    for r in rows:
        S = str(r["S_min"]) if r["S_min"] == r["S_max"] else f"{r['S_min']}..{r['S_max']}"
        cells = [esc(r["name"]) + (" (logits)" if r["kind"] == "output" else ""), "x".join(map(str, r["shape"])),
                 str(r["fan_in"]), esc(", ".join(r["sources"]))]
        cells += [esc(", ".join(r["folded"]))] if verbose else []
        cells += [S] + ([",".join(map(str, r["shifts"]))] if inet.term_shifts else [])
        cells += [str(r["weight_bits"]), str(r["syn_bits"]), str(r["acc_bits"])]
        if fidelity is not None:
            cells += [_pct(r["match"]["fraction"]), _pct(r["match"]["local_fraction"])]
        t.add_row(*cells)
    return t


def match_images(args, net, probe) -> tuple[np.ndarray, str]:
    """The images of the match columns (and of ``--weight-bits auto``): --input FILE, else the digits
    test split when the model's input is the digits data's, else random images; with a description.
    Their number is checked against --max-memory before they are read or made."""
    from golden import datasets
    from golden.random import random_inputs

    from snnbits.cli.args import RANDOM_CALIBRATION_IMAGES, calibration_images, check_fidelity_size

    if args.calibration is not None:
        return calibration_images(args, probe, net=net)
    want = datasets.input_node()
    if (probe.input.shape, probe.input.bits, probe.input.scale) == (want.shape, want.bits, want.scale):
        source, split = "the digits test split", datasets.digits_test()
        check_fidelity_size(args, net, probe, len(split), source)
        return split.x, source
    source = f"random images (uniform pixel codes, seed {RANDOM_SEED})"
    check_fidelity_size(args, net, probe, RANDOM_CALIBRATION_IMAGES, source)
    x = random_inputs(np.random.default_rng(RANDOM_SEED), probe.input.shape, probe.input.bits, RANDOM_CALIBRATION_IMAGES)
    return x, source


def run(args) -> int:
    from golden.fidelity import fidelity
    from golden.ir import load

    from snnbits.cli.args import auto_summary, convert_model, model_path, probe_network
    from snnbits.cli.dispatch import UsageError

    net = load(model_path(args.model))
    probe = probe_network(args, net)
    fid = x = source = skipped = None
    if not args.no_match or args.weight_bits == "auto":
        try:
            x, source = match_images(args, net, probe)
        except UsageError as e:
            if args.calibration is not None or args.weight_bits == "auto":
                raise
            skipped = str(e)  # describing a model never fails for want of memory
    inet, auto, _ = convert_model(args, net, probe, default=(x, source))
    if not args.no_match and skipped is None:
        fid = auto.fidelity if auto is not None else fidelity(net, inet, x)
    if args.json:
        doc = info_json(inet, fid, source, auto)
        if skipped:
            doc["match_skipped"] = skipped
        print(json.dumps(doc, indent=1))
    else:
        if auto is not None:
            console.print(esc(auto_summary(auto, source)))
        console.print(info_table(inet, args.verbose, fid, source))
        if skipped:
            console.print(f"[yellow]match to the float model left out: {esc(skipped)}[/yellow]")
    return 0

"""``accel info``: layers, shapes and derived widths of a model's integer SNN."""

from __future__ import annotations

import json

import numpy as np
from rich.table import Table

from golden.convert import convert

from .run import add_model_options
from snnbits.cli.ui import console, esc


def register(sub) -> None:
    p = sub.add_parser(
        "info",
        help="show layers, shapes and derived bit widths",
        description=(
            "Convert MODEL and show, per SNN layer: output shape, the IR nodes folded into it, "
            "its input sources, the integer LSB S, and the derived widths (weights, synaptic sum "
            "of one step, accumulator/membrane) that guarantee no overflow."
        ),
    )
    add_model_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("-v", "--verbose", action="store_true", help="also list the IR nodes folded into each layer")
    p.set_defaults(func=run)


def layer_rows(inet) -> list[dict]:
    rows = []
    for l in inet.layers:
        fan_in = sum(int(np.prod(t.weight.shape[1:])) * t.pool_area if t.kind != "identity" else t.pool_area for t in l.terms)
        rows.append({
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
        })
    return rows


def info_json(inet) -> dict:
    return {"model": inet.name, "hash": inet.model_hash, "B": inet.bits, "weight_bits": inet.weight_bits,
            "bitplanes": inet.bitplanes, "input": {"shape": list(inet.input.shape), "bits": inet.input.bits},
            "layers": layer_rows(inet)}


def info_table(inet, verbose: bool = False) -> Table:
    """A rich table of :func:`layer_rows`."""
    rows = layer_rows(inet)
    net = inet
    t = Table(title=f"{esc(net.name)}: B = {inet.bits} (T = {inet.bits} steps), {inet.weight_bits}-bit weights, "
                    f"input {inet.input.shape} x {inet.input.bits}-bit" + (" as bit planes" if inet.bitplanes else ""))
    cols = ["layer", "shape", "fan-in", "sources"] + (["folded nodes"] if verbose else []) + ["S", "w bits", "syn bits", "acc bits"]
    for col in cols:
        t.add_column(col, justify="right" if col in ("fan-in", "w bits", "syn bits", "acc bits") else "left", overflow="fold")
    for r in rows:
        S = str(r["S_min"]) if r["S_min"] == r["S_max"] else f"{r['S_min']}..{r['S_max']}"
        cells = [esc(r["name"]) + (" (logits)" if r["kind"] == "output" else ""), "x".join(map(str, r["shape"])),
                 str(r["fan_in"]), esc(", ".join(r["sources"]))]
        cells += [esc(", ".join(r["folded"]))] if verbose else []
        cells += [S, str(r["weight_bits"]), str(r["syn_bits"]), str(r["acc_bits"])]
        t.add_row(*cells)
    return t


def run(args) -> int:
    from golden.ir import load

    from snnbits.cli.args import model_path

    inet = convert(load(model_path(args.model)), weight_bits=args.weight_bits, bitplanes=args.bitplanes)
    if args.json:
        print(json.dumps(info_json(inet), indent=1))
    else:
        console.print(info_table(inet, args.verbose))
    return 0

# amaranth: UnusedElaboratable=no
"""``accel compile``: a network compiled for the accelerator, as a folder a hardware engineer can simulate."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from snnbits.cli.args import auto_summary, convert_model, model_path, path_arg, probe_network
from snnbits.cli.dispatch import UsageError
from snnbits.cli.output import building, check_folder
from snnbits.cli.ui import esc, printable

#: the file that marks a folder as made by ``accel compile`` (and so replaceable by it)
MARKER = ".snnbits-compile"
MAX_DIM = 64


def array_shape(text: str) -> tuple[int, int]:
    """argparse type: ``RxC`` with 1 <= R, C <= 64."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or not all(1 <= int(v) <= MAX_DIM for v in m.groups()):
        raise argparse.ArgumentTypeError(f"must look like 4x4 (rows x cols, each 1..{MAX_DIM}), not {text!r}")
    return int(m.group(1)), int(m.group(2))


def _shape(args, cfg) -> tuple[int, int]:
    """--array, else the configuration's [array] (which must be one accel compile generates), else 4x4."""
    if args.array is not None:
        return args.array
    if cfg is None:
        return 4, 4
    if not (1 <= cfg.rows <= MAX_DIM and 1 <= cfg.cols <= MAX_DIM):
        raise UsageError(f"config {args.config}: [array] rows = {cfg.rows}, cols = {cfg.cols}; accel compile "
                         f"generates 1..{MAX_DIM} rows and columns: give --array RxC")
    return cfg.rows, cfg.cols


def register(sub) -> None:
    from .run import add_image_options, add_model_options

    p = sub.add_parser(
        "compile",
        help="compile MODEL for the accelerator: Verilog, memory images, manifest, self-checking testbench",
        description=(
            "Lower MODEL onto an R x C accelerator (docs/architecture.md) and write, into DIR: the top's "
            "Verilog (accel_top.v), the program and memory images ($readmemh hex files and program.npz), "
            "manifest.json (widths, memory sizes and bits, the descriptors, expected cycles per layer of the "
            "test images), the test vectors and tb_accel.v, a Verilog-2005 testbench that checks the logits "
            "and the cycles of every test image: iverilog -g2005 -o sim tb_accel.v accel_top.v && vvp sim. "
            "The accelerator feeds the first layer pixel bit planes, MSB first, and has no per-term shifters."
        ),
        epilog="Example: accel compile --array 4x4 --digits 2 --out build/accel   |   "
               "accel compile my_model.npz --array 8x8 --config accel/configs/small.toml --random 1 --out out",
    )
    add_model_options(p, hardware=True)
    p.add_argument("--array", type=array_shape, default=None, metavar="RxC",
                   help=f"PE rows x columns, each 1..{MAX_DIM} (default: the --config file's [array], else 4x4)")
    p.add_argument("--config", type=path_arg, metavar="FILE",
                   help="accelerator TOML: its [array] rows and cols are the default --array, its [array] scan the "
                        "encoder's scan width, its [memory] "
                        "weight_sram_kib and offchip_bits_per_cycle decide whether the weights are resident or "
                        "streamed; the datapath widths are derived from the network, not from [pe] (default: "
                        "none: 4x4, scan width 16, weights resident)")
    add_image_options(p, random_default="; the default, with N = 1")
    p.add_argument("--out", required=True, type=path_arg, metavar="DIR",
                   help=f"output folder, built aside and swapped in when complete; an existing folder is replaced "
                        f"only if an earlier 'accel compile' made it (it holds {MARKER}) or it is empty")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from golden.ir import load

    from accel.config import load_config
    from snnbits.cli.ui import console
    from snnbits.cosim.compile import compile_network

    from .run import get_inputs

    model = model_path(args.model)
    check_folder(args.out, "--out", MARKER, inputs=[model, args.config, args.input, args.calibration])
    cfg = load_config(args.config) if args.config is not None else None
    net = load(model)
    probe = probe_network(args, net)
    if args.input is None and args.random is None and args.digits is None:
        args.random = 1
    x, _, source = get_inputs(args, probe)
    inet, auto, calibrated_on = convert_model(args, net, probe, default=(x, source))
    if auto is not None:
        console.print(esc(auto_summary(auto, calibrated_on)))
    rows, cols = _shape(args, cfg)
    try:
        with building(args.out, "--out", MARKER) as tmp:
            compile_network(inet, rows, cols, tmp, pixels=x, T=args.steps, config=cfg)
    except (TypeError, ValueError) as e:  # a generation parameter the RTL refuses
        if isinstance(e, UsageError):
            raise
        raise UsageError(f"accel compile: {e}") from None
    import json

    m = json.loads((Path(args.out) / "manifest.json").read_text())
    bits = m["memory_bits"]
    console.print(f"compiled {esc(net.name)} for a {rows}x{cols} array into {esc(printable(args.out))}: "
                  f"weights {'streamed' if m['hardware']['streamed'] else 'resident'}, memories "
                  + ", ".join(f"{k} {v:,} bits" for k, v in bits.items()))
    console.print(f"expected cycles of the {len(x)} test image(s) ({esc(source)}): "
                  + ", ".join(f"{c:,}" for c in m["expected_cycles"]["per_image"]))
    # a command to paste: never wrapped
    console.print(f"simulate: cd {esc(printable(args.out))} && iverilog -g2005 -o sim tb_accel.v accel_top.v && vvp sim",
                  soft_wrap=True)
    return 0

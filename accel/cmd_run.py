"""``accel run``: convert a model and simulate it bit-serially, writing a trace."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from golden import trace
from golden.convert import convert
from golden.models import load_model
from golden.random import random_inputs
from golden.simulate import MODES, simulate

from .cli import UsageError
from .inputs import load_inputs
from .ui import console, layer_progress


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", default="default", metavar="MODEL",
                   help="model file (.npz written by golden.ir.save); default: the bundled digits model")
    p.add_argument("--weight-bits", type=int, default=8, metavar="W",
                   help="signed weight width of the integer network (default: 8)")
    p.add_argument("--bitplanes", action="store_true",
                   help="feed the first layer pixel bit planes MSB first (accumulate only) instead of multi-bit MACs")


def register(sub) -> None:
    p = sub.add_parser(
        "run",
        help="simulate the SNN bit-serially and write a trace",
        description=(
            "Convert MODEL to its integer SNN and simulate it time step by time step "
            "(--mode literal, as hardware does) or with exact integer algebra (--mode fast; "
            "identical results). Writes a versioned .npz trace: per layer the spikes of every "
            "time step, the membrane after accumulation and the output codes."
        ),
        epilog="Example: accel run --random 16 --out trace.npz   |   accel run model.npz --input images.npz --mode literal --out t.npz",
    )
    add_model_options(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--input", type=Path, metavar="FILE",
                   help="pixel codes: .npy array or .npz with 'x' (and optional labels 'y'), shape (N,)+input shape")
    g.add_argument("--random", type=int, metavar="N", help="N random images (uniform pixel codes)")
    g.add_argument("--digits", type=int, nargs="?", const=-1, metavar="N",
                   help="the bundled digits test split (first N images; all without N)")
    p.add_argument("--seed", type=int, default=0, help="seed for --random (default: 0)")
    p.add_argument("-T", "--steps", type=int, default=None, metavar="T",
                   help="time steps, 1..B (default: B); T < B gives each code's T most significant bits")
    p.add_argument("--mode", choices=MODES, default="fast", help="simulation mode (default: fast)")
    p.add_argument("--out", type=Path, required=True, metavar="TRACE", help="trace file to write (.npz)")
    p.set_defaults(func=run)


def get_inputs(args, net) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixel codes (and labels, if known) from --input, --random or --digits, checked against ``net``."""
    from golden.datasets import check_labels
    from golden.reference import check_input

    x, y, source = _raw_inputs(args, net)
    classes = int(np.prod(net.shapes[net.output]))
    return check_input(net, x, source=source), None if y is None else check_labels(y, classes, source)


def _raw_inputs(args, net):
    if args.input is not None:
        return (*load_inputs(args.input), f"input file {args.input}")
    if args.random is not None:
        if args.random < 1:
            raise UsageError(f"--random must be >= 1, not {args.random}")
        return random_inputs(np.random.default_rng(args.seed), net.input.shape, net.input.bits, args.random), None, "--random"
    if args.digits is not None:
        from golden.datasets import digits_test

        split = digits_test()
        x, y = split.x, split.y
        if args.digits >= 0:
            x, y = x[: args.digits], y[: args.digits]
        return x, y, "the digits test split"
    raise UsageError("give one of --input FILE, --random N or --digits [N]")


def run(args) -> int:
    net = load_model(args.model)
    inet = convert(net, weight_bits=args.weight_bits, bitplanes=args.bitplanes)
    x, y = get_inputs(args, net)
    with layer_progress(len(inet.layers), f"simulating ({args.mode})") as advance:
        res = simulate(inet, x, T=args.steps, mode=args.mode, progress=advance)
    trace.save(args.out, inet, res, args.mode)
    pred = res.predictions(inet)
    msg = f"{len(x)} image(s), T={res.T} of B={inet.bits}, mode {args.mode}"
    if y is not None:
        msg += f", accuracy {np.mean(pred == y) * 100:.2f} %"
    rates = ", ".join(f"{n}: {s.mean() * 100:.1f} %" for n, s in res.spikes.items())
    console.print(f"simulated {msg}\nspike rate per layer (spikes / neuron / step): {rates}")
    console.print(f"wrote {args.out}")
    return 0

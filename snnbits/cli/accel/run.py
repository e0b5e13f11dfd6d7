"""``accel run``: convert a model and simulate it bit-serially, writing a trace."""

from __future__ import annotations

import argparse

import numpy as np

from golden import trace
from golden.ir import load
from golden.random import random_inputs
from golden.simulate import MODES, simulate
from snnbits.cli.args import (MODEL_HELP, add_memory_option, add_weight_options, auto_summary, check_simulation_size,
                              convert_model, int_in, model_path, path_arg, probe_network)
from snnbits.cli.dispatch import UsageError
from snnbits.cli.inputs import input_shape, load_inputs
from snnbits.cli.output import FILE_HELP, check_file, writing
from snnbits.cli.ui import console, esc, layer_progress


def add_model_options(p: argparse.ArgumentParser, calibration: str = "the images the command simulates",
                      calibration_names=("--calibration",), calibration_help: str | None = None, *,
                      hardware: bool = False) -> None:
    """MODEL, the weight options (:func:`snnbits.cli.args.add_weight_options`) and --bitplanes.

    ``hardware=True`` (``accel compile``): the generated accelerator always feeds pixel bit planes,
    so --bitplanes is not offered (its per-term shifters take --term-shifts)."""
    p.add_argument("model", nargs="?", default=None, metavar="MODEL", help=MODEL_HELP)
    add_weight_options(p, calibration, calibration_names, calibration_help)
    if hardware:
        p.set_defaults(bitplanes=True)
        return
    p.add_argument("--bitplanes", action="store_true",
                   help="feed the first layer pixel bit planes MSB first (accumulate only) instead of multi-bit MACs")


def add_image_options(p: argparse.ArgumentParser, random_default: str = "", group=None) -> None:
    """--input / --random / --digits (one of them, in ``group`` if given), --seed, -T and --max-memory."""
    g = group if group is not None else p.add_mutually_exclusive_group()
    g.add_argument("--input", type=path_arg, metavar="FILE",
                   help="pixel codes: .npy array or .npz with 'x' (and optional labels 'y'), shape (N,)+input shape")
    g.add_argument("--random", type=int_in(1), metavar="N", help=f"N >= 1 random images (uniform pixel codes){random_default}")
    g.add_argument("--digits", type=int_in(1), nargs="?", const=ALL, metavar="N",
                   help="the bundled digits test split: its first N >= 1 images, or all of them without N")
    p.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0, help="seed for --random, >= 0 (default: 0)")
    p.add_argument("-T", "--steps", type=int_in(1), default=None, metavar="T",
                   help="time steps, 1..B (default: B); T < B gives each code's T most significant bits")
    add_memory_option(p)


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
    add_image_options(p)
    p.add_argument("--mode", choices=MODES, default="fast", help="simulation mode (default: fast)")
    p.add_argument("--out", type=path_arg, required=True, metavar="TRACE",
                   help=f"trace file to write (.npz; {FILE_HELP})")
    p.set_defaults(func=run)


#: ``--digits`` without N
ALL = -1


def check_steps(args, inet) -> None:
    if args.steps is not None and args.steps > inet.bits:
        raise UsageError(f"-T {args.steps}: T must be an integer in 1..B={inet.bits}, not {args.steps}")


def get_inputs(args, inet, mode: str = "fast") -> tuple[np.ndarray, np.ndarray | None, str]:
    """Pixel codes, labels (if known) and where they came from, from --input, --random or
    --digits, checked against ``inet``; the run's size is checked before anything is loaded."""
    from golden.datasets import check_labels
    from golden.reference import check_input

    check_steps(args, inet)
    if args.input is not None:
        source = f"input file {args.input}"
        shape = input_shape(args.input)
        if len(shape) != len(inet.input.shape) + 1 or shape[1:] != inet.input.shape:
            raise UsageError(f"{source}: shape {shape} does not match (N,) + {inet.input.shape} expected by model "
                             f"{inet.name!r}")
        if shape[0] == 0:
            raise UsageError(f"{source}: holds no images (shape {shape})")
        check_simulation_size(inet, shape[0], args.steps, mode, args.max_memory, f"--input {args.input}")
        x, y = load_inputs(args.input)
    elif args.random is not None:
        source = "--random"
        check_simulation_size(inet, args.random, args.steps, mode, args.max_memory, f"--random {args.random}")
        x, y = random_inputs(np.random.default_rng(args.seed), inet.input.shape, inet.input.bits, args.random), None
    elif args.digits is not None:
        from golden.datasets import digits_test

        source = "the digits test split"
        split = digits_test()
        if args.digits != ALL and args.digits > len(split.x):
            raise UsageError(f"--digits {args.digits}: the digits test split has {len(split.x)} images")
        n = len(split.x) if args.digits == ALL else args.digits
        check_simulation_size(inet, n, args.steps, mode, args.max_memory, "--digits")
        x, y = split.x[:n], split.y[:n]
    else:
        raise UsageError("give one of --input FILE, --random N or --digits [N]")
    if y is not None:
        y = check_labels(y, int(np.prod(inet.output.out_shape)), source)
    return check_input(inet, x, source=source), y, source


def run(args) -> int:
    model = model_path(args.model)
    check_file(args.out, "--out", inputs=[model, args.input, args.calibration])
    net = load(model)
    probe = probe_network(args, net)
    x, y, source = get_inputs(args, probe, args.mode)
    inet, auto, calibrated_on = convert_model(args, net, probe, default=(x, source))
    if auto is not None:
        console.print(esc(auto_summary(auto, calibrated_on)))
    with layer_progress(len(inet.layers), f"simulating ({args.mode})") as advance:
        res = simulate(inet, x, T=args.steps, mode=args.mode, progress=advance)
    with writing(args.out, "--out") as tmp:
        trace.save(tmp, inet, res, args.mode)
    pred = res.predictions(inet)
    msg = f"{len(x)} image(s), T={res.T} of B={inet.bits}, mode {args.mode}"
    if y is not None:
        msg += f", accuracy {np.mean(pred == y) * 100:.2f} %"
    rates = ", ".join(f"{esc(n)}: {s.mean() * 100:.1f} %" for n, s in res.spikes.items())
    console.print(f"simulated {msg}\nspike rate per layer (spikes / neuron / step): {rates}")
    console.print(f"wrote {esc(args.out)}")
    return 0

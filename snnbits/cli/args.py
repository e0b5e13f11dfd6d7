"""Validated command-line values: argparse types with their ranges, the MODEL argument,
and the size limit that refuses impossible runs before anything is allocated.

Every type raises ``argparse.ArgumentTypeError`` with the accepted range and the
value given, so argparse prints ``... error: argument --digits: must be an integer
in 1..360, not '0'`` and exits with code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

import numpy as np

from .dispatch import UsageError

#: largest PE-array dimension a sweep accepts (rows or columns)
MAX_ARRAY_DIM = 4096
#: most array shapes one sweep evaluates (len(rows) x len(cols))
MAX_SHAPES = 65536
#: widest register ``accel rtl`` generates (the golden model computes accumulators of up to 53 bits)
MAX_RTL_WIDTH = 64
#: most bits of a code (B) or of an input pixel ``accel rtl`` generates
MAX_RTL_BITS = 16
#: largest time-step count of the rate-coded and ablation baselines that are simulated
MAX_BASELINE_T = 64
#: default memory budget of one simulation (GiB); ``--max-memory`` raises or lowers it
DEFAULT_MAX_MEMORY_GIB = 8.0


def int_in(lo: int, hi: int | None = None):
    """argparse type: an integer in ``lo..hi`` (``hi`` None: no upper bound)."""
    rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"

    def parse(text: str) -> int:
        try:
            v = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {'in ' if hi is not None else ''}{rng}, "
                                             f"not {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be an integer {'in ' if hi is not None else ''}{rng}, "
                                             f"not {text!r}")
        return v

    parse.__name__ = "integer"
    return parse


def int_list_in(lo: int, hi: int):
    """argparse type: comma-separated integers, each in ``lo..hi``."""

    def parse(text: str) -> list[int]:
        try:
            vals = [int(v, 10) for v in text.split(",") if v.strip()]
        except ValueError:
            vals = []
        if not vals or any(not lo <= v <= hi for v in vals):
            raise argparse.ArgumentTypeError(f"takes comma-separated integers in {lo}..{hi}, not {text!r}")
        return vals

    parse.__name__ = "list of integers"
    return parse


def positive_float(hi: float | None = None, lo: float | None = None):
    """argparse type: a finite number > 0 (and >= ``lo``, <= ``hi``)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not (math.isfinite(v) and v > 0 and (lo is None or v >= lo) and (hi is None or v <= hi)):
            low = f">= {lo:g}" if lo else "> 0"
            raise argparse.ArgumentTypeError(f"must be a finite number {low}{f' and <= {hi:g}' if hi else ''}, "
                                             f"not {text!r}")
        return v

    parse.__name__ = "number"
    return parse


_CLUSTER = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss|ray)://[A-Za-z0-9_.\-\[\]:]+|ray)\Z")


def cluster_address(text: str) -> str:
    """argparse type: a Dask scheduler (``tcp://HOST:PORT``, ``tls://``...) or Ray (``ray://HOST:PORT``, ``ray``)."""
    if not _CLUSTER.match(text) or text.endswith(("://", ":")):
        raise argparse.ArgumentTypeError(f"must be a Dask scheduler address like tcp://HOST:8786 or a Ray address "
                                         f"like ray://HOST:10001, not {text!r}")
    return text


def path_arg(text: str) -> Path:
    """argparse type: a file or folder name; an empty one is refused (``Path("")`` would be ``.``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must be a file or folder name, not {text!r}")
    return Path(text)


path_arg.__name__ = "path"


# ------------------------------------------------------------------ MODEL

MODEL_HELP = ("model file (.npz written by golden.ir.save); left out: the bundled digits model. The name 'default' "
              "also means the bundled model, unless a file of that name exists here: then it is refused as "
              "ambiguous (write ./default for the file)")


def model_path(text, option: str = "MODEL") -> Path:
    """The model file a command reads: the bundled model when ``text`` is None (or the
    name ``default`` while no such file exists here), else the file, as an absolute path
    (so that no library resolves a user's file named ``default`` to the bundled model)."""
    from golden.models import DEFAULT_MODEL

    if text is None:
        return DEFAULT_MODEL
    if not str(text).strip():
        raise UsageError(f"{option} {str(text)!r}: must be a model file name")
    if str(text) == "default":
        if os.path.lexists("default"):
            raise UsageError(f"{option} 'default' is ambiguous: a file named 'default' exists in this folder; "
                             "write ./default for that file, or leave the model out for the bundled one")
        return DEFAULT_MODEL
    return Path(os.path.abspath(text))


# ------------------------------------------------------------------ size limit

MEMORY_HELP = (f"memory budget in GiB for the simulation (default: {DEFAULT_MAX_MEMORY_GIB:g}); a run whose estimated "
               "need (from the network's shapes, the number of images and T) exceeds it is refused before it starts")


def add_memory_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-memory", type=positive_float(), default=DEFAULT_MAX_MEMORY_GIB, metavar="GIB",
                   help=MEMORY_HELP)


def simulation_bytes(inet, images: int, T: int | None = None, mode: str = "fast") -> int:
    """An upper estimate of the bytes :func:`golden.simulate.simulate` and the trace
    writer need for ``images`` images: the results kept for every layer (int64 membrane
    and codes, uint8 spikes per step, written once more by the trace), plus the largest
    layer's temporaries (float64 GEMM operands and results, per-step synaptic sums in
    ``literal`` mode), plus 1 MiB for the trace writer's buffers."""
    T = inet.bits if T is None else int(T)
    steps = max(T, inet.input.bits)
    pixels = int(np.prod(inet.input.shape, dtype=object))
    kept = 8 * pixels * 3
    peak_temp = 0
    for layer in inet.layers:
        n = int(np.prod(layer.out_shape, dtype=object))
        kept += 2 * (8 * n * 2 + n * T)
        temp = 8 * n * 4
        for term in layer.terms:
            w = term.weight
            positions = int(np.prod(layer.out_shape[1:], dtype=object)) if len(layer.out_shape) > 1 else 1
            fan_in = int(np.prod(w.shape[1:], dtype=object)) * (term.groups if term.kind == "conv" else 1)
            src = pixels if term.source == inet.input.name else int(np.prod(inet.layer(term.source).out_shape,
                                                                              dtype=object))
            temp += 8 * (positions * fan_in * term.pool_area + 2 * src + 2 * n)
        if mode == "literal":
            temp += 8 * n * (steps + 1) * (1 + len(layer.terms))
        peak_temp = max(peak_temp, temp)
    return images * (kept + peak_temp) + 2**20


def check_simulation_size(inet, images: int, T: int | None, mode: str, max_gib: float, what: str) -> None:
    """Refuse (before allocating) a simulation whose estimated need exceeds ``max_gib``."""
    need = simulation_bytes(inet, images, T, mode)
    if need > max_gib * 2**30:
        raise UsageError(f"{what}: simulating {images:,} image(s) of model {inet.name!r} ({mode}, T={T or inet.bits}) "
                         f"needs about {need / 2**30:,.1f} GiB, above the limit of {max_gib:g} GiB; use fewer images, "
                         "or raise --max-memory if this machine has the memory")


# ------------------------------------------------------------------ weight width and fidelity

#: how many random images calibrate when a command has no images of its own (``accel info``)
RANDOM_CALIBRATION_IMAGES = 64

WEIGHT_BITS_HELP = ("signed weight width of the integer network, 2..24, or 'auto': the smallest width at which "
                    "every layer's codes (the output layer: its predictions) match the float QCFS model's on at "
                    "least --match of the calibration images' values (default: 8)")


def weight_bits_arg(text: str):
    """argparse type: ``auto`` or an integer in ``golden.convert``'s range (2..24)."""
    from golden.convert import MAX_WEIGHT_BITS, MIN_WEIGHT_BITS

    if text.strip().lower() == "auto":
        return "auto"
    try:
        v = int(text, 10)
    except ValueError:
        v = None
    if v is None or not MIN_WEIGHT_BITS <= v <= MAX_WEIGHT_BITS:
        raise argparse.ArgumentTypeError(f"must be an integer in {MIN_WEIGHT_BITS}..{MAX_WEIGHT_BITS} or 'auto', "
                                         f"not {text!r}")
    return v


weight_bits_arg.__name__ = "weight width"


def fraction_arg(text: str) -> float:
    """argparse type: a number in ``(0, 1]``."""
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and 0 < v <= 1):
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1] (e.g. 0.99), not {text!r}")
    return v


fraction_arg.__name__ = "fraction"


class _GivenOnce(argparse.Action):
    """An option with aliases (``--input``/``--calibration``) that may be given once: the second
    file would silently replace the first."""

    def __call__(self, parser, namespace, values, option_string=None):
        before = getattr(namespace, self.dest, None)
        if before is not None:
            names = f" ({' or '.join(self.option_strings)})" if len(self.option_strings) > 1 else ""
            parser.error(f"{option_string} {values}: the images are already given ({before}); give one file{names}")
        setattr(namespace, self.dest, values)


def add_weight_options(p: argparse.ArgumentParser, calibration: str, calibration_names=("--calibration",),
                       calibration_help: str | None = None, *, term_shifts: bool = True) -> None:
    """``--weight-bits W|auto``, ``--match``, ``--term-shifts`` and the calibration file option.

    ``calibration``: what the command calibrates on when no file is given (for the help);
    ``calibration_help``: the file option's whole help, when it serves more than auto;
    ``term_shifts=False``: a command that cannot use per-term shifts does not offer the option."""
    from golden.fidelity import DEFAULT_MATCH

    p.add_argument("--weight-bits", type=weight_bits_arg, default=8, metavar="W|auto", help=WEIGHT_BITS_HELP)
    p.add_argument("--match", type=fraction_arg, default=None, metavar="FRACTION",
                   help=f"with --weight-bits auto: the fraction, in (0, 1], of every layer's values that must "
                        f"match the float model (default: {DEFAULT_MATCH:g})")
    if term_shifts:
        p.add_argument("--term-shifts", action="store_true",
                       help="give each term of a layer with terms of different scales (e.g. pixels and spikes, or a "
                            "residual input) its own power-of-two scale: weights stored in W bits and shifted left "
                            "in the datapath (docs/integer-network.md); no effect on single-term layers")
    p.add_argument(*calibration_names, dest="calibration", type=path_arg, default=None, metavar="FILE",
                   action=_GivenOnce,
                   help=calibration_help or f"calibration images (.npy, or .npz with 'x') for --weight-bits auto "
                                            f"(default: {calibration})")
    #: a file option that serves only --weight-bits auto is refused without it (check_weight_options)
    p.set_defaults(calibration_option=None if calibration_help else calibration_names[0])


def check_weight_options(args) -> None:
    """--match (and a calibration file that serves nothing else) only mean something with --weight-bits auto."""
    if args.match is not None and args.weight_bits != "auto":
        raise UsageError(f"--match {args.match:g}: only used with --weight-bits auto (now --weight-bits "
                         f"{args.weight_bits})")
    option = getattr(args, "calibration_option", None)
    if option and args.calibration is not None and args.weight_bits != "auto":
        raise UsageError(f"{option} {args.calibration}: only used with --weight-bits auto (now --weight-bits "
                         f"{args.weight_bits})")


def probe_network(args, net):
    """The integer network a command checks its images against before calibrating: the final one
    for a fixed --weight-bits, else the network at the first width that converts (shapes, B and the
    layers do not depend on the width)."""
    from golden.convert import MAX_WEIGHT_BITS, MIN_WEIGHT_BITS, convert
    from golden.errors import GoldenError

    check_weight_options(args)
    shifts = bool(getattr(args, "term_shifts", False))
    bitplanes = bool(getattr(args, "bitplanes", False))
    if args.weight_bits != "auto":
        return convert(net, weight_bits=args.weight_bits, bitplanes=bitplanes, term_shifts=shifts)
    err = None
    for w in range(MIN_WEIGHT_BITS, MAX_WEIGHT_BITS + 1):
        try:
            return convert(net, weight_bits=w, bitplanes=bitplanes, term_shifts=shifts)
        except GoldenError as e:
            err = e
    raise err


def fidelity_bytes(net, inet, images: int) -> int:
    """An upper estimate of the bytes :func:`golden.fidelity.fidelity` needs for ``images`` images:
    a simulation (:func:`simulation_bytes`) plus the float64 value of every node of the float model."""
    values = sum(int(np.prod(shape, dtype=object)) for shape in net.shapes.values())
    return simulation_bytes(inet, images) + images * 8 * values * 2


def check_fidelity_size(args, net, inet, images: int, what: str) -> None:
    """Refuse (before allocating) a match computation whose estimated need exceeds --max-memory."""
    max_gib = getattr(args, "max_memory", DEFAULT_MAX_MEMORY_GIB)
    need = fidelity_bytes(net, inet, images)
    if need > max_gib * 2**30:
        raise UsageError(f"{what}: comparing {images:,} image(s) of model {inet.name!r} with the float model needs "
                         f"about {need / 2**30:,.1f} GiB, above the limit of {max_gib:g} GiB; use fewer images, "
                         "or raise --max-memory if this machine has the memory")


def calibration_images(args, probe, default=None, net=None) -> tuple[np.ndarray, str]:
    """The calibration images: ``--calibration FILE`` if given (its size checked from the header,
    for the match with the float model ``net`` too when given), else ``default`` (``(x, description)``)."""
    from golden.reference import check_input

    from .inputs import input_shape, load_inputs

    if args.calibration is None:
        if default is None:
            raise UsageError("--weight-bits auto: give calibration images with --calibration FILE")
        return default
    src = f"calibration file {args.calibration}"
    shape = input_shape(args.calibration, "calibration")
    if len(shape) != len(probe.input.shape) + 1 or shape[1:] != probe.input.shape:
        raise UsageError(f"{src}: shape {shape} does not match (N,) + {probe.input.shape} expected by model "
                         f"{probe.name!r}")
    if shape[0] == 0:
        raise UsageError(f"{src}: holds no images (shape {shape})")
    check_simulation_size(probe, shape[0], None, "fast", getattr(args, "max_memory", DEFAULT_MAX_MEMORY_GIB),
                          f"{src}")
    if net is not None:
        check_fidelity_size(args, net, probe, shape[0], src)
    x, _ = load_inputs(args.calibration, "calibration")
    return check_input(probe, x, source=src), f"file {args.calibration}"


def convert_model(args, net, probe=None, default=None):
    """``(inet, auto, source)``: the integer network of ``net`` as --weight-bits/--term-shifts/
    --bitplanes say.  For ``auto``: the width :func:`golden.fidelity.auto_weight_bits` picks on the
    calibration images (``--calibration FILE``, else ``default``, a pair ``(x, description)``), its
    :class:`~golden.fidelity.AutoWidth` and where the images came from; ``(inet, None, None)`` for a
    fixed width."""
    from golden.fidelity import DEFAULT_MATCH, auto_weight_bits

    probe = probe_network(args, net) if probe is None else probe
    if args.weight_bits != "auto":
        return probe, None, None
    x, source = calibration_images(args, probe, default, net)
    check_fidelity_size(args, net, probe, len(x), f"--weight-bits auto on {source}")
    auto = auto_weight_bits(net, x, DEFAULT_MATCH if args.match is None else args.match,
                            bitplanes=bool(getattr(args, "bitplanes", False)),
                            term_shifts=bool(getattr(args, "term_shifts", False)))
    return auto.inet, auto, source


def auto_summary(auto, source: str) -> str:
    """One line: the width ``auto`` picked and every layer's match (plain text, for the console)."""
    f = auto.fidelity
    per = ", ".join(f"{l.name} {100 * l.fraction:.2f} %" for l in f.layers)
    return (f"--weight-bits auto: {auto.weight_bits} bits, the smallest width at which every layer matches the "
            f"float model on >= {100 * auto.match:g} % ({f.images} calibration image(s) from {source}): {per}")

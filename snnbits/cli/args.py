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


def positive_float(hi: float | None = None):
    """argparse type: a finite number > 0 (and <= ``hi``)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not (math.isfinite(v) and v > 0 and (hi is None or v <= hi)):
            raise argparse.ArgumentTypeError(f"must be a finite number > 0{f' and <= {hi:g}' if hi else ''}, "
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

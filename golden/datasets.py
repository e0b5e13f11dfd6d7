"""The 8x8 digits data set (scikit-learn's bundled copy of the UCI handwritten digits).

No download: scikit-learn ships the 1797 images.  Pixels are integers 0..16 and
are used as they are as 5-bit pixel codes ``k`` (``Input(bits=5, scale=31/16)``,
so a code means ``31/16 * k / 31 = k / 16``, a value in ``[0, 1]``).

The split is fixed and documented::

    sklearn.model_selection.train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)

giving 1437 training and 360 test images.  The test split is bundled as
``golden/data/digits_test.npz`` so that the core (``accel accuracy``, the demo)
runs without scikit-learn; :func:`write_test_split` regenerates it.

File format of ``digits_test.npz`` (loaded with ``allow_pickle=False``):
``info.json`` (UTF-8 JSON as ``uint8``: ``schema_version``, ``format``
``"snnbits-dataset"``, ``name``, ``split``, ``input_bits``, ``input_scale``,
``count``; schema :data:`INFO`), ``x`` (``uint8``, ``(N, 1, 8, 8)``, codes 0..16)
and ``y`` (``uint8``, ``(N,)``, labels 0..9).

:func:`load_images` reads the user's own images (``accel run --input``) with the
same safeguards; :func:`check_labels` checks labels against a network's classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnbits.schema import Const, Int, Num, Obj, Str, Version, check, show

from .errors import GoldenError
from .ir import Input
from .npzio import NpzReader, dtype_text, is_npy, read_npy, write_npz

SCHEMA_VERSION = 1
FORMAT = "snnbits-dataset"
INPUT_SHAPE = (1, 8, 8)
INPUT_BITS = 5
INPUT_SCALE = 31 / 16
PIXEL_MAX = 16
CLASSES = 10
SPLIT = {"function": "sklearn.model_selection.train_test_split", "test_size": 0.2, "random_state": 0, "stratify": "y"}
TEST_PATH = Path(__file__).parent / "data" / "digits_test.npz"


@dataclass(frozen=True, eq=False)
class Split:
    """Pixel codes ``x`` (int64, ``(N, 1, 8, 8)``, 0..16) and labels ``y`` (int64, ``(N,)``)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def input_node(name: str = "input") -> Input:
    """The :class:`~golden.ir.Input` node that matches the digits pixel codes."""
    return Input(name=name, inputs=(), shape=INPUT_SHAPE, bits=INPUT_BITS, scale=INPUT_SCALE)


def _sklearn_split() -> tuple[Split, Split]:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise GoldenError(
            "datasets: the digits training split needs scikit-learn (pip install 'snnbits[data]'); "
            "only the test split is bundled"
        ) from None
    d = load_digits()
    X = d.images.astype(np.int64).reshape(-1, *INPUT_SHAPE)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    return Split(xtr, ytr), Split(xte, yte)


def digits_train() -> Split:
    """The training split (needs scikit-learn)."""
    return _sklearn_split()[0]


def digits_test(path=None) -> Split:
    """The test split, from the bundled file (``path`` to read another copy)."""
    return load_split(TEST_PATH if path is None else path)


def write_test_split(path=None) -> Path:
    """Regenerate ``digits_test.npz`` from scikit-learn (atomic write)."""
    path = Path(TEST_PATH if path is None else path)
    test = _sklearn_split()[1]
    info = {
        "schema_version": SCHEMA_VERSION,
        "format": FORMAT,
        "name": "digits-test",
        "split": SPLIT,
        "input_bits": INPUT_BITS,
        "input_scale": INPUT_SCALE,
        "count": len(test),
    }
    return write_npz(path, {
        "info.json": np.frombuffer(json.dumps(info, indent=1).encode(), dtype=np.uint8),
        "x": test.x.astype(np.uint8),
        "y": test.y.astype(np.uint8),
    })


#: info.json of a data set file
INFO = Obj({
    "schema_version": Version(SCHEMA_VERSION),
    "format": Const(FORMAT),
    "name": Str(max_len=200),
    "split": Obj({  # how the split was made (documentation only)
        "function": Str(max_len=200, optional=True),
        "test_size": Num(0, 1, open_lo=True, optional=True),
        "random_state": Int(0, 2**32 - 1, optional=True),
        "stratify": Str(max_len=200, optional=True),
    }),
    "input_bits": Int(1, 16),
    "input_scale": Num(0, 1e12, open_lo=True),
    "count": Int(0, 1 << 31),
})


def load_split(path) -> Split:
    """Read and validate a data set file written by :func:`write_test_split`.

    ``info.json`` is checked against :data:`INFO` and must describe the digits input
    (``input_bits``, ``input_scale``); ``x`` must be ``uint8`` ``(count, 1, 8, 8)``
    codes 0..16 and ``y`` integer labels 0..9, checked from the headers before
    anything is decompressed."""
    src = f"data file {path}"
    with NpzReader(path, "data") as z:
        if set(z.members) != {"info.json", "x", "y"}:
            raise GoldenError(f"{src}: entries {show(sorted(z.members))}, expected ['info.json', 'x', 'y']")
        info = check(INFO, z.json("info.json"), src, GoldenError)
        if (info["input_bits"], info["input_scale"]) != (INPUT_BITS, INPUT_SCALE):
            raise GoldenError(f"{src}: fields 'input_bits', 'input_scale' are {info['input_bits']}, {info['input_scale']!r}; "
                              f"the digits pixel codes are {INPUT_BITS}-bit with scale {INPUT_SCALE!r}")
        N = info["count"]
        mx = z.member("x", "u", itemsizes=(1,), ndim=4)
        if mx.shape[1:] != INPUT_SHAPE:
            raise GoldenError(f"{src}: array 'x' has shape {mx.shape}, expected (N,) + {INPUT_SHAPE}")
        if mx.shape[0] != N:
            raise GoldenError(f"{src}: field 'count' is {N} but the file holds {mx.shape[0]} images")
        z.member("y", "iu", shape=(N,))
        x, y = z.array("x", "u"), z.array("y", "iu")
    if x.size and x.max() > PIXEL_MAX:
        raise GoldenError(f"{src}: pixel codes must lie in 0..{PIXEL_MAX}, found max {x.max()}")
    return Split(x.astype(np.int64), check_labels(y, CLASSES, f"{src}: array 'y'"))


def check_labels(y, classes: int, source: str) -> np.ndarray:
    """Class labels as int64: a 1-D integer array with every value in ``0 .. classes - 1``.

    String or float labels would silently never equal a prediction (0 % accuracy),
    so they are refused, as are labels outside the classes of the network."""
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise GoldenError(f"{source}: labels must be integers, not dtype {dtype_text(y.dtype)}")
    if y.ndim != 1:
        raise GoldenError(f"{source}: labels must be a 1-D array, not shape {y.shape}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise GoldenError(f"{source}: labels must lie in 0..{classes - 1} ({classes} classes), found {int(y.min())}..{int(y.max())}")
    return y.astype(np.int64)


def load_images(path, what: str = "input") -> tuple[np.ndarray, np.ndarray | None]:
    """Pixel codes (and labels, if any) from a ``.npy`` array or an ``.npz`` with ``x`` and optional ``y``.

    Headers are checked before anything is read (:mod:`golden.npzio`): ``x`` must be a
    real integer or float array with at least one dimension, ``y`` (if present) a 1-D
    non-negative integer array with one label per image; other entries are refused.
    Whether the codes fit a model (shape, range) is checked by
    :func:`golden.reference.check_input`, the label range by :func:`check_labels`.
    ``what`` names the file's role in errors (``"<what> file <path>: ..."``)."""
    src = f"{what} file {path}"
    if is_npy(path):
        x, y = read_npy(path, what), None
    else:
        with NpzReader(path, what) as z:
            if "x" not in z.members:
                raise GoldenError(f"{src}: no array 'x' (found {show(sorted(z.members))}); store pixel codes as x=..., labels as y=...")
            unknown = sorted(set(z.members) - {"x", "y"})
            if unknown:
                raise GoldenError(f"{src}: unknown array(s) {show(unknown)} (accepted: x, y)")
            mx = z.member("x", "iuf")
            if not mx.shape:
                raise GoldenError(f"{src}: array 'x' must hold a batch (N, ...) of images, not a scalar")
            if "y" in z.members:
                z.member("y", "iu", ndim=1)
            x = z.array("x", "iuf")
            y = z.array("y", "iu") if "y" in z.members else None
    if x.dtype.kind not in "iuf" or not x.shape:
        raise GoldenError(f"{src}: pixel codes must be a batch (N, ...) of integers, not {dtype_text(x.dtype)} {x.shape}")
    if y is not None:
        if len(y) != len(x):
            raise GoldenError(f"{src}: array 'y' has shape {y.shape}, expected ({len(x)},)")
        if y.size and int(y.min()) < 0:
            raise GoldenError(f"{src}: labels must be >= 0, found {int(y.min())}")
    return x, y

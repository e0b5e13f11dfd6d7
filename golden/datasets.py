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
``count``), ``x`` (``uint8``, ``(N, 1, 8, 8)``, codes 0..16) and ``y``
(``uint8``, ``(N,)``, labels 0..9).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import GoldenError
from .npzio import read_npz
from .ir import Input

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
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            **{"info.json": np.frombuffer(json.dumps(info, indent=1).encode(), dtype=np.uint8)},
            x=test.x.astype(np.uint8),
            y=test.y.astype(np.uint8),
        )
    tmp.replace(path)
    return path


def load_split(path) -> Split:
    """Read and validate a data set file written by :func:`write_test_split`."""
    src = str(path)
    files = read_npz(path, "data")
    if set(files) != {"info.json", "x", "y"}:
        raise GoldenError(f"data file {src}: entries {sorted(files)}, expected ['info.json', 'x', 'y']")
    try:
        info = json.loads(files["info.json"].astype(np.uint8).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise GoldenError(f"data file {src}: 'info.json' is not valid UTF-8 JSON ({e})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise GoldenError(f"data file {src}: field 'format' is {info.get('format') if isinstance(info, dict) else info!r}, expected {FORMAT!r}")
    if info.get("schema_version") != SCHEMA_VERSION:
        raise GoldenError(
            f"data file {src}: schema_version {info.get('schema_version')!r} is not supported "
            f"(this version reads schema_version {SCHEMA_VERSION})"
        )
    x, y = files["x"], files["y"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != INPUT_SHAPE:
        raise GoldenError(f"data file {src}: array 'x' is {x.dtype} {x.shape}, expected uint8 (N,) + {INPUT_SHAPE}")
    if y.dtype != np.uint8 or y.shape != (x.shape[0],):
        raise GoldenError(f"data file {src}: array 'y' is {y.dtype} {y.shape}, expected uint8 ({x.shape[0]},)")
    if x.size and x.max() > PIXEL_MAX:
        raise GoldenError(f"data file {src}: pixel codes must lie in 0..{PIXEL_MAX}, found max {x.max()}")
    if y.size and y.max() >= CLASSES:
        raise GoldenError(f"data file {src}: labels must lie in 0..{CLASSES - 1}, found {y.max()}")
    if info.get("count") != len(y):
        raise GoldenError(f"data file {src}: field 'count' is {info.get('count')!r} but the file holds {len(y)} images")
    return Split(x.astype(np.int64), y.astype(np.int64))

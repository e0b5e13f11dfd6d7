"""Reading input images for ``accel run`` and friends."""

from __future__ import annotations

import zipfile

import numpy as np

from golden.errors import GoldenError


def load_inputs(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixel codes from ``.npy`` (the array) or ``.npz`` (arrays ``x`` and optional ``y``)."""
    src = str(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise GoldenError(f"input file {src}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise GoldenError(f"input file {src}: not a readable .npy/.npz file ({e})") from None
    if isinstance(data, np.ndarray):
        return data, None
    with data:
        if "x" not in data.files:
            raise GoldenError(f"input file {src}: no array 'x' (found {data.files}); store pixel codes as x=..., labels as y=...")
        x = data["x"]
        y = data["y"] if "y" in data.files else None
    if y is not None and (y.ndim != 1 or len(y) != len(x)):
        raise GoldenError(f"input file {src}: array 'y' has shape {y.shape}, expected ({len(x)},)")
    return x, y

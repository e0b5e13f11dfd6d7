"""Reading input images for ``accel run`` and ``accel sweep``: the shape first, the data after.

:func:`input_shape` reads only the ``.npy`` header (of the file, or of member
``x`` of an ``.npz``), so that a command can refuse a wrong shape, or a run too
big for the memory budget, before the data is loaded; :func:`load_inputs` then
reads and checks the arrays (:func:`golden.datasets.load_images`).
"""

from __future__ import annotations

import zipfile

import numpy as np

from golden.datasets import load_images
from golden.errors import GoldenError


def _header(fp, src: str) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ValueError(f".npy format version {version} is not supported")
    except (ValueError, EOFError, OSError) as e:
        raise GoldenError(f"input file {src}: not a readable .npy/.npz file ({e})") from None
    if dtype.hasobject:
        raise GoldenError(f"input file {src}: holds Python objects (dtype {dtype}); pixel codes must be integers")
    return tuple(int(s) for s in shape), dtype


def input_shape(path) -> tuple[int, ...]:
    """Shape of the pixel codes in ``path`` (``.npy``, or ``.npz`` member ``x``), from the header alone."""
    from golden.npzio import open_regular

    src = str(path)

    def fail(msg):
        raise GoldenError(f"input file {src}: {msg}")

    try:
        with open_regular(path, fail) as f:
            head = f.read(4)
            f.seek(0)
            if head.startswith(b"PK"):
                with zipfile.ZipFile(f) as z:
                    if "x.npy" not in z.namelist():
                        found = [n.removesuffix(".npy") for n in z.namelist()]
                        raise GoldenError(f"input file {src}: no array 'x' (found {found}); store pixel codes as "
                                          "x=..., labels as y=...")
                    with z.open("x.npy") as member:
                        shape, _ = _header(member, src)
            else:
                shape, _ = _header(f, src)
    except FileNotFoundError:
        raise GoldenError(f"input file {src}: no such file") from None
    except IsADirectoryError:
        raise GoldenError(f"input file {src}: is a folder, not a file") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise GoldenError(f"input file {src}: not a readable .npy/.npz file ({e})") from None
    if len(shape) < 1:
        raise GoldenError(f"input file {src}: holds a scalar; expected pixel codes of shape (N,) + the input shape")
    return shape


def load_inputs(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixel codes from ``.npy`` (the array) or ``.npz`` (arrays ``x`` and optional ``y``),
    read by :func:`golden.datasets.load_images` (headers and sizes checked before the data)."""
    return load_images(path)

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
        raise GoldenError(f"{src}: not a readable .npy/.npz file ({e})") from None
    if dtype.hasobject:
        raise GoldenError(f"{src}: holds Python objects (dtype {dtype}); pixel codes must be integers")
    return tuple(int(s) for s in shape), dtype


def input_shape(path, what: str = "input") -> tuple[int, ...]:
    """Shape of the pixel codes in ``path`` (``.npy``, or ``.npz`` member ``x``), from the header alone;
    errors read ``"<what> file <path>: ..."``."""
    from golden.npzio import open_regular

    src = f"{what} file {path}"

    def fail(msg):
        raise GoldenError(f"{src}: {msg}")

    try:
        with open_regular(path, fail) as f:
            head = f.read(4)
            f.seek(0)
            if head.startswith(b"PK"):
                with zipfile.ZipFile(f) as z:
                    if "x.npy" not in z.namelist():
                        found = [n.removesuffix(".npy") for n in z.namelist()]
                        raise GoldenError(f"{src}: no array 'x' (found {found}); store pixel codes as "
                                          "x=..., labels as y=...")
                    with z.open("x.npy") as member:
                        shape, _ = _header(member, src)
            else:
                shape, _ = _header(f, src)
    except FileNotFoundError:
        raise GoldenError(f"{src}: no such file") from None
    except IsADirectoryError:
        raise GoldenError(f"{src}: is a folder, not a file") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise GoldenError(f"{src}: not a readable .npy/.npz file ({e})") from None
    if len(shape) < 1:
        raise GoldenError(f"{src}: holds a scalar; expected pixel codes of shape (N,) + the input shape")
    return shape


def load_inputs(path, what: str = "input") -> tuple[np.ndarray, np.ndarray | None]:
    """Pixel codes from ``.npy`` (the array) or ``.npz`` (arrays ``x`` and optional ``y``),
    read by :func:`golden.datasets.load_images` (headers and sizes checked before the data)."""
    return load_images(path, what)

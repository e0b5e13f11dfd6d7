"""Reading the project's ``.npz`` files safely: never unpickling, always a clear error."""

from __future__ import annotations

import json
import zipfile

import numpy as np

from .errors import GoldenError


def read_npz(path, what: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive at ``path`` (``allow_pickle=False``).

    ``what`` names the kind of file in errors ("model", "trace", "data", ...): a
    missing file, a non-zip, a bare ``.npy`` or an object array all raise
    :class:`GoldenError` naming the file.
    """
    src = str(path)
    try:
        with open(path, "rb") as f:
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with z:
                return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise GoldenError(f"{what} file {src}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise GoldenError(f"{what} file {src}: not a readable .npz {what} file ({e})") from None


def json_entry(files: dict[str, np.ndarray], key: str, what: str, src) -> object:
    """Decode the UTF-8 JSON stored as a ``uint8`` array under ``key`` (popped from ``files``)."""
    if key not in files:
        raise GoldenError(f"{what} file {src}: no {key!r} entry; not a {what} file of this project")
    try:
        return json.loads(files.pop(key).astype(np.uint8).tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise GoldenError(f"{what} file {src}: {key!r} is not valid UTF-8 JSON ({e})") from None

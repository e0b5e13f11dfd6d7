"""Reading input images for ``accel run`` and friends (the checks live in :func:`golden.datasets.load_images`)."""

from __future__ import annotations

import numpy as np

from golden.datasets import load_images


def load_inputs(path) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixel codes from ``.npy`` (the array) or ``.npz`` (arrays ``x`` and optional ``y``)."""
    return load_images(path)

"""Training extra: QCFS networks in PyTorch, the bit regularizer, and the importer.

Needs ``torch`` (``pip install 'snnbits[train]'``); the rest of :mod:`golden`
never imports this package.  Modules:

* :mod:`.qcfs`: the QCFS activation (straight-through ``floor``) and ``L_SP`` (Eq. 10-11);
* :mod:`.train`: SGD + cosine training, ReLU-to-QCFS fine-tuning;
* :mod:`.models`: small digits models;
* :mod:`.importer`: a trained torch module to a :class:`golden.ir.Network` (torch.fx);
* :mod:`.make_default`: regenerates the bundled ``golden/data/default.npz``.
"""

try:
    import torch  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    from ..errors import GoldenError

    raise GoldenError(
        "golden.training needs PyTorch: pip install torch==2.13.0 (or 'snnbits[train]')"
    ) from e

"""Where the bundled models live, and loading a model by path or by the name ``default``."""

from __future__ import annotations

from pathlib import Path

from .errors import GoldenError
from .ir import Network, load

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_MODEL = DATA / "default.npz"


def resolve(model: str | Path | None) -> Path:
    """``None`` or ``"default"`` -> the bundled default model; anything else is a path."""
    if model is None or str(model) == "default":
        if not DEFAULT_MODEL.exists():
            raise GoldenError(f"the bundled default model {DEFAULT_MODEL} is missing from this installation")
        return DEFAULT_MODEL
    return Path(model)


def load_model(model: str | Path | None) -> Network:
    return load(resolve(model))

"""Fidelity of the integer network to the float QCFS network it was converted from.

The SNN equals the integer ANN exactly (``tests/test_golden_exact.py``); the integer
ANN differs from the float QCFS ANN (:func:`golden.reference.forward`, ``float64``)
only by the rounding of weights and biases to integers (``docs/integer-network.md``).
This module measures that difference on a set of calibration images:

* a hidden layer's *match* is the fraction of its codes (every neuron of every
  image) that equal the float model's codes, with both networks run end to end (the
  integer layer reads the integer codes of its sources, so errors propagate);
* the output layer's match is the fraction of images whose prediction (``argmax``
  of the logits) equals the float model's;
* a layer's *local* match is the same comparison with the integer layer fed the float
  model's codes of its sources: the error of that layer's own integers alone.

:func:`fidelity` measures one integer network; :func:`auto_weight_bits` picks the
smallest weight width whose every layer matches at least a given fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import reference
from .convert import MAX_WEIGHT_BITS, MIN_WEIGHT_BITS, IntNetwork, convert
from .errors import GoldenError
from .ir import QCFS, Network
from .simulate import apply_term, integer_ann

#: the default fraction ``--weight-bits auto`` asks every layer to match
DEFAULT_MATCH = 0.99


@dataclass(frozen=True)
class FloatCodes:
    """The float QCFS network on calibration images: the codes of every QCFS node and
    the predictions (``argmax`` of the output, flattened)."""

    images: int
    codes: dict[str, np.ndarray]
    predictions: np.ndarray


def float_codes(net: Network, x) -> FloatCodes:
    """Run the float64 reference once on pixel codes ``x`` and keep what :func:`fidelity` compares."""
    x = reference.check_input(net, x, source="fidelity: calibration images")
    if len(x) == 0:
        raise GoldenError("fidelity: the calibration set holds no images")
    vals = reference.forward(net, x, return_all=True)
    codes = {n.name: reference.qcfs_codes(vals[n.inputs[0]], n.lam, n.bits) for n in net.nodes if isinstance(n, QCFS)}
    out = vals[net.output]
    return FloatCodes(len(x), codes, out.reshape(len(x), -1).argmax(1))


@dataclass(frozen=True)
class LayerMatch:
    """How many of a layer's ``compared`` values equal the float model's: codes of a hidden
    layer (``neurons * images``), predictions of the output layer (``images``)."""

    name: str
    kind: str  # "hidden" (codes) or "output" (predictions)
    compared: int
    matching: int  # the integer network run end to end
    local_matching: int  # this layer on the float model's codes of its sources

    @property
    def fraction(self) -> float:
        return self.matching / self.compared if self.compared else 1.0

    @property
    def local_fraction(self) -> float:
        return self.local_matching / self.compared if self.compared else 1.0


@dataclass(frozen=True)
class Fidelity:
    """Per layer, in execution order, the match of an integer network to its float model."""

    images: int
    layers: tuple[LayerMatch, ...]

    @property
    def minimum(self) -> float:
        """The smallest match over the layers (what :func:`auto_weight_bits` compares)."""
        return min((l.fraction for l in self.layers), default=1.0)

    def layer(self, name: str) -> LayerMatch:
        for l in self.layers:
            if l.name == name:
                return l
        raise GoldenError(f"fidelity: no layer {name!r} (layers: {[l.name for l in self.layers]})")

    def to_dict(self) -> dict:
        return {"images": self.images, "minimum": self.minimum,
                "layers": [{"name": l.name, "kind": l.kind, "compared": l.compared, "matching": l.matching,
                            "fraction": l.fraction, "local_matching": l.local_matching,
                            "local_fraction": l.local_fraction} for l in self.layers]}


def fidelity(net: Network, inet: IntNetwork, x=None, *, reference_codes: FloatCodes | None = None) -> Fidelity:
    """The match of ``inet`` (converted from ``net``) to the float model on pixel codes ``x``
    (or on the images of ``reference_codes``, the float model's result computed once)."""
    if inet.model_hash != net.hash():
        raise GoldenError(f"fidelity: integer network {inet.name!r} was not converted from model {net.name!r}")
    if reference_codes is None:
        if x is None:
            raise GoldenError("fidelity: give the calibration images x or their float codes")
        reference_codes = float_codes(net, x)
    if x is None:
        raise GoldenError("fidelity: give the calibration images x")
    x = reference.check_input(net, x, source="fidelity: calibration images")
    if len(x) != reference_codes.images:
        raise GoldenError(f"fidelity: {len(x)} images, but the float codes are of {reference_codes.images}")
    res = integer_ann(inet, x)
    layers = []
    for l in inet.layers:
        local = _layer_codes(inet, l, x, reference_codes.codes)
        if l.is_output:
            want = reference_codes.predictions
            got, got_local = res.predictions(inet), local.reshape(len(x), -1).argmax(1)
            layers.append(LayerMatch(l.name, "output", len(x), int(np.sum(got == want)), int(np.sum(got_local == want))))
        else:
            want = reference_codes.codes[l.name]
            layers.append(LayerMatch(l.name, "hidden", int(want.size), int(np.sum(res.codes[l.name] == want)),
                                     int(np.sum(local == want))))
    return Fidelity(len(x), tuple(layers))


def _layer_codes(inet: IntNetwork, layer, x: np.ndarray, codes: dict[str, np.ndarray]) -> np.ndarray:
    """Layer ``layer`` of ``inet`` on the given codes of its sources (``x``: the pixels):
    the codes of a hidden layer, the logits of the output layer (int64)."""
    acc = sum(apply_term(t, x if inet.is_input(t.source) else codes[t.source]) for t in layer.terms)
    acc = acc + layer.init.reshape((-1,) + (1,) * (acc.ndim - 2))
    if layer.is_output:
        return acc
    S = layer.S.reshape((-1,) + (1,) * (acc.ndim - 2))
    return np.clip(acc // S, 0, (1 << layer.bits) - 1)


@dataclass(frozen=True)
class WidthTrial:
    """One width :func:`auto_weight_bits` tried: its fidelity, or why :func:`convert` refused it."""

    weight_bits: int
    fidelity: Fidelity | None
    refused: str | None = None


@dataclass(frozen=True)
class AutoWidth:
    """The result of :func:`auto_weight_bits`: the chosen width, its integer network, and every
    width tried (in increasing order, up to the chosen one)."""

    match: float
    weight_bits: int
    inet: IntNetwork
    trials: tuple[WidthTrial, ...]

    @property
    def fidelity(self) -> Fidelity:
        return self.trials[-1].fidelity


def check_match(match) -> float:
    """``match`` as a float in ``(0, 1]``, or a :class:`GoldenError` naming it."""
    ok = isinstance(match, (int, float, np.floating, np.integer)) and not isinstance(match, bool)
    if not ok or not 0 < float(match) <= 1:
        raise GoldenError(f"fidelity: match must be a fraction in (0, 1], not {match!r}")
    return float(match)


def auto_weight_bits(net: Network, x, match: float = DEFAULT_MATCH, *, bitplanes: bool = False,
                     term_shifts: bool = False, widths=range(MIN_WEIGHT_BITS, MAX_WEIGHT_BITS + 1)) -> AutoWidth:
    """The smallest weight width at which *every* layer of the integer network matches the float
    model on at least ``match`` of its values (:attr:`Fidelity.minimum`; codes of hidden layers,
    predictions of the output layer) on calibration images ``x``.

    Widths are tried in increasing order and the first that reaches ``match`` is returned, so the
    result is the smallest such width whether or not the match grows with the width (it need not:
    rounding to a finer grid can move a value across a code boundary).  A width that
    :func:`convert` refuses (weights too large for it, or an accumulator beyond 53 bits) is
    skipped.  Raises :class:`GoldenError` when no width reaches ``match``, naming the best one.
    """
    match = check_match(match)
    widths = sorted(set(int(w) for w in widths))
    if not widths or widths[0] < MIN_WEIGHT_BITS or widths[-1] > MAX_WEIGHT_BITS:
        raise GoldenError(f"fidelity: widths must lie in {MIN_WEIGHT_BITS}..{MAX_WEIGHT_BITS}, not {widths}")
    ref = float_codes(net, x)
    trials = []
    for w in widths:
        try:
            inet = convert(net, weight_bits=w, bitplanes=bitplanes, term_shifts=term_shifts)
        except GoldenError as e:
            trials.append(WidthTrial(w, None, str(e)))
            continue
        f = fidelity(net, inet, x, reference_codes=ref)
        trials.append(WidthTrial(w, f))
        if f.minimum >= match:
            return AutoWidth(match, w, inet, tuple(trials))
    tried = [t for t in trials if t.fidelity is not None]
    if not tried:
        raise GoldenError(f"--weight-bits auto: model {net.name!r} converts at none of the widths "
                          f"{widths[0]}..{widths[-1]} ({trials[-1].refused})")
    best = max(tried, key=lambda t: (t.fidelity.minimum, -t.weight_bits))
    worst = min(best.fidelity.layers, key=lambda l: l.fraction)
    raise GoldenError(
        f"--weight-bits auto: no weight width in {widths[0]}..{widths[-1]} makes every layer of model {net.name!r} "
        f"match the float model on {100 * match:g} % of {ref.images} calibration image(s); the best, "
        f"{best.weight_bits} bits, leaves layer {worst.name!r} at {100 * worst.fraction:.3f} % "
        f"(lower the fraction with --match, or calibrate on other images)"
    )

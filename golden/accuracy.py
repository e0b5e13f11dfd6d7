"""Accuracy of a QCFS network and of its SNNs on a labelled set of pixel codes.

:func:`evaluate` computes, without printing anything:

* the float QCFS ANN (:func:`golden.reference.forward`),
* the integer ANN (:func:`golden.simulate.integer_ann`, ``weight_bits``-bit weights),
* the bit-serial SNN for ``T = 1 .. B`` (:func:`golden.simulate.simulate`, ``mode="literal"``:
  time step by time step through the neuron twins),
* how many images' SNN (``T = B``) prediction differs from the integer ANN's (0 by
  construction) and how many neuron codes differ,
* the rate-coded QCFS baseline (:func:`golden.baselines.rate_coded`) for ``rate_T``,
* the paper's Table 4 ablation (:func:`golden.baselines.variant`) for ``ablation_T``,
* the spiking activity of every hidden layer at ``T = B``.

:func:`plot` draws accuracy vs ``T`` and spikes per layer (optionally for a second,
e.g. unregularized, model) with matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import baselines, reference
from .convert import IntNetwork, convert
from .errors import GoldenError
from .ir import Network
from .simulate import integer_ann, simulate

#: the bundled trained digits model (``python -m golden.training.make_default`` regenerates it)
DEFAULT_MODEL = Path(__file__).parent / "data" / "default.npz"
RATE_T = (1, 2, 4, 8, 16, 32)
ABLATION_T = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class LayerActivity:
    """Spikes of one hidden layer at ``T = B``: per image, and as a fraction of ``neurons * T``."""

    name: str
    neurons: int
    spikes_per_image: float
    rate: float


@dataclass(frozen=True)
class AblationRow:
    """One row of Table 4: the three switches and accuracy per ``T``."""

    left_shift: bool
    bias_shift: bool
    modified_if: bool
    accuracy: dict[int, float]


@dataclass(frozen=True)
class AccuracyReport:
    """Everything :func:`evaluate` measures; accuracies are fractions in ``[0, 1]``."""

    model: str
    model_hash: str
    bits: int
    weight_bits: int
    images: int
    float_ann: float
    integer_ann: float
    snn: dict[int, float]
    mismatches: int
    code_mismatches: int
    rate_coded: dict[int, float]
    ablation: tuple[AblationRow, ...]
    activity: tuple[LayerActivity, ...]
    rate_coded_spikes_per_image: dict[int, float] = field(default_factory=dict)
    term_shifts: bool = False  # the integer network has per-term shifts (``convert(..., term_shifts=True)``)

    @property
    def spikes_per_image(self) -> float:
        return float(sum(a.spikes_per_image for a in self.activity))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["spikes_per_image"] = self.spikes_per_image
        return d


def _acc(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y)) if len(y) else float("nan")


def steps(inet: IntNetwork, rate_T=RATE_T, ablation_T=ABLATION_T) -> int:
    """Number of ``progress`` calls :func:`evaluate` makes."""
    return 3 + inet.bits + len(rate_T) + len(baselines.ABLATIONS) * len(ablation_T)


def evaluate(
    net: Network,
    x,
    y,
    *,
    weight_bits: int = 8,
    term_shifts: bool = False,
    rate_T=RATE_T,
    ablation_T=ABLATION_T,
    inet: IntNetwork | None = None,
    progress: Callable[[str], None] | None = None,
) -> AccuracyReport:
    """Measure ``net`` on pixel codes ``x`` with labels ``y`` (the integer network: ``inet``, or
    ``net`` converted with ``weight_bits`` and ``term_shifts``).

    ``progress(description)`` is called after each of :func:`steps` units of work.
    """
    y = np.asarray(y)
    x = reference.check_input(net, x, source="evaluate: x")
    if y.shape != (len(x),):
        raise GoldenError(f"evaluate: labels y have shape {y.shape}, expected ({len(x)},)")
    tick = progress or (lambda what: None)
    inet = convert(net, weight_bits=weight_bits, term_shifts=term_shifts) if inet is None else inet
    B = inet.bits
    float_pred = reference.forward(net, x).reshape(len(x), -1).argmax(1)
    tick("float ANN")
    ann = integer_ann(inet, x)
    ann_pred = ann.predictions(inet)
    tick("integer ANN")
    snn = {}
    full = None
    for T in range(1, B + 1):
        r = simulate(inet, x, T=T, mode="literal")
        snn[T] = _acc(r.predictions(inet), y)
        if T == B:
            full = r
        tick(f"SNN T={T}")
    mismatches = int(np.sum(full.predictions(inet) != ann_pred))
    code_mismatches = int(sum(np.sum(full.codes[k] != ann.codes[k]) for k in ann.codes))
    activity = []
    for layer in inet.layers:
        if layer.is_output:
            continue
        neurons = int(np.prod(layer.out_shape))
        per_image = float(full.spike_counts(layer.name).sum()) / len(x) if len(x) else 0.0
        activity.append(LayerActivity(layer.name, neurons, per_image, per_image / (neurons * B)))
    tick("activity")
    rate, rate_spikes = {}, {}
    for T in rate_T:
        r = baselines.rate_coded(inet, x, int(T))
        rate[int(T)] = _acc(r.predictions(), y)
        rate_spikes[int(T)] = float(sum(int(v.sum()) for v in r.spikes.values())) / max(len(x), 1)
        tick(f"rate-coded QCFS T={T}")
    rows = []
    for ls, bs, mif in baselines.ABLATIONS:
        accs = {}
        for T in ablation_T:
            r = baselines.variant(inet, x, int(T), left_shift=ls, bias_shift=bs, modified_if=mif)
            accs[int(T)] = _acc(r.predictions(), y)
            tick(f"ablation {int(ls)}{int(bs)}{int(mif)} T={T}")
        rows.append(AblationRow(ls, bs, mif, accs))
    return AccuracyReport(
        model=net.name,
        model_hash=net.hash(),
        bits=B,
        weight_bits=inet.weight_bits,
        images=len(x),
        float_ann=_acc(float_pred, y),
        integer_ann=_acc(ann_pred, y),
        snn=snn,
        mismatches=mismatches,
        code_mismatches=code_mismatches,
        rate_coded=rate,
        ablation=tuple(rows),
        activity=tuple(activity),
        rate_coded_spikes_per_image=rate_spikes,
        term_shifts=inet.term_shifts,
    )


def plot(report: AccuracyReport, path, compare: AccuracyReport | None = None) -> Path:
    """Write a PNG: accuracy vs T (ours vs rate-coded QCFS) and spikes per layer.

    With ``compare`` (e.g. the same architecture trained without the bit
    regularizer) the spikes panel shows both models side by side.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GoldenError("plot: needs matplotlib (pip install 'snnbits[plot]')") from None
    path = Path(path)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for rep, style in ((report, "-"), (compare, "--")):
        if rep is None:
            continue
        ax1.plot(list(rep.snn), [100 * v for v in rep.snn.values()], "o" + style, label=f"ours, bit-serial ({rep.model})")
        ax1.plot(list(rep.rate_coded), [100 * v for v in rep.rate_coded.values()], "s" + style,
                 label=f"QCFS rate-coded ({rep.model})")
    ax1.axhline(100 * report.integer_ann, color="gray", lw=0.8, ls=":", label="integer ANN")
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("time steps T")
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title("Accuracy vs time steps")
    ax1.legend(fontsize=7)
    names = [a.name for a in report.activity]
    idx = np.arange(len(names))
    width = 0.4 if compare is not None else 0.8
    ax2.bar(idx - (width / 2 if compare is not None else 0), [a.spikes_per_image for a in report.activity], width,
            label=f"{report.model} ({report.spikes_per_image:.0f} / image)")
    if compare is not None:
        if len(compare.activity) != len(names):
            raise GoldenError(
                f"plot: models {report.model!r} and {compare.model!r} have {len(names)} and "
                f"{len(compare.activity)} hidden layers; spikes per layer can only be compared layer by layer"
            )
        ax2.bar(idx + width / 2, [a.spikes_per_image for a in compare.activity], width,
                label=f"{compare.model} ({compare.spikes_per_image:.0f} / image)")
    ax2.set_xticks(idx, names, rotation=30, ha="right", fontsize=8)
    ax2.set_ylabel(f"spikes per image (T = {report.bits})")
    ax2.set_title("Spiking activity per layer")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

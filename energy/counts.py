"""Exact counts of our SNN from a trace: spiking activity per layer and synaptic operations.

Everything here is integer bookkeeping on the recorded spikes.  Counts are totals
over the ``images`` of the trace.  :func:`synaptic_ops` counts, for one term, each
input event times its fan-out (pooling paths, padding, stride and groups included),
exactly; :func:`activity` gives every layer's :class:`LayerActivity` (spike rate,
input density, synaptic operations, left shifts: one per neuron per input step).
The ideal event-driven lower bound (:mod:`energy.baselines`, ``ours_ideal``) and the
report's activity table are built on them; the built accelerator's own counts come
from its cycle model (:mod:`energy.built`).

:func:`section63_ratio` is the paper's Section 6.3 estimate of synaptic operations
per left shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.convert import IntNetwork, Term
from golden.simulate import SimResult, input_steps

from .errors import EnergyError


@dataclass(frozen=True)
class LayerActivity:
    """Spiking activity of one layer of our SNN (totals over the batch).

    ``spike_rate`` = output spikes / (neurons x T); ``input_density`` = input spikes /
    input slots read (the ``s`` of Section 6.3); ``synaptic_per_shift`` = synaptic
    operations per left shift (Section 6.3's ``s k^2 c_in``, measured)."""

    layer: str
    kind: str
    neurons: int
    in_steps: int
    out_steps: int
    input_spikes: int
    input_slots: int
    output_spikes: int
    synaptic_ops: int
    dense_synapses: int
    shift_ops: int
    active_synapses: int  # (event position, synapse) pairs whose input has >= 1 event in the window

    @property
    def spike_rate(self) -> float:
        return self.output_spikes / (self.neurons * self.out_steps) if self.out_steps else 0.0

    @property
    def input_density(self) -> float:
        return self.input_spikes / self.input_slots if self.input_slots else 0.0

    @property
    def synaptic_per_shift(self) -> float:
        return self.synaptic_ops / self.shift_ops if self.shift_ops else 0.0


# ------------------------------------------------------------------ exact synapse counting


def synaptic_ops(term: Term, counts: np.ndarray) -> int:
    """Synaptic operations of ``term`` when input position ``j`` carries ``counts[..., j]``
    events (``counts``: ``(N,) + source shape`` non-negative integers, e.g. spikes
    summed over time): the sum over events of each event's fan-out
    (:meth:`golden.convert.Term.fanout`), exactly.
    """
    c = np.asarray(counts)
    if c.dtype.kind not in "iub" or (c.size and c.min() < 0):
        raise EnergyError(f"synaptic_ops: counts must be non-negative integers, got dtype {c.dtype}")
    if not c.size:
        return 0
    fan = term.fanout(c.shape[1:]).reshape(-1)
    return int(c.reshape(len(c), -1).sum(0, dtype=np.int64) @ fan)


def fan_out_total(term: Term, source_shape: tuple[int, ...]) -> int:
    """Synapses of ``term`` for one image with every input position active once."""
    return term.synapses(source_shape)


# ------------------------------------------------------------------ helpers


def _numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def check_result(inet: IntNetwork, res: SimResult) -> None:
    """Refuse a simulation result that lacks spikes of a layer the network reads."""
    for layer in inet.layers:
        for src in layer.sources:
            if not inet.is_input(src) and src not in res.spikes:
                raise EnergyError(f"counts: the trace has no spikes of layer {src!r}, which layer {layer.name!r} reads")
            if not inet.is_input(src) and res.spike_counts(src).shape[1:] != inet.layer(src).out_shape:
                raise EnergyError(
                    f"counts: spikes of layer {src!r} have shape {res.spike_counts(src).shape[1:]}, "
                    f"the model says {inet.layer(src).out_shape}"
                )
        if not layer.is_output and layer.name not in res.spikes:
            raise EnergyError(f"counts: the trace has no spikes of layer {layer.name!r}")


# ------------------------------------------------------------------ ours


def activity(inet: IntNetwork, res: SimResult) -> tuple[LayerActivity, ...]:
    """Per-layer spiking activity and exact synaptic operation counts of our SNN."""
    check_result(inet, res)
    N = int(res.pixels.shape[0])
    out = []
    for layer in inet.layers:
        al = inet.alignment(layer, res.T)
        D = al.depth
        syn = dense = in_spikes = slots = active = 0
        for t in layer.terms:
            shape = inet.source_shape(t.source)
            span = al.span(t.source)
            if span.multibit:
                continue  # multi-bit MACs, counted as such
            if inet.is_input(t.source):  # pixel bit planes
                cnt = input_steps(inet, res, t.source).sum(0, dtype=np.int64)
            else:
                cnt = res.spike_counts(t.source)
            steps = span.steps
            syn += synaptic_ops(t, cnt)
            active += synaptic_ops(t, (cnt > 0).astype(np.int64))
            dense += fan_out_total(t, shape) * N * steps
            in_spikes += int(cnt.sum())
            slots += _numel(shape) * N * steps
        neurons = _numel(layer.out_shape) * N
        spikes = 0 if layer.is_output else int(res.spike_counts(layer.name).sum())
        out.append(
            LayerActivity(
                layer=layer.name,
                kind="output" if layer.is_output else "hidden",
                neurons=neurons,
                in_steps=D,
                out_steps=0 if layer.is_output else res.T,
                input_spikes=in_spikes,
                input_slots=slots,
                output_spikes=spikes,
                synaptic_ops=syn,
                dense_synapses=dense,
                shift_ops=neurons * D,
                active_synapses=active,
            )
        )
    return tuple(out)


def section63_ratio(density: float, k: int, c_in: int) -> float:
    """Section 6.3: synaptic operations per left shift of a ``k x k`` conv layer,
    ``s k^2 c_in c_out H W / (c_out H W) = s k^2 c_in`` with ``s`` the input spike
    density (1 - sparsity).  For ``s = 0.1, k = 3, c_in = 512``: 460.8 (the paper prints 406.8)."""
    return density * k * k * c_in

"""Deliberately broken neuron PEs: the regression must catch each of them (never use them otherwise)."""

from __future__ import annotations

from rtl.pe import NeuronPE


class GreaterThanNeuronPE(NeuronPE):
    """Fires on ``u > thr`` instead of ``u >= thr``."""

    lean_fault = "gt"


class NoInitNeuronPE(NeuronPE):
    """Forgets the initial membrane (bias + half LSB) at ``finish``."""

    def _finish_param(self, init):
        return 0


FAULTS = {"gt": GreaterThanNeuronPE, "noinit": NoInitNeuronPE}

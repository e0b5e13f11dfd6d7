"""Deliberately broken PEs: the regression must catch each of them (never use them otherwise)."""

from __future__ import annotations

from rtl.pe import Accumulator, Comparator, NeuronPE


class GreaterThanComparator(Comparator):
    """Fires on ``u > thr`` instead of ``u >= thr``."""

    def _fires(self, u, thr):
        return u > thr


class NoInitAccumulator(Accumulator):
    """Forgets the initial membrane (bias + half LSB) at ``finish``."""

    def _finish_addend(self):
        return 0


class GreaterThanNeuronPE(NeuronPE):
    comparator_cls = GreaterThanComparator


class NoInitNeuronPE(NeuronPE):
    accumulator_cls = NoInitAccumulator


FAULTS = {"gt": GreaterThanNeuronPE, "noinit": NoInitNeuronPE}

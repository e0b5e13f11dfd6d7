"""Amaranth RTL of the bit-serial neuron: processing elements and Verilog generation."""

from .pe import Accumulator, Comparator, NeuronPE, Reset, Shifter

__all__ = ["Accumulator", "Comparator", "NeuronPE", "Reset", "Shifter"]

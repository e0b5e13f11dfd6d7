"""Amaranth RTL of the bit-serial neuron and of the accelerator that runs a whole network.

:mod:`rtl.pe` holds the neuron datapath (:class:`~rtl.pe.LeanPE`) and the
per-operation PEs with software twins; :mod:`rtl.array` the PE array;
:mod:`rtl.top` the accelerator top.  Nothing here imports the model code.
"""

from .pe import Accumulator, Comparator, LeanPE, NeuronPE, PEOp, Reset, Shifter

__all__ = ["Accumulator", "Comparator", "LeanPE", "NeuronPE", "PEOp", "Reset", "Shifter"]

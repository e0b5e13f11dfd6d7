"""Co-simulation harness: joins the golden model, the cycle model (accel) and the RTL (rtl).

* :mod:`snnbits.cosim.build`: a compiled program as an RTL top (and its Verilog);
* :mod:`snnbits.cosim.expect`: what a run must produce (golden spikes and logits,
  the cycle model's cycles) and the checker that compares an observed run with it;
* :mod:`snnbits.cosim.fast`: the whole-image bench under ``amaranth.sim``;
* :mod:`snnbits.cosim.runner`: the one cocotb runner (Icarus or Verilator);
* :mod:`snnbits.cosim.tb_accel`, :mod:`snnbits.cosim.tb_neuron`: the cocotb benches.
"""

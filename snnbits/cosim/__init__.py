"""Co-simulation harness: joins the golden model, the cycle model (accel) and the RTL (rtl).

* :mod:`snnbits.cosim.build`: a compiled program as the RTL top (and its Verilog);
* :mod:`snnbits.cosim.compile`: the compiled folder (Verilog, memory images,
  manifest, test vectors, a self-checking Verilog testbench);
* :mod:`snnbits.cosim.expect`: what a run must produce (golden logits and spikes,
  the cycle model's cycles), the checker and the stream checker;
* :mod:`snnbits.cosim.fast`: the whole-image bench under ``amaranth.sim``;
* :mod:`snnbits.cosim.runner`: the one cocotb runner (Icarus or Verilator);
* :mod:`snnbits.cosim.tb_accel`, :mod:`snnbits.cosim.tb_neuron`: the cocotb benches;
* :mod:`snnbits.cosim.corners`, :mod:`snnbits.cosim.stimulus`, :mod:`snnbits.cosim.faults`:
  corner and random stimulus, the neuron PE's planted faults;
* :mod:`snnbits.cosim.synth`: synthesis numbers with Yosys.
"""

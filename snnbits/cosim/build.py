"""A compiled program (:class:`accel.program.Program`) as the RTL top (:class:`rtl.top.Accelerator`)."""

from __future__ import annotations

from pathlib import Path

from accel.program import Program, param_word_images, weight_word_images


def machine_params(prog: Program, *, acc_width: int | None = None):
    """The top's generation parameters; ``acc_width`` overrides the derived width (fault benches only)."""
    from rtl.top import MachineParams

    hw = prog.hardware()
    if acc_width is not None:
        hw = dict(hw, acc_width=acc_width)
    return MachineParams.from_dict(hw)


def build_top(prog: Program, *, fault: str | None = None, acc_width: int | None = None):
    """The :class:`rtl.top.Accelerator` running ``prog`` (memories initialised with its images)."""
    from rtl.top import Accelerator

    params = machine_params(prog, acc_width=acc_width)
    mask = (1 << params.acc_width) - 1
    pw = [[int(v) for v in bank] for bank in param_word_images(prog)]
    if acc_width is not None:  # re-pack the parameter lanes at the narrower width
        A0, C = prog.plan.acc_width, prog.plan.cols
        pw = [[sum(((int(w) >> (c * A0)) & mask) << (c * params.acc_width) for c in range(C)) for w in bank]
              for bank in pw]
    weights = [([int(v) for v in e], [int(v) for v in o]) for e, o in weight_word_images(prog)]
    return Accelerator(params=params, weights=weights, param_words=pw, program=list(prog.descriptors), fault=fault)


def write_verilog(prog: Program, out_dir, *, name: str = "accel_top", fault: str | None = None,
                  acc_width: int | None = None) -> Path:
    """Generate the top's Verilog into ``out_dir/<name>.v`` (memories initialised inline)."""
    from rtl.generate import generate_verilog

    return generate_verilog(build_top(prog, fault=fault, acc_width=acc_width), out_dir, name)

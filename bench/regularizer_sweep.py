"""Sweep the bit regularizer coefficient on the digits model (paper Fig. 7 / A.5).

    python bench/regularizer_sweep.py --out /tmp/sweep          # about 2 min per coefficient on 2 cores

For each coefficient, trains :class:`golden.training.models.DigitsCNN` exactly as
``python -m golden.training.make_default --reg COEF`` does (same seed, same
recipe, so the model with the chosen coefficient is the bundled one), imports and
converts it, and measures on the digits test split: float, integer-ANN and SNN
(T = B) accuracy and total spikes per image (SNN, T = B).  Prints a Markdown
table (as recorded in ``docs/default-model.md``) and writes ``sweep.json`` and the
models into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from golden import accuracy, datasets, ir
from golden.training.make_default import make
from golden.training.repro import pin_cpu_dispatch

COEFS = (0.0, 3e-5, 1e-4, 3e-4, 1e-3, 2e-3, 3e-3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for sweep.json and the models (a build folder)")
    p.add_argument("--coefs", type=float, nargs="+", default=COEFS)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    pin_cpu_dispatch()  # before the first torch operation, as make_default does
    args.out.mkdir(parents=True, exist_ok=True)
    test = datasets.digits_test()
    rows = []
    for c in args.coefs:
        net, summary = make(reg=c, seed=args.seed, name=f"digits-cnn-reg{c:g}")
        ir.save(net, args.out / f"reg{c:g}.npz")
        rep = accuracy.evaluate(net, test.x, test.y, rate_T=(), ablation_T=())
        rows.append({"reg": c, "float": rep.float_ann, "integer": rep.integer_ann, "snn": rep.snn[rep.bits],
                     "mismatches": rep.mismatches, "spikes_per_image": rep.spikes_per_image,
                     "train_seconds": summary["train_seconds"], "hash": net.hash()})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    (args.out / "sweep.json").write_text(json.dumps(rows, indent=1))
    base = rows[0]
    print("| reg | float ANN | integer ANN | SNN T=B | SNN != ANN | spikes / image | reduction | train s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        red = f"{base['spikes_per_image'] / r['spikes_per_image']:.2f}x" if r["spikes_per_image"] else "-"
        print(f"| {r['reg']:g} | {100 * r['float']:.2f} % | {100 * r['integer']:.2f} % | {100 * r['snn']:.2f} % | "
              f"{r['mismatches']} | {r['spikes_per_image']:.0f} | {red} | "
              f"{r['train_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

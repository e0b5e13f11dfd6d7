"""Fidelity of the integer network to the float QCFS model: the numbers of docs/integer-network.md.

    python bench/fidelity.py [--part bundled|mixed|bn|all] [--seeds 150]

``bundled``  the bundled model on the digits test split: per-layer code match (end to end and
             local) at 4..16-bit weights, with and without per-term shifts, and the widths
             ``--weight-bits auto`` picks at 0.99 and 0.999.
``mixed``    20 seeded networks per configuration whose layer ``q1`` sums a spike term and a
             pixel term (:func:`golden.random.mixed_scale_network`), 8-bit weights: the layer's
             local and end-to-end code match and accumulator width, without and with shifts.
``bn``       random networks with B = 8 and BatchNorm gammas ``10**uniform(0, 4)`` (thresholds
             calibrated): prediction agreement of the integer and float networks on 64 random
             images at the smallest width that converts (widths 8..24), without and with shifts,
             and the width at which every image agrees; and how many images have a silent last
             hidden layer (their logits are the biases alone).

Everything is computed here, in float64 (:mod:`golden.fidelity`); no timing.
"""

from __future__ import annotations

import argparse

import numpy as np

from golden.convert import convert
from golden.datasets import digits_test
from golden.errors import GoldenError
from golden.fidelity import auto_weight_bits, fidelity, float_codes
from golden.models import load_model
from golden.random import mixed_scale_network, random_inputs, random_network


def bundled() -> None:
    net, x = load_model(None), digits_test().x
    ref = float_codes(net, x)
    print(f"bundled model {net.name!r} (hash {net.hash()[:16]}), {len(x)} digits test images")
    print("per layer: match end to end / local (the layer fed the float model's codes)")
    for w in range(4, 17):
        row = []
        for shifts in (False, True):
            inet = convert(net, w, term_shifts=shifts)
            f = fidelity(net, inet, x, reference_codes=ref)
            row.append("  ".join(f"{l.name} {100 * l.fraction:6.2f}/{100 * l.local_fraction:6.2f}" for l in f.layers))
        same = "(same with shifts)" if row[0] == row[1] else f"| shifts: {row[1]}"
        print(f"  W={w:2d}: {row[0]}  {same}")
    for m in (0.99, 0.999):
        for shifts in (False, True):
            a = auto_weight_bits(net, x, m, term_shifts=shifts)
            print(f"  auto at {m:g}{' with shifts' if shifts else ''}: {a.weight_bits} bits")


def mixed() -> None:
    print("layer q1 = pixels + spikes, 8-bit weights, 20 seeds each, 64 random images:")
    print("  P  B  skip      local match (min/mean)             end to end (mean)   acc bits (mean)   shift of the spike term")
    for P, B in ((8, 1), (8, 2), (8, 4), (12, 4), (16, 4), (5, 4), (8, 8)):
        for skip in ("conv", "identity"):
            vals = {False: [], True: []}
            e2e = {False: [], True: []}
            acc = {False: [], True: []}
            sh = []
            for seed in range(20):
                rng = np.random.default_rng(seed)
                net = mixed_scale_network(rng, pixel_bits=P, bits=B, skip=skip)
                x = random_inputs(rng, net.input.shape, P, 64)
                ref = float_codes(net, x)
                for shifts in (False, True):
                    inet = convert(net, 8, term_shifts=shifts)
                    f = fidelity(net, inet, x, reference_codes=ref).layer("q1")
                    vals[shifts].append(f.local_fraction)
                    e2e[shifts].append(f.fraction)
                    acc[shifts].append(inet.layer("q1").acc_bits)
                    if shifts:
                        sh.append(inet.layer("q1").shifts[0])
            print(f"  {P:2d} {B:2d}  {skip:8s}  "
                  f"{100 * min(vals[False]):5.1f}/{100 * np.mean(vals[False]):5.1f} -> "
                  f"{100 * min(vals[True]):5.1f}/{100 * np.mean(vals[True]):5.1f} %   "
                  f"{100 * np.mean(e2e[False]):5.1f} -> {100 * np.mean(e2e[True]):5.1f} %    "
                  f"{np.mean(acc[False]):4.1f} -> {np.mean(acc[True]):4.1f}      {min(sh)}..{max(sh)}")


def extreme_bn(seeds: int) -> None:
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        C, H, W = int(rng.integers(1, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
        pb = int(rng.integers(1, 9))
        try:
            net = random_network(rng, input_shape=(C, H, W), input_bits=pb, bits=8,
                                 channels=tuple(int(c) for c in rng.choice([2, 4, 6], int(rng.integers(1, 3)))),
                                 pool=bool(rng.random() < .5), residual=bool(rng.random() < .5),
                                 groups=bool(rng.random() < .5), strides=bool(rng.random() < .5),
                                 classes=int(rng.integers(2, 7)), log10_gamma=(0.0, 4.0))
        except GoldenError:
            continue  # a threshold beyond the IR's range
        x = random_inputs(np.random.default_rng(1000 + seed), net.input.shape, pb, 64)
        ref = float_codes(net, x)
        first = None
        agree = {}
        for w in range(8, 25):
            try:
                plain = convert(net, w)
            except GoldenError:
                continue
            out = fidelity(net, plain, x, reference_codes=ref).layers[-1].matching
            if first is None:
                first = w
                shifted = convert(net, w, term_shifts=True)
                agree["shifts"] = fidelity(net, shifted, x, reference_codes=ref).layers[-1].matching
                agree["plain"] = out
                agree["acc"] = (plain.output.acc_bits, shifted.output.acc_bits)
                last = plain.output.terms[0].source
                agree["silent"] = int(np.sum(ref.codes[last].reshape(64, -1).max(1) == 0))
            if out == 64:
                agree["all_at"] = w
                break
        if first is not None:
            rows.append((seed, first, agree))
    n = len(rows)
    bad = [r for r in rows if r[2]["plain"] < 64]
    print(f"B = 8, BN gammas 10**U(0, 4): {n} of {seeds} seeds convert at some width in 8..24")
    print(f"  networks whose predictions differ from the float model's at the smallest width: {len(bad)} without "
          f"shifts, {sum(r[2]['shifts'] < 64 for r in rows)} with shifts")
    print("  worst cases (seed, width, agreement without -> with shifts, output acc bits, silent images, all agree at):")
    for seed, w, a in sorted(rows, key=lambda r: r[2]["plain"])[:8]:
        print(f"    {seed:4d}  W={w:2d}  {a['plain']:2d} -> {a['shifts']:2d} of 64   acc {a['acc'][0]} -> {a['acc'][1]}   "
              f"silent {a['silent']:2d}   all agree at W={a.get('all_at', '>24')}")
    rest = [r for r in rows if r[2]["shifts"] < 64]
    print("  still differing with shifts (seed, width, agreement without -> with shifts, silent images, all agree at):")
    for seed, w, a in rest:
        print(f"    {seed:4d}  W={w:2d}  {a['plain']:2d} -> {a['shifts']:2d} of 64   silent {a['silent']:2d}   "
              f"all agree at W={a.get('all_at', '>24')}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=["bundled", "mixed", "bn", "all"], default="all")
    p.add_argument("--seeds", type=int, default=150, help="random networks of the 'bn' part (default: 150)")
    a = p.parse_args()
    if a.part in ("bundled", "all"):
        bundled()
    if a.part in ("mixed", "all"):
        mixed()
    if a.part in ("bn", "all"):
        extreme_bn(a.seeds)


if __name__ == "__main__":
    main()

"""Golden-model speed: ``fast`` (one GEMM per layer) against ``literal`` (one GEMM per
time step plus the neuron twins), measured in the same run on the same network.

    python bench/golden_sim.py [--images 64] [--bits 4]

Prints images/s for each mode and the ratio; both must give identical traces
(checked here too, so a fast-but-wrong change cannot look good).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate


def best_of(f, repeat: int = 3) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--bits", type=int, default=4)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    net = random_network(rng, input_shape=(3, 32, 32), input_bits=8, bits=a.bits, channels=(32, 64), classes=10)
    inet = convert(net)
    x = random_inputs(rng, (3, 32, 32), 8, a.images)
    fast = simulate(inet, x, mode="fast")
    lit = simulate(inet, x, mode="literal")
    assert all(np.array_equal(fast.membrane[k], lit.membrane[k]) for k in fast.membrane)
    tf = best_of(lambda: simulate(inet, x, mode="fast"))
    tl = best_of(lambda: simulate(inet, x, mode="literal"))
    print(f"network: {len(inet.layers)} layers, input 3x32x32, B={a.bits}, {a.images} images")
    print(f"fast:    {a.images / tf:9.1f} images/s")
    print(f"literal: {a.images / tl:9.1f} images/s")
    print(f"ratio fast/literal: {tl / tf:.2f}x")


if __name__ == "__main__":
    main()

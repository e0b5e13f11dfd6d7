"""How long the energy counts take: ``python bench/energy_counts.py [N]``.

Counts are GEMMs of all-ones terms on spike-count maps (``energy.counts.synaptic_ops``),
one per term and method; this prints the wall time of the whole report (ours and the
five baselines, including the rate-coded simulation at T = 2^B) for N random images.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from energy.costs import load_costs
from energy.report import energy_report
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    N = int(argv[0]) if argv else 256
    rng = np.random.default_rng(0)
    net = random_network(rng, input_shape=(3, 32, 32), channels=(32, 64), input_bits=8)
    inet = convert(net)
    x = random_inputs(rng, net.input.shape, net.input.bits, N)
    t0 = time.perf_counter()
    res = simulate(inet, x)
    t1 = time.perf_counter()
    rep = energy_report(inet, res, load_costs())
    t2 = time.perf_counter()
    syn = sum(a.synaptic_ops for a in rep.activity)
    print(f"{N} images 3x32x32, channels (32, 64): simulate {t1 - t0:.2f} s, energy report {t2 - t1:.2f} s "
          f"({syn / N:,.0f} synaptic ops per image)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long the energy report takes: ``python bench/energy_counts.py [N]``.

For N random images of a small CNN: the golden simulation (the baseline of the ratios), the
accelerator's cycle model on an 8x8 array (the built machine's counters), and the report (the
built machine priced, the ideal bound and every baseline, including the rate-coded simulation
at T = 2^B), each as wall time and as a ratio to the simulation measured in the same run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel.config import ArrayConfig  # noqa: E402
from accel.model import evaluate, profile  # noqa: E402
from energy.report import energy_report  # noqa: E402
from golden.convert import convert  # noqa: E402
from golden.random import random_inputs, random_network  # noqa: E402
from golden.simulate import simulate  # noqa: E402


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
    stats = evaluate(profile(inet, res), ArrayConfig(rows=8, cols=8))
    t2 = time.perf_counter()
    rep = energy_report(inet, res, stats)
    t3 = time.perf_counter()
    sim = t1 - t0
    syn = sum(a.synaptic_ops for a in rep.trace_activity)
    print(f"{N} images 3x32x32, channels (32, 64), {syn / N:,.0f} synaptic ops per image: simulate {sim:.2f} s; "
          f"cycle model {t2 - t1:.2f} s ({(t2 - t1) / sim:.2f}x the simulation); energy report {t3 - t2:.2f} s "
          f"({(t3 - t2) / sim:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

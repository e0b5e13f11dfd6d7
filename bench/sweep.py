"""Benchmark: PE-array sweep of a VGG16-sized network at 32x32 input (random weights).

    python bench/sweep.py [--images 1] [--workers N] [--naive-seconds 20] [--json out.json]

Measures, in one run:

* the whole sweep over 64 array shapes (rows, cols in 1,2,3,4,6,8,12,16), local processes:
  configurations per second and wall time (target: < 30 s on 2 cores), without and with the
  built machine's energy and area per shape (the ``accel sweep`` default), as a ratio;
* the per-op reference interpreter of the machine (:func:`accel.machine.run_reference`,
  the closed form's oracle) on the bundled model for about ``--naive-seconds``; its speed
  in interpreted cycles per second is extrapolated to the whole sweep (stated as such).

RTL co-simulation speed (Icarus vs Verilator, whole images): ``bench/accel_cosim.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel.config import ArrayConfig  # noqa: E402
from accel.machine import run_reference  # noqa: E402
from accel.model import evaluate, profile  # noqa: E402
from accel.program import compile_program, plan  # noqa: E402
from accel.sweep import objectives, sweep  # noqa: E402
from energy.built import area_um2, energy_pj  # noqa: E402
from golden.convert import convert  # noqa: E402
from golden.ir import QCFS, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, Linear, network  # noqa: E402
from golden import ops  # noqa: E402
from golden.random import random_inputs  # noqa: E402
from golden.reference import qcfs  # noqa: E402
from golden.simulate import simulate  # noqa: E402

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
SIZES = [1, 2, 3, 4, 6, 8, 12, 16]


def vgg16(rng, bits: int = 4, classes: int = 10, percentile: float = 99.7):
    """VGG16 (13 conv-bn-qcfs, 5 avg pools, 2 fc-bn-qcfs, fc logits) at 3x32x32, random weights."""
    nodes = [Input(name="input", inputs=(), shape=(3, 32, 32), bits=8, scale=1.0)]
    prev, c, i = "input", 3, 0

    def bn(name, src, C):
        return BatchNorm(name=name, inputs=(src,), gamma=rng.uniform(0.8, 1.2, C), beta=rng.normal(0, 0.1, C),
                         mean=rng.normal(0, 0.1, C), var=rng.uniform(0.8, 1.2, C))

    for v in VGG16:
        if v == "M":
            nodes.append(AvgPool2d(name=f"pool{i}", inputs=(prev,), kernel=(2, 2), stride=(2, 2)))
            prev = f"pool{i}"
            continue
        i += 1
        nodes += [Conv2d(name=f"conv{i}", inputs=(prev,), weight=rng.normal(0, np.sqrt(2 / (c * 9)), (v, c, 3, 3)),
                         padding=(1, 1)),
                  bn(f"bn{i}", f"conv{i}", v), QCFS(name=f"q{i}", inputs=(f"bn{i}",), lam=1.0, bits=bits)]
        prev, c = f"q{i}", v
    nodes.append(Flatten(name="flatten", inputs=(prev,)))
    F = c
    for j, n in enumerate([512, 512]):
        nodes += [Linear(name=f"fc{j}", inputs=(prev if j else "flatten",),
                         weight=rng.normal(0, np.sqrt(2 / F), (n, F))),
                  bn(f"fcbn{j}", f"fc{j}", n), QCFS(name=f"fq{j}", inputs=(f"fcbn{j}",), lam=1.0, bits=bits)]
        prev, F = f"fq{j}", n
    nodes.append(Linear(name="logits", inputs=(prev,), weight=rng.normal(0, np.sqrt(1 / F), (classes, F))))
    network(nodes, name="vgg16-32x32-random")  # validate before calibrating
    return network(_calibrate(nodes, random_inputs(rng, (3, 32, 32), 8, 2), percentile), name="vgg16-32x32-random")


def _calibrate(nodes, x, percentile):
    """One forward pass that sets each QCFS threshold to a percentile of its positive input
    (golden.random.calibrate re-runs the prefix per node: quadratic, minutes for VGG16)."""
    import dataclasses

    vals, out = {}, []
    for n in nodes:
        a = [vals[i] for i in n.inputs]
        if isinstance(n, Input):
            v = x * (n.scale / ((1 << n.bits) - 1))
        elif isinstance(n, Conv2d):
            v = ops.conv2d(a[0], n.weight, n.stride, n.padding, n.groups)
        elif isinstance(n, Linear):
            v = ops.linear(a[0], n.weight)
        elif isinstance(n, BatchNorm):
            scale = n.gamma / np.sqrt(n.var + n.eps)
            v = a[0] * ops.channel_view(scale, a[0].ndim) + ops.channel_view(n.beta - n.mean * scale, a[0].ndim)
        elif isinstance(n, QCFS):
            p = a[0][a[0] > 0]
            n = dataclasses.replace(n, lam=max(float(np.percentile(p, percentile)) if p.size else 1.0, 1e-3))
            v = qcfs(a[0], n.lam, n.bits)
        elif isinstance(n, AvgPool2d):
            v = ops.sumpool2d(a[0], n.kernel, n.stride) / (n.kernel[0] * n.kernel[1])
        else:
            v = a[0].reshape(a[0].shape[0], -1)
        vals[n.name] = v
        out.append(n)
    return out


def naive_rate(seconds: float):
    """The per-op reference interpreter (accel.machine.run_reference) on the bundled model's first test
    image, on random array shapes, until ``seconds`` pass: interpreted cycles per second."""
    import dataclasses

    from golden.datasets import digits_test
    from golden.models import load_model

    inet = dataclasses.replace(convert(load_model("default")), bitplanes=True)
    x = digits_test().x[:1]
    rng = np.random.default_rng(0)
    cycles, t0, pairs = 0, time.perf_counter(), []
    while time.perf_counter() - t0 < seconds:
        R, C = (int(v) for v in rng.choice([4, 6, 8, 12, 16], 2))
        ref = run_reference(compile_program(plan(inet, R, C)), x)
        cycles += int(ref.cycles.sum())
        pairs.append((R, C))
    return cycles / (time.perf_counter() - t0), pairs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--naive-seconds", type=float, default=20.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    out = {"cores": os.cpu_count(), "workers": args.workers}

    t = time.perf_counter()
    rng = np.random.default_rng(16)
    net = vgg16(rng)
    inet = convert(net, weight_bits=8, bitplanes=True)
    res = simulate(inet, random_inputs(rng, (3, 32, 32), 8, args.images))
    out["build_and_simulate_s"] = time.perf_counter() - t
    rates = {k: float(v.mean()) for k, v in res.spikes.items()}
    out["spike_rate_mean"] = float(np.mean(list(rates.values())))
    print(f"VGG16 at 32x32, {args.images} image(s): {len(inet.layers)} layers, spike rates "
          f"{min(rates.values()) * 100:.1f} .. {max(rates.values()) * 100:.1f} % (mean {out['spike_rate_mean'] * 100:.1f} %), "
          f"built and simulated in {out['build_and_simulate_s']:.1f} s")

    t = time.perf_counter()
    prof = profile(inet, res)
    out["profile_s"] = time.perf_counter() - t
    shapes = [(r, c) for r in SIZES for c in SIZES]
    cfg = ArrayConfig()
    t = time.perf_counter()
    points = sweep(prof, cfg, shapes, workers=args.workers)
    out["sweep_s"] = time.perf_counter() - t
    out["configs"] = len(points)
    out["configs_per_s"] = len(points) / out["sweep_s"]
    total_cycles = sum(p.cycles for p in points) * prof.images
    out["simulated_cycles"] = total_cycles
    print(f"profile (once per trace): {out['profile_s']:.2f} s; sweep of {len(points)} array shapes on "
          f"{args.workers} worker(s): {out['sweep_s']:.2f} s = {out['configs_per_s']:.1f} configs/s "
          f"({total_cycles:.3g} array cycles modelled, {total_cycles / out['sweep_s']:.3g} cycles/s)")
    t = time.perf_counter()
    priced = sweep(prof, cfg, shapes, workers=args.workers, energy=energy_pj, area=area_um2)
    out["priced_sweep_s"] = time.perf_counter() - t
    print(f"  the same sweep with the built machine's energy and area per shape (energy.built): "
          f"{out['priced_sweep_s']:.2f} s, {out['priced_sweep_s'] / out['sweep_s']:.2f}x the unpriced sweep; "
          f"Pareto front over {', '.join(objectives(priced))}: {sum(p.pareto for p in priced)} shapes "
          f"(logic area needs the synthesized widths: {'known' if priced[0].area_um2 is not None else 'not these'})")
    best = min(points, key=lambda p: p.cycles)
    print(f"  1x1: {points[0].cycles:,.0f} cycles/inference; best {best.rows}x{best.cols}: {best.cycles:,.0f} cycles "
          f"= {best.latency_us:,.0f} us at {cfg.clock_mhz:g} MHz, utilization {best.pe_utilization * 100:.1f} %")

    t = time.perf_counter()
    one = evaluate(prof, cfg.with_shape(8, 8))
    out["one_config_s"] = time.perf_counter() - t

    rate, pairs = naive_rate(args.naive_seconds)
    out["naive_cycles_per_s"] = rate
    out["naive_pairs"] = len(pairs)
    out["naive_sweep_s_extrapolated"] = total_cycles / rate
    out["speedup_vs_naive"] = out["naive_sweep_s_extrapolated"] / out["sweep_s"]
    print(f"per-op reference interpreter: {rate:,.0f} cycles/s measured on {len(pairs)} array shapes (bundled model); "
          f"EXTRAPOLATED to the whole sweep: {out['naive_sweep_s_extrapolated']:,.0f} s "
          f"-> vectorized model is {out['speedup_vs_naive']:,.0f}x faster "
          f"(single config 8x8 vectorized: {out['one_config_s'] * 1e3:.0f} ms, {one.cycles:,} cycles)")

    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

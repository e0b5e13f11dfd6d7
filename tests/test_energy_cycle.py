"""Pricing the cycle model's counts with the same table."""

import numpy as np
import pytest

from energy import counts
from energy.costs import load_costs
from energy.cycle import energy_pj, workload_from_stats
from energy.model import price
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate

accel_model = pytest.importorskip("accel.model")
accel_config = pytest.importorskip("accel.config")


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(5)
    net = random_network(rng, input_shape=(1, 6, 6), channels=(4, 4))
    inet = convert(net)
    res = simulate(inet, random_inputs(rng, net.input.shape, net.input.bits, 3))
    stats = accel_model.run_model(inet, res, accel_config.ArrayConfig(rows=2, cols=4))
    return inet, res, stats


def test_cycle_counts_priced_as_the_table_says(case):
    inet, res, stats = case
    t = load_costs()
    e = price(workload_from_stats(stats, pixel_bits=inet.input.bits), t)
    A, W = stats.config.acc_bits, stats.config.weight_bits
    for l, le in zip(stats.layers, e.layers):
        o = l.ops
        expect = ((o["accumulates"] + o["init_adds"]) * t.energy_pj("int_add", A)
                  + o["multiplies"] * t.energy_pj("int_mult", W, inet.input.bits)
                  + o["shifts"] * t.energy_pj("shift", A) + o["compares"] * t.energy_pj("compare", A)
                  + o["subtracts"] * t.energy_pj("reset", A))
        assert le.compute_energy_pj == pytest.approx(expect, rel=1e-12)
        bits = sum(r + w for r, w in l.sram_bits.values())
        assert sum(r.bits for r in le.memory) == bits
    assert all(r.memory == "dram" for l in e.layers for r in l.memory if r.buffer_bytes == 1 << 40)
    assert energy_pj(stats, pixel_bits=inet.input.bits) == pytest.approx(e.total_energy_pj / stats.images)


def test_cycle_model_agrees_with_trace_counts_on_the_neuron_ops(case):
    inet, res, stats = case
    acts = counts.activity(inet, res)
    for l, a in zip(stats.layers, acts):
        assert l.ops["subtracts"] == a.output_spikes  # one subtraction per spike
        assert l.ops["synaptic_ops"] == a.synaptic_ops or a.layer == inet.layers[0].name

"""The built accelerator's energy: activity from the machine's counters, memories by size, pricing by hand."""

from __future__ import annotations

import numpy as np
import pytest

from accel.config import ArrayConfig
from accel.model import evaluate, profile, run_model
from energy.activity import price
from energy.built import built_activity, horner_as_barrel_pj, machine_memories
from energy.costs import load_costs, parse_costs
from energy.errors import EnergyError
from energy.memtable import DEFAULT_MEMORY_TABLE, load_memory_table, parse_memory_table
from energy.report import TIE_BAND, energy_report, verdict
from golden import ir
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate


def _costs(add=1):
    d = {"schema_version": 1, "name": "integers"}
    for op, e in {"int_add": add, "int_mult": 10, "shift": 100, "compare": 1000, "reset": 10000, "fp32_add": 3,
                  "fp32_mult": 7}.items():
        d[op] = {"scaling": "constant", "points": [{"bits": 32 if op.startswith("fp32") else 8, "energy_pj": e,
                                                     "source": "t"}]}
    d["sram"] = {"scaling": "constant", "points": [{"bits": 64, "energy_pj": 64, "capacity_bytes": 1 << 30, "source": "t"}]}
    d["dram"] = {"scaling": "constant", "points": [{"bits": 64, "energy_pj": 128, "source": "t"}]}
    return parse_costs(d, "int-table")


def _mem():
    """Register 1 pJ per bit read, 2 written; every SRAM 3 pJ per bit read, 5 written (one 1-bit point at every
    capacity from 1 KiB), leakage 0; DRAM 100 pJ per bit; a barrel shifter 8 pJ."""
    import tomllib

    with open(DEFAULT_MEMORY_TABLE, "rb") as f:
        d = tomllib.load(f)
    d["register"] = {"read_pj_per_bit": 1, "write_pj_per_bit": 2, "energy_source": "t", "area_um2_per_bit": 1,
                     "area_source": "t"}
    d["dram"] = {"pj_per_bit": 100, "source": "t"}
    d["logic"]["barrel_shift_bits"] = [1]
    d["logic"]["barrel_shift_pj"] = [8.0 / 20]
    d["sram"]["points"] = [{"capacity_bytes": c, "width_bits": 1, "read_pj": 3, "write_pj": 5, "area_um2": 1,
                            "leakage_uw": 0} for c in (1024, 1 << 40)]
    return parse_memory_table(d, "int-mem")


def _one_layer():
    """One linear layer on a 2x2 image, 1 x 2 array (test_accel_model.test_one_image_by_hand's network)."""
    nodes = [ir.Input(name="input", inputs=(), shape=(1, 2, 2), bits=4, scale=1.0),
             ir.Flatten(name="flat", inputs=("input",)),
             ir.Linear(name="out", inputs=("flat",), weight=np.array([[0.5, -0.25, 1.0, 0.1], [-1.0, 0.3, 0.2, 0.7]]))]
    inet = convert(ir.network(nodes), bitplanes=True)
    res = simulate(inet, np.array([[[[0, 15], [1, 8]]]]))
    return inet, res


def test_one_image_priced_by_hand():
    inet, res = _one_layer()
    stats = run_model(inet, res, ArrayConfig(rows=1, cols=2, weight_sram_kib=2, spike_sram_kib=1))
    p = stats.plan
    A, V, w = p.acc_width, p.lanes, p.weight_width
    cycles = 2 + 1 + (8 + 1 + 1) + 2  # image rows, setup, 8 ACC + FINISH + READOUT, drain
    assert stats.cycles == cycles
    e = price(built_activity(stats), _costs(), _mem())
    # both PEs add on the 8 ACC ops and on FINISH (READOUT adds nothing); the 3 Horner shifts are wiring
    assert e.compute_energy_pj == 2 * (8 + 1)
    mems = {m.name: m for m in machine_memories(stats)}
    assert mems["weights"].capacity_bytes == 1024 and mems["weights"].count == 2  # 2 KiB in two halves: SRAM
    assert mems["spikes"].capacity_bytes == 1024 // 16 and mems["spikes"].count == 16  # below 1 KiB: flip-flops
    img = p.image.word_bits
    # 6 of the 8 ACC ops carry a spike (test_accel_model.test_one_image_by_hand)
    assert e.memory_energy_pj == (3 * 2 * 6 * V * w           # both halves of the weight bank per spike (SRAM)
                                  + 1 * 1 * 2 * A             # the parameter bank on FINISH (flip-flops)
                                  + 1 * stats.descriptor_bits  # one descriptor
                                  + 1 * 8 * img + 2 * 2 * img  # 8 scan units read, 2 image rows written
                                  + 1 * 2 * (8 + 1 + 1) * A    # membranes read by every op
                                  + 2 * 2 * (8 + 1) * A)       # and written on ACC and FINISH
    assert e.leakage_energy_pj == 0
    # the Horner shifts priced as barrel shifters: 2 PEs x 3 shifts x 8 pJ at A bits
    assert horner_as_barrel_pj(built_activity(stats), _mem()) == pytest.approx(2 * 3 * 8.0 / 20 * A)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(8)
    net = random_network(rng, input_shape=(2, 7, 7), channels=(4, 6))
    inet = convert(net, bitplanes=True)
    res = simulate(inet, random_inputs(rng, net.input.shape, net.input.bits, 3))
    return inet, res, profile(inet, res)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (4, 4)])
def test_activity_follows_the_machine_counters(case, shape):
    inet, res, prof = case
    stats = evaluate(prof, ArrayConfig(rows=shape[0], cols=shape[1]))
    a = built_activity(stats)
    R, C = shape
    for ls, la in zip(stats.layers, a.layers):
        c = ls.counters
        assert la.cycles == c.cycles
        adds = {o.category: o.count for o in la.ops if o.op == "int_add"}
        assert adds.get("synaptic", 0) == R * C * c.acc == la.issued_adds
        assert adds.get("bias", 0) == R * C * c.finish and adds.get("fire", 0) == R * C * c.fire
        assert la.synaptic_adds == ls.ops["synaptic_ops"] <= la.issued_adds
        w = sum(t.bits for t in la.traffic if t.category == "weights" and t.direction == "read")
        assert w == 2 * R * c.events * stats.plan.lanes * stats.plan.weight_width < (
            2 * R * c.cycles * stats.plan.lanes * stats.plan.weight_width)
        p = sum(t.bits for t in la.traffic if t.memory == "params" and t.direction == "read")
        assert p == R * (c.finish + c.fire) * C * stats.plan.acc_width


def test_fitted_memories_are_what_the_compiler_lays_out(case):
    from accel.program import compile_program

    inet, res, prof = case
    stats = evaluate(prof, ArrayConfig(rows=2, cols=3))
    prog = compile_program(stats.plan, weights=stats.wplan)
    mems = {m.name: m for m in machine_memories(stats, "fitted")}
    V, w = stats.plan.lanes, stats.plan.weight_width
    assert sum(m.capacity_bytes * m.count for k, m in mems.items() if k.startswith("weights")) == sum(
        -(-max(1, n // 2) * V * w // 8) * 2 for n in prog.weight_words)
    assert mems["params"].count == 2 and mems["params"].capacity_bytes == -(-prog.param_words * 3 * stats.plan.acc_width // 8)
    assert mems["descriptors"].capacity_bytes == -(-len(prog.descriptors) * prog.fields["width"] // 8)
    for t in stats.plan.tensors:
        m = mems["image" if t.image else f"spikes_{t.name}"]
        assert m.word_bits == t.word_bits and m.count == sum(1 for d in t.bank_depths() if d)
    with pytest.raises(EnergyError, match="sizing must be one of"):
        built_activity(stats, "huge")


def test_report_ratios_and_verdicts(case):
    inet, res, prof = case
    rep = energy_report(inet, res, evaluate(prof, ArrayConfig(rows=2, cols=2)))
    assert [m.method for m in rep.methods][:2] == ["built", "ours_ideal"]
    assert rep.ideal.total_energy_pj < rep.built.total_energy_pj
    for r in rep.ratios:
        m = rep.method(r.method)
        assert r.total == pytest.approx(m.total_energy_pj / rep.built.total_energy_pj, rel=1e-12)
    for v in rep.verdicts:
        assert v.outcome == ("wins" if v.ratio > 1 + TIE_BAND else "loses" if v.ratio < 1 - TIE_BAND else "ties")
        assert f"{v.ratio:.2f}x ours" in v.sentence


def test_verdict_band_by_hand(case):
    inet, res, prof = case
    rep = energy_report(inet, res, evaluate(prof, ArrayConfig(rows=2, cols=2)), _costs(), _mem())
    b = rep.built
    import dataclasses

    def scaled(f):
        return dataclasses.replace(b, method="x", layers=tuple(dataclasses.replace(
            l, compute_pj={k: v * f for k, v in l.compute_pj.items()},
            memory_pj={k: v * f for k, v in l.memory_pj.items()}, leakage_pj=l.leakage_pj * f) for l in b.layers))

    assert verdict(scaled(1.04), b).outcome == "ties" and verdict(scaled(0.96), b).outcome == "ties"
    assert verdict(scaled(1.06), b).outcome == "wins" and verdict(scaled(0.94), b).outcome == "loses"


def test_bundled_model_headline_orders():
    """On the bundled model the built machine adds on every lane: more adds than the ideal machine, and more
    energy; the dense methods cost more than the zero-skipping ones."""
    from golden.datasets import digits_test
    from golden.models import load_model

    inet = convert(load_model("default"))
    res = simulate(inet, digits_test().x[:8])
    stats = run_model(inet, res, ArrayConfig(rows=4, cols=4, weight_sram_kib=64, spike_sram_kib=32))
    rep = energy_report(inet, res, stats, load_costs(), load_memory_table())
    assert rep.activity.issued_adds > 1.5 * rep.activity.synaptic_adds
    assert rep.ideal.per_image() < rep.built.per_image()
    m = {x.method: x.per_image() for x in rep.methods}
    assert m["qann_skip"] < m["qann_dense"] and m["pragmatic"] < m["stripes"] < m["ann_fp32"]

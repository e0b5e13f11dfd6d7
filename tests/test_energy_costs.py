"""The cost table: bundled values, the width rule, and refusal of bad tables."""

import math

import pytest

from energy.costs import DEFAULT_COSTS, OPS, SCHEMA_VERSION, load_costs
from energy.errors import EnergyError

TABLE6 = {  # paper Table 6 (45 nm), pJ
    ("int_mult", 32): 3.1,
    ("int_mult", 8): 0.2,
    ("int_add", 32): 0.1,
    ("int_add", 8): 0.03,
    ("shift", 32): 0.13,
    ("shift", 8): 0.024,
    ("compare", 32): 0.08,
    ("compare", 8): 0.03,
    ("reset", 32): 0.1,  # priced as an add (Table 6 caption)
    ("reset", 8): 0.03,
    ("fp32_add", 32): 0.9,  # Horowitz 2014
    ("fp32_mult", 32): 3.7,
}


def small_table(**over) -> str:
    """A valid table text with integer energies; ``over`` replaces whole op sections."""
    sec = {
        op: f'[{op}]\nscaling = "constant"\n[[{op}.points]]\nbits = {32 if op.startswith("fp32") else 8}\n'
        f'energy_pj = {i + 1}\nsource = "test"\n'
        for i, op in enumerate(OPS)
        if op not in ("sram", "dram")
    }
    sec["sram"] = '[sram]\nscaling = "constant"\n[[sram.points]]\nbits = 64\ncapacity_bytes = 1024\nenergy_pj = 64\nsource = "test"\n'
    sec["dram"] = '[dram]\nscaling = "constant"\n[[dram.points]]\nbits = 64\nenergy_pj = 128\nsource = "test"\n'
    sec.update(over)
    return f"schema_version = {SCHEMA_VERSION}\nname = \"small\"\n" + "\n".join(v for v in sec.values() if v)


def write(tmp_path, text, name="costs.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bundled_table_holds_table6_and_horowitz():
    t = load_costs()
    assert t.path == str(DEFAULT_COSTS)
    for (op, bits), e in TABLE6.items():
        assert t.energy_pj(op, bits) == e, (op, bits)
    for op in OPS:
        assert all(p.source for p in t.op(op).points)
    # Horowitz: 8 KB SRAM 10 pJ per 64-bit access; DRAM 1.3 nJ (low end of 1.3-2.6)
    assert t.memory_pj_per_bit(8192) == 10 / 64
    assert t.memory_pj_per_bit(4096) == 10 / 64  # smaller buffers: the smallest tabulated SRAM
    assert t.memory_kind(2 << 20) == "dram" and t.memory_pj_per_bit(2 << 20) == 1300 / 64


def test_width_rule_linear_quadratic_and_beyond():
    t = load_costs()
    # adders linear between the points: 20 bits is half way in f = bits
    assert t.energy_pj("int_add", 20) == pytest.approx(0.065)
    # beyond the outermost point: proportional to f
    assert t.energy_pj("int_add", 4) == pytest.approx(0.015)
    assert t.energy_pj("shift", 64) == pytest.approx(0.26)
    # multipliers quadratic: 4 bits is (4/8)^2 of 8 bits; 8 x 4 bits is f = 32, half of 8 x 8
    assert t.energy_pj("int_mult", 4) == pytest.approx(0.05)
    assert t.energy_pj("int_mult", 8, 4) == pytest.approx(0.1)
    # between 8 and 32 bits: linear in bits^2
    assert t.energy_pj("int_mult", 16) == pytest.approx(0.2 + 2.9 * (256 - 64) / (1024 - 64))
    # SRAM: piecewise linear in sqrt(capacity) between 8 KB (10 pJ) and 32 KB (20 pJ)
    mid = ((math.sqrt(8192) + math.sqrt(32768)) / 2) ** 2
    assert t.memory_pj_per_bit(int(round(mid))) == pytest.approx(15 / 64, rel=1e-4)


def test_monotone_in_width():
    t = load_costs()
    for op in ("int_add", "int_mult", "shift", "compare", "reset"):
        e = [t.energy_pj(op, b) for b in range(1, 65)]
        assert all(a < b for a, b in zip(e, e[1:])), op


def test_small_table_loads(tmp_path):
    t = load_costs(write(tmp_path, small_table()))
    assert t.energy_pj("int_add", 17) == 1
    assert t.memory_pj_per_bit(10) == 1.0


@pytest.mark.parametrize(
    "text, needles",
    [
        (small_table().replace("schema_version = 1", "schema_version = 2"), ["schema_version", "2"]),
        (small_table().replace("schema_version = 1\n", ""), ["missing field 'schema_version'"]),
        ("bogus = 1\n" + small_table(), ["unknown entry 'bogus'"]),
        (small_table(int_add='[int_add]\nscaling = "constant"\n[[int_add.points]]\nbits = 8\nenergy_pj = -1\nsource = "x"\n'),
         ["entry 'int_add' point 0", "'energy_pj'", "-1"]),
        (small_table(int_add='[int_add]\nscaling = "constant"\n[[int_add.points]]\nbits = 8\nsource = "x"\n'),
         ["entry 'int_add' point 0", "missing field 'energy_pj'"]),
        (small_table(int_add='[int_add]\nscaling = "constant"\n[[int_add.points]]\nbits = 8\nenergy_pj = "a lot"\nsource = "x"\n'),
         ["'energy_pj'", "'a lot'"]),
        (small_table(shift='[shift]\nscaling = "constant"\n[[shift.points]]\nbits = 8\nenergy_pj = 1\n'),
         ["entry 'shift' point 0", "missing field 'source'"]),
        (small_table(shift='[shift]\nscaling = "constant"\n[[shift.points]]\nbits = 8\nenergy_pj = 1\nsource = " "\n'),
         ["entry 'shift' point 0", "'source'"]),
        (small_table(shift='[shift]\nscaling = "constant"\n[[shift.points]]\nbits = 8\nenergy_pj = 1\nsource = "x"\nvolts = 1\n'),
         ["entry 'shift' point 0", "unknown field 'volts'"]),
        (small_table(shift='[shift]\nscaling = "cubic"\n[[shift.points]]\nbits = 8\nenergy_pj = 1\nsource = "x"\n'),
         ["entry 'shift'", "'scaling'", "'cubic'"]),
        (small_table(compare=""), ["missing entry 'compare'"]),
        (small_table(fp32_add='[fp32_add]\nscaling = "constant"\n[[fp32_add.points]]\nbits = 16\nenergy_pj = 1\nsource = "x"\n'),
         ["entry 'fp32_add' point 0", "'bits'", "16"]),
        (small_table(sram='[sram]\nscaling = "constant"\n[[sram.points]]\nbits = 64\nenergy_pj = 1\nsource = "x"\n'),
         ["entry 'sram' point 0", "missing field 'capacity_bytes'"]),
        (small_table(int_mult='[int_mult]\nscaling = "linear"\n[[int_mult.points]]\nbits = 8\nenergy_pj = 1\nsource = "x"\n'
                              '[[int_mult.points]]\nbits = 8\nenergy_pj = 2\nsource = "y"\n'),
         ["entry 'int_mult'", "bits = 8"]),
        ("schema_version = 1\nname = [", ["not valid TOML"]),
    ],
    ids=["version", "no-version", "unknown-entry", "negative", "missing-energy", "non-numeric", "no-source",
         "blank-source", "unknown-field", "scaling", "missing-op", "fp32-bits", "sram-capacity", "duplicate", "toml"],
)
def test_bad_tables_are_refused_with_file_entry_field_value(tmp_path, text, needles):
    p = write(tmp_path, text)
    with pytest.raises(EnergyError) as e:
        load_costs(p)
    msg = str(e.value)
    assert msg.startswith(f"cost table {p}:")
    for n in needles:
        assert n in msg, (n, msg)


def test_missing_file(tmp_path):
    with pytest.raises(EnergyError, match="no such file"):
        load_costs(tmp_path / "nope.toml")


def test_table_is_frozen():
    t = load_costs()
    with pytest.raises(AttributeError):
        t.name = "x"
    with pytest.raises(AttributeError):
        t.ops[0].points[0].energy_pj = 0

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
        (small_table().replace("schema_version = 1", "schema_version = 2"), ["schema_version 2 is not supported (this version reads schema_version 1)"]),
        (small_table().replace("schema_version = 1\n", ""), ["missing key schema_version"]),
        ("bogus = 1\n" + small_table(), ["unknown key bogus = 1 (accepted: schema_version, name, int_add,"]),
        (small_table(int_add='[int_add]\nscaling = "constant"\n[[int_add.points]]\nbits = 8\nenergy_pj = -1\nsource = "x"\n'),
         ["[int_add] points[0].energy_pj must be a finite number in 0..1000000, not -1"]),
        (small_table(int_add='[int_add]\nscaling = "constant"\n[[int_add.points]]\nbits = 8\nsource = "x"\n'),
         ["missing key [int_add] points[0].energy_pj"]),
        (small_table(int_add='[int_add]\nscaling = "constant"\n[[int_add.points]]\nbits = 8\nenergy_pj = "a lot"\nsource = "x"\n'),
         ["[int_add] points[0].energy_pj must be", "not 'a lot'"]),
        (small_table(shift='[shift]\nscaling = "constant"\n[[shift.points]]\nbits = 8\nenergy_pj = 1\n'),
         ["missing key [shift] points[0].source"]),
        (small_table(shift='[shift]\nscaling = "constant"\n[[shift.points]]\nbits = 8\nenergy_pj = 1\nsource = " "\n'),
         ["[shift] points[0].source must be a non-empty string", "not ' '"]),
        (small_table(shift='[shift]\nscaling = "constant"\n[[shift.points]]\nbits = 8\nenergy_pj = 1\nsource = "x"\nvolts = 1\n'),
         ["unknown key [shift] points[0].volts = 1 (accepted in [shift] points[0]: bits, energy_pj, source)"]),
        (small_table(shift='[shift]\nscaling = "cubic"\n[[shift.points]]\nbits = 8\nenergy_pj = 1\nsource = "x"\n'),
         ["[shift] scaling must be one of ['linear', 'quadratic', 'constant'], not 'cubic'"]),
        (small_table(compare=""), ["missing section [compare]"]),
        (small_table(fp32_add='[fp32_add]\nscaling = "constant"\n[[fp32_add.points]]\nbits = 16\nenergy_pj = 1\nsource = "x"\n'),
         ["[fp32_add] points[0].bits must be the integer 32, not 16"]),
        (small_table(sram='[sram]\nscaling = "constant"\n[[sram.points]]\nbits = 64\nenergy_pj = 1\nsource = "x"\n'),
         ["missing key [sram] points[0].capacity_bytes"]),
        (small_table(int_mult='[int_mult]\nscaling = "linear"\n[[int_mult.points]]\nbits = 8\nenergy_pj = 1\nsource = "x"\n'
                              '[[int_mult.points]]\nbits = 8\nenergy_pj = 2\nsource = "y"\n'),
         ["[int_mult] has two points with bits = 8"]),
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


def _point_table(op="dram", **fields):
    body = "".join(f"{k} = {v}\n" for k, v in fields.items())
    return small_table(**{op: f'[{op}]\nscaling = "constant"\n[[{op}.points]]\n{body}source = "x"\n'})


@pytest.mark.parametrize(
    "text, needle",
    [
        (_point_table(bits=64, energy_pj="1e308"), "[dram] points[0].energy_pj must be a finite number in 0..1000000, not 1e+308"),
        (_point_table(bits=64, energy_pj="inf"), "energy_pj must be a finite number in 0..1000000, not inf"),
        (_point_table(bits=64, energy_pj="nan"), "energy_pj must be a finite number in 0..1000000, not nan"),
        (_point_table(bits=64, energy_pj="true"), "energy_pj must be a finite number in 0..1000000, not True"),
        (_point_table(bits="1e3", energy_pj=1), "[dram] points[0].bits must be an integer in 1..1024, not 1000.0"),
        (_point_table(bits=10**30, energy_pj=1), "[dram] points[0].bits must be an integer in 1..1024, not 1e+30"),
        (_point_table("sram", bits=64, capacity_bytes=10**400, energy_pj=1), "capacity_bytes must be an integer in 1..1125899906842624, not an integer of 1329 bits"),
        (_point_table(bits=64, energy_pj=1, source='"y"'), "not valid TOML (Cannot overwrite a value"),
        ("schema_version = 1\nx = " + "[" * 3000 + "]" * 3000, "nested too deeply"),
    ],
    ids=["1e308", "inf", "nan", "bool", "float-bits", "huge-bits", "huge-capacity", "duplicate-key", "deep"],
)
def test_out_of_range_numbers_are_refused(tmp_path, text, needle):
    """A cost of 1e308 used to load and print Infinity in the JSON report; every number now has a range."""
    p = write(tmp_path, text)
    with pytest.raises(EnergyError) as e:
        load_costs(p)
    assert str(e.value).startswith(f"cost table {p}:") and needle in str(e.value), str(e.value)


def test_random_bytes_and_directories(tmp_path):
    p = tmp_path / "costs.toml"
    p.write_bytes(bytes(range(255, -1, -1)))
    with pytest.raises(EnergyError, match=r"not UTF-8 text"):
        load_costs(p)
    with pytest.raises(EnergyError, match=r"cannot read it"):
        load_costs(tmp_path)


def test_largest_allowed_costs_stay_finite(tmp_path):
    """At the limits (1e6 pJ, 1024 bits, 1 PiB) every price the model asks for is finite."""
    big = small_table(
        int_mult='[int_mult]\nscaling = "quadratic"\n[[int_mult.points]]\nbits = 1\nenergy_pj = 1e6\nsource = "x"\n',
        sram='[sram]\nscaling = "sqrt_capacity"\n[[sram.points]]\nbits = 1\ncapacity_bytes = 1\nenergy_pj = 1e6\n'
             'source = "x"\n[[sram.points]]\nbits = 1\ncapacity_bytes = 1125899906842624\nenergy_pj = 1e6\nsource = "y"\n',
    )
    t = load_costs(write(tmp_path, big))
    assert math.isfinite(t.energy_pj("int_mult", 1024, 1024)) and math.isfinite(t.memory_pj_per_bit(1 << 49))

"""accel.config: TOML loading, unknown keys, bad sizes, each error naming file, field and value."""

from __future__ import annotations

import re

import pytest

from accel.config import DEFAULT_CONFIG, MAX_SRAM_KIB, ArrayConfig, config_from_dict, load_config
from accel.errors import AccelError


def _write(tmp_path, text: str):
    p = tmp_path / "cfg.toml"
    p.write_text(text)
    return p


def test_bundled_configs_load():
    cfg = load_config()
    assert cfg == load_config(DEFAULT_CONFIG)
    assert (cfg.rows, cfg.cols, cfg.dataflow) == (8, 8, "os-broadcast")
    small = load_config(DEFAULT_CONFIG.parent / "small.toml")
    assert (small.rows, small.cols, small.pes) == (4, 4, 16)
    assert small.weight_sram_bits == 64 * 8192


def test_config_is_frozen():
    cfg = ArrayConfig()
    with pytest.raises(AttributeError):
        cfg.rows = 3


def test_with_shape_validates():
    assert ArrayConfig().with_shape(2, 16).pes == 32
    with pytest.raises(AccelError, match=r"\[array\] rows must be an integer in 1\.\.4096, not 0"):
        ArrayConfig().with_shape(0, 4)


def test_unknown_key_is_rejected_and_accepted_keys_listed(tmp_path):
    p = _write(tmp_path, "[array]\nrows = 4\ncolumns = 4\n")
    with pytest.raises(AccelError) as e:
        load_config(p)
    msg = str(e.value)
    assert str(p) in msg and "unknown key [array] columns = 4" in msg and "(accepted in [array]: rows, cols, scan, dataflow)" in msg


def test_unknown_section_is_rejected(tmp_path):
    with pytest.raises(AccelError, match=r"unknown section \[dram\] \(accepted: schema_version, array, pe, memory, clock\)"):
        load_config(_write(tmp_path, "[dram]\nbits = 4\n"))


@pytest.mark.parametrize("sec, key, value, rule", [
    ("array", "rows", "0", "an integer in 1..4096"), ("array", "cols", "-2", "an integer in 1..4096"),
    ("array", "scan", "0", "an integer in 1..4096"),
    ("pe", "weight_bits", "0", "an integer in 1..64"),
    ("memory", "weight_sram_kib", "0", "a finite number in 0.00012207..1073741824"),
    ("memory", "spike_sram_kib", "-1.5", "a finite number in 0.00012207..1073741824"),
    ("memory", "offchip_bits_per_cycle", "0", "an integer in 1..1048576"),
    ("clock", "mhz", "0.0", "a finite number in 0.001..1000000"),
    ("clock", "mhz", "5e-324", "a finite number in 0.001..1000000"),
])
def test_zero_or_negative_size_names_field_and_value(tmp_path, sec, key, value, rule):
    p = _write(tmp_path, f"[{sec}]\n{key} = {value}\n")
    with pytest.raises(AccelError, match=rf"^config {p}: \[{sec}\] {key} must be {re.escape(rule)}, not {value}$"):
        load_config(p)


@pytest.mark.parametrize("text, match", [
    ("[array]\nrows = 2.5\n", r"\[array\] rows must be an integer in 1\.\.4096, not 2.5"),
    ("[array]\nrows = true\n", r"\[array\] rows must be an integer in 1\.\.4096, not True"),
    ("[array]\nscan = 2.5\n", r"\[array\] scan must be an integer in 1\.\.4096, not 2.5"),
    ("[array]\nscan = \"16\"\n", r"\[array\] scan must be an integer in 1\.\.4096, not '16'"),
    ("[array]\nscan = 4097\n", r"\[array\] scan must be an integer in 1\.\.4096, not 4097"),
    ("[memory]\nweight_sram_kib = \"big\"\n", r"\[memory\] weight_sram_kib must be a finite number .*, not 'big'"),
    ("[array]\ndataflow = \"systolic\"\n", r"\[array\] dataflow must be one of \['os-broadcast'\], not 'systolic'"),
    ("schema_version = 2\n", r"schema_version 2 is not supported"),
    ("array = 3\n", r"array must be a table .*, not 3"),
    ("[array\n", r"not valid TOML"),
    ("[memory]\nweight_sram_kib = inf\n", r"\[memory\] weight_sram_kib must be a finite number .*, not inf"),
    ("[memory]\nspike_sram_kib = nan\n", r"\[memory\] spike_sram_kib must be a finite number .*, not nan"),
    ("[memory]\nweight_sram_kib = 1e308\n", r"\[memory\] weight_sram_kib must be a finite number in 0\.00012207\.\.1073741824, not 1e\+308"),
    ("[clock]\nmhz = 1979-05-27\n", r"\[clock\] mhz must be a finite number .*, not date 1979-05-27"),
    ("[array]\nrows = 99999999999999999999999\n", r"\[array\] rows must be an integer in 1\.\.4096, not 1e\+23"),
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", r"nested too deeply"),
])
def test_bad_values_are_rejected(tmp_path, text, match):
    with pytest.raises(AccelError, match=match):
        load_config(_write(tmp_path, text))


def test_random_bytes_are_not_toml(tmp_path):
    p = tmp_path / "cfg.toml"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(AccelError, match=rf"^config {p}: not UTF-8 text"):
        load_config(p)
    p.write_bytes(b"x" * (2 << 20))
    with pytest.raises(AccelError, match=r"larger than 1024 KiB"):
        load_config(p)
    with pytest.raises(AccelError, match=r"cannot read it"):
        load_config(tmp_path)


def test_inf_sram_never_reaches_the_model():
    """An infinite SRAM used to raise OverflowError in weight_sram_bits; now the config is refused."""
    with pytest.raises(AccelError, match=r"weight_sram_kib"):
        ArrayConfig(weight_sram_kib=float("inf"))
    assert ArrayConfig(weight_sram_kib=MAX_SRAM_KIB).weight_sram_bits == (1 << 43)


def test_missing_file(tmp_path):
    with pytest.raises(AccelError, match=r"no such file"):
        load_config(tmp_path / "nope.toml")


def test_scan_width_is_read_and_raised_to_the_machine_k(tmp_path):
    cfg = load_config(_write(tmp_path, "[array]\nrows = 8\nscan = 3\n"))
    assert (cfg.scan, cfg.scan_banks) == (3, 8)  # a power of two >= rows
    assert load_config().scan == 16 and ArrayConfig(rows=32).scan_banks == 32
    assert ArrayConfig(rows=2, scan=4).scan_banks == 4
    four = ArrayConfig().with_shape(2, 2, 4)
    assert (four.scan, four.rows) == (4, 2) and "scan 4" in four.source
    assert ArrayConfig(scan=4).with_shape(2, 2).scan == 4  # the shape alone keeps the scan width
    for bad in (0, 2.0, True):
        with pytest.raises(AccelError, match=rf"\[array\] scan must be an integer in 1\.\.4096, not {bad!r}"):
            ArrayConfig(scan=bad)
    with pytest.raises(AccelError, match=r"scan must be an integer in 1\.\.4096, not 0"):
        ArrayConfig().with_shape(2, 2, 0)


def test_from_dict_fills_defaults():
    cfg = config_from_dict({"array": {"rows": 2}, "clock": {"mhz": 100}})
    assert (cfg.rows, cfg.cols, cfg.clock_mhz) == (2, 8, 100)

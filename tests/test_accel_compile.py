"""The compiled folder (snnbits.cosim.compile): program, memory images, Verilog, test vectors and a
self-checking Verilog testbench that runs without Python."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from accel.config import ArrayConfig
from accel.program import plan, weight_plan
from golden.convert import convert
from golden.random import random_inputs, random_network

from snnbits.cosim.compile import compile_network

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    net = random_network(rng, input_shape=(1, 5, 5), channels=(2,), classes=3, bits=3)
    return convert(net), random_inputs(rng, net.input.shape, net.input.bits, 2)


def test_folder_holds_the_program_verilog_vectors_and_expected_cycles(tiny, tmp_path):
    inet, x = tiny
    out = compile_network(inet, 2, 2, tmp_path / "c", pixels=x)
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == "snnbits-accel-program" and m["array"] == [2, 2]
    assert set(m["expected_cycles"]["per_layer"]) == {l.name for l in inet.layers}
    per_layer = np.array(list(m["expected_cycles"]["per_layer"].values())).sum(0)
    rows = m["test_vectors"]["rows_per_image"]
    assert (per_layer + rows).tolist() == m["expected_cycles"]["per_image"]
    for name in ("accel_top.v", "tb_accel.v", "images.hex", "logits_expected.hex", "logits_mask.hex",
                 "cycles_expected.hex", "program.hex", "program.npz"):
        assert (out / name).stat().st_size > 0, name
    for name, spec in m["images"].items():  # every $readmemh image has the depth the manifest says
        assert len((out / name).read_text().splitlines()) == spec["depth"], name


def test_the_config_sets_the_scan_width(tiny, tmp_path):
    inet, x = tiny
    out = compile_network(inet, 2, 2, tmp_path / "c", pixels=x[:1], config=ArrayConfig(rows=2, cols=2, scan=1))
    hw = json.loads((out / "manifest.json").read_text())["hardware"]
    assert hw["scan"] == 2  # scan width 1, raised to the 2 rows
    out = compile_network(inet, 2, 2, tmp_path / "d", pixels=x[:1])
    assert json.loads((out / "manifest.json").read_text())["hardware"]["scan"] == 16


def _iverilog(folder):
    if shutil.which("iverilog") is None:
        if os.getenv("CI"):
            pytest.fail("iverilog is not installed (CI must run the simulator tests)")
        pytest.skip("iverilog is not installed: apt-get install -y iverilog")
    r = subprocess.run("iverilog -g2005 -o sim tb_accel.v accel_top.v && vvp -n sim", shell=True, cwd=folder,
                       capture_output=True, text=True, timeout=600)
    return r.stdout + r.stderr


@pytest.mark.cocotb
@pytest.mark.parametrize("streamed", [False, True])
def test_testbench_passes_in_plain_verilog(tiny, tmp_path, streamed):
    inet, x = tiny
    cfg = None
    if streamed:
        p = plan(convert(random_network(np.random.default_rng(0), input_shape=(1, 5, 5), channels=(2,), classes=3,
                                        bits=3), bitplanes=True), 2, 2)
        cfg = ArrayConfig(rows=2, cols=2, weight_sram_kib=(weight_plan(p).bits - 1) / 8192, offchip_bits_per_cycle=8)
    out = compile_network(inet, 2, 2, tmp_path / "c", pixels=x, config=cfg)
    assert json.loads((out / "manifest.json").read_text())["hardware"]["streamed"] == streamed
    log = _iverilog(out)
    assert "PASS: 2 image(s)" in log, log[-2000:]


@pytest.mark.cocotb
def test_testbench_fails_on_a_wrong_expectation(tiny, tmp_path):
    inet, x = tiny
    out = compile_network(inet, 2, 2, tmp_path / "c", pixels=x[:1])
    cyc = out / "cycles_expected.hex"
    cyc.write_text(f"{int(cyc.read_text(), 16) + 1:08x}\n")
    log = _iverilog(out)
    assert "CYCLES image 0" in log and "FAIL: 1 error(s)" in log, log[-2000:]


def test_cli_compiles_a_folder(tmp_path, capsys):
    from snnbits.cli.accel import main

    out = tmp_path / "compiled"
    assert main(["compile", "--array", "2x3", "--random", "1", "--out", str(out)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["array"] == [2, 3] and len(m["expected_cycles"]["per_image"]) == 1
    assert (out / "tb_accel.v").exists() and (out / ".snnbits-compile").exists()
    assert "iverilog -g2005 -o sim tb_accel.v accel_top.v" in capsys.readouterr().out
    assert main(["compile", "--array", "2x3", "--random", "1", "--out", str(out)]) == 0  # its own folder: replaced


@pytest.mark.parametrize("argv, msg", [
    (["--array", "0x4"], "--array: must look like 4x4"),
    (["--array", "4x"], "--array: must look like 4x4"),
])
def test_cli_rejects_bad_arrays(tmp_path, capsys, argv, msg):
    from snnbits.cli.accel import main

    assert main(["compile", *argv, "--out", str(tmp_path / "o")]) == 2
    assert msg in capsys.readouterr().err


def test_cli_refuses_to_replace_a_foreign_folder(tmp_path, capsys):
    from snnbits.cli.accel import main

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    assert main(["compile", "--random", "1", "--out", str(out)]) == 2
    assert (out / "notes.txt").read_text() == "keep me\n"


def test_cli_compiles_at_the_width_weight_bits_auto_picks(tmp_path, capsys):
    """--weight-bits auto used to fail in convert ('weight_bits must be an integer'): the compiled
    machine now stores the width auto_weight_bits picks on the calibration images."""
    from golden import datasets, ir
    from golden.fidelity import auto_weight_bits
    from golden.models import DEFAULT_MODEL
    from snnbits.cli.accel import main

    x = datasets.digits_test().x[:8]
    np.save(tmp_path / "cal.npy", x)
    want = auto_weight_bits(ir.load(DEFAULT_MODEL), x, 0.9, bitplanes=True).weight_bits
    out = tmp_path / "compiled"
    assert main(["compile", "--weight-bits", "auto", "--match", "0.9", "--calibration", str(tmp_path / "cal.npy"),
                 "--random", "1", "--out", str(out)]) == 0, capsys.readouterr().err
    assert f"--weight-bits auto: {want} bits" in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text())["hardware"]["weight_width"] == want != 8


def test_cli_array_defaults_to_the_configuration_s(tmp_path, capsys):
    """--config default.toml (8x8) used to compile a 4x4 machine without a word; the configuration's
    [array] is now the default, --array overrides it, and a shape compile cannot generate is refused."""
    from accel.config import DEFAULT_CONFIG
    from snnbits.cli.accel import main

    def shape(*argv):
        out = tmp_path / "c"
        assert main(["compile", "--random", "1", *argv, "--out", str(out)]) == 0, capsys.readouterr().err
        return json.loads((out / "manifest.json").read_text())["array"]

    assert shape("--config", str(DEFAULT_CONFIG)) == [8, 8]
    assert shape("--config", str(DEFAULT_CONFIG), "--array", "2x3") == [2, 3]
    assert shape() == [4, 4]
    big = tmp_path / "big.toml"
    big.write_text(DEFAULT_CONFIG.read_text().replace("rows = 8", "rows = 128", 1))
    assert main(["compile", "--random", "1", "--config", str(big), "--out", str(tmp_path / "d")]) == 2
    assert f"config {big}: [array] rows = 128, cols = 8; accel compile generates 1..64" in capsys.readouterr().err


def test_cli_compiles_per_term_shifts(tmp_path, capsys):
    """--term-shifts reaches the hardware: on a layer whose terms differ in scale the compiled
    machine has per-term shifters and stores other weights (at the same width, finer for the
    smaller term); without it, no shifter."""
    from golden import ir
    from golden.random import mixed_scale_network
    from snnbits.cli.accel import main

    net = mixed_scale_network(np.random.default_rng(14), pixel_bits=8, bits=2, skip="identity", size=5, channels=3)
    model = tmp_path / "mixed.npz"
    ir.save(net, model)
    manifests = {}
    for flag in ([], ["--term-shifts"]):
        out = tmp_path / f"c{len(flag)}"
        assert main(["compile", str(model), *flag, "--weight-bits", "5", "--array", "2x3", "--random", "1",
                     "--out", str(out)]) == 0, capsys.readouterr().err
        manifests[bool(flag)] = json.loads((out / "manifest.json").read_text())["hardware"]
    assert manifests[False]["shifts"] == [0]
    assert max(manifests[True]["shifts"]) > 0
    assert manifests[True]["weight_width"] == manifests[False]["weight_width"] == 5
    with np.load(tmp_path / "c0" / "program.npz") as a, np.load(tmp_path / "c1" / "program.npz") as b:
        assert any(not np.array_equal(a[k], b[k]) for k in a.files if k.startswith("weights"))

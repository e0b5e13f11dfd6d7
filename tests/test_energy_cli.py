"""``energy report``: formats, plot, and clear errors without tracebacks."""

import csv
import dataclasses
import io
import json

import numpy as np
import pytest

from snnbits.cli.energy import main
from energy.counts import COMPUTE_CATEGORIES, MEMORY_CATEGORIES
from golden import ir, trace
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("energy")
    rng = np.random.default_rng(3)
    net = random_network(rng, input_shape=(1, 8, 8), channels=(4, 6))
    model = ir.save(net, d / "model.npz")
    inet = convert(net)
    res = simulate(inet, random_inputs(rng, net.input.shape, net.input.bits, 4))
    good = trace.save(d / "trace.npz", inet, res, "fast")
    # same model, but the trace lacks the output layer
    short = dataclasses.replace(inet, layers=inet.layers[:-1])
    lacking = trace.save(d / "lacking.npz", short, res, "fast")
    other = random_network(np.random.default_rng(4), input_shape=(1, 8, 8), channels=(4, 6), name="other")
    other_model = ir.save(other, d / "other.npz")
    return {"dir": d, "model": model, "trace": good, "lacking": lacking, "other_model": other_model}


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_table(files, capsys):
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"])
    assert rc == 0, err
    for word in ("ours", "qann", "bit_serial", "rate_coded", "ann_fp32", "ann_int8", "left shifts"):
        assert word in out


def test_json_is_consistent(files, capsys):
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--format", "json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["format"] == "snnbits-energy-report" and d["schema_version"] == 1
    assert d["trace"]["images"] == 4 and d["dataflow"] == "step_major"
    assert [m["method"] for m in d["methods"]] == ["ours", "ann_fp32", "ann_int8", "qann", "bit_serial", "rate_coded"]
    assert set(d["methods"][0]["by_category_energy_pj"]) == set(COMPUTE_CATEGORIES + MEMORY_CATEGORIES)
    for m in d["methods"]:
        assert m["total_energy_pj"] == pytest.approx(m["compute_energy_pj"] + m["memory_energy_pj"], rel=1e-5)
        assert m["total_energy_pj"] == pytest.approx(sum(l["total_energy_pj"] for l in m["layers"]), rel=1e-5)
        for l in m["layers"]:
            for r in l["compute"]:  # energy per image = ops x unit / images
                assert r["energy_pj"] == pytest.approx(r["ops"] * r["unit_energy_pj"] / 4, rel=1e-5)
    ours = d["methods"][0]["compute_energy_pj"]
    for r in d["ratios"]:
        m = next(m for m in d["methods"] if m["method"] == r["baseline"])
        assert r["compute"] == pytest.approx(m["compute_energy_pj"] / ours, rel=1e-4)


def test_csv_and_plot(files, capsys):
    png = files["dir"] / "energy.png"
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--format", "csv", "--plot", png)
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["method"] for r in rows} == {"ours", "ann_fp32", "ann_int8", "qann", "bit_serial", "rate_coded"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_code_major_dataflow_option(files, capsys):
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--format", "json",
                       "--dataflow", "code_major")
    assert rc == 0, err
    assert json.loads(out)["dataflow"] == "code_major"


def _assert_clean_error(rc, out, err, *needles):
    assert rc == 2
    assert err.startswith("error: ")
    assert "Traceback" not in err + out
    for n in needles:
        assert n in err, (n, err)


def test_trace_lacking_layers(files, capsys):
    rc, out, err = run(capsys, "report", files["lacking"], "--model", files["model"])
    _assert_clean_error(rc, out, err, "lacks layer(s)")


def test_trace_of_another_model(files, capsys):
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["other_model"])
    _assert_clean_error(rc, out, err, "made from model")


def test_default_model_must_match_or_exist(files, capsys):
    rc, out, err = run(capsys, "report", files["trace"])
    _assert_clean_error(rc, out, err)


@pytest.mark.parametrize(
    "edit, needles",
    [
        (lambda s: s.replace("energy_pj = 0.03\n", "energy_pj = -0.03\n", 1), ["[int_add] points[0].energy_pj", "-0.03"]),
        (lambda s: s.replace("energy_pj = 3.7\n", "", 1), ["missing key [fp32_mult] points[0].energy_pj"]),
        (lambda s: "watts = 3\n" + s, ["unknown key watts = 3"]),
        (lambda s: s.replace("schema_version = 1", "schema_version = 7"), ["schema_version", "7"]),
    ],
    ids=["negative", "missing", "unknown", "version"],
)
def test_bad_cost_tables(files, capsys, edit, needles):
    from energy.costs import DEFAULT_COSTS

    bad = files["dir"] / "bad.toml"
    bad.write_text(edit(DEFAULT_COSTS.read_text()))
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--costs", bad)
    _assert_clean_error(rc, out, err, f"cost table {bad}", *needles)


def test_missing_and_corrupt_files(files, capsys):
    rc, out, err = run(capsys, "report", files["dir"] / "nope.npz", "--model", files["model"])
    _assert_clean_error(rc, out, err, "no such file")
    junk = files["dir"] / "junk.npz"
    junk.write_bytes(b"not a zip")
    rc, out, err = run(capsys, "report", junk, "--model", files["model"])
    _assert_clean_error(rc, out, err, "junk.npz")
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--rate-steps", "0")
    _assert_clean_error(rc, out, err, "--rate-steps")


def test_no_command_prints_help(capsys):
    rc, out, err = run(capsys)
    assert rc == 2 and "report" in out

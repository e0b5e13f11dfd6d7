"""``energy report``: formats, configurations, plot, and clear errors without tracebacks."""

import csv
import dataclasses
import io
import json

import numpy as np
import pytest

from snnbits.cli.energy import main
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


METHODS = ["built", "ours_ideal", "pragmatic", "stripes", "qann_dense", "qann_skip", "ann_int8",
           "ann_fp32", "rate_coded"]


def test_table(files, capsys):
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--array", "2x3")
    assert rc == 0, err
    for word in METHODS + ["2x3 PEs", "Where ours wins, ties and loses", "ideal event-driven lower bound"]:
        assert word in out, word


def test_a_report_into_a_pipe_keeps_every_number(files):
    """Piped or redirected (no terminal, no COLUMNS), the report is printed wide enough that no
    table cell is cut to an ellipsis (rich's default of 80 columns cut them to '1.…')."""
    from cli_util import cli, cli_env

    env = cli_env()
    del env["COLUMNS"]
    p = cli("energy", "report", files["trace"], "--model", files["model"], "--array", "4x4", env=env)
    assert p.returncode == 0, p.stderr
    assert "built" in p.stdout and "\u2026" not in p.stdout, p.stdout


def test_json_is_consistent(files, capsys):
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--format", "json",
                       "--array", "2x3")
    assert rc == 0, err
    d = json.loads(out)
    assert d["format"] == "snnbits-energy-report" and d["schema_version"] == 2
    assert d["trace"]["images"] == 4 and d["machine"]["rows"] == 2 and d["machine"]["cols"] == 3
    assert d["machine"]["sizing"] == "config" and d["machine"]["weight_sram_kib"] == 4096
    assert [m["method"] for m in d["methods"]] == METHODS
    for m in d["methods"]:
        parts = m["compute_energy_pj"] + m["memory_energy_pj"] + m["leakage_energy_pj"]
        assert m["total_energy_pj"] == pytest.approx(parts, rel=1e-5)
        assert m["total_energy_pj"] == pytest.approx(sum(l["compute_energy_pj"] + l["memory_energy_pj"]
                                                         + l["leakage_energy_pj"] for l in m["layers"]), rel=1e-5)
        assert m["compute_energy_pj"] + m["memory_energy_pj"] == pytest.approx(
            sum(m["by_category_energy_pj"].values()), rel=1e-5)
    built = d["methods"][0]
    for r in d["ratios"]:
        m = next(m for m in d["methods"] if m["method"] == r["method"])
        assert r["total"] == pytest.approx(m["total_energy_pj"] / built["total_energy_pj"], rel=1e-4)
    assert [v["method"] for v in d["verdicts"]] == METHODS[2:]
    for v in d["verdicts"]:
        assert v["outcome"] == ("wins" if v["ratio"] > 1.05 else "loses" if v["ratio"] < 0.95 else "ties")
    # the built machine adds on every lane: at least the useful synaptic adds
    assert all(a["issued_adds"] >= a["synaptic_ops"] for a in d["activity"])


def test_fitted_memories_and_another_config(files, capsys):
    cfg = files["dir"] / "cfg.toml"
    cfg.write_text("[array]\nscan = 2\n[memory]\nweight_sram_kib = 64\nspike_sram_kib = 32\n")
    outs = {}
    for sizing in ("config", "fitted"):
        rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--format", "json",
                           "--config", cfg, "--sizing", sizing)
        assert rc == 0, err
        outs[sizing] = json.loads(out)
    assert outs["config"]["machine"]["weight_sram_kib"] == 64
    assert outs["config"]["machine"]["scan"] == 8  # the config's scan width, raised to the 8 rows
    fitted, config = (outs[k]["methods"][0] for k in ("fitted", "config"))
    assert fitted["compute_energy_pj"] == config["compute_energy_pj"]  # the same activity
    assert fitted["memory_energy_pj"] < config["memory_energy_pj"]  # smaller memories


def test_csv_and_plot(files, capsys):
    png = files["dir"] / "energy.png"
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--format", "csv", "--plot", png,
                       "--array", "2x2")
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["method"] for r in rows if r["layer"] == "total"] == METHODS
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def test_accelergy_export_round_trips(files, capsys):
    """The exported ERT and action counts give, by Accelergy's rule, the built machine's compute + memory energy;
    the exported tables read back as --costs give the same report."""
    from energy.accelergy import energy_from_counts, load_yaml

    pytest.importorskip("yaml")
    out = files["dir"] / "accelergy"
    base = ["report", files["trace"], "--model", files["model"], "--array", "2x2", "--format", "json"]
    rc, text, err = run(capsys, *base, "--export-accelergy", out)
    assert rc == 0, err
    built = json.loads(text)["methods"][0]
    assert sorted(p.name for p in out.iterdir()) == [".snnbits-accelergy", "action_counts.yaml", "art.yaml", "ert.yaml",
                                                     "tables_ert.yaml"]
    e = energy_from_counts(load_yaml(out / "ert.yaml"), load_yaml(out / "action_counts.yaml"))
    assert e / 4 == pytest.approx(built["compute_energy_pj"] + built["memory_energy_pj"], rel=1e-5)
    art = {t["name"]: t["area"] for t in load_yaml(out / "art.yaml")["ART"]["tables"]}
    assert art["snnbits.memory.weights"] > 0 and "snnbits.memory.membranes" in art
    rc, again, err = run(capsys, *base, "--costs", out / "tables_ert.yaml", "--export-accelergy", out)
    _assert_clean_error(rc, again, err, "holds an input of this command")
    tables = files["dir"] / "tables_ert.yaml"
    tables.write_bytes((out / "tables_ert.yaml").read_bytes())
    rc, again, err = run(capsys, *base, "--costs", tables, "--export-accelergy", out)
    assert rc == 0, err  # an earlier export is replaced
    for a, b in zip(json.loads(text)["methods"], json.loads(again)["methods"]):
        assert a["total_energy_pj"] == pytest.approx(b["total_energy_pj"], rel=1e-9), a["method"]
    foreign = files["dir"] / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    rc, text, err = run(capsys, *base, "--export-accelergy", foreign)
    _assert_clean_error(rc, text, err, "--export-accelergy")
    assert (foreign / "keep.txt").read_text() == "mine"


def test_config_that_cannot_hold_the_network(files, capsys):
    cfg = files["dir"] / "tiny.toml"
    cfg.write_text("[memory]\nspike_sram_kib = 0.01\n")
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--config", cfg)
    _assert_clean_error(rc, out, err, "spike_sram_kib = 0.01 is too small")
    rc, out, err = run(capsys, "report", files["trace"], "--model", files["model"], "--array", "0x3")
    _assert_clean_error(rc, out, err, "--array")


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

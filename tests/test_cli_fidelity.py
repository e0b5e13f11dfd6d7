"""The fidelity options of the ``accel`` commands: ``--weight-bits auto``, ``--match``,
``--term-shifts``, ``--calibration`` (``--input`` for ``accel info``), and the match columns
of ``accel info``.  In process (:func:`cli_util.run_main`)."""

import json

import numpy as np
import pytest

from cli_util import assert_user_error_in_process, run_main
from golden import ir
from golden.convert import convert
from golden.datasets import digits_test
from golden.fidelity import auto_weight_bits, fidelity
from golden.ir import QCFS, Input, Linear, network
from golden.models import load_model
from snnbits.cli.accel import main


@pytest.fixture(scope="module")
def tie_model(tmp_path_factory):
    """A pre-activation one part in 10**9 below a rounding boundary: its code is 0 in the float
    model and 1 in the integer network at every width 2..24, so no width matches every code."""
    nodes = [Input(name="input", inputs=(), shape=(1,), bits=1, scale=1.0),
             Linear(name="fc0", inputs=("input",), weight=np.array([[0.5 - 1e-9]])),
             QCFS(name="q", inputs=("fc0",), lam=1.0, bits=1),
             Linear(name="out", inputs=("q",), weight=np.array([[1.0], [-1.0]]))]
    path = tmp_path_factory.mktemp("tie") / "tie.npz"
    ir.save(network(nodes, name="tie"), path)
    np.save(path.with_name("x.npy"), np.array([[0], [1]], np.uint8))
    return path


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cal") / "cal.npz"
    np.savez(path, x=digits_test().x[:60])
    return path


def test_info_shows_the_match_per_layer_on_the_digits_test_split(capsys):
    rc, out, err = run_main(main, ["info", "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    net = load_model(None)
    want = fidelity(net, convert(net), digits_test().x)
    assert doc["match"] == {"images": 360, "source": "the digits test split", "minimum": want.minimum}
    for row, m in zip(doc["layers"], want.layers):
        assert row["name"] == m.name
        assert row["match"] == {"compared": m.compared, "what": "codes" if m.kind == "hidden" else "predictions",
                                "fraction": m.fraction, "local_fraction": m.local_fraction}
    rc, out, err = run_main(main, ["info"], capsys)
    assert rc == 0 and "match" in out and "local" in out and "360 image(s) from the digits test split" in " ".join(out.split())


def test_info_on_other_inputs_states_its_random_images(tie_model, capsys):
    rc, out, err = run_main(main, ["info", tie_model, "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["match"]["source"] == "random images (uniform pixel codes, seed 0)" and doc["match"]["images"] == 64
    assert doc["layers"][0]["match"]["fraction"] < 1  # the codes of input 1 differ


def test_info_match_on_an_input_file(digits_file, capsys):
    rc, out, err = run_main(main, ["info", "--input", digits_file, "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["match"]["images"] == 60 and doc["match"]["source"] == f"file {digits_file}"
    rc, out, err = run_main(main, ["info", "--no-match", "--json"], capsys)
    assert rc == 0 and "match" not in json.loads(out) and "match" not in json.loads(out)["layers"][0]


@pytest.mark.parametrize("match", [None, "0.999"])
def test_auto_picks_the_width_of_golden_fidelity_and_says_so(digits_file, match, capsys):
    argv = ["info", "--weight-bits", "auto", "--input", digits_file] + (["--match", match] if match else [])
    rc, out, err = run_main(main, argv + ["--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    want = auto_weight_bits(load_model(None), digits_test().x[:60], float(match or 0.99))
    assert doc["weight_bits"] == doc["auto"]["weight_bits"] == want.weight_bits
    assert [t["weight_bits"] for t in doc["auto"]["tried"]] == list(range(2, want.weight_bits + 1))
    assert doc["match"]["minimum"] >= float(match or 0.99)
    rc, out, err = run_main(main, argv, capsys)
    text = " ".join(out.split())
    assert rc == 0 and f"--weight-bits auto: {want.weight_bits} bits, the smallest width" in text
    assert f">= {100 * float(match or 0.99):g} % (60 calibration image(s) from file {digits_file})" in text


def test_auto_says_when_no_width_reaches_the_fraction(tie_model, capsys):
    x = ["--input", tie_model.with_name("x.npy")]
    rc, out, err = run_main(main, ["info", tie_model, "--weight-bits", "auto", "--match", "1"] + x, capsys)
    assert_user_error_in_process(rc, out, err, "no weight width in 2..24 makes every layer of model 'tie' match the "
                                 "float model on 100 % of 2 calibration image(s)", "leaves layer 'q' at 50.000 %",
                                 "lower the fraction with --match")
    rc, out, err = run_main(main, ["info", tie_model, "--weight-bits", "auto", "--match", "0.5", "--json"] + x, capsys)
    assert rc == 0 and json.loads(out)["weight_bits"] == 2


@pytest.mark.parametrize("command", [["info"], ["run", "--random", "1", "--out", "t.npz"], ["accuracy"], ["sweep"],
                                     ["demo"]])
@pytest.mark.parametrize("value", ["0", "1.5", "-0.1", "nan", "inf", "x", ""])
def test_match_must_be_a_fraction(command, value, capsys):
    rc, out, err = run_main(main, command + ["--weight-bits", "auto", "--match", value], capsys)
    assert_user_error_in_process(rc, out, err, "argument --match: must be a fraction in (0, 1]")


@pytest.mark.parametrize("command", [["info"], ["run", "--random", "1", "--out", "{tmp}/t.npz"], ["accuracy"],
                                     ["sweep", "--random", "1"], ["demo", "--out", "{tmp}/demo"]])
def test_match_needs_auto(command, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in command] + ["--match", "0.9"]
    rc, out, err = run_main(main, argv, capsys)
    assert_user_error_in_process(rc, out, err, "--match 0.9: only used with --weight-bits auto (now --weight-bits 8)")
    assert not (tmp_path / "t.npz").exists() and not (tmp_path / "demo").exists()


@pytest.mark.parametrize("value", ["x", "8.5", "autox", ""])
def test_weight_bits_is_a_width_or_auto(value, capsys):
    rc, out, err = run_main(main, ["info", "--weight-bits", value], capsys)
    assert_user_error_in_process(rc, out, err, "argument --weight-bits: must be an integer in 2..24 or 'auto'")


def test_calibration_file_must_fit_the_model(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 2, 8, 8), np.uint8))
    for argv in (["info", "--input", tmp_path / "bad.npz"],
                 ["run", "--random", "1", "--weight-bits", "auto", "--calibration", tmp_path / "bad.npz",
                  "--out", tmp_path / "t.npz"]):
        rc, out, err = run_main(main, argv, capsys)
        assert_user_error_in_process(rc, out, err, f"calibration file {tmp_path / 'bad.npz'}: shape (3, 2, 8, 8) "
                                                   "does not match (N,) + (1, 8, 8)")
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 1, 8, 8), np.uint8))
    rc, out, err = run_main(main, ["info", "--input", tmp_path / "empty.npz"], capsys)
    assert_user_error_in_process(rc, out, err, "holds no images")


def _meta(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return json.loads(z["meta.json"].tobytes())


def test_run_with_auto_and_shifts_writes_a_trace_the_sweep_checks(tmp_path, capsys):
    t = tmp_path / "t.npz"
    rc, out, err = run_main(main, ["run", "--digits", "20", "--weight-bits", "auto", "--term-shifts", "--out", t], capsys)
    assert rc == 0, err
    want = auto_weight_bits(load_model(None), digits_test().x[:20], 0.99, term_shifts=True)
    assert f"--weight-bits auto: {want.weight_bits} bits" in " ".join(out.split())
    meta = _meta(t)
    assert meta["weight_bits"] == want.weight_bits and meta["term_shifts"] is True
    common = ["sweep", "--trace", t, "--rows", "1", "--cols", "1", "--no-energy"]
    rc, out, err = run_main(main, common + ["--weight-bits", str(want.weight_bits)], capsys)
    assert_user_error_in_process(rc, out, err, "term_shifts=True", "term_shifts=False", "--term-shifts")
    # auto on a trace calibrates on the trace's images: the same width, so the trace is accepted
    cfg = tmp_path / "wide.toml"
    cfg.write_text("schema_version = 1\n[array]\nrows = 1\ncols = 1\n[pe]\nweight_bits = 24\nacc_bits = 64\n")
    rc, out, err = run_main(main, common + ["--weight-bits", "auto", "--term-shifts", "--config", cfg], capsys)
    assert rc == 0, err
    assert f"--weight-bits auto: {want.weight_bits} bits" in " ".join(out.split())


def test_a_trace_without_shifts_keeps_its_format(tmp_path, capsys):
    t = tmp_path / "t.npz"
    rc, out, err = run_main(main, ["run", "--random", "2", "--out", t], capsys)
    assert rc == 0, err
    assert "term_shifts" not in _meta(t)


def test_accuracy_with_auto(capsys):
    rc, out, err = run_main(main, ["accuracy", "--weight-bits", "auto", "--match", "0.9", "--rate-T", "1",
                                   "--ablation-T", "1"], capsys)
    assert rc == 0, err
    text = " ".join(out.split())
    want = auto_weight_bits(load_model(None), digits_test().x, 0.9)
    assert f"--weight-bits auto: {want.weight_bits} bits" in text
    assert f"{want.weight_bits}-bit weights" in text


def test_info_leaves_out_a_match_too_big_for_the_memory_budget(tmp_path, capsys):
    """Describing a model never fails for want of memory; the match is left out, saying why."""
    nodes = [Input(name="input", inputs=(), shape=(1, 2000, 2000), bits=8, scale=1.0),
             ir.Conv2d(name="c0", inputs=("input",), weight=np.ones((2, 1, 1, 1))),
             QCFS(name="q0", inputs=("c0",), bits=4),
             ir.Conv2d(name="c1", inputs=("q0",), weight=np.ones((2, 2, 1, 1)))]
    big = ir.save(network(nodes, name="big"), tmp_path / "big.npz")
    rc, out, err = run_main(main, ["info", big, "--json", "--max-memory", "1"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert "match" not in doc and "above the limit of 1 GiB" in doc["match_skipped"]
    rc, out, err = run_main(main, ["info", big, "--weight-bits", "auto", "--max-memory", "1"], capsys)
    assert_user_error_in_process(rc, out, err, "random images (uniform", "comparing 64 image(s)", "above the limit of 1 GiB")


@pytest.mark.slow
def test_demo_with_auto_and_shifts(tmp_path, capsys):
    """The demo converts at the width auto picks, widens the sweep's PE widths to fit it, and its
    summary carries each layer's match."""
    out = tmp_path / "demo"
    rc, text, err = run_main(main, ["demo", "--out", out, "--cosim-images", "0", "--no-plots", "--weight-bits", "auto",
                                    "--term-shifts"], capsys)
    assert rc == 0, err
    want = auto_weight_bits(load_model(None), digits_test().x, 0.99, term_shifts=True)
    summary = (out / "summary.md").read_text()
    assert f"{want.weight_bits}-bit weights with per-term shifts" in summary
    for l in want.fidelity.layers:
        assert f"| {l.name} | {want.weight_bits} |" in summary and f"{100 * l.fraction:.2f} % |" in summary
    widths = json.loads((out / "widths.json").read_text())
    assert widths["auto"]["weight_bits"] == want.weight_bits and widths["match"]["minimum"] >= 0.99


def test_energy_report_prices_a_trace_made_with_term_shifts(tmp_path, capsys):
    """``energy report`` converts the model as the trace says, per-term shifts included; on
    the bundled model shifts change no integer, so both reports hold the same numbers."""
    from snnbits.cli.energy import main as energy_main

    reports = {}
    for shifts in (False, True):
        t = tmp_path / f"t{int(shifts)}.npz"
        rc, _, err = run_main(main, ["run", "--digits", "8", "--out", t] + (["--term-shifts"] if shifts else []), capsys)
        assert rc == 0, err
        assert ("term_shifts" in _meta(t)) == shifts
        rc, out, err = run_main(energy_main, ["report", t, "--format", "json"], capsys)
        assert rc == 0, err
        reports[shifts] = json.loads(out)
    assert reports[True]["methods"] and reports[True]["activity"]
    assert reports[True] == reports[False]

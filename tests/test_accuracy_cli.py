"""``accel accuracy`` and golden.accuracy: the bundled model, JSON, plot, bad input.

None of these tests needs torch or scikit-learn: the bundled model and test split suffice.
"""

import json
import zipfile

import numpy as np
import pytest

from snnbits.cli.accel import main
from golden import accuracy, datasets, ir
from golden.convert import convert
from golden.random import random_network
from golden.simulate import integer_ann, simulate


@pytest.fixture(scope="module")
def bundled():
    return ir.load(accuracy.DEFAULT_MODEL)


def test_bundled_model_snn_equals_integer_ann_on_every_image(bundled):
    test = datasets.digits_test()
    assert bundled.bits == 4 and bundled.input.shape == datasets.INPUT_SHAPE
    inet = convert(bundled)
    snn = simulate(inet, test.x, mode="literal")
    ann = integer_ann(inet, test.x)
    assert np.array_equal(snn.predictions(inet), ann.predictions(inet))
    for name, codes in ann.codes.items():
        assert codes.dtype == snn.codes[name].dtype and np.array_equal(snn.codes[name], codes)
    assert np.mean(ann.predictions(inet) == test.y) > 0.95


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One full run of ``accel accuracy`` (bundled model, default T lists) with --json and --plot."""
    pytest.importorskip("matplotlib")
    d = tmp_path_factory.mktemp("acc")
    rc = main(["accuracy", "--json", str(d / "acc.json"), "--plot", str(d / "acc.png")])
    return rc, d


@pytest.mark.slow
def test_cli_default_model(cli_run, capsys):
    rc, d = cli_run
    assert rc == 0
    doc = json.loads((d / "acc.json").read_text())
    rep = doc["report"]
    B = rep["bits"]
    assert rep["images"] == 360 and rep["mismatches"] == 0 and rep["code_mismatches"] == 0
    assert rep["snn"][str(B)] == rep["integer_ann"]
    assert set(rep["snn"]) == {str(t) for t in range(1, B + 1)}
    assert set(rep["rate_coded"]) == {"1", "2", "4", "8", "16", "32"}
    assert len(rep["ablation"]) == 5 and len(rep["activity"]) >= 2
    # the rate-coded QCFS baseline at T = B is clearly worse than the bit-serial SNN
    assert rep["rate_coded"][str(B)] <= rep["snn"][str(B)] - 0.03
    # all switches on, T = B: the ablation row is the exact SNN
    assert rep["ablation"][-1]["accuracy"][str(B)] == rep["snn"][str(B)]
    assert (d / "acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A random (untrained) network with the digits input: fast to evaluate."""
    net = random_network(np.random.default_rng(0), input_shape=(1, 8, 8), input_bits=5, channels=(3, 4),
                         classes=10, residual=False, name="small")
    nodes = (datasets.input_node(),) + net.nodes[1:]
    path = tmp_path_factory.mktemp("small") / "small.npz"
    ir.save(ir.network(nodes, name="small"), path)
    return path


FAST = ["--rate-T", "1", "4", "--ablation-T", "4"]


def test_cli_tables_and_compare(small_model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rc = main(["accuracy", str(small_model), *FAST, "--compare", str(small_model), "--json", str(tmp_path / "a.json"),
               "--plot", str(tmp_path / "a.png")])
    out = capsys.readouterr().out
    assert rc == 0
    for s in ("float QCFS ANN", "integer ANN", "QCFS rate", "Ablation", "Spiking activity", "differs from the integer ANN's: 0"):
        assert s in out
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["compare"]["report"]["model_hash"] == doc["report"]["model_hash"]
    assert set(doc["report"]["rate_coded"]) == {"1", "4"}
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_evaluate_library(small_model):
    net = ir.load(small_model)
    test = datasets.digits_test()
    calls = []
    rep = accuracy.evaluate(net, test.x[:50], test.y[:50], rate_T=(2,), ablation_T=(), progress=calls.append)
    assert len(calls) == accuracy.steps(convert(net), (2,), ())
    assert rep.mismatches == 0 and rep.images == 50
    assert rep.spikes_per_image == pytest.approx(sum(a.spikes_per_image for a in rep.activity))
    json.dumps(rep.to_dict())


def _user_error(argv, capsys, match):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and match in err
    assert "Traceback" not in err


def test_other_schema_version(small_model, tmp_path, capsys):
    bad = tmp_path / "v2.npz"
    with np.load(small_model, allow_pickle=False) as z:
        files = {k: z[k] for k in z.files}
    g = json.loads(files["graph.json"].tobytes())
    g["schema_version"] = 2
    files["graph.json"] = np.frombuffer(json.dumps(g).encode(), dtype=np.uint8)
    np.savez(bad, **files)
    _user_error(["accuracy", str(bad)], capsys, "schema_version 2 is not supported")


def test_missing_and_broken_files(tmp_path, capsys):
    _user_error(["accuracy", str(tmp_path / "nope.npz")], capsys, "no such file")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    _user_error(["accuracy", str(junk)], capsys, "not a readable")


def test_wrong_input_shape(tmp_path, capsys):
    net = random_network(np.random.default_rng(1), input_shape=(2, 8, 8), input_bits=4, channels=(2,), residual=False)
    ir.save(net, tmp_path / "m.npz")
    _user_error(["accuracy", str(tmp_path / "m.npz"), *FAST], capsys, "the digits test split needs shape (1, 8, 8)")


def test_default_model_file_is_small_and_valid():
    assert accuracy.DEFAULT_MODEL.stat().st_size < 300_000
    assert zipfile.is_zipfile(accuracy.DEFAULT_MODEL)

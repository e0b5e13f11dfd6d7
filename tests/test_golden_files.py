"""Model and trace files: round trips, and a clear error for every kind of bad input."""

import json

import numpy as np
import pytest

from golden import ir, trace
from golden.convert import convert
from golden.errors import GoldenError
from golden.random import random_inputs, random_network
from golden.reference import forward
from golden.simulate import simulate


@pytest.fixture(scope="module")
def net():
    return random_network(np.random.default_rng(7))


@pytest.fixture
def model_file(net, tmp_path):
    return ir.save(net, tmp_path / "m.npz")


def rewrite(path, graph=None, drop=(), add=None):
    """Rewrite a model/trace npz: edit the JSON entry, drop or add arrays."""
    with np.load(path, allow_pickle=False) as z:
        files = {k: z[k] for k in z.files}
    key = "graph.json" if "graph.json" in files else "meta.json"
    if graph is not None:
        g = json.loads(files[key].tobytes())
        graph(g)
        files[key] = np.frombuffer(json.dumps(g).encode(), dtype=np.uint8)
    for k in drop:
        files.pop(k)
    files.update(add or {})
    np.savez(path, **files)
    return path


def test_model_round_trip(net, model_file):
    back = ir.load(model_file)
    assert back.hash() == net.hash()
    x = random_inputs(np.random.default_rng(0), net.input.shape, net.input.bits, 8)
    assert np.array_equal(forward(back, x), forward(net, x))


def _set_node_attr(name, key, value):
    def f(g):
        next(n for n in g["nodes"] if n["name"] == name)["attrs"][key] = value

    return f


@pytest.mark.parametrize(
    "edit, drop, add, match",
    [
        (lambda g: g.update(schema_version=99), (), None, r"schema_version 99 is not supported"),
        (lambda g: g.update(format="other"), (), None, r"field 'format' is 'other'"),
        (lambda g: g.update(extra=1), (), None, r"unknown field 'extra' \(accepted: format, schema_version, name, output, nodes\)"),
        (lambda g: g["nodes"][1].update(op="maxpool2d"), (), None, r"field 'nodes\[1\]\.op' must be one of \['input', 'conv2d', .*\], not 'maxpool2d'"),
        (_set_node_attr("conv0", "dilation", 2), (), None, r"'conv0' \(conv2d\): unknown field 'attrs\.dilation' \(accepted in 'attrs': stride, padding, groups\)"),
        (_set_node_attr("q0", "bits", 0), (), None, r"'q0' \(qcfs\): field 'attrs\.bits' must be an integer in 1\.\.16, not 0"),
        (_set_node_attr("q0", "lam", -1.0), (), None, r"'q0' \(qcfs\): field 'attrs\.lam' must be a finite number in 1e-12\.\.1e\+12, not -1\.0"),
        (_set_node_attr("q1", "bits", 3), (), None, r"share one bit width B .*q1: 3"),
        (lambda g: g["nodes"][1].update(inputs=["nowhere"]), (), None, r"input 'nowhere' is not an earlier node"),
        (None, ("conv0/weight",), None, r"'conv0' \(conv2d\): missing array 'conv0/weight'"),
        (None, (), {"ghost/weight": np.zeros(3)}, r"array\(s\) \['ghost/weight'\] belong to no node"),
        (None, (), {"bn0/gamma": np.zeros(99)}, r"parameter 'gamma' has shape \(99,\), expected"),
    ],
)
def test_bad_model_files(model_file, edit, drop, add, match):
    rewrite(model_file, edit, drop, add)
    with pytest.raises(GoldenError, match=match) as e:
        ir.load(model_file)
    assert str(model_file) in str(e.value)


def test_nan_weight_is_named(model_file):
    with np.load(model_file) as z:
        w = z["conv1/weight"].copy()
    w[1, 0, 0, 0] = np.nan
    rewrite(model_file, add={"conv1/weight": w})
    with pytest.raises(GoldenError, match=r"'conv1' \(conv2d\): parameter 'weight' holds a non-finite value nan at index \(1, 0, 0, 0\)"):
        ir.load(model_file)


def test_not_a_model(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip at all")
    with pytest.raises(GoldenError, match=r"junk.npz: not a readable .npz model file"):
        ir.load(p)
    with pytest.raises(GoldenError, match=r"no such file"):
        ir.load(tmp_path / "missing.npz")
    np.savez(p, a=np.zeros(2))
    with pytest.raises(GoldenError, match=r"no 'graph.json' entry"):
        ir.load(p)
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(GoldenError, match=r"array.npy: not a readable .npz model file \(a single .npy array"):
        ir.load(npy)
    with pytest.raises(GoldenError, match=r"array.npy: not a readable .npz trace file"):
        trace.load(npy)


def test_pickled_arrays_are_refused(model_file):
    """An object array (which only pickle can store) is never unpickled."""
    with np.load(model_file) as z:
        files = {k: z[k] for k in z.files}
    files["conv0/weight"] = np.array([{"evil": 1}], dtype=object)
    np.savez(model_file, **files)
    with pytest.raises(GoldenError, match=r"member 'conv0/weight': not a readable array: dtype object holds Python objects.*never loaded"):
        ir.load(model_file)


def test_conv_after_conv_is_refused():
    rng = np.random.default_rng(0)
    nodes = [
        ir.Input(name="x", inputs=(), shape=(1, 4, 4), bits=4, scale=1.0),
        ir.Conv2d(name="c1", inputs=("x",), weight=rng.normal(size=(2, 1, 3, 3))),
        ir.Conv2d(name="c2", inputs=("c1",), weight=rng.normal(size=(2, 2, 1, 1))),
    ]
    with pytest.raises(GoldenError, match=r"'c2' \(conv2d\) reads 'c1', which is not a quantized activation"):
        convert(ir.network(nodes))


def test_weights_too_large_for_width_name_the_layer_and_the_fix(net):
    with pytest.raises(GoldenError, match=r"layer '\w+' channel \d+: .* use weight_bits >= \d+"):
        convert(net, weight_bits=2)


def test_bad_pixel_codes(net):
    inet = convert(net)
    with pytest.raises(GoldenError, match=r"pixel codes must lie in 0\.\.15 \(4-bit input\), found 16\.\.16"):
        simulate(inet, np.full((1,) + net.input.shape, 16))
    with pytest.raises(GoldenError, match=r"shape \(1, 3\) does not match"):
        simulate(inet, np.zeros((1, 3), dtype=int))
    with pytest.raises(GoldenError, match=r"must be integers"):
        simulate(inet, np.full((1,) + net.input.shape, np.nan))
    with pytest.raises(GoldenError, match=r"T must be an integer in 1\.\.B=4, not 5"):
        simulate(inet, np.zeros((1,) + net.input.shape, dtype=int), T=5)


# ------------------------------------------------------------------ traces


@pytest.fixture
def trace_file(net, tmp_path):
    inet = convert(net)
    x = random_inputs(np.random.default_rng(1), net.input.shape, net.input.bits, 5)
    res = simulate(inet, x, T=3, mode="literal")
    return trace.save(tmp_path / "t.npz", inet, res, "literal"), inet, res


def test_trace_round_trip(trace_file):
    path, inet, res = trace_file
    t = trace.load(path)
    assert t.meta["T"] == 3 and t.meta["model_hash"] == inet.model_hash
    for k in res.membrane:
        assert np.array_equal(t.result.membrane[k], res.membrane[k])
    for k in res.spikes:
        assert t.result.spikes[k].dtype == np.uint8
        assert np.array_equal(t.result.spikes[k], res.spikes[k])
    assert np.array_equal(t.result.pixels, res.pixels)
    trace.check_matches(t, inet)


def test_trace_of_another_model_is_refused(trace_file):
    path, inet, _ = trace_file
    other = convert(random_network(np.random.default_rng(99)))
    with pytest.raises(GoldenError, match=r"made from model .* not from"):
        trace.check_matches(trace.load(path), other)


@pytest.mark.parametrize(
    "edit, drop, add, match",
    [
        (lambda g: g.update(schema_version=2), (), None, r"schema_version 2 is not supported"),
        (lambda g: g.update(T=9), (), None, r"field 'T' \(9\) exceeds 'B' \(4\)"),
        (lambda g: g.pop("mode"), (), None, r"missing field 'mode'"),
        (None, ("q1/membrane",), None, r"missing array 'q1/membrane'"),
        (None, (), {"bonus": np.zeros(1)}, r"unknown array\(s\) \['bonus'\]"),
    ],
)
def test_bad_trace_files(trace_file, edit, drop, add, match):
    path = trace_file[0]
    rewrite(path, edit, drop, add)
    with pytest.raises(GoldenError, match=match):
        trace.load(path)


def test_corrupt_spikes_are_detected(trace_file):
    path = trace_file[0]
    with np.load(path) as z:
        s = z["q0/spikes"].copy()
    s[0, 0, 0] ^= 1
    rewrite(path, add={"q0/spikes": s})
    with pytest.raises(GoldenError, match=r"layer 'q0': codes do not equal the bits of the spikes"):
        trace.load(path)

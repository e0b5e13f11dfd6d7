"""The accelerator program (accel.program) and machine model (accel.machine) against the golden model.

* The reference interpreter runs a compiled program op by op, reading its weights
  from the bank images and its thresholds from the parameter words: its spikes
  (every tensor, every bit) and logits must equal golden.simulate, on the bundled
  model and on random networks (hypothesis), for every array shape.
* The closed-form cycle model must equal the interpreter's count tile by tile.
* Every way a golden term is lowered (hardware pool, pool composed into the
  kernel, identity merged or kept as a depthwise conv, identity on a vector as a
  diagonal map, QCFS as the output) is exercised by a network built for it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, reject, settings
from hypothesis import strategies as st

from accel.errors import AccelError
from accel.machine import TIMING, Timing, network_cycles, run_reference
from accel.program import LINEAR, _ceil, compile_program, pack_descriptor, plan, weight_plan
from golden import ir
from golden.convert import convert, signed_bits
from golden.random import calibrate, mixed_scale_network, random_inputs, random_network
from golden.simulate import simulate

from strategies import networks

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _spikes_in_view(ref, prog, name):
    t = next(t for t in prog.plan.tensors if t.name == name)
    return ref.tensors[t.id]


def check_program(inet, x, rows, cols, T=None, scan=None):
    """Reference == golden (all spikes, logits), closed form == reference (every tile); returns (prog, ref)."""
    inet = dataclasses.replace(inet, bitplanes=True)
    res = simulate(inet, x, T=T)
    prog = compile_program(plan(inet, rows, cols, T, scan=scan))
    ref = run_reference(prog, x)
    want = res.logits(inet)
    assert ref.logits.shape == want.shape and ref.logits.dtype == want.dtype
    assert np.array_equal(ref.logits, want)
    for t in prog.plan.tensors[1:]:
        golden = np.asarray(res.spikes[t.name])  # (T, N, ...)
        got = ref.tensors[t.id].transpose(1, 0, 2, 3, 4).reshape(golden.shape[:2] + (-1,))
        assert np.array_equal(got[:, :, : golden[0, 0].size], golden.reshape(golden.shape[:2] + (-1,))), t.name
        assert not got[:, :, golden[0, 0].size:].any(), f"{t.name}: a bit beyond the tensor was written"
    cycles, layers = network_cycles(prog.plan, res)
    for lc in layers:
        assert np.array_equal(lc.tile_ops, ref.tile_ops[lc.name]), lc.name
    assert np.array_equal(cycles, ref.cycles)
    return prog, ref


@pytest.fixture(scope="module")
def bundled():
    from golden.datasets import digits_test
    from golden.models import load_model

    return convert(load_model("default")), digits_test().x[:1]


@pytest.mark.parametrize("shape", [(4, 4), (8, 8), (16, 4)])
def test_bundled_model_runs_exactly(bundled, shape):
    inet, x = bundled
    prog, ref = check_program(inet, x, *shape)
    # the residual identity of the bundled model folds into its conv: one term per layer
    assert all(len(l.terms) == 1 for l in prog.plan.layers)
    assert "merged" in prog.plan.layers[1].terms[0].note
    # its 2x2 average pools are addressed in hardware, not composed (no duplicated weights)
    assert all("hardware" in t.note for l in prog.plan.layers[2:] for t in l.terms)


@given(networks(max_bits=5), st.integers(1, 4), st.integers(1, 5), st.data())
@SETTINGS
def test_random_networks_run_exactly(case, rows, cols, data):
    net, inet, x = case
    T = data.draw(st.integers(1, inet.bits))
    scan = data.draw(st.sampled_from([None, 1, 2]))
    try:
        plan(dataclasses.replace(inet, bitplanes=True), rows, cols, T, scan=scan)
    except AccelError as e:
        # the one documented refusal (test_overlapping_pool_into_padded_conv_is_refused_with_the_alternative)
        assert "overlapping sum pool" in str(e), e
        reject()
    check_program(inet, x[:2], rows, cols, T=T, scan=scan)


# ------------------------------------------------------------------ per-term weight shifts


@given(st.integers(0, 2**32 - 1), st.sampled_from(["conv", "identity"]), st.integers(4, 8), st.integers(7, 8),
       st.integers(1, 3), st.integers(1, 4), st.sampled_from([None, 1, 2]), st.data())
@settings(SETTINGS, max_examples=12)
def test_mixed_scale_networks_with_term_shifts_run_exactly(seed, skip, weight_bits, pixel_bits, rows, cols, scan,
                                                           data):
    """A layer summing a pixel term and a spike term, converted with per-term shifts: the weight memory
    holds the stored values (``weight_bits`` wide, never the wider effective weights), the descriptors
    carry each term's shift, and the interpreter (reading the bank images, shifting each lane weight)
    equals golden bit for bit."""
    rng = np.random.default_rng(seed)
    net = mixed_scale_network(rng, pixel_bits=pixel_bits, bits=data.draw(st.integers(1, 2)), skip=skip, size=4)
    inet = convert(net, weight_bits=weight_bits, bitplanes=True, term_shifts=True)
    assume(any(t.shift for l in inet.layers for t in l.terms))
    x = random_inputs(rng, net.input.shape, pixel_bits, 2)
    T = data.draw(st.integers(1, inet.bits))
    prog, _ = check_program(inet, x, rows, cols, T=T, scan=scan)
    p = prog.plan
    shifts = {t.shift for l in inet.layers for t in l.terms}
    assert p.max_shift == max(shifts) and p.max_shift > 0
    assert p.weight_width == max(l.weight_bits for l in inet.layers) <= weight_bits
    lim = 1 << (p.weight_width - 1)
    assert all(-lim < int(b.min(initial=0)) and int(b.max(initial=0)) < lim for b in prog.weights)
    assert sorted(t["shift"] for ts in prog.term_desc for t in ts) == sorted(
        t.shift for l in inet.layers for t in l.terms)
    wide = max(signed_bits(-int(np.abs(t.weight).max()), int(np.abs(t.weight).max()))
               for l in inet.layers for t in l.terms)
    assert p.weight_width < wide  # the effective weights would need wider lanes


def test_a_shift_the_datapath_ignores_is_caught():
    """The control of the test above: an interpreter that adds the stored values unshifted differs from golden."""
    import accel.machine as machine

    rng = np.random.default_rng(7)
    net = mixed_scale_network(rng, pixel_bits=8, bits=2, skip="conv", size=4)
    inet = convert(net, weight_bits=6, bitplanes=True, term_shifts=True)
    x = random_inputs(rng, net.input.shape, 8, 2)
    prog = compile_program(plan(inet, 2, 2))
    want = simulate(inet, x).logits(inet)
    assert np.array_equal(run_reference(prog, x).logits, want)
    shifted = machine._lane_weights
    try:
        machine._lane_weights = lambda p, prog, layer, ti, t, *a: shifted(p, prog, layer, ti, t, *a) >> t.shift
        assert not np.array_equal(run_reference(prog, x, check_width=False).logits, want)
    finally:
        machine._lane_weights = shifted


# ------------------------------------------------------------------ lowering cases


def _net(body, input_shape=(2, 8, 8), bits=3, seed=0, classes=3):
    """input -> body(nodes, prev, rng) -> flatten -> linear logits; calibrated."""
    rng = np.random.default_rng(seed)
    nodes = [ir.Input(name="input", inputs=(), shape=input_shape, bits=4, scale=1.0)]
    prev = body(nodes, "input", rng)
    shape = ir.network(nodes).shapes[prev]
    if len(shape) == 3:
        nodes.append(ir.Flatten(name="flat", inputs=(prev,)))
        prev = "flat"
    F = ir.network(nodes).shapes[prev][0]
    nodes.append(ir.Linear(name="out", inputs=(prev,), weight=rng.normal(0, 1 / np.sqrt(F), (classes, F))))
    net = calibrate(ir.network(nodes), random_inputs(rng, input_shape, 4, 32))
    return net, random_inputs(rng, input_shape, 4, 2)


def _conv_q(nodes, prev, rng, name, oc, k=3, stride=1, padding=1, groups=1, bits=3):
    ic = ir.network(nodes).shapes[prev][0]
    nodes += [ir.Conv2d(name=name, inputs=(prev,), weight=rng.normal(0, 1 / np.sqrt(ic * k * k / groups),
                                                                     (oc, ic // groups, k, k)),
                        stride=(stride, stride), padding=(padding, padding), groups=groups),
              ir.QCFS(name=name + "_q", inputs=(name,), lam=1.0, bits=bits)]
    return name + "_q"


def _pool(nodes, prev, k, s, name="pool"):
    nodes.append(ir.AvgPool2d(name=name, inputs=(prev,), kernel=(k, k), stride=(s, s)))
    return name


@pytest.mark.parametrize("k, s, padding, how", [
    (2, 2, 1, "hardware"),       # the common case: addressed by the encoder
    (3, 3, 1, "composed"),       # stride not a power of two: composed into the kernel
    (3, 2, 0, "composed"),       # overlapping, conv without padding: composed (exact)
    (1, 2, 1, "hardware"),       # kernel < stride: gaps between the windows
])
def test_pool_then_conv(k, s, padding, how):
    def body(nodes, prev, rng):
        prev = _conv_q(nodes, prev, rng, "c0", 4)
        prev = _pool(nodes, prev, k, s)
        return _conv_q(nodes, prev, rng, "c1", 3, padding=padding)

    net, x = _net(body, input_shape=(2, 9, 9))
    prog, _ = check_program(convert(net), x, 2, 3)
    assert how in prog.plan.layers[1].terms[0].note


def test_overlapping_pool_into_padded_conv_is_refused_with_the_alternative():
    def body(nodes, prev, rng):
        prev = _conv_q(nodes, prev, rng, "c0", 4)
        prev = _pool(nodes, prev, 3, 2)
        return _conv_q(nodes, prev, rng, "c1", 3, padding=1)

    net, _ = _net(body, input_shape=(2, 9, 9))
    with pytest.raises(AccelError, match=r"layer 'c1_q' .*overlapping sum pool .*kernel <= stride.*without padding"):
        plan(convert(net, bitplanes=True), 2, 2)


def test_pool_chain_and_pool_before_linear():
    def body(nodes, prev, rng):
        prev = _conv_q(nodes, prev, rng, "c0", 4)
        prev = _pool(nodes, prev, 2, 2, "p0")
        prev = _pool(nodes, prev, 2, 1, "p1")  # a second pool: composed into the next weights
        return prev

    net, x = _net(body, input_shape=(1, 10, 10))
    prog, _ = check_program(convert(net), x, 3, 2)
    assert prog.plan.layers[-1].terms[0].kind == LINEAR


def test_residual_kept_as_depthwise_conv_when_the_sum_does_not_fit_the_weight_width():
    def body(nodes, prev, rng):
        a = _conv_q(nodes, prev, rng, "c0", 4)
        w = rng.normal(0, 0.01, (4, 4, 3, 3))
        w[np.arange(4), np.arange(4), 1, 1] = 1.0  # centre taps as large as the identity: their sum needs 2x
        nodes += [ir.Conv2d(name="c1", inputs=(a,), weight=w, padding=(1, 1)),
                  ir.Add(name="add", inputs=("c1", a)), ir.QCFS(name="res_q", inputs=("add",), lam=1.0, bits=3)]
        return "res_q"

    net, x = _net(body)
    inet = convert(net, weight_bits=4)
    prog, _ = check_program(inet, x, 2, 2)
    notes = [t.note for t in prog.plan.layers[1].terms]
    assert len(notes) == 2 and any("depthwise" in n for n in notes)


def test_identity_on_vectors_and_qcfs_output():
    """A residual between two vector layers (diagonal linear map) and a QCFS node as the network output
    (the last layer both reads out its membranes and fires)."""
    rng = np.random.default_rng(3)
    nodes = [ir.Input(name="input", inputs=(), shape=(12,), bits=3, scale=1.0),
             ir.Linear(name="l0", inputs=("input",), weight=rng.normal(0, 0.5, (7, 12))),
             ir.QCFS(name="q0", inputs=("l0",), lam=1.0, bits=3),
             ir.Linear(name="l1", inputs=("q0",), weight=rng.normal(0, 0.5, (7, 7))),
             ir.Add(name="add", inputs=("l1", "q0")),
             ir.QCFS(name="q1", inputs=("add",), lam=1.0, bits=3)]
    net = calibrate(ir.network(nodes), random_inputs(rng, (12,), 3, 32))
    x = random_inputs(rng, (12,), 3, 3)
    prog, ref = check_program(convert(net), x, 2, 3)
    assert prog.plan.layers[-1].hidden and prog.plan.layers[-1].last
    assert any("diagonal" in t.note for t in prog.plan.layers[-1].terms)


def test_stride_larger_than_kernel_and_grouped_convs():
    def body(nodes, prev, rng):
        prev = _conv_q(nodes, prev, rng, "c0", 4, k=1, stride=3, padding=0)
        return _conv_q(nodes, prev, rng, "c1", 6, groups=2)

    net, x = _net(body, input_shape=(2, 11, 11))
    check_program(convert(net), x, 3, 2, T=2)


def test_all_zero_image():
    net = random_network(np.random.default_rng(4), input_shape=(2, 6, 6))
    check_program(convert(net), np.zeros((1, 2, 6, 6), np.int64), 2, 4)


# ------------------------------------------------------------------ format, timing, validation


def test_descriptor_packing_round_trips():
    net = random_network(np.random.default_rng(5), groups=True)
    prog = compile_program(plan(convert(net, bitplanes=True), 3, 2))
    f = prog.fields
    for word, layer, terms in zip(prog.descriptors, prog.layer_desc, prog.term_desc):
        off = 0
        for name, w, n in f["layer"]:
            vals = [(word >> (off + j * w)) & ((1 << w) - 1) for j in range(n)]
            assert vals == (list(layer[name]) if n > 1 or name == "wwords" else [layer[name]]), name
            off += w * n
        for i in range(f["max_terms"]):
            for name, w, n in f["term"]:
                vals = [(word >> (off + j * w)) & ((1 << w) - 1) for j in range(n)]
                off += w * n
                want = (list(terms[i][name]) if n > 1 else [terms[i][name]]) if i < len(terms) else [0] * n
                assert vals == want, (i, name)
        assert off == f["width"] and word < (1 << f["width"])
    with pytest.raises(AccelError, match="does not fit"):
        pack_descriptor(f, dict(prog.layer_desc[0], G=1 << 40), prog.term_desc[0])


def test_timing_constants_enter_the_cycle_count_once_per_layer_and_image(bundled):
    inet, x = bundled
    inet = dataclasses.replace(inet, bitplanes=True)
    res = simulate(inet, x)
    p = plan(inet, 4, 4)
    base, _ = network_cycles(p, res)
    more, _ = network_cycles(p, res, Timing(drain=TIMING.drain + 1))
    assert int(more[0] - base[0]) == len(p.layers)
    more, _ = network_cycles(p, res, Timing(image_row=2))
    assert int(more[0] - base[0]) == p.image.view[0] * p.image.view[1]


@pytest.mark.parametrize("kwargs, msg", [
    (dict(rows=0), r"rows must be a positive integer, not 0"),
    (dict(cols="2"), r"cols must be a positive integer, not '2'"),
    (dict(T=9), r"T must be an integer in 1..B=4, not 9"),
    (dict(scan=0), r"scan must be a positive integer, not 0"),
])
def test_plan_validates_its_arguments(bundled, kwargs, msg):
    args = dict(rows=2, cols=2) | kwargs
    with pytest.raises(AccelError, match=msg):
        plan(bundled[0], **args)


# ------------------------------------------------------------------ streamed weights


def _streamed_case():
    rng = np.random.default_rng(1)
    net = random_network(rng, input_shape=(2, 6, 6), channels=(4, 4), classes=3, bits=3)
    inet = convert(net, bitplanes=True)
    x = random_inputs(rng, net.input.shape, net.input.bits, 2)
    p = plan(inet, 2, 2, scan=2)
    rw = int(weight_plan(p).layer_words.max())
    return inet, x, p, p.rows * 2 * _ceil(2 * rw, 2) * p.lanes * p.weight_width


@pytest.mark.parametrize("regions, bits_per_cycle", [(2, 64), (2, 8), (1, 64), (1, 8)])
def test_streamed_weights_run_exactly_and_double_buffering_never_costs(regions, bits_per_cycle):
    inet, x, p, two = _streamed_case()
    cap = two if regions == 2 else two - 1
    wp = weight_plan(p, capacity_bits=cap, offchip_bits_per_cycle=bits_per_cycle)
    assert wp.streamed and wp.regions == regions and wp.bits <= cap
    res = simulate(inet, x)
    prog = compile_program(p, weights=wp)
    ref = run_reference(prog, x)
    assert np.array_equal(ref.logits, res.logits(inet))
    cycles, layers = network_cycles(p, res, wplan=wp)
    assert np.array_equal(cycles, ref.cycles)
    resident, _ = network_cycles(p, res)
    assert np.all(cycles >= resident)
    assert np.array_equal(cycles - resident, sum(lc.stalled for lc in layers))
    if regions == 1:
        double, _ = network_cycles(p, res, wplan=weight_plan(p, capacity_bits=two, offchip_bits_per_cycle=bits_per_cycle))
        assert np.all(double <= cycles)


def test_weights_that_fit_nowhere_are_refused_with_the_size_needed():
    inet, _, p, two = _streamed_case()
    with pytest.raises(AccelError, match=r"weight memory: 100 bits is too small for layer '.*' alone .*weight_sram_kib >= 1"):
        weight_plan(p, capacity_bits=100)

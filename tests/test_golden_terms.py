"""The vocabulary of the integer network (golden.convert): typed pre-ops and kinds,
shapes, fan-out and step alignment, each checked against an independent computation."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given

from golden.convert import FlattenOp, Kind, SumPool, Term
from golden.errors import GoldenError
from golden.simulate import apply_term, simulate, synaptic_steps

from strategies import networks


def _eye(shape):
    M = int(np.prod(shape))
    return np.eye(M, dtype=np.int64).reshape((M,) + tuple(shape))


@given(networks())
def test_shapes_and_fanout_agree_with_applying_the_term(case):
    """Output shape, and per source input the (output, weight) pairs it reaches: an all-ones
    weight applied to a one-hot input counts them."""
    _, inet, _ = case
    for layer in inet.layers:
        for term in layer.terms:
            shape = inet.source_shape(term.source)
            assert term.output_shape(shape) == layer.out_shape
            ones = dataclasses.replace(term, weight=np.ones_like(term.weight))
            want = apply_term(ones, _eye(shape)).reshape(int(np.prod(shape)), -1).sum(1)
            fan = term.fanout(shape)
            assert fan.shape == shape and fan.dtype == np.int64
            assert np.array_equal(fan.reshape(-1), want)
            assert term.synapses(shape) == int(want.sum())


@given(networks())
def test_input_span_covers_exactly_the_pooled_windows(case):
    _, inet, _ = case
    for layer in inet.layers:
        for term in layer.terms:
            shape = inet.source_shape(term.source)
            if not term.pools or len(shape) != 3:
                continue
            no_map = Term(term.source, term.pools, Kind.IDENTITY, np.ones(shape[0], np.int64))
            pooled = no_map.input_shape(shape)
            reach = apply_term(no_map, _eye(shape)).reshape((-1,) + pooled)  # source input -> pooled outputs
            for axis in (0, 1):
                for i in range(pooled[1 + axis]):
                    sl = [slice(None)] * 3
                    sl[1 + axis] = i
                    hit = reach[(slice(None),) + tuple(sl)].reshape(len(reach), -1).any(1).reshape(shape)
                    idx = np.nonzero(hit.any(axis=(0, 2 - axis)))[0]
                    assert term.input_span(i, i, axis) == (idx.min(), idx.max())


@given(networks())
def test_alignment_places_the_steps_that_synaptic_steps_fills(case):
    _, inet, x = case
    for T in range(1, inet.bits + 1):
        res = simulate(inet, x, T=T)
        for layer in inet.layers:
            al = inet.alignment(layer, T)
            a = synaptic_steps(inet, layer, res)
            assert a.shape[0] == al.depth
            for span in al.spans:
                if inet.is_input(span.source):
                    assert span.shifts == 0 and span.multibit == (not inet.bitplanes)
                    assert span.steps == (inet.input.bits if inet.bitplanes else 1)
                else:
                    assert (span.steps, span.shifts) == (T, inet.bits - T)
                assert span.stop + span.shifts <= al.depth
            assert not np.any(a[: al.first]) and not np.any(a[al.last + 1 :])
            assert al.pad == al.depth - 1 - al.last


def test_term_types_its_kind_and_refuses_untyped_pre_ops():
    w = np.ones((2, 3), np.int64)
    assert Term("x", (FlattenOp(),), "linear", w).kind is Kind.LINEAR
    with pytest.raises(ValueError):
        Term("x", (), "dense", w)
    with pytest.raises(GoldenError, match="pre-op"):
        Term("x", (("sumpool", (2, 2), (2, 2)),), Kind.CONV, np.ones((1, 1, 1, 1), np.int64))
    t = Term("x", (SumPool((2, 2), (2, 2)), SumPool((3, 1), (1, 1))), Kind.CONV, np.ones((4, 2, 3, 3), np.int64))
    assert t.pool_area == 12 and t.fan_in == 2 * 9 * 12
    assert t.input_shape((2, 10, 8)) == (2, 3, 4) and t.output_shape((2, 10, 8)) == (4, 1, 2)

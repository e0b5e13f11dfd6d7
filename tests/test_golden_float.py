"""The integer network against the float QCFS reference: the only gap is weight quantization."""

import numpy as np
import pytest

from golden.convert import convert
from golden.datasets import digits_test
from golden.errors import GoldenError
from golden.models import load_model
from golden.reference import forward
from golden.simulate import simulate


@pytest.fixture(scope="module")
def bundled():
    return load_model(None), digits_test()


def agreement(net, x, weight_bits):
    inet = convert(net, weight_bits=weight_bits)
    return float(np.mean(simulate(inet, x).predictions(inet) == forward(net, x).argmax(1)))


def test_8_bit_integer_network_agrees_with_float_reference_on_99_percent(bundled):
    net, test = bundled
    assert agreement(net, test.x, 8) >= 0.99


def test_more_weight_bits_close_the_gap(bundled):
    net, test = bundled
    assert agreement(net, test.x, 16) >= agreement(net, test.x, 4)
    assert agreement(net, test.x, 16) == 1.0


def test_float32_forward_is_the_float64_forward_in_single_precision(bundled):
    net, test = bundled
    f64 = forward(net, test.x, return_all=True)
    f32 = forward(net, test.x, return_all=True, dtype=np.float32)
    for name, v in f64.items():
        assert f32[name].dtype == np.float32 and f32[name].shape == v.shape
        assert np.allclose(f32[name], v, rtol=1e-4, atol=1e-4 * float(np.abs(v).max())), name
    assert np.mean(f32[net.output].argmax(1) == f64[net.output].argmax(1)) >= 0.99
    with pytest.raises(GoldenError, match="float32 or float64"):
        forward(net, test.x, dtype=np.int64)

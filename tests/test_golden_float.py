"""The integer network against the float QCFS reference: the only gap is weight quantization."""

import numpy as np
import pytest

from golden.convert import convert
from golden.datasets import digits_test
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

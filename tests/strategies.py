"""Hypothesis strategies: random QCFS networks and their inputs."""

import numpy as np
from hypothesis import strategies as st

from golden.convert import convert
from golden.errors import GoldenError
from golden.random import random_inputs, random_network


@st.composite
def networks(draw, max_bits: int = 8):
    """(network, integer network, pixel batch) with random topology, widths and B."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    C = draw(st.integers(1, 3))
    H = draw(st.integers(3, 8))
    W = draw(st.integers(3, 8))
    bits = draw(st.integers(1, max_bits))
    input_bits = draw(st.integers(1, 8))
    channels = tuple(draw(st.lists(st.sampled_from([2, 4, 6]), min_size=1, max_size=2)))
    net = random_network(
        rng,
        input_shape=(C, H, W),
        input_bits=input_bits,
        bits=bits,
        channels=channels,
        pool=draw(st.booleans()),
        residual=draw(st.booleans()),
        groups=draw(st.booleans()),
        strides=draw(st.booleans()),
        classes=draw(st.integers(2, 6)),
    )
    wb, bitplanes = draw(st.integers(4, 12)), draw(st.booleans())
    while True:  # the smallest width >= wb that holds the folded weights (convert says when it can't)
        try:
            inet = convert(net, weight_bits=wb, bitplanes=bitplanes)
            break
        except GoldenError:
            wb += 1
            if wb > 20:
                raise
    x = random_inputs(rng, (C, H, W), input_bits, draw(st.integers(1, 6)))
    return net, inet, x

"""Golden model: exact ANN-to-SNN conversion and bit-serial SNN simulation.

Typical use::

    from golden import ir, convert, simulate
    net = ir.load("model.npz")                 # a QCFS network (float)
    inet = convert.convert(net, weight_bits=8) # the integer SNN
    res = simulate.simulate(inet, pixels, mode="literal")
"""

from .errors import GoldenError

__all__ = ["GoldenError"]

"""Processing elements of the bit-serial neuron, as Amaranth components.

Each PE has a software twin in :mod:`golden.neuron`; the test benches compare the
two bit for bit.  All data ports are two's complement (``signed``) unless stated
otherwise, and every width is a constructor parameter: nothing here widens a
value behind the caller's back.  The membrane register is exactly ``acc_width``
bits wide and *wraps* on overflow, like the hardware it describes; the golden
model's width analysis chooses ``acc_width`` so that it never has to.

Dynamics (see :mod:`golden.neuron` for the definition)::

    accumulate, t = 1 .. T_in:   u <- (u << 1) + a(t)          (Horner, MSB first)
    finish, once:                u <- (u << pad) + init         (pad = B_in - T_in)
    fire, t = 1 .. T:            thr = S << (B - t)
                                 s(t) = u >= thr                 (">=", not ">")
                                 u <- u - s(t) * thr             (reset by subtraction)

Combinational PEs (:class:`Shifter`, :class:`Comparator`, :class:`Reset`) have
``latency == 0``; the registered :class:`Accumulator` has ``latency == 1``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PEOp", "LeanPE", "Shifter", "Comparator", "Reset", "Accumulator", "NeuronPE", "check_width",
           "check_shifts"]


def check_width(name: str, value, minimum: int = 1) -> int:
    """The one validator of integer generation parameters (every component of ``rtl`` uses it):
    ``TypeError`` for a non-integer, ``ValueError`` below ``minimum``; both name the parameter and value."""
    what = "a positive integer" if minimum == 1 else "a non-negative integer"
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be {what}, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {what}, not {value!r}")
    return value


def check_shifts(shifts) -> tuple[int, ...]:
    """The weight shifts of a PE: a non-empty collection of integers in 0..62, sorted without repeats."""
    try:
        vals = tuple(sorted(set(shifts)))
    except TypeError:
        raise TypeError(f"shifts must be a collection of integers, not {shifts!r}") from None
    if not vals or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 62 for v in vals):
        raise ValueError(f"shifts must be integers in 0..62, not {shifts!r}")
    return vals


def _uwidth(max_value: int) -> int:
    """Width of an unsigned port that must hold ``0 .. max_value``."""
    return max(1, max_value.bit_length())


class Shifter(wiring.Component):
    """Shifter PE: ``u_out = u << n``, truncated to ``width`` bits (twin: :func:`golden.neuron.shift`).

    Used once per neuron evaluation to append the ``B_in - T_in`` missing input
    steps (``n = pad``).  Combinational: ``latency == 0``.

    Parameters
    ----------
    width : int
        Width of ``u`` and ``u_out`` (the accumulator width).
    max_shift : int
        Largest shift amount ``n`` the port must hold (>= 0).

    Ports
    -----
    u : In(signed(width))
        Value to shift.
    n : In(unsigned(max(1, max_shift.bit_length())))
        Shift amount; values above ``max_shift`` are outside the contract.
    u_out : Out(signed(width))
        ``u << n`` modulo ``2**width`` (two's complement), same cycle.
    """

    def __init__(self, *, width: int, max_shift: int):
        self._width = check_width("width", width)
        self._max_shift = check_width("max_shift", max_shift, minimum=0)
        super().__init__({
            "u": In(signed(width)),
            "n": In(unsigned(_uwidth(max_shift))),
            "u_out": Out(signed(width)),
        })

    @property
    def width(self) -> int:
        return self._width

    @property
    def max_shift(self) -> int:
        return self._max_shift

    @property
    def latency(self) -> int:
        """Cycles from ``u``/``n`` to ``u_out``: 0 (combinational)."""
        return 0

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.u_out.eq(self.u << self.n)
        return m


class Comparator(wiring.Component):
    """Comparator PE: ``spike = u >= thr`` with ``thr = S << (bits - t)``.

    Twins: :func:`golden.neuron.threshold` and :func:`golden.neuron.compare`.
    The comparison is exact (no truncation of ``thr``).  Combinational:
    ``latency == 0``.

    Parameters
    ----------
    acc_width : int
        Width of the membrane ``u``.
    s_width : int
        Width of the unsigned output LSB ``S``.
    bits : int
        Output bits ``B``: fire steps are ``t = 1 .. bits``.

    Ports
    -----
    u : In(signed(acc_width))
        Membrane potential.
    S : In(unsigned(s_width))
        Output LSB in accumulator units.
    t : In(unsigned(bits.bit_length()))
        Fire step, 1-based (``1 .. bits``); other values are outside the contract.
    thr : Out(unsigned(s_width + bits - 1))
        ``S << (bits - t)``, same cycle.
    spike : Out(1)
        ``u >= thr``, same cycle.
    """

    def __init__(self, *, acc_width: int, s_width: int, bits: int):
        self._acc_width = check_width("acc_width", acc_width)
        self._s_width = check_width("s_width", s_width)
        self._bits = check_width("bits", bits)
        super().__init__({
            "u": In(signed(acc_width)),
            "S": In(unsigned(s_width)),
            "t": In(unsigned(_uwidth(bits))),
            "thr": Out(unsigned(s_width + bits - 1)),
            "spike": Out(1),
        })

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def latency(self) -> int:
        """Cycles from ``u``/``S``/``t`` to ``thr``/``spike``: 0 (combinational)."""
        return 0

    def _fires(self, u, thr):
        """The firing rule; a subclass may only change it to inject a fault in tests."""
        return u >= thr

    def elaborate(self, platform):
        m = Module()
        shamt = Signal(unsigned(_uwidth(self._bits - 1)))
        m.d.comb += [
            shamt.eq(self._bits - self.t),
            self.thr.eq(self.S << shamt),
            self.spike.eq(self._fires(self.u, self.thr)),
        ]
        return m


class Reset(wiring.Component):
    """Reset PE: reset by subtraction, ``u_out = u - spike * thr`` (twin: :func:`golden.neuron.reset`).

    Combinational: ``latency == 0``.  ``u_out`` is truncated to ``acc_width``;
    it never wraps when ``spike`` comes from the :class:`Comparator` because then
    ``0 <= u - thr < u``.

    Parameters
    ----------
    acc_width : int
        Width of ``u`` and ``u_out``.
    thr_width : int
        Width of the unsigned threshold ``thr``.

    Ports
    -----
    u : In(signed(acc_width))
    spike : In(1)
    thr : In(unsigned(thr_width))
    u_out : Out(signed(acc_width))
        ``u - thr`` if ``spike`` else ``u``, same cycle.
    """

    def __init__(self, *, acc_width: int, thr_width: int):
        self._acc_width = check_width("acc_width", acc_width)
        self._thr_width = check_width("thr_width", thr_width)
        super().__init__({
            "u": In(signed(acc_width)),
            "spike": In(1),
            "thr": In(unsigned(thr_width)),
            "u_out": Out(signed(acc_width)),
        })

    @property
    def latency(self) -> int:
        """Cycles from inputs to ``u_out``: 0 (combinational)."""
        return 0

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.u_out.eq(Mux(self.spike, self.u - self.thr, self.u))
        return m


class Accumulator(wiring.Component):
    """Accumulator PE: the membrane register ``u`` and its input-phase operations.

    One operation per cycle, chosen by the strobes in priority order
    ``clear > step > finish > load`` (none: hold).  The result is visible on
    ``u`` one cycle later (``latency == 1``); throughput one operation per cycle.

    =========  ======================================  ===========================
    strobe     next ``u``                              twin (:mod:`golden.neuron`)
    =========  ======================================  ===========================
    clear      ``0``
    step       ``(u << 1) + a``                        ``accumulate_step(u, a)``
    finish     ``(u << pad) + init``                   ``shift(u, pad) + init``
    load       ``d``  (write-back of the reset PE)
    =========  ======================================  ===========================

    Every result is truncated to ``acc_width`` bits (two's complement wrap).

    Parameters
    ----------
    acc_width : int
        Width of the membrane register ``u`` and of ``init`` and ``d``.
    in_width : int
        Width of the signed synaptic sum ``a``.
    max_pad : int
        Largest ``pad`` (``B_in - T_in``) the port must hold (>= 0).

    Ports
    -----
    clear, step, finish, load : In(1)
        Operation strobes, sampled at the rising clock edge.
    a : In(signed(in_width))
        Synaptic sum of the current input step; sampled with ``step``.
    pad : In(unsigned(max(1, max_pad.bit_length())))
        Missing input steps; sampled with ``finish``.
    init : In(signed(acc_width))
        Bias plus half output LSB; sampled with ``finish``.
    d : In(signed(acc_width))
        Value to load; sampled with ``load``.
    u : Out(signed(acc_width))
        The membrane register.
    """

    def __init__(self, *, acc_width: int, in_width: int, max_pad: int = 0):
        self._acc_width = check_width("acc_width", acc_width)
        self._in_width = check_width("in_width", in_width)
        self._max_pad = check_width("max_pad", max_pad, minimum=0)
        super().__init__({
            "clear": In(1),
            "step": In(1),
            "a": In(signed(in_width)),
            "finish": In(1),
            "pad": In(unsigned(_uwidth(max_pad))),
            "init": In(signed(acc_width)),
            "load": In(1),
            "d": In(signed(acc_width)),
            "u": Out(signed(acc_width)),
        })

    @property
    def acc_width(self) -> int:
        return self._acc_width

    @property
    def latency(self) -> int:
        """Cycles from a strobe to its result on ``u``: 1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        m.submodules.shifter = shifter = Shifter(width=self._acc_width, max_shift=self._max_pad)
        m.d.comb += [shifter.u.eq(self.u), shifter.n.eq(self.pad)]
        with m.If(self.clear):
            m.d.sync += self.u.eq(0)
        with m.Elif(self.step):
            m.d.sync += self.u.eq((self.u << 1) + self.a)
        with m.Elif(self.finish):
            m.d.sync += self.u.eq(shifter.u_out + self._finish_addend())
        with m.Elif(self.load):
            m.d.sync += self.u.eq(self.d)
        return m

    def _finish_addend(self):
        """What ``finish`` adds after the shift; a subclass may only change it to inject a fault."""
        return self.init


class PEOp(enum.Enum, shape=unsigned(3)):
    """Operation of a :class:`LeanPE` in one cycle (broadcast to a whole PE array)."""

    NOP = 0  #: hold ``u``
    LOAD = 1  #: ``u <- w``                  first op of a tile (the membrane starts from zero)
    SHIFT_ADD = 2  #: ``u <- (u << 1) + w``   first op of a Horner position
    ADD = 3  #: ``u <- u + w``                further ops of a position
    FINISH = 4  #: ``u <- (u << pad) + p``    ``p = init`` (bias + half LSB)
    FIRE = 5  #: ``d = u + p`` with ``p = -thr``; spike iff ``u >= 0`` and ``d >= 0``; ``u <- d`` on a spike


class LeanPE(wiring.Component):
    """The neuron datapath: one membrane register and one adder (twin: :mod:`golden.neuron`).

    Every op is one addition ``A + B`` into ``u`` (see :class:`PEOp`): ``A`` is
    ``0``, ``u``, ``u << 1`` or ``u << pad``; ``B`` is the weight ``w << shift``
    (sign-extended; ``shift``: the term's constant weight shift, one of ``shifts``) or
    the parameter ``p``.  The weight shifter is built for the shifts the program uses:
    nothing for ``(0,)``, a multiplexer over the few shifted copies when that has fewer
    inputs than a barrel shifter has stages (``len(shifts) - 1 <= bit_length(max)``),
    else a barrel shifter.  ``FIRE`` is the comparator and the reset at once:
    with ``p = -(S << (B - t))`` the sum is ``u - thr``, and
    ``spike = u >= thr  <=>  u >= 0 and u - thr >= 0`` (exact without a wider
    adder: for ``u >= 0`` and ``0 <= thr <= 2**(acc_width-1) - 1`` the difference
    cannot wrap; for ``u < 0`` there is no spike whatever the sum).  ``spike`` is
    combinational (valid in the FIRE cycle, before the update); ``u`` changes one
    cycle after the op (``latency == 1``).  Every result wraps to ``acc_width``
    bits, like the hardware; the width analysis of :mod:`golden.convert` makes
    sure no value needs more.

    Parameters
    ----------
    weight_width : int
        Width of the signed weight ``w``.
    acc_width : int
        Width of the membrane ``u`` and of the signed parameter ``p``.
    max_pad : int
        Largest ``pad`` of FINISH (0: no shifter is built).
    shifts : tuple of int
        The weight shifts the PE must apply (``(0,)``: no weight shifter is built).
    fault : str, optional
        Fault injection for the test benches only: ``"gt"`` fires on ``u > thr``.

    Ports
    -----
    op : In(PEOp)
    w : In(signed(weight_width))
    shift : In(unsigned(max(1, max(shifts).bit_length())))
    p : In(signed(acc_width))
    pad : In(unsigned(max(1, max_pad.bit_length())))
    u : Out(signed(acc_width))
    spike : Out(1)
    """

    FAULTS = ("gt",)

    def __init__(self, *, weight_width: int, acc_width: int, max_pad: int = 0, shifts=(0,),
                 fault: str | None = None):
        self._w = check_width("weight_width", weight_width)
        self._acc = check_width("acc_width", acc_width)
        self._max_pad = check_width("max_pad", max_pad, minimum=0)
        self._shifts = check_shifts(shifts)
        if weight_width > acc_width:
            raise ValueError(f"weight_width must not exceed acc_width ({acc_width}), not {weight_width!r}")
        if fault is not None and fault not in self.FAULTS:
            raise ValueError(f"fault must be one of {self.FAULTS} or None, not {fault!r}")
        self._fault = fault
        super().__init__({
            "op": In(PEOp),
            "w": In(signed(weight_width)),
            "shift": In(unsigned(_uwidth(max(self._shifts)))),
            "p": In(signed(acc_width)),
            "pad": In(unsigned(_uwidth(max_pad))),
            "u": Out(signed(acc_width)),
            "spike": Out(1),
        })

    @property
    def acc_width(self) -> int:
        return self._acc

    @property
    def shifts(self) -> tuple[int, ...]:
        return self._shifts

    def _shifted(self, m):
        """``w << shift`` for the shifts of the program (see the class docstring)."""
        sh = self._shifts
        if sh == (0,):
            return self.w
        top = max(sh)
        if len(sh) - 1 > top.bit_length():
            return self.w << self.shift
        ws = Signal(signed(self._w + top), name="w_shifted")
        with m.Switch(self.shift):
            for s in sh[1:]:
                with m.Case(s):
                    m.d.comb += ws.eq(self.w << s)
            with m.Default():
                m.d.comb += ws.eq(self.w << sh[0])
        return ws

    @property
    def latency(self) -> int:
        """Cycles from an op to its result on ``u``: 1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        A = self._acc
        a = Signal(signed(A))
        b = Signal(signed(A))
        total = Signal(signed(A))
        op = self.op
        with m.Switch(op):
            with m.Case(PEOp.LOAD):
                m.d.comb += a.eq(0)
            with m.Case(PEOp.SHIFT_ADD):
                m.d.comb += a.eq(self.u << 1)
            with m.Case(PEOp.FINISH):
                m.d.comb += a.eq(self.u << self.pad if self._max_pad else self.u)
            with m.Default():
                m.d.comb += a.eq(self.u)
        is_param = (op == PEOp.FINISH) | (op == PEOp.FIRE)
        w = self._shifted(m)
        m.d.comb += [
            b.eq(Mux(is_param, self.p, w)),
            total.eq(a + b),
        ]
        fires = ~self.u[-1] & ~total[-1]
        if self._fault == "gt":
            fires = fires & (total != 0)
        m.d.comb += self.spike.eq((op == PEOp.FIRE) & fires)
        with m.If(op == PEOp.FIRE):
            with m.If(fires):
                m.d.sync += self.u.eq(total)
        with m.Elif(op != PEOp.NOP):
            m.d.sync += self.u.eq(total)
        return m


class NeuronPE(wiring.Component):
    """One bit-serial neuron: accumulate ``T_in`` input steps, add ``init``, fire ``T`` spikes MSB first.

    The datapath is :class:`LeanPE` (the one the accelerator's array uses), driven
    by a small sequencer: ``start`` loads zero, each input step is a SHIFT_ADD of
    ``a``, then FINISH with ``init`` and FIRE with ``-(S << (bits - t))``.
    Twin: :func:`golden.neuron.neuron`.

    Protocol (all strobes sampled at the rising edge of ``clk``):

    1. **start.**  While ``idle`` is high, a cycle with ``start`` high clears the
       membrane and latches ``S``, ``init``, ``n_fire`` (``T``) and ``pad``
       (``B_in - T_in``); these ports may change afterwards.
    2. **accumulate.**  While ``a_ready`` is high, each cycle with ``a_valid``
       high consumes one input step ``a`` (``u <- (u << 1) + a``), MSB first.
       ``a_last`` high marks the final step (``T_in >= 1`` steps in all).
       Gaps (``a_valid`` low) are allowed.
    3. **finish.**  The cycle after the last step: ``u <- (u << pad) + init``.
    4. **fire.**  The next ``n_fire`` cycles have ``spike_valid`` high, one per
       step ``t = 1 .. n_fire`` (shown on ``t``): ``spike = u >= S << (bits - t)``
       and the membrane is reduced by the threshold where it spiked.  There is no
       back-pressure: spikes must be taken when valid.  ``done`` is high together
       with the last spike.  ``idle`` is high again the cycle after.

    Timing: :attr:`latency` (= 2) cycles from the cycle the last input step is
    accepted to the first valid spike; one evaluation with back-to-back inputs
    occupies :meth:`evaluation_cycles` ``= 2 + T_in + T`` cycles from ``start``
    to the next possible ``start``.

    Parameters
    ----------
    acc_width : int
        Width of the membrane register (exact; it wraps on overflow).
    in_width : int
        Width of the signed synaptic sum ``a``.
    s_width : int
        Width of the unsigned output LSB ``S``.
    bits : int
        Output bits ``B``; ``n_fire`` may be ``1 .. bits``.
    in_bits : int, optional
        Input bits ``B_in`` (default ``bits``); ``pad`` may be ``0 .. in_bits - 1``.

    Ports
    -----
    start : In(1)
        Begin an evaluation (accepted only while ``idle``).
    S : In(unsigned(s_width))
        Output LSB, latched on ``start``.
    init : In(signed(acc_width))
        Bias plus half output LSB, latched on ``start``.
    n_fire : In(unsigned(bits.bit_length()))
        Number of fire steps ``T`` (``1 .. bits``), latched on ``start``.
    pad : In(unsigned(max(1, (in_bits - 1).bit_length())))
        ``B_in - T_in`` (``0 .. in_bits - 1``), latched on ``start``.
    a : In(signed(in_width))
        Synaptic sum of one input step.
    a_valid : In(1)
    a_last : In(1)
        Qualifies ``a`` as the last input step.
    idle : Out(1)
        Ready to ``start``.
    a_ready : Out(1)
        In the accumulate phase: ``a`` is consumed when ``a_valid`` is high.
    spike : Out(1)
        Output spike of step ``t``, valid while ``spike_valid``.
    spike_valid : Out(1)
    t : Out(unsigned(bits.bit_length()))
        Current fire step (1-based) while ``spike_valid``.
    done : Out(1)
        High with the last spike of the evaluation.
    u : Out(signed(acc_width))
        Membrane register; equals the twin's ``u_acc`` in the first fire cycle.
    """

    #: fault injection of the datapath (test benches only; see :class:`LeanPE`)
    lean_fault = None

    def __init__(self, *, acc_width: int, in_width: int, s_width: int, bits: int,
                 in_bits: int | None = None):
        self._acc_width = check_width("acc_width", acc_width)
        self._in_width = check_width("in_width", in_width)
        self._s_width = check_width("s_width", s_width)
        self._bits = check_width("bits", bits)
        self._in_bits = bits if in_bits is None else check_width("in_bits", in_bits)
        if in_width > acc_width:
            raise ValueError(f"in_width must not exceed acc_width ({acc_width}), not {in_width!r}")
        if ((1 << s_width) - 1) << (bits - 1) > (1 << (acc_width - 1)) - 1:
            raise ValueError(f"acc_width must hold the largest threshold ((2**s_width - 1) << (bits - 1), "
                             f"{((1 << s_width) - 1) << (bits - 1)}), not {acc_width!r}")
        t_width = _uwidth(bits)
        super().__init__({
            "start": In(1),
            "S": In(unsigned(s_width)),
            "init": In(signed(acc_width)),
            "n_fire": In(unsigned(t_width)),
            "pad": In(unsigned(_uwidth(self._in_bits - 1))),
            "a": In(signed(in_width)),
            "a_valid": In(1),
            "a_last": In(1),
            "idle": Out(1),
            "a_ready": Out(1),
            "spike": Out(1),
            "spike_valid": Out(1),
            "t": Out(unsigned(t_width)),
            "done": Out(1),
            "u": Out(signed(acc_width)),
        })

    @property
    def acc_width(self) -> int:
        return self._acc_width

    @property
    def in_width(self) -> int:
        return self._in_width

    @property
    def s_width(self) -> int:
        return self._s_width

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def in_bits(self) -> int:
        return self._in_bits

    @property
    def latency(self) -> int:
        """Cycles from accepting the last input step to the first valid spike: 2."""
        return 2

    def evaluation_cycles(self, t_in: int, t_fire: int) -> int:
        """Cycles from ``start`` to the next possible ``start``, inputs back to back."""
        if not 1 <= t_fire <= self._bits:
            raise ValueError(f"t_fire must be in 1..{self._bits}, not {t_fire!r}")
        if not 1 <= t_in <= self._in_bits:
            raise ValueError(f"t_in must be in 1..{self._in_bits}, not {t_in!r}")
        return 1 + t_in + (self.latency - 1) + t_fire

    def _finish_param(self, init):
        """What FINISH adds after the shift; a subclass may only change it to inject a fault."""
        return init

    def elaborate(self, platform):
        m = Module()
        A = self._acc_width
        m.submodules.pe = pe = LeanPE(weight_width=self._in_width, acc_width=A, max_pad=self._in_bits - 1,
                                      fault=self.lean_fault)
        S = Signal.like(self.S, name="S_q")
        init = Signal.like(self.init, name="init_q")
        n_fire = Signal.like(self.n_fire, name="n_fire_q")
        pad = Signal.like(self.pad, name="pad_q")
        t = Signal.like(self.t, name="t_q")
        thr = Signal(unsigned(self._s_width + self._bits - 1), name="thr")
        shamt = Signal(unsigned(_uwidth(self._bits - 1)), name="shamt")
        m.d.comb += [
            shamt.eq(self._bits - t),
            thr.eq(S << shamt),
            self.u.eq(pe.u),
            self.t.eq(t),
            self.spike.eq(pe.spike),
            pe.pad.eq(pad),
            pe.w.eq(self.a),
        ]

        with m.FSM(name="phase"):
            with m.State("IDLE"):
                m.d.comb += self.idle.eq(1)
                with m.If(self.start):
                    m.d.comb += [pe.op.eq(PEOp.LOAD), pe.w.eq(0)]
                    m.d.sync += [S.eq(self.S), init.eq(self.init),
                                 n_fire.eq(self.n_fire), pad.eq(self.pad)]
                    m.next = "ACCUMULATE"
            with m.State("ACCUMULATE"):
                m.d.comb += self.a_ready.eq(1)
                with m.If(self.a_valid):
                    m.d.comb += pe.op.eq(PEOp.SHIFT_ADD)
                    with m.If(self.a_last):
                        m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += [pe.op.eq(PEOp.FINISH), pe.p.eq(self._finish_param(init))]
                m.d.sync += t.eq(1)
                m.next = "FIRE"
            with m.State("FIRE"):
                m.d.comb += [self.spike_valid.eq(1), pe.op.eq(PEOp.FIRE), pe.p.eq(-thr)]
                m.d.sync += t.eq(t + 1)
                with m.If(t >= n_fire):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m

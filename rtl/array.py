"""The event-driven ``rows x cols`` PE array (``docs/architecture.md``), built from :mod:`rtl.pe`.

:class:`EventPE` is a thin wrapper around the colleague's :class:`rtl.pe.Accumulator`,
:class:`rtl.pe.Comparator` and :class:`rtl.pe.Reset`: the array adds one *weight*
per event instead of one synaptic sum ``a(t)`` per step, so the PE needs a plain
add (``u + w``) besides the Horner step (``(u << 1) + w``); :class:`rtl.pe.NeuronPE`'s
step-sum protocol does not offer it.  :class:`PEArray` holds ``P = rows*cols``
EventPEs, the weight memory (``amaranth.lib.memory``, one row = ``P`` lanes) and
the :class:`rtl.controller.ArrayController`; its edges are ``amaranth.lib.stream``
interfaces.  Lane ``p = r*cols + c`` is PE ``(r, c)``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .controller import ArrayController, Op
from .pe import Accumulator, Comparator, Reset

__all__ = ["EventPE", "PEArray"]


def _pos(name: str, v, lo: int = 1) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{name} must be a positive integer, not {v!r}")
    if v < lo:
        raise ValueError(f"{name} must be a {'positive' if lo == 1 else 'non-negative'} integer, not {v!r}")
    return v


class EventPE(wiring.Component):
    """One output neuron of a tile: its membrane, driven by a broadcast :class:`~rtl.controller.Op`.

    ============  ===================================  ============================
    op            next ``u``                           PE part used (rtl.pe)
    ============  ===================================  ============================
    CLEAR         ``0``; latch ``S``, ``init``           Accumulator.clear
    SHIFT_ADD     ``(u << 1) + w``                     Accumulator.step
    ADD           ``u + w``                            Accumulator.load
    SHIFT         ``u << 1``                           Accumulator.step (a = 0)
    FINISH        ``(u << pad) + init``                Accumulator.finish (Shifter)
    FIRE          ``u - spike * (S << (bits - t))``    Comparator, Reset, Accumulator.load
    ============  ===================================  ============================

    ``spike`` is combinational (valid in the FIRE cycle, before the update); results
    appear on ``u`` one cycle after the op (``latency == 1``).
    """

    def __init__(self, *, weight_width: int, acc_width: int, s_width: int, bits: int, max_pad: int = 0):
        self._w = _pos("weight_width", weight_width)
        self._acc = _pos("acc_width", acc_width)
        self._s = _pos("s_width", s_width)
        self._bits = _pos("bits", bits)
        self._max_pad = _pos("max_pad", max_pad, 0)
        if weight_width > acc_width:
            raise ValueError(f"weight_width must not exceed acc_width ({acc_width}), not {weight_width!r}")
        super().__init__({
            "op": In(3),
            "w": In(signed(weight_width)),
            "S": In(unsigned(s_width)),
            "init": In(signed(acc_width)),
            "pad": In(unsigned(max(1, max_pad.bit_length()))),
            "t": In(unsigned(max(1, bits.bit_length()))),
            "spike": Out(1),
            "u": Out(signed(acc_width)),
        })

    @property
    def latency(self) -> int:
        """Cycles from an op to its result on ``u``: the Accumulator's, 1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        m.submodules.acc = acc = Accumulator(acc_width=self._acc, in_width=self._w, max_pad=self._max_pad)
        m.submodules.cmp = cmp = Comparator(acc_width=self._acc, s_width=self._s, bits=self._bits)
        m.submodules.rst = rst = Reset(acc_width=self._acc, thr_width=len(cmp.thr))
        S = Signal.like(self.S, name="S_q")
        init = Signal.like(self.init, name="init_q")
        op = self.op
        m.d.comb += [
            self.u.eq(acc.u),
            acc.a.eq(Mux(op == Op.SHIFT, 0, self.w)),
            acc.pad.eq(self.pad),
            acc.init.eq(init),
            cmp.u.eq(acc.u), cmp.S.eq(S), cmp.t.eq(self.t),
            rst.u.eq(acc.u), rst.spike.eq(cmp.spike), rst.thr.eq(cmp.thr),
            acc.d.eq(Mux(op == Op.FIRE, rst.u_out, acc.u + self.w)),
            self.spike.eq(cmp.spike),
            acc.clear.eq(op == Op.CLEAR),
            acc.step.eq((op == Op.SHIFT_ADD) | (op == Op.SHIFT)),
            acc.finish.eq(op == Op.FINISH),
            acc.load.eq((op == Op.ADD) | (op == Op.FIRE)),
        ]
        with m.If(op == Op.CLEAR):
            m.d.sync += [S.eq(self.S), init.eq(self.init)]
        return m


class PEArray(wiring.Component):
    """``rows x cols`` event-driven PEs, weight memory and controller, with stream edges.

    Streams (``amaranth.lib.stream``, payloads are ``data.StructLayout`` s, lanes packed
    little-endian: lane ``p`` at bits ``p*width .. (p+1)*width - 1``):

    ``wr`` (In, ``ready`` always high): ``{addr, data: P x weight_width}``: write one weight row
        (the host preloads a tile's rows between tiles; not part of a tile's cycles).
    ``tile`` (In): ``{S: P x s_width, init: P x acc_width, pad, n_fire, readout}``:
        start a tile; accepted only while idle; the accepting cycle is START.
    ``events`` (In): ``{addr, shift, add, last}``: one input event per cycle
        (``shift``: first event of a step; ``add=0``: null event of an empty step).
    ``out`` (Out): ``{spikes: P, u: P x acc_width, t, last}``: FIRE beats (spikes of step
        ``t``; ``u`` is the membrane *before* this step's reset, so the first beat shows the
        membrane after accumulation) or the READOUT beat (``u``: the output layer's logits).

    Cycles of one tile: :meth:`tile_cycles` (``ArrayController.timing``).
    """

    def __init__(self, *, rows: int, cols: int, weight_width: int, acc_width: int, s_width: int,
                 bits: int, max_pad: int = 0, depth: int = 64):
        self.rows = _pos("rows", rows)
        self.cols = _pos("cols", cols)
        self.depth = _pos("depth", depth)
        self.weight_width = _pos("weight_width", weight_width)
        self.acc_width = _pos("acc_width", acc_width)
        self.s_width = _pos("s_width", s_width)
        self.bits = _pos("bits", bits)
        self.max_pad = _pos("max_pad", max_pad, 0)
        if weight_width > acc_width:
            raise ValueError(f"weight_width must not exceed acc_width ({acc_width}), not {weight_width!r}")
        P = rows * cols
        aw = max(1, (depth - 1).bit_length())
        tw = max(1, bits.bit_length())
        self.layouts = {
            "wr": data.StructLayout({"addr": unsigned(aw), "data": unsigned(P * weight_width)}),
            "tile": data.StructLayout({"S": unsigned(P * s_width), "init": unsigned(P * acc_width),
                                       "pad": unsigned(max(1, max_pad.bit_length())), "n_fire": unsigned(tw),
                                       "readout": unsigned(1)}),
            "events": data.StructLayout({"addr": unsigned(aw), "shift": unsigned(1), "add": unsigned(1),
                                         "last": unsigned(1)}),
            "out": data.StructLayout({"spikes": unsigned(P), "u": unsigned(P * acc_width), "t": unsigned(tw),
                                      "last": unsigned(1)}),
        }
        self._ctrl = ArrayController(bits=bits, max_pad=max_pad, addr_width=aw)
        super().__init__({
            "wr": In(stream.Signature(self.layouts["wr"])),
            "tile": In(stream.Signature(self.layouts["tile"])),
            "events": In(stream.Signature(self.layouts["events"])),
            "out": Out(stream.Signature(self.layouts["out"])),
            "busy": Out(1),
        })

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def timing(self) -> dict[str, int]:
        """Fixed cycles of a tile: ``{"start", "drain", "finish", "readout"}``."""
        return self._ctrl.timing

    def tile_cycles(self, acc_cycles: int, n_fire: int, readout: bool = False) -> int:
        return self._ctrl.tile_cycles(acc_cycles, n_fire, readout)

    def field_offsets(self) -> dict[str, dict[str, tuple[int, int]]]:
        """``{stream: {field: (offset, width)}}`` of every payload (for test benches)."""
        return {s: {name: (f.offset, f.width) for name, f in lay} for s, lay in self.layouts.items()}

    def elaborate(self, platform):
        m = Module()
        P, W, A, Sw = self.pes, self.weight_width, self.acc_width, self.s_width
        m.submodules.ctrl = ctrl = self._ctrl
        m.submodules.weights = mem = memory.Memory(shape=unsigned(P * W), depth=self.depth, init=[])
        wp = mem.write_port()
        rp = mem.read_port()
        m.d.comb += [
            wp.addr.eq(self.wr.payload.addr), wp.data.eq(self.wr.payload.data), wp.en.eq(self.wr.valid),
            self.wr.ready.eq(1),
            rp.addr.eq(ctrl.rd_addr),
            ctrl.tile_valid.eq(self.tile.valid), self.tile.ready.eq(ctrl.tile_ready),
            ctrl.n_fire.eq(self.tile.payload.n_fire), ctrl.pad.eq(self.tile.payload.pad),
            ctrl.readout.eq(self.tile.payload.readout),
            ctrl.ev_valid.eq(self.events.valid), self.events.ready.eq(ctrl.ev_ready),
            ctrl.ev_addr.eq(self.events.payload.addr), ctrl.ev_shift.eq(self.events.payload.shift),
            ctrl.ev_add.eq(self.events.payload.add), ctrl.ev_last.eq(self.events.payload.last),
            self.out.valid.eq(ctrl.out_valid), ctrl.out_ready.eq(self.out.ready),
            self.out.payload.t.eq(ctrl.t), self.out.payload.last.eq(ctrl.out_last),
            self.busy.eq(ctrl.busy),
        ]
        spikes, us = [], []
        for p in range(P):
            pe = EventPE(weight_width=W, acc_width=A, s_width=Sw, bits=self.bits, max_pad=self.max_pad)
            m.submodules[f"pe_{p // self.cols}_{p % self.cols}"] = pe
            m.d.comb += [
                pe.op.eq(ctrl.op),
                pe.w.eq(rp.data[p * W:(p + 1) * W].as_signed()),
                pe.S.eq(self.tile.payload.S[p * Sw:(p + 1) * Sw]),
                pe.init.eq(self.tile.payload.init[p * A:(p + 1) * A].as_signed()),
                pe.pad.eq(ctrl.pad_q),
                pe.t.eq(ctrl.t),
            ]
            spikes.append(pe.spike)
            us.append(pe.u)
        from amaranth.hdl import Cat

        m.d.comb += [self.out.payload.spikes.eq(Cat(*spikes)), self.out.payload.u.eq(Cat(*us))]
        return m

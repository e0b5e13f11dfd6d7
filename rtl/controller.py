"""Sequencer of the event-driven PE array (``docs/architecture.md``): one tile at a time.

:class:`ArrayController` accepts a tile descriptor, then input events, and
broadcasts one PE operation per cycle (:class:`Op`).  Every accepted event
executes one cycle later, when its weight row arrives from the synchronous
weight memory (read latency 1): this is the DRAIN cycle after the last event.

Cycles of one tile, with the event source always valid and the sink always
ready (:attr:`ArrayController.timing`)::

    START 1  |  ACC: one per event (null events included)  |  DRAIN 1  |  FINISH 1  |  FIRE T  (or READOUT 1)

A cycle in ACC without a valid event, or in FIRE/READOUT without a ready sink,
is a stall: nothing happens and the tile takes one cycle longer.
"""

from __future__ import annotations

import enum

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Op", "ArrayController"]


class Op(enum.IntEnum):
    """Operation broadcast to every :class:`rtl.array.EventPE` in one cycle."""

    NOP = 0
    CLEAR = 1  # u <- 0; latch S and init of the lane
    SHIFT_ADD = 2  # u <- (u << 1) + w     first event of a step
    ADD = 3  # u <- u + w                further events of the step
    SHIFT = 4  # u <- u << 1             null event: a step without input spikes
    FINISH = 5  # u <- (u << pad) + init
    FIRE = 6  # s = u >= S << (B - t); u <- u - s * thr


class ArrayController(wiring.Component):
    """FSM of one tile: START, ACC, DRAIN, FINISH, FIRE x n_fire or READOUT.

    Parameters
    ----------
    bits : int
        Output bits ``B``: ``n_fire`` may be ``1 .. bits``.
    max_pad : int
        Largest ``pad`` (folded trailing Horner positions).
    addr_width : int
        Width of a weight memory row address.

    Ports
    -----
    tile_valid : In(1), tile_ready : Out(1)
        Tile handshake (ready only when idle); the accepting cycle is START.
    n_fire, pad, readout : In
        Descriptor fields, sampled at START (``readout``: output layer, no fire).
    ev_valid : In(1), ev_ready : Out(1)
        Event handshake, ready during ACC.
    ev_addr, ev_shift, ev_add, ev_last : In
        Event: weight row, shift before adding, add the weight, last event of the tile.
    rd_addr : Out(addr_width)
        Weight memory read address (the memory answers on the next cycle).
    op : Out(3)
        :class:`Op` for the PEs this cycle; ``t`` the fire step, ``pad_q`` the latched pad.
    out_valid : Out(1), out_ready : In(1), out_last : Out(1)
        Output beat: FIRE (spikes of step ``t``) or READOUT (membranes).
    busy : Out(1)
        Not idle.
    """

    def __init__(self, *, bits: int, max_pad: int, addr_width: int):
        for name, v, lo in (("bits", bits, 1), ("max_pad", max_pad, 0), ("addr_width", addr_width, 1)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name} must be an integer, not {v!r}")
            if v < lo:
                raise ValueError(f"{name} must be >= {lo}, not {v!r}")
        self._bits = bits
        t_w = max(1, bits.bit_length())
        pad_w = max(1, max_pad.bit_length())
        super().__init__({
            "tile_valid": In(1), "tile_ready": Out(1),
            "n_fire": In(unsigned(t_w)), "pad": In(unsigned(pad_w)), "readout": In(1),
            "ev_valid": In(1), "ev_ready": Out(1),
            "ev_addr": In(unsigned(addr_width)), "ev_shift": In(1), "ev_add": In(1), "ev_last": In(1),
            "rd_addr": Out(unsigned(addr_width)),
            "op": Out(3), "t": Out(unsigned(t_w)), "pad_q": Out(unsigned(pad_w)),
            "out_valid": Out(1), "out_ready": In(1), "out_last": Out(1),
            "busy": Out(1),
        })

    @property
    def timing(self) -> dict[str, int]:
        """Fixed cycles of one tile (``accel.model.ArrayTiming`` must equal these)."""
        return {"start": 1, "drain": self.read_latency, "finish": 1, "readout": 1}

    @property
    def read_latency(self) -> int:
        """Cycles from an event's acceptance to its add: the weight memory's read latency, 1."""
        return 1

    def tile_cycles(self, acc_cycles: int, n_fire: int, readout: bool = False) -> int:
        """Cycles of one tile whose events take ``acc_cycles`` (= sum over steps of max(E_t, 1))."""
        tm = self.timing
        return tm["start"] + acc_cycles + tm["drain"] + tm["finish"] + (tm["readout"] if readout else n_fire)

    def elaborate(self, platform):
        m = Module()
        pending = Signal(3)  # op of the event accepted last cycle (executes now, its weight is on the bus)
        n_fire = Signal.like(self.n_fire)
        readout = Signal()
        t = Signal.like(self.t)
        m.d.comb += [self.t.eq(t), self.rd_addr.eq(self.ev_addr)]
        m.d.sync += pending.eq(Op.NOP)

        with m.FSM(name="tile"):
            with m.State("IDLE"):
                m.d.comb += self.tile_ready.eq(1)
                with m.If(self.tile_valid):
                    m.d.comb += self.op.eq(Op.CLEAR)
                    m.d.sync += [n_fire.eq(self.n_fire), self.pad_q.eq(self.pad), readout.eq(self.readout)]
                    m.next = "ACC"
            with m.State("ACC"):
                m.d.comb += [self.busy.eq(1), self.ev_ready.eq(1), self.op.eq(pending)]
                with m.If(self.ev_valid):
                    with m.If(self.ev_shift & self.ev_add):
                        m.d.sync += pending.eq(Op.SHIFT_ADD)
                    with m.Elif(self.ev_add):
                        m.d.sync += pending.eq(Op.ADD)
                    with m.Elif(self.ev_shift):
                        m.d.sync += pending.eq(Op.SHIFT)
                    with m.If(self.ev_last):
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.comb += [self.busy.eq(1), self.op.eq(pending)]
                m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += [self.busy.eq(1), self.op.eq(Op.FINISH)]
                m.d.sync += t.eq(1)
                with m.If(readout):
                    m.next = "READOUT"
                with m.Else():
                    m.next = "FIRE"
            with m.State("FIRE"):
                m.d.comb += [self.busy.eq(1), self.out_valid.eq(1), self.out_last.eq(t >= n_fire)]
                with m.If(self.out_ready):
                    m.d.comb += self.op.eq(Op.FIRE)
                    m.d.sync += t.eq(t + 1)
                    with m.If(t >= n_fire):
                        m.next = "IDLE"
            with m.State("READOUT"):
                m.d.comb += [self.busy.eq(1), self.out_valid.eq(1), self.out_last.eq(1)]
                with m.If(self.out_ready):
                    m.next = "IDLE"
        return m

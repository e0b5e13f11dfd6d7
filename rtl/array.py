"""The PE array of the accelerator: ``rows x cols`` :class:`~rtl.pe.LeanPE` s and their lane selection.

Stage S2 of the top's pipeline (:mod:`rtl.top`).  Every cycle one op is
broadcast to all PEs; each PE takes its own weight and parameter:

* **weights**: bank ``r`` (PE row ``r``) delivers the two words ``a`` and ``a+1``
  (from its even and odd halves: ``par`` says which half holds ``a``); the
  window of ``lanes`` elements starting at element ``off`` of word ``a`` is the
  row's weight window, and column ``c`` takes element ``kx[c]`` of it, or zero
  where ``lv[c]`` (the lane is connected) or ``rv[r]`` (the row holds a channel)
  is low;
* **parameters** (``init`` for FINISH, ``-thr`` for FIRE): bank ``r`` delivers a
  word of ``cols`` lanes; in a vector layer (``flat``) PE ``(r, c)`` takes lane
  ``c``, in a spatial layer every PE of the row takes lane ``gr`` (the row's
  channel).

All of it is combinational; the PEs' membranes are the only state
(``latency == 1``, see :class:`~rtl.pe.LeanPE`).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pe import LeanPE, PEOp, check_shifts, check_width

__all__ = ["PEArray"]


def _log2(v: int) -> int:
    return (v - 1).bit_length()


class PEArray(wiring.Component):
    """``rows x cols`` LeanPEs with weight-window and parameter lane selection.

    Parameters
    ----------
    rows, cols : int
    lanes : int
        Elements per weight word (``V``, a power of two >= ``cols``).
    weight_width, acc_width, max_pad, shifts
        As :class:`~rtl.pe.LeanPE`.
    fault : str, optional
        ``"gt"``: every PE fires on ``u > thr`` (test benches only).

    Ports
    -----
    op : In(PEOp)
    even, odd : In(ArrayLayout(unsigned(lanes * weight_width), rows))
        Per bank the words of its even and odd halves (element ``i`` at bits ``i*w``).
    par : In(rows)
        Per bank: word ``a`` is in the odd half (then ``a+1`` is in the even half).
    off : In(ArrayLayout(unsigned(log2 lanes), rows))
        Per bank: first element of the window within word ``a``.
    kx : In(ArrayLayout(unsigned(log2 lanes), cols)), lv : In(cols), rv : In(rows)
        Per column the window element, per column and per row the connection.
    shift : In(unsigned(...))
        The event's term's weight shift (every PE shifts its lane weight left by it).
    params : In(ArrayLayout(unsigned(cols * acc_width), rows)), flat : In(1), gr : In(range(cols))
    pad : In(unsigned(...))
    show : In(1)
        Drive ``u`` (else it is zero: idle outputs do not toggle).
    u : Out(ArrayLayout(signed(acc_width), rows * cols))
        Membranes while ``show``, PE ``(r, c)`` at ``r * cols + c``.
    spikes : Out(ArrayLayout(unsigned(cols), rows))
        Spikes of a FIRE op, per row (column ``c`` at bit ``c``); zero otherwise.
    """

    def __init__(self, *, rows: int, cols: int, lanes: int, weight_width: int, acc_width: int, max_pad: int = 0,
                 shifts=(0,), fault: str | None = None):
        self.rows = check_width("rows", rows)
        self.cols = check_width("cols", cols)
        self.lanes = check_width("lanes", lanes)
        if lanes & (lanes - 1) or lanes < cols:
            raise ValueError(f"lanes must be a power of two >= cols ({cols}), not {lanes!r}")
        self.weight_width = check_width("weight_width", weight_width)
        self.acc_width = check_width("acc_width", acc_width)
        self.max_pad = check_width("max_pad", max_pad, minimum=0)
        self.shifts = check_shifts(shifts)
        self.fault = fault
        lV = max(1, _log2(lanes))
        super().__init__({
            "op": In(PEOp),
            "even": In(data.ArrayLayout(unsigned(lanes * weight_width), rows)),
            "odd": In(data.ArrayLayout(unsigned(lanes * weight_width), rows)),
            "par": In(rows),
            "off": In(data.ArrayLayout(unsigned(lV), rows)),
            "kx": In(data.ArrayLayout(unsigned(lV), cols)),
            "lv": In(cols),
            "rv": In(rows),
            "params": In(data.ArrayLayout(unsigned(cols * acc_width), rows)),
            "flat": In(1),
            "gr": In(range(max(cols, 2))),
            "pad": In(unsigned(max(1, max_pad.bit_length()))),
            "shift": In(unsigned(max(1, max(self.shifts).bit_length()))),
            "show": In(1),
            "u": Out(data.ArrayLayout(signed(acc_width), rows * cols)),
            "spikes": Out(data.ArrayLayout(unsigned(cols), rows)),
        })

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def latency(self) -> int:
        """Cycles from an op to its result on ``u``: the LeanPE's, 1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        R, C, V, Wt, A = self.rows, self.cols, self.lanes, self.weight_width, self.acc_width
        for r in range(R):
            lo = Mux(self.par[r], self.odd[r], self.even[r])
            hi = Mux(self.par[r], self.even[r], self.odd[r])
            window = Signal(V * Wt, name=f"win{r}")
            m.d.comb += window.eq(Cat(lo, hi) >> (self.off[r] * Wt))
            elems = Array([window[i * Wt:(i + 1) * Wt].as_signed() for i in range(V)])
            plane = [self.params[r][c * A:(c + 1) * A].as_signed() for c in range(C)]
            shared = Signal(signed(A), name=f"prow{r}")  # a spatial layer's row: one channel's value
            m.d.comb += shared.eq(Array(plane)[self.gr])
            spikes = []
            for c in range(C):
                pe = LeanPE(weight_width=Wt, acc_width=A, max_pad=self.max_pad, shifts=self.shifts,
                            fault="gt" if self.fault == "gt" else None)
                m.submodules[f"pe_{r}_{c}"] = pe
                m.d.comb += [
                    pe.op.eq(self.op),
                    pe.w.eq(Mux(self.lv[c] & self.rv[r], elems[self.kx[c]], 0)),
                    pe.p.eq(Mux(self.flat, plane[c], shared)),
                    pe.pad.eq(self.pad),
                    pe.shift.eq(self.shift),
                    self.u[r * C + c].eq(Mux(self.show, pe.u, 0)),
                ]
                spikes.append(pe.spike)
            m.d.comb += self.spikes[r].eq(Cat(*spikes))
        return m

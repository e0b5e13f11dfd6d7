"""cocotb bench of the generated PEArray Verilog: golden spikes and membranes, and the model's cycles.

Run by ``tests/test_array_cosim.py`` (never directly).  Environment: ``ARRAY_JOBS``
(``jobs.npz`` from :mod:`rtl.cosim.jobs`) and ``ARRAY_FIELDS`` (JSON of the
stream payload field offsets, from ``PEArray.field_offsets()``).  Widths are read
from the DUT's ports.

Per tile: the weight rows are written through ``wr`` (not counted), then the
descriptor, then the events back to back; the tile's cycles run from the cycle
the descriptor is accepted to the cycle of the last output beat, inclusive.
Driver and monitor act on the falling edge, where every value is stable.

With ``ARRAY_GAPS=p`` (and ``ARRAY_SEED``), the event source is idle and the output
sink not ready, each in a fraction ``p`` of the cycles; every such cycle where the
array waited (ACC without an event, FIRE/READOUT without a ready sink) is a stall,
and the tile's cycles minus its stalls must still equal the model's.
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from .jobs import Jobs, pack, unpack


class ArrayTB:
    """Owns clock, reset, the stream drivers and the output monitor of one PEArray; checks every tile."""

    def __init__(self, dut, jobs: Jobs, fields: dict, *, gaps: float = 0.0, seed: int = 0):
        self.dut = dut
        self.gaps = gaps  # probability of an idle source / a stalled sink in a cycle
        self.rng = random.Random(seed)
        self.stalls = 0
        self.jobs = jobs
        self.f = fields
        self.P = fields["out"]["spikes"][1]
        assert len(dut.out__payload) == sum(w for _, w in fields["out"].values()), "out payload width differs"
        self.acc_width = fields["out"]["u"][1] // self.P
        self.w_width = fields["wr"]["data"][1] // self.P
        self.s_width = fields["tile"]["S"][1] // self.P
        assert len(dut.wr__payload) == sum(w for _, w in fields["wr"].values()), "wr payload width differs from fields"
        self.mismatches: list[str] = []
        self.cycles_rtl = 0
        self.cycles_model = 0
        self.checked = 0
        self.preload_cycles = 0

    def _word(self, stream: str, **vals) -> int:
        out = 0
        for k, v in vals.items():
            off, width = self.f[stream][k]
            out |= (int(v) & ((1 << width) - 1)) << off
        return out

    async def reset(self) -> None:
        Clock(self.dut.clk, 10, unit="ns").start()
        d = self.dut
        for sig in (d.wr__valid, d.tile__valid, d.events__valid, d.wr__payload, d.tile__payload, d.events__payload):
            sig.value = 0
        d.out__ready.value = 1
        d.rst.value = 1
        await ClockCycles(d.clk, 2, rising=False)
        await FallingEdge(d.clk)
        d.rst.value = 0

    async def run_tile(self, i: int) -> None:
        d, j = self.dut, self.jobs
        pad, n_fire, readout, _, _, want_cycles = (int(v) for v in j.meta[i])
        for a, row in enumerate(j.tile_rows(i)):
            d.wr__payload.value = self._word("wr", addr=a, data=pack(row, self.w_width))
            d.wr__valid.value = 1
            await FallingEdge(d.clk)
            self.preload_cycles += 1
        d.wr__valid.value = 0
        events = [self._word("events", addr=e[0], shift=e[1], add=e[2], last=e[3]) for e in j.tile_events(i)]
        d.tile__payload.value = self._word("tile", S=pack(j.S[i], self.s_width), init=pack(j.init[i], self.acc_width),
                                           pad=pad, n_fire=n_fire, readout=readout)
        d.tile__valid.value = 1
        while not int(d.tile__ready.value):
            await FallingEdge(d.clk)
        await FallingEdge(d.clk)  # START: accepted at this edge
        d.tile__valid.value = 0
        cycles, k, beats, stalls = 1, 0, [], 0
        while True:
            gap = self.gaps and self.rng.random() < self.gaps
            valid = k < len(events) and not gap
            if valid:
                d.events__payload.value = events[k]
            d.events__valid.value = int(valid)
            sink = not (self.gaps and self.rng.random() < self.gaps)
            d.out__ready.value = int(sink)
            ev_ready, out_valid = int(d.events__ready.value), int(d.out__valid.value)
            took = valid and ev_ready
            stalls += (ev_ready and not valid) or (out_valid and not sink)
            if out_valid and sink:
                beats.append(int(d.out__payload.value))
            await FallingEdge(d.clk)
            cycles += 1
            k += took
            if beats and (beats[-1] >> self.f["out"]["last"][0]) & 1:
                break
        d.events__valid.value = 0
        d.out__ready.value = 1
        self.stalls += stalls
        self.check(i, beats, cycles - stalls, want_cycles, k, len(events))

    def check(self, i: int, beats: list[int], cycles: int, want_cycles: int, taken: int, n_events: int) -> None:
        j, P = self.jobs, self.P
        self.checked += 1
        self.cycles_rtl += cycles
        self.cycles_model += want_cycles
        where = j.where(i)
        mapped = j.mapped[i].astype(bool)
        so, _ = self.f["out"]["spikes"]
        uo, uw = self.f["out"]["u"]
        u = np.array(unpack((beats[0] >> uo) & ((1 << uw) - 1), self.acc_width, P)) * mapped
        if taken != n_events:
            self.error(f"{where}: consumed {taken} of {n_events} events")
        if not np.array_equal(u, j.membrane[i]):
            p = int(np.nonzero(u != j.membrane[i])[0][0])
            self.error(f"{where} PE {p}: membrane after accumulation expected {int(j.membrane[i][p])}, actual {int(u[p])}")
        n_fire, readout = int(j.meta[i, 1]), bool(j.meta[i, 2])
        if not readout:
            s = np.array([[(b >> (so + p)) & 1 for p in range(P)] for b in beats], np.uint8) * mapped
            want = j.spikes[i, :n_fire]
            if s.shape != want.shape or not np.array_equal(s, want):
                bad = np.argwhere(s != want)[0] if s.shape == want.shape else None
                self.error(f"{where}: spikes differ" + ("" if bad is None else
                           f" first at time step t={bad[0] + 1} PE {bad[1]}: expected {want[tuple(bad)]}, "
                           f"actual {s[tuple(bad)]}"))
        if cycles != want_cycles:
            self.error(f"{where}: CYCLES rtl {cycles} != model {want_cycles}")

    def error(self, msg: str) -> None:
        self.mismatches.append(msg)
        self.dut._log.error("MISMATCH %s", msg)

    def finish(self) -> None:
        shown = "\n".join(self.mismatches[:10])
        assert not self.mismatches, f"{len(self.mismatches)} mismatches in {self.checked} tiles:\n{shown}"
        assert self.checked == len(self.jobs), f"checked {self.checked} of {len(self.jobs)} tiles"


@cocotb.test()
async def array_matches_golden_and_model(dut) -> None:
    """Every tile job: spikes and membranes equal golden, cycles equal the cycle model's."""
    jobs = Jobs.load(os.environ["ARRAY_JOBS"])
    fields = json.loads(open(os.environ["ARRAY_FIELDS"]).read())
    gaps = float(os.environ.get("ARRAY_GAPS", "0"))
    tb = ArrayTB(dut, jobs, fields, gaps=gaps, seed=int(os.environ.get("ARRAY_SEED", "0")))
    await tb.reset()
    t0 = time.perf_counter()
    for i in range(len(jobs)):
        await tb.run_tile(i)
    secs = time.perf_counter() - t0
    dut._log.info("ARRAY_RESULT tiles=%d rtl_cycles=%d model_cycles=%d preload_cycles=%d stall_cycles=%d "
                  "seconds=%.3f", tb.checked, tb.cycles_rtl, tb.cycles_model, tb.preload_cycles, tb.stalls, secs)
    tb.finish()

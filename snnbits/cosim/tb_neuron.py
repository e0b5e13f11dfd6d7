"""cocotb bench of the generated NeuronPE Verilog, checked against :func:`golden.neuron.neuron`.

Run by ``tests/test_rtl_cocotb.py`` (never directly).  Inputs come from the
environment: ``NEURON_CASES`` (path of a ``cases.npz`` written by
:mod:`snnbits.cosim.stimulus`).  Widths are read from the DUT's ports.

Timing discipline: the DUT changes only on rising edges, so the driver and the
monitor both act on the *falling* edge, where every value is stable.  This is
the same on Icarus and Verilator.
"""

from __future__ import annotations

import os
import random
from collections import deque

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from golden import neuron as twin

from .stimulus import Cases, load_cases


class NeuronTB:
    """Owns the clock, reset, driver and monitor of one NeuronPE; a checker compares with golden."""

    def __init__(self, dut, cases: Cases, meta: dict, *, gap_seed: int | None = None):
        self.dut = dut
        self.cases = cases
        self.bits = meta["bits"]
        self.in_bits = meta["in_bits"]
        self.seed = meta["seed"]
        self.gap_rng = None if gap_seed is None else random.Random(gap_seed)
        self.acc_width = len(dut.u)
        self.in_width = len(dut.a)
        self.s_width = len(dut.S)
        self.observed: deque = deque()  # (spikes, u_acc) per evaluation, from the monitor
        self.mismatches: list[str] = []
        self.checked = 0
        self.cycles = 0
        self._check_fits()

    def _check_fits(self) -> None:
        """The stimulus must fit the DUT's ports (sizes read from the DUT, not re-typed)."""
        c = self.cases
        lo, hi = -(1 << (self.in_width - 1)), (1 << (self.in_width - 1)) - 1
        assert c.a.min(initial=0) >= lo and c.a.max(initial=0) <= hi, f"a exceeds in_width {self.in_width}"
        alo, ahi = -(1 << (self.acc_width - 1)), (1 << (self.acc_width - 1)) - 1
        assert c.init.min() >= alo and c.init.max() <= ahi, f"init exceeds acc_width {self.acc_width}"
        assert c.S.min() >= 0 and c.S.max() < (1 << self.s_width), f"S exceeds s_width {self.s_width}"
        assert c.n_fire.min() >= 1 and c.n_fire.max() <= self.bits
        assert c.pad.min() >= 0 and c.pad.max() < (1 << len(self.dut.pad))

    async def reset(self) -> None:
        Clock(self.dut.clk, 10, unit="ns").start()
        d = self.dut
        for sig in (d.start, d.a_valid, d.a_last, d.a, d.S, d.init, d.n_fire, d.pad):
            sig.value = 0
        d.rst.value = 1
        await ClockCycles(d.clk, 2, rising=False)
        await FallingEdge(d.clk)
        d.rst.value = 0

    async def drive(self) -> None:
        """Driver: start, then the input steps (random gaps if ``gap_seed``), for every case."""
        d, c = self.dut, self.cases
        for i in range(len(c)):
            await self._wait_idle(i)
            d.start.value = 1
            d.S.value = int(c.S[i])
            d.init.value = int(c.init[i])
            d.n_fire.value = int(c.n_fire[i])
            d.pad.value = int(c.pad[i])
            await FallingEdge(d.clk)
            d.start.value = 0
            steps = c.steps(i)
            k, waited = 0, 0
            while k < len(steps):
                waited += 1
                if waited > 100 + 10 * len(steps):  # a watchdog, not a protocol limit
                    raise AssertionError(f"case {i}: a_ready stayed low, {k} of {len(steps)} input steps taken")
                if self.gap_rng is not None and self.gap_rng.random() < 0.25:
                    d.a_valid.value = 0
                else:
                    d.a.value = steps[k]
                    d.a_valid.value = 1
                    d.a_last.value = int(k == len(steps) - 1)
                    if int(d.a_ready.value):
                        k += 1
                await FallingEdge(d.clk)
            d.a_valid.value = 0
            d.a_last.value = 0
        await self._wait_idle(len(c))

    async def _wait_idle(self, i: int) -> None:
        """Wait for ``idle``; a fire phase lasts at most ``bits`` cycles after the finish cycle."""
        for _ in range(self.bits + 4):
            if int(self.dut.idle.value):
                return
            await FallingEdge(self.dut.clk)
        raise AssertionError(f"before case {i}: the PE did not return to idle within {self.bits + 4} cycles")

    async def monitor(self) -> None:
        """Monitor: collect the spikes of each evaluation and the membrane after accumulation."""
        d = self.dut
        spikes: list[int] = []
        u_acc = None
        while True:
            await FallingEdge(d.clk)
            self.cycles += 1
            if not int(d.spike_valid.value):
                continue
            if not spikes:
                u_acc = d.u.value.to_signed()
            t = int(d.t.value)
            assert t == len(spikes) + 1, f"fire step counter shows t={t}, expected {len(spikes) + 1}"
            spikes.append(int(d.spike.value))
            if int(d.done.value):
                self.observed.append((spikes, u_acc))
                self.check()
                spikes, u_acc = [], None

    def check(self) -> None:
        """Checker: compare the oldest observed evaluation with the golden neuron."""
        spikes, u_acc = self.observed.popleft()
        i, c = self.checked, self.cases
        self.checked += 1
        steps = c.steps(i)
        want_s, want_u = twin.neuron(np.array(steps, np.int64).reshape(-1, 1), int(c.init[i]), int(c.S[i]),
                                     self.bits, int(c.n_fire[i]), B_in=len(steps) + int(c.pad[i]))
        want = [int(s) for s in want_s[:, 0]]
        if spikes == want and u_acc == int(want_u[0]):
            return
        where = f"layer {c.layer[i]} neuron {int(c.neuron[i])} (case {i}, seed {self.seed})"
        inputs = f"a={steps} init={int(c.init[i])} S={int(c.S[i])} T={int(c.n_fire[i])} pad={int(c.pad[i])}"
        wrong = [k for k in range(len(want)) if k >= len(spikes) or spikes[k] != want[k]]
        if wrong:
            t = wrong[0] + 1
            got = spikes[t - 1] if t <= len(spikes) else None
            first = f"time step t={t}: spike expected {want[t - 1]}, actual {got}"
        else:
            first = "time step accumulate: spikes equal"
        msg = (f"MISMATCH {where} {first}; membrane after accumulation expected {int(want_u[0])}, "
               f"actual {u_acc}; spikes expected {want}, actual {spikes}; {inputs}")
        self.mismatches.append(msg)
        self.dut._log.error(msg)

    def finish(self) -> None:
        """End of scenario: nothing left over, every case checked, no mismatch."""
        assert not self.observed, f"{len(self.observed)} evaluations observed but not checked"
        shown = "\n".join(self.mismatches[:10])
        assert not self.mismatches, f"{len(self.mismatches)} of {self.checked} evaluations mismatch:\n{shown}"
        assert self.checked == len(self.cases), f"checked {self.checked} of {len(self.cases)} evaluations"


def _load() -> tuple[Cases, dict]:
    return load_cases(os.environ["NEURON_CASES"])


@cocotb.test()
@cocotb.parametrize(gaps=[False, True])
async def neuron_matches_golden(dut, gaps: bool) -> None:
    """Every case of the case file; with ``gaps``, idle cycles between input steps."""
    cases, meta = _load()
    if gaps:  # the gap pattern must not matter: a quarter of the cases suffice
        cases = Cases(*(getattr(cases, k)[::4] for k in Cases.__dataclass_fields__))
    tb = NeuronTB(dut, cases, meta, gap_seed=meta["seed"] + 1 if gaps else None)
    await tb.reset()
    monitor = cocotb.start_soon(tb.monitor())
    await tb.drive()
    await ClockCycles(dut.clk, 2)
    monitor.cancel()
    dut._log.info("checked %d evaluations in %d cycles (seed %d)", tb.checked, tb.cycles, tb.seed)
    tb.finish()

"""cocotb bench of the generated accelerator top: images in, logits and spike writes observed.

Run by :func:`snnbits.cosim.runner.run_accel` (never directly).  Environment:
``ACCEL_CASE`` (``case.json``: the image rows, the weight stream and its
period when the weights are streamed, the payload field offsets, the watchdog
budget per image, back-pressure), ``ACCEL_OBSERVATION`` (where the
observation goes).  The bench only observes; the checker on the pytest side
compares the observation with the golden model and the cycle model.

Per cycle, at the falling edge the source and the sink drive their signals;
once the values settle (``ReadOnly``) the monitors sample: every stream edge
through a :class:`StreamChecker` (image, weights, logits: an offered beat stays,
unchanged, until taken), the spike write monitor and ``done``.  An image's cycles run from the cycle its first row
is taken to the cycle ``done`` is high, minus the cycles the machine waited on
a refused logits beat or on an image row that was not offered.  The watchdog ends an image that is not done within its
budget and records why.

:class:`ActivityMonitor` counts, over every image's cycles, what the machine's
internal enables do (the ops the PE array executes by kind and layer, the ACC
ops that carry a spike, the cycles the pipeline advances, the weight and
parameter bank words read, the scan units read and from which tensor, the spike
writes, image rows, logits and weight beats), read from named signals of the
generated Verilog (``go``, ``read``, ``pe_op``, ``layer``, ``op1``, ``op2``,
``meta.src``, and the bank read enables ``weight_ren`` and ``param_ren``, one bit
per memory read port): the checker compares them with the cycle model's counters
(:func:`snnbits.cosim.expect.check_activity`).
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from .expect import Observation, StreamChecker, save_observation


class ActivityMonitor:
    """Per-cycle counters of the machine's activity (see the module docstring); ``data()`` is JSON-able."""

    ACC, FINISH, READOUT, FIRE = 1, 2, 3, 4  # rtl.top.OpKind

    def __init__(self, dut, case: dict):
        self.d = dut
        self.op1, self.op2 = case["op1"], case["op2"]
        self.meta_src = dut["\\meta.src "]  # a Verilog escaped identifier (a field of the meta register)
        self.pending = None  # (layer) of a unit read last cycle: its tensor is in meta.src now
        self.go = 0
        self.weight_reads = self.param_reads = 0  # read enables high, summed over the bank read ports
        self.ops: dict = {}  # "layer:kind:acc" -> ops executed
        self.pe_ops: dict = {}  # layer -> cycles the PEs add (pe_op != NOP)
        self.events: dict = {}  # layer -> ACC ops with a set bit
        self.unit_reads: dict = {}  # "layer:tensor" -> units read
        self.writes: dict = {}  # layer -> [bank words written, bits enabled, ones written]
        self.rows = self.logits = self.weight_beats = 0

    @staticmethod
    def _f(word: int, table: dict, name: str) -> int:
        off, width = table[name]
        return (word >> off) & ((1 << width) - 1)

    def _inc(self, table: dict, key, n: int = 1) -> None:
        table[key] = table.get(key, 0) + n

    def sample(self) -> None:
        """One cycle of an image, after the signals settled."""
        d = self.d
        go = int(d.go.value)
        if self.pending is not None:
            self._inc(self.unit_reads, f"{self.pending}:{int(self.meta_src.value)}")
            self.pending = None
        self.weight_reads += bin(int(d.weight_ren.value)).count("1")
        self.param_reads += bin(int(d.param_ren.value)).count("1")
        if not go:
            return
        self.go += 1
        op1, op2 = int(d.op1.value), int(d.op2.value)
        kind2 = self._f(op2, self.op2, "kind")
        layer2 = self._f(op2, self.op2, "layer")
        if kind2:
            acc = self._f(op2, self.op2, "acc") if kind2 == self.ACC else 0
            self._inc(self.ops, f"{layer2}:{kind2}:{acc}")
        if int(d.pe_op.value):
            self._inc(self.pe_ops, layer2)
        if self._f(op1, self.op1, "kind") == self.ACC and self._f(op1, self.op1, "ev"):
            self._inc(self.events, self._f(op1, self.op1, "layer"))
        if int(d.read.value):
            self.pending = int(d.layer.value)

    def write(self, layer: int, en: int, data: list, mask: list) -> None:
        w = self.writes.setdefault(layer, [0, 0, 0])
        w[0] += bin(en).count("1")
        banks = [b for b in range(len(mask)) if (en >> b) & 1]
        w[1] += sum(bin(mask[b]).count("1") for b in banks)
        w[2] += sum(bin(data[b] & mask[b]).count("1") for b in banks)

    def data(self) -> dict:
        return {"go": self.go, "ops": self.ops, "pe_ops": {str(k): v for k, v in self.pe_ops.items()},
                "events": {str(k): v for k, v in self.events.items()}, "unit_reads": self.unit_reads,
                "writes": {str(k): v for k, v in self.writes.items()}, "rows": self.rows, "logits": self.logits,
                "weight_beats": self.weight_beats, "weight_reads": self.weight_reads,
                "param_reads": self.param_reads}


class AccelTB:
    """Clock, reset, the image source, the logits sink, the monitors; one instance per run."""

    def __init__(self, dut, case: dict):
        self.dut = dut
        self.case = case
        self.rng = random.Random(case["seed"])
        self.gaps = float(case["gaps"])
        self.lo = case["logits"]
        self.tr = case["trace"]
        self.A = case["acc_width"]
        self.K = case["scan"]
        assert len(dut.logits__payload) == sum(w for _, w in self.lo.values()), "logits payload width differs"
        assert len(dut.trace__payload) == sum(w for _, w in self.tr.values()), "trace payload width differs"
        self.obs = Observation()
        self.activity = ActivityMonitor(dut, case)
        self.logits_check = StreamChecker("logits")
        self.image_check = StreamChecker("image")
        self.weights_check = StreamChecker("weights")

    async def reset(self) -> None:
        Clock(self.dut.clk, 10, unit="ns").start()
        d = self.dut
        d.image__valid.value = 0
        d.image__payload.value = 0
        if self.case["weights"]:
            d.weights__valid.value = 0
        d.logits__ready.value = 1
        d.rst.value = 1
        await ClockCycles(d.clk, 2, rising=False)
        await FallingEdge(d.clk)
        d.rst.value = 0

    def _field(self, word: int, table: dict, name: str) -> int:
        off, width = table[name]
        return (word >> off) & ((1 << width) - 1)

    def _lanes(self, word: int, width: int, n: int, signed: bool) -> list[int]:
        mask = (1 << width) - 1
        out = [(word >> (i * width)) & mask for i in range(n)]
        return [v - (1 << width) if signed and v >> (width - 1) else v for v in out]

    async def run_image(self, rows: list[int], budget: int) -> bool:
        """One image; False if the watchdog fired."""
        d = self.dut
        beats, writes = [], []
        start, k, cycles, stalls = None, 0, 0, 0
        wbeats, period = self.case["weights"], int(self.case["period"])
        wb, wait = 0, 0
        offered = False
        aw, dw = self.case["addr_width"], self.case["word"]
        while True:
            if cycles >= budget:
                self.obs.watchdog = (f"image {len(self.obs.cycles)}: no 'done' within {budget} cycles "
                                     f"({k} of {len(rows)} rows taken, {len(beats)} logits beats)")
                self.obs.logits.append(beats)
                self.obs.writes.append(writes)
                return False
            await FallingEdge(d.clk)
            idle = self.gaps and self.rng.random() < self.gaps and not offered  # an offered row stays until taken
            valid = k < len(rows) and not idle
            d.image__valid.value = int(valid)
            if valid:
                d.image__payload.value = rows[k]
            ready = not (self.gaps and self.rng.random() < self.gaps)
            d.logits__ready.value = int(ready)
            wvalid = wb < len(wbeats) and wait == 0
            if wbeats:
                d.weights__valid.value = int(wvalid)
                if wvalid:
                    d.weights__payload.value = int(wbeats[wb], 16)
            await ReadOnly()
            if wbeats:
                if self.weights_check.sample(wvalid, bool(int(d.weights__ready.value)),
                                             int(wbeats[wb], 16) if wvalid else 0):
                    wb, wait = wb + 1, period - 1
                    self.activity.weight_beats += 1
                elif wait:
                    wait -= 1
            img_ready = int(d.image__ready.value)
            took = self.image_check.sample(bool(valid), bool(img_ready), rows[k] if valid else 0)
            offered = valid and not took
            stalls += bool(start is not None and k < len(rows) and img_ready and not valid)
            lv = int(d.logits__valid.value)
            lword = int(d.logits__payload.value) if lv else 0
            if self.logits_check.sample(bool(lv), ready, lword):
                beats.append((self._field(lword, self.lo, "tile"), self._field(lword, self.lo, "last"),
                              self._lanes(self._field(lword, self.lo, "u"), self.A, self.case["lanes"], True)))
            stalls += bool(lv and not ready)
            self.activity.logits += bool(lv and ready)
            if int(d.trace__valid.value):
                w = int(d.trace__payload.value)
                f = lambda n: self._field(w, self.tr, n)  # noqa: E731
                writes.append((f("layer"), f("tile"), f("t"), f("tensor"), f("en"),
                               self._lanes(f("addr"), aw, self.K, False), self._lanes(f("data"), dw, self.K, False),
                               self._lanes(f("mask"), dw, self.K, False)))
                self.activity.write(f("layer"), f("en"), writes[-1][6], writes[-1][7])
            done = int(d.done.value)
            if took and start is None:
                start = cycles
            if start is not None:
                self.activity.sample()
                self.activity.rows += bool(took)
            k += bool(took)
            cycles += 1
            if done and start is not None:
                break
        self.obs.cycles.append(cycles - start - stalls)
        self.obs.stalls += stalls
        self.obs.logits.append(beats)
        self.obs.writes.append(writes)
        return True


@cocotb.test()
async def accel_runs_images(dut) -> None:
    """Every image of the case: observe logits, spike writes and cycles; write the observation."""
    with open(os.environ["ACCEL_CASE"]) as f:
        case = json.load(f)
    tb = AccelTB(dut, case)
    await tb.reset()
    for rows, budget in zip(case["rows"], case["max_cycles"]):
        if not await tb.run_image([int(r, 16) for r in rows], int(budget)):
            break
    await FallingEdge(dut.clk)
    dut.image__valid.value = 0
    tb.obs.protocol += tb.logits_check.violations + tb.image_check.violations + tb.weights_check.violations
    tb.obs.activity = tb.activity.data()
    save_observation(tb.obs, os.environ["ACCEL_OBSERVATION"])
    assert tb.obs.watchdog is None, tb.obs.watchdog

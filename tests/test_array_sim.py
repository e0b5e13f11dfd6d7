"""Fast tier: the PE array under amaranth.sim, its constructors, and its timing against the cycle model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from accel.config import ArrayConfig
from accel.model import ArrayTiming, evaluate, profile
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate
from rtl.array import EventPE, PEArray
from rtl.controller import ArrayController, Op
from rtl.host import layer_jobs

from rtl.cosim.jobs import pack, unpack
from rtl.cosim.runner import make_jobs

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def test_controller_timing_is_the_models():
    ctrl = ArrayController(bits=4, max_pad=3, addr_width=6)
    assert ctrl.timing == dataclasses.asdict(ArrayTiming())
    arr = PEArray(rows=2, cols=3, weight_width=8, acc_width=20, s_width=8, bits=4)
    assert arr.timing == dataclasses.asdict(ArrayTiming())
    assert arr.tile_cycles(10, 4) == 1 + 10 + 1 + 1 + 4
    assert arr.tile_cycles(10, 4, readout=True) == 1 + 10 + 1 + 1 + 1
    assert EventPE(weight_width=8, acc_width=20, s_width=8, bits=4).latency == 1


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(rows=0), ValueError, r"^rows must be a positive integer, not 0$"),
    (dict(cols="4"), TypeError, r"^cols must be a positive integer, not '4'$"),
    (dict(max_pad=-1), ValueError, r"^max_pad must be a non-negative integer, not -1$"),
    (dict(weight_width=21), ValueError, r"^weight_width must not exceed acc_width \(20\), not 21$"),
])
def test_array_constructor_validates(kwargs, exc, msg):
    args = dict(rows=2, cols=2, weight_width=8, acc_width=20, s_width=8, bits=4) | kwargs
    with pytest.raises(exc, match=msg):
        PEArray(**args)


def test_array_is_keyword_only():
    with pytest.raises(TypeError):
        PEArray(2, 2, 8, 20, 8, 4)


def test_field_offsets_cover_every_payload():
    arr = PEArray(rows=2, cols=2, weight_width=5, acc_width=12, s_width=6, bits=3, max_pad=2, depth=10)
    f = arr.field_offsets()
    assert f["wr"] == {"addr": (0, 4), "data": (4, 20)}
    assert f["out"]["spikes"] == (0, 4) and f["out"]["u"] == (4, 48)
    assert f["events"] == {"addr": (0, 4), "shift": (4, 1), "add": (5, 1), "last": (6, 1)}


def _simulate_jobs(dut, jobs, widths):
    """Drive every tile job through the array in amaranth.sim; returns per-tile (cycles, u, spikes)."""
    P = dut.pes
    out = []

    async def bench(ctx):
        ctx.set(dut.out.ready, 1)
        for i in range(len(jobs)):
            pad, n_fire, readout = (int(v) for v in jobs.meta[i, :3])
            for a, row in enumerate(jobs.tile_rows(i)):
                ctx.set(dut.wr.valid, 1)
                ctx.set(dut.wr.payload.addr, a)
                ctx.set(dut.wr.payload.data, pack(row, widths["weight_width"]))
                await ctx.tick()
            ctx.set(dut.wr.valid, 0)
            ctx.set(dut.tile.payload.S, pack(jobs.S[i], widths["s_width"]))
            ctx.set(dut.tile.payload.init, pack(jobs.init[i], widths["acc_width"]))
            ctx.set(dut.tile.payload.pad, pad)
            ctx.set(dut.tile.payload.n_fire, n_fire)
            ctx.set(dut.tile.payload.readout, readout)
            ctx.set(dut.tile.valid, 1)
            assert ctx.get(dut.tile.ready)
            await ctx.tick()
            ctx.set(dut.tile.valid, 0)
            cycles, k, beats = 1, 0, []
            events = jobs.tile_events(i)
            while True:
                if k < len(events):
                    a, sh, ad, la = (int(v) for v in events[k])
                    ctx.set(dut.events.payload.addr, a)
                    ctx.set(dut.events.payload.shift, sh)
                    ctx.set(dut.events.payload.add, ad)
                    ctx.set(dut.events.payload.last, la)
                ctx.set(dut.events.valid, int(k < len(events)))
                took = k < len(events) and ctx.get(dut.events.ready)
                if ctx.get(dut.out.valid):
                    beats.append((ctx.get(dut.out.payload.spikes), ctx.get(dut.out.payload.u),
                                  ctx.get(dut.out.payload.last)))
                await ctx.tick()
                cycles += 1
                k += bool(took)
                if beats and beats[-1][2]:
                    break
            ctx.set(dut.events.valid, 0)
            u = np.array(unpack(beats[0][1], widths["acc_width"], P)) * jobs.mapped[i]
            s = np.array([[(b[0] >> p) & 1 for p in range(P)] for b in beats], np.uint8) * jobs.mapped[i]
            out.append((cycles, u, None if readout else s))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("shape", [(1, 3), (3, 2)])
def test_array_amaranth_sim_equals_golden_and_model(shape):
    rng = np.random.default_rng(21)
    net = random_network(rng, input_shape=(2, 5, 6), channels=(3, 4))
    inet = convert(net, bitplanes=True)
    res = simulate(inet, random_inputs(rng, net.input.shape, net.input.bits, 1), T=3)
    jobs, widths = make_jobs(inet, res, *shape, layers=("res_q", "fc1_q", "fc2"))
    dut = PEArray(rows=shape[0], cols=shape[1], **widths)
    got = _simulate_jobs(dut, jobs, widths)
    for i, (cycles, u, s) in enumerate(got):
        assert np.array_equal(u, jobs.membrane[i]), jobs.where(i)
        if s is not None:
            assert np.array_equal(s, jobs.spikes[i, : int(jobs.meta[i, 1])]), jobs.where(i)
        assert cycles == int(jobs.meta[i, 5]), jobs.where(i)


def test_host_events_are_the_models_events():
    """The explicit event lists (what the RTL consumes) have the length the model counts, tile by tile."""
    rng = np.random.default_rng(3)
    net = random_network(rng, groups=True, input_shape=(2, 7, 9), channels=(4, 4))
    inet = convert(net, bitplanes=True)
    res = simulate(inet, random_inputs(rng, net.input.shape, net.input.bits, 2), T=3)
    prof = profile(inet, res)
    for R, C in [(1, 1), (2, 3), (4, 4)]:
        st = evaluate(prof, ArrayConfig(rows=R, cols=C))
        for lp, ls in zip(prof.layers, st.layers):
            jobs = layer_jobs(inet, res, lp, R, C)
            assert sum(int(j.events[:, 2].sum()) for j in jobs) == ls.events
            for j in jobs:
                acc = ls.tile_cycles[j.image, j.tile] - 3 - (lp.T if lp.hidden else 1)
                assert j.acc_cycles == acc
                assert j.events[-1, 3] == 1 and j.events[:-1, 3].sum() == 0


def test_op_codes_fit_the_port():
    assert max(Op) < 8 and len({int(o) for o in Op}) == len(Op)

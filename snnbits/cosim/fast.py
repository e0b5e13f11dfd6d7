"""The whole-image bench under ``amaranth.sim`` (the fast tier; no simulator needed).

:func:`run_fast` streams images into an :class:`rtl.top.Accelerator`, takes its
logits beats and its spike-write monitor, counts the cycles of every image from
the cycle its first pixel row is taken to the cycle ``done`` rises, and returns
an :class:`~snnbits.cosim.expect.Observation`.  Optional back-pressure: the
image source idles and the logits sink refuses beats in a given fraction of the
cycles (seeded); the cycles the machine waits on a refused beat or on a row not offered
are counted as stalls and left out of the image's cycles.  Streamed weights come
from a source that offers the image's weight stream beat by beat, the next beat
``period`` cycles after the previous one was taken (the off-chip link's rate).  A watchdog ends a run that does not
finish within ``max_cycles``.
"""

from __future__ import annotations

import random

import numpy as np
from amaranth.sim import Simulator

from .expect import Observation, StreamChecker


def pack_rows(prog, image: np.ndarray) -> list[int]:
    """The image stream's beats: one row of ``W`` pixel codes per beat, pixel ``x`` at bits ``x*P``."""
    spec = prog.plan.image
    P = spec.planes
    flat = np.zeros(int(np.prod(spec.view)), np.int64)
    x = np.asarray(image, np.int64).reshape(-1)
    flat[: x.size] = x
    rows = flat.reshape(-1, spec.view[2])
    return [sum(int(v) << (i * P) for i, v in enumerate(row)) for row in rows]


def _unpack(word: int, width: int, n: int, signed: bool) -> np.ndarray:
    mask = (1 << width) - 1
    v = np.array([(word >> (i * width)) & mask for i in range(n)], dtype=object)
    if signed:
        v = np.array([int(e) - (1 << width) if int(e) >> (width - 1) else int(e) for e in v], dtype=object)
    return v.astype(np.int64)


def run_fast(prog, top, pixels, *, max_cycles: int, gaps: float = 0.0, seed: int = 0,
             rows_limit: int | None = None) -> Observation:
    """Simulate ``top`` (built from ``prog``) on ``pixels`` (``(N,) + input shape``).

    ``rows_limit``: offer only that many rows of each image (a stuck run, for the watchdog's test).
    """
    p = prog.plan
    R, C, K = p.rows, p.cols, p.scan
    A = top.hp.acc_width
    tl = top.trace_layout
    offs = {name: (f.offset, f.width) for name, f in tl}
    lo = top.logits_layout
    u_off, u_w = lo["u"].offset, lo["u"].shape.size
    t_off, t_w = lo["tile"].offset, lo["tile"].width
    l_off = lo["last"].offset
    aw, dw = top.addr_width, top.spike_word
    obs = Observation()
    rng = random.Random(seed)
    images = [pack_rows(prog, x)[:rows_limit] for x in np.asarray(pixels)]
    streamed = prog.wplan.streamed
    beats_all = prog.stream_words() if streamed else []
    period = prog.wplan.period
    logits_check = StreamChecker("logits")
    image_check = StreamChecker("image")
    weights_check = StreamChecker("weights")

    def field(word, name):
        o, w = offs[name]
        return (word >> o) & ((1 << w) - 1)

    async def bench(ctx):
        cycle = 0
        for rows in images:
            beats, writes = [], []
            start, k = None, 0
            budget = cycle + max_cycles
            stalls = 0
            wb, wait = 0, 0  # next weight beat; cycles until it is offered
            offered = False
            while True:
                if cycle >= budget:
                    obs.watchdog = f"image {len(obs.cycles)}: no 'done' within {max_cycles} cycles"
                    obs.logits.append(beats)
                    obs.writes.append(writes)
                    obs.protocol += logits_check.violations + image_check.violations + weights_check.violations
                    return
                idle = gaps and rng.random() < gaps and not offered  # an offered row stays until taken
                valid = k < len(rows) and not idle
                ctx.set(top.image.valid, int(valid))
                if valid:
                    ctx.set(top.image.payload.as_value(), rows[k])
                ready = not (gaps and rng.random() < gaps)
                ctx.set(top.logits.ready, int(ready))
                if streamed:
                    wvalid = wb < len(beats_all) and wait == 0
                    ctx.set(top.weights.valid, int(wvalid))
                    if wvalid:
                        ctx.set(top.weights.payload, beats_all[wb])
                    if weights_check.sample(wvalid, bool(ctx.get(top.weights.ready)),
                                            beats_all[wb] if wvalid else 0):
                        wb, wait = wb + 1, period - 1
                    elif wait:
                        wait -= 1
                img_ready = ctx.get(top.image.ready)
                took_row = image_check.sample(bool(valid), bool(img_ready), rows[k] if valid else 0)
                offered = valid and not took_row
                stalls += bool(start is not None and k < len(rows) and img_ready and not valid)
                lv = ctx.get(top.logits.valid)
                lword = ctx.get(top.logits.payload.as_value())
                if logits_check.sample(bool(lv), ready, lword) :
                    beats.append(((lword >> t_off) & ((1 << t_w) - 1), (lword >> l_off) & 1,
                                  _unpack(lword >> u_off, A, R * C, True)))
                stalls += bool(lv and not ready)
                if ctx.get(top.trace.valid):
                    w = ctx.get(top.trace.payload.as_value())
                    writes.append((field(w, "layer"), field(w, "tile"), field(w, "t"), field(w, "tensor"),
                                   field(w, "en"), _unpack(field(w, "addr"), aw, K, False),
                                   _unpack(field(w, "data"), dw, K, False), _unpack(field(w, "mask"), dw, K, False)))
                done = ctx.get(top.done)
                if took_row and start is None:
                    start = cycle
                k += bool(took_row)
                await ctx.tick()
                cycle += 1
                if done and start is not None:
                    break
            obs.cycles.append(cycle - start - stalls)
            obs.stalls += stalls
            obs.logits.append(beats)
            obs.writes.append(writes)
        ctx.set(top.image.valid, 0)
        obs.protocol += logits_check.violations + image_check.violations + weights_check.violations

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return obs

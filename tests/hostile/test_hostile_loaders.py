"""Generated hostile files against every loader, in-process.

Each case must either load or raise :class:`SnnbitsError` (for the tables: naming the
file); anything else (a traceback, or a NumPy overflow/complex warning, which is
escalated to an error) fails.  What loads must be exactly what the file holds, and must be right: a
model converts to an integer network whose simulation stays inside the widths it
claims; a trace that passes ``check_matches`` equals an independent simulation;
a configuration or cost table holds the file's values with their declared types.
"""

from __future__ import annotations

import json
import math
import tomllib
import warnings

import numpy as np
import pytest
from corpus import Case, examples, json_mutation, npz_case, toml_case
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.config import _LAYOUT, load_config
from energy.costs import OPS, load_costs
from energy.report import energy_report, to_json
from golden import datasets, ir, trace
from golden.convert import convert
from golden.random import random_inputs
from golden.simulate import simulate
from snnbits.errors import SnnbitsError


class SilentWrong(AssertionError):
    """A file loaded, but what came out is not what it holds, or not right."""


def attempt(tally, case: Case, fn, names=None) -> str:
    """Run ``fn``; tally the outcome; re-raise anything but a clean refusal (one that names the file
    ``names``, when given)."""
    tally["cases"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            fn()
    except SnnbitsError as e:
        if names is not None and str(names) not in str(e):
            tally["traceback"] += 1
            raise AssertionError(f"{case.what}: the refusal does not name the file {names}: {e}") from e
        tally["refused"] += 1
        return "refused"
    except SilentWrong as e:
        tally["silent"] += 1
        raise SilentWrong(f"{case.what}: {e}") from e
    except BaseException as e:
        tally["traceback"] += 1
        raise AssertionError(f"{case.what}: {type(e).__name__}: {str(e)[:300]}") from e
    tally["loaded"] += 1
    return "loaded"


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise SilentWrong(msg)


def _same_json(written, loaded) -> bool:
    """Equal as JSON values, allowing the normalizations the schema makes (int -> pair, int -> float)."""
    if isinstance(written, dict) and isinstance(loaded, dict):
        return written.keys() == loaded.keys() and all(_same_json(written[k], loaded[k]) for k in written)
    if isinstance(written, list) and isinstance(loaded, list):
        return len(written) == len(loaded) and all(_same_json(a, b) for a, b in zip(written, loaded))
    if isinstance(written, int) and not isinstance(written, bool) and isinstance(loaded, list) and len(loaded) == 2:
        return loaded == [written, written]
    if isinstance(written, bool) or isinstance(loaded, bool):
        return type(written) is type(loaded) and written == loaded
    return written == loaded


# ------------------------------------------------------------------ model files


def check_model(path, case: Case, seeds) -> None:
    net = ir.load(path)
    if case.arrays is None:  # archive-level damage: the zip CRCs protect the data, so it is the seed or nothing
        expect(net.hash() == seeds.net.hash(), "a damaged archive loaded as a different model")
    else:
        g = json.loads(case.arrays["graph.json"])
        have = json.loads(json.dumps(ir._graph_json(net)))
        for key in ("name", "output"):
            g.setdefault(key, have[key])
        expect(_same_json(g, have), "graph.json loaded differently from what the file holds")
        for n in net.nodes:
            for p, v in n.params().items():
                w = case.arrays[f"{n.name}/{p}"]
                expect(w.dtype.kind == "f" and np.array_equal(v, w.astype(np.float64)),
                       f"parameter {n.name}/{p} of dtype {w.dtype} loaded as something else")
    inet = convert(net)
    if sum(math.prod(l.out_shape) for l in inet.layers) > 1 << 16:
        return
    x = random_inputs(np.random.default_rng(0), net.input.shape, net.input.bits, 2)
    x[0] = (1 << net.input.bits) - 1  # the largest codes drive the accumulators hardest
    res = simulate(inet, x)
    for l in inet.layers:
        m = res.membrane[l.name]
        lim = 1 << (l.acc_bits - 1)
        expect(-lim <= int(m.min()) and int(m.max()) < lim, f"layer {l.name}: membrane beyond its {l.acc_bits}-bit width")


@settings(max_examples=examples(300))
@given(data=st.data())
def test_model_files(seeds, tally, data):
    case = data.draw(npz_case(seeds.model_arrays, ("graph.json",)))
    path = seeds.dir / "hostile_model.npz"
    path.write_bytes(case.data)
    attempt(tally, case, lambda: check_model(path, case, seeds))


# ------------------------------------------------------------------ traces


def check_trace(path, case: Case, seeds) -> None:
    t = trace.load(path)
    r = t.result
    if case.arrays is not None:
        w = case.arrays
        expect(_same_json(json.loads(w["meta.json"]), t.meta), "meta.json loaded differently from what the file holds")
        expect(np.array_equal(r.pixels, w["input/codes"]), "pixel codes loaded differently")
        for name, m in r.membrane.items():
            expect(np.array_equal(m, w[f"{name}/membrane"]), f"membrane {name} loaded differently")
        for name, c in r.codes.items():
            expect(np.array_equal(c, w[f"{name}/codes"]), f"codes {name} loaded differently")
    expect(int(r.pixels.max(initial=0)) < 1 << t.meta["input"]["bits"], "pixel codes wider than the input bits")
    trace.check_matches(t, seeds.inet, "hostile trace")
    again = simulate(seeds.inet, r.pixels, T=t.meta["T"])
    for kind in ("membrane", "codes", "spikes"):
        for name, v in getattr(again, kind).items():
            expect(np.array_equal(getattr(r, kind)[name], v), f"{kind} of {name} differ from the simulation")
    from energy.costs import load_costs as costs

    from accel.config import ArrayConfig
    from accel.model import run_model

    stats = run_model(seeds.inet, r, ArrayConfig(rows=2, cols=2))
    json.dumps(to_json(energy_report(seeds.inet, r, stats, costs())), allow_nan=False)


@settings(max_examples=examples(300))
@given(data=st.data())
def test_trace_files(seeds, tally, data):
    case = data.draw(npz_case(seeds.trace_arrays, ("meta.json",)))
    path = seeds.dir / "hostile_trace.npz"
    path.write_bytes(case.data)
    attempt(tally, case, lambda: check_trace(path, case, seeds))


# ------------------------------------------------------------------ data and input files


def check_data(path, case: Case) -> None:
    s = datasets.load_split(path)
    expect(s.x.dtype == np.int64 and s.y.dtype == np.int64 and len(s.x) == len(s.y), "split arrays malformed")
    expect(int(s.x.max(initial=0)) <= datasets.PIXEL_MAX and int(s.y.max(initial=0)) < datasets.CLASSES
           and int(s.y.min(initial=0)) >= 0, "codes or labels out of range")
    if case.arrays is not None:
        expect(np.array_equal(s.x, case.arrays["x"]) and np.array_equal(s.y, case.arrays["y"]), "data loaded differently")


@settings(max_examples=examples(100))
@given(data=st.data())
def test_data_files(seeds, tally, data):
    case = data.draw(npz_case(seeds.data_arrays, ("info.json",)))
    path = seeds.dir / "hostile_data.npz"
    path.write_bytes(case.data)
    attempt(tally, case, lambda: check_data(path, case))


def check_inputs(path, case: Case) -> None:
    x, y = datasets.load_images(path)
    expect(x.dtype.kind in "iuf" and x.ndim >= 1, f"pixel codes of dtype {x.dtype} shape {x.shape}")
    expect(y is None or (y.dtype.kind in "iu" and y.shape == (len(x),) and int(y.min(initial=0)) >= 0), "bad labels")
    if case.arrays is not None:
        expect(np.array_equal(x, case.arrays["x"]) and x.dtype == case.arrays["x"].dtype.newbyteorder("="),
               "pixel codes loaded differently")


@settings(max_examples=examples(100))
@given(data=st.data())
def test_input_files(seeds, tally, data):
    case = data.draw(npz_case(seeds.input_arrays, ()))
    path = seeds.dir / "hostile_inputs.npz"
    path.write_bytes(case.data)
    attempt(tally, case, lambda: check_inputs(path, case))


# ------------------------------------------------------------------ TOML


def check_config(path) -> None:
    cfg = load_config(path)
    doc = tomllib.loads(path.read_text())
    for sec, keys in _LAYOUT.items():
        for key, f in keys.items():
            if key in doc.get(sec, {}):
                v = doc[sec][key]
                expect(not isinstance(v, bool) and getattr(cfg, f) == v, f"[{sec}] {key} = {v!r} loaded as {getattr(cfg, f)!r}")
    expect(0 < cfg.weight_sram_bits < 1 << 63 and 0 < cfg.spike_sram_bits < 1 << 63, "SRAM size out of range")


@settings(max_examples=examples(150))
@given(data=st.data())
def test_config_files(seeds, tally, data):
    case = data.draw(toml_case(seeds.config_text))
    path = seeds.dir / "hostile_config.toml"
    path.write_bytes(case.data)
    attempt(tally, case, lambda: check_config(path), names=path)


def check_costs(path) -> None:
    t = load_costs(path)
    doc = tomllib.loads(path.read_text())
    for op in OPS:
        pts = sorted(doc[op]["points"], key=lambda p: p.get("capacity_bytes", p["bits"]))
        got = [(p.bits, p.energy_pj) for p in t.op(op).points]
        expect(got == [(p["bits"], p["energy_pj"]) for p in pts], f"[{op}] points loaded differently")
    prices = [t.energy_pj(op, b) for op in OPS if op not in ("sram", "dram") for b in (1, 8, 32, 64)]
    prices += [t.memory_pj_per_bit(c) for c in (1, 8192, 1 << 30)]
    expect(all(math.isfinite(p) and p >= 0 for p in prices), "a price is negative or not finite")
    json.dumps(prices, allow_nan=False)


@settings(max_examples=examples(150))
@given(data=st.data())
def test_cost_tables(seeds, tally, data):
    case = data.draw(toml_case(seeds.costs_text))
    path = seeds.dir / "hostile_costs.toml"
    path.write_bytes(case.data)
    attempt(tally, case, lambda: check_costs(path), names=path)


def check_memtable(path) -> None:
    from energy.memtable import load_memory_table

    t = load_memory_table(path)
    doc = tomllib.loads(path.read_text())
    expect(t.dram_pj_per_bit == doc["dram"]["pj_per_bit"], "[dram] pj_per_bit loaded differently")
    expect(len(t.sram) == len(doc["sram"]["points"]), "[sram] points loaded differently")
    prices = [t.sram_access_pj(c, w, d) for c in (t.sram_min_bytes, 1 << 20, 1 << 33) for w in (1, 64, 4096)
              for d in ("read", "write")]
    prices += [t.sram_area_um2(1 << 20, 64), t.sram_leakage_uw(1 << 33, 64), t.barrel_shift_pj(20),
               t.access_pj("register", 8, 20), t.access_pj("dram", 0, 64)]
    expect(all(math.isfinite(v) and v >= 0 for v in prices), "a price is negative or not finite")


@settings(max_examples=examples(150))
@given(data=st.data())
def test_memory_tables(seeds, tally, data):
    case = data.draw(toml_case(seeds.memtable_text))
    path = seeds.dir / "hostile_memory.toml"
    path.write_bytes(case.data)
    attempt(tally, case, lambda: check_memtable(path), names=path)


def check_ert(path) -> None:
    from energy.accelergy import load_ert_costs

    t = load_ert_costs(path)
    prices = [t.energy_pj(op, b) for op in OPS if op not in ("sram", "dram") for b in (1, 8, 32, 64)]
    prices += [t.memory_pj_per_bit(c) for c in (1, 8192, 1 << 30)]
    expect(all(math.isfinite(p) and p >= 0 for p in prices), "a price is negative or not finite")


@settings(max_examples=examples(150))
@given(data=st.data())
def test_accelergy_erts(seeds, tally, data):
    text, what = data.draw(json_mutation(seeds.ert_doc))  # JSON is YAML: every JSON mutation is a YAML one
    path = seeds.dir / "hostile_ert.yaml"
    path.write_bytes(text)
    attempt(tally, Case(text, what), lambda: check_ert(path), names=path)


@pytest.mark.parametrize("kind", ["model", "trace"])
def test_seeds_load(seeds, kind):
    """The corpora start from valid files: unmutated, they load and check."""
    case = Case(b"", "seed", {k: (json.dumps(v).encode() if k.endswith(".json") else v)
                               for k, v in getattr(seeds, f"{kind}_arrays").items()})
    (check_model if kind == "model" else check_trace)(getattr(seeds, kind), case, seeds)

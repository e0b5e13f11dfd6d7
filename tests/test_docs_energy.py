"""docs/energy.md and docs/paper-differences.md: every number in their checked tables is the output of a run.

A table preceded by ``<!-- checked: KIND ARGS -->`` is recomputed: the trace the docs
name (``accel run --digits 360``) is made, the command each row (or the marker) names
is run, and every numeric cell must equal the command's output rounded as the cell is
written.  The statements the docs make in words about those tables are checked on every
row too.  Slow tier: about a minute (one report per configuration).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ["pragmatic", "stripes", "qann_dense", "qann_skip", "ann_int8", "ann_fp32", "rate_coded"]
ZERO_SKIPPING = ["pragmatic", "qann_skip"]
DENSE = ["stripes", "qann_dense", "ann_int8", "ann_fp32"]


def run(*argv: str) -> str:
    p = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("docs")
    run("accel", "run", "--digits", "360", "--out", str(d / "t.npz"))
    run("accel", "run", "golden/data/default_noreg.npz", "--digits", "360", "--out", str(d / "noreg.npz"))
    return d


_REPORTS: dict = {}


def report(trace: Path, *args: str) -> dict:
    key = (str(trace),) + args
    if key not in _REPORTS:
        _REPORTS[key] = json.loads(run("energy", "report", str(trace), *args, "--format", "json"))
    return _REPORTS[key]


def tables(text: str) -> list[tuple[str, list[str], list[str], list[list[str]]]]:
    """``(kind, args, header, rows)`` of every checked table."""
    out = []
    for m in re.finditer(r"<!-- checked: (\S+)([^>]*)-->\n((?:\|.*\|\n)+)", text):
        lines = [l.strip().strip("|").split("|") for l in m.group(3).strip().splitlines()]
        header, rows = [c.strip() for c in lines[0]], [[c.strip() for c in l] for l in lines[2:]]
        out.append((m.group(1), m.group(2).split(), header, rows))
    return out


def same(cell: str, value: float, what: str) -> None:
    """``cell`` is ``value`` rounded to the cell's decimals (commas, 'x' and '%' allowed)."""
    text = cell.replace(",", "").rstrip("x%").strip()
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert abs(float(text) - value) <= 0.5 * 10 ** -decimals + 1e-9 * max(1.0, abs(value)), (what, cell, value)


def config_args(row: dict) -> list[str]:
    return ["--array", row["array"], "--config", f"accel/configs/{row['config']}.toml", "--sizing", row["sizing"]]


def methods(rep: dict) -> dict:
    return {m["method"]: m for m in rep["methods"]}


def _doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text()


def test_energy_doc_tables_come_from_the_commands(traces):
    t = traces / "t.npz"
    found = {kind for kind, *_ in tables(_doc("energy.md"))}
    assert found == {"configs", "methods", "verdicts"}, found
    for kind, args, header, rows in tables(_doc("energy.md")):
        assert rows, kind
        for cells in rows:
            row = dict(zip(header, cells))
            if kind == "configs":
                rep = report(t, *config_args(row))
                m = methods(rep)
                b = m["built"]
                same(row["cycles"], rep["machine"]["cycles_per_image"], row)
                for col, key in (("compute", "compute_energy_pj"), ("memory", "memory_energy_pj"),
                                 ("leakage", "leakage_energy_pj"), ("total", "total_energy_pj")):
                    same(row[col], b[key] / 1e3, (row, col))
                same(row["ideal"], m["ours_ideal"]["total_energy_pj"] / 1e3, row)
                same(row["total / ideal"], b["total_energy_pj"] / m["ours_ideal"]["total_energy_pj"], row)
                same(row["logic mm2"], sum(rep["area"]["logic_um2"].values()) / 1e6, row)
                same(row["memory mm2"], sum(rep["area"]["memory_um2"].values()) / 1e6, row)
            elif kind == "methods":
                rep = report(t, *args)
                m = methods(rep)[row["method"]]
                same(row["cycles"], m["cycles"], row)
                for col, key in (("compute", "compute_energy_pj"), ("memory", "memory_energy_pj"),
                                 ("leakage", "leakage_energy_pj"), ("total", "total_energy_pj")):
                    same(row[col], m[key] / 1e3, (row, col))
                built, ideal = (methods(rep)[k]["total_energy_pj"] for k in ("built", "ours_ideal"))
                same(row["total / built"], m["total_energy_pj"] / built, row)
                same(row["total / ideal"], m["total_energy_pj"] / ideal, row)
                v = {x["method"]: x["outcome"] for x in rep["verdicts"]}
                assert row["outcome"] == v.get(row["method"], "-"), row
            else:
                rep = report(t, *config_args(row))
                v = {x["method"]: x for x in rep["verdicts"]}
                for b in BASELINES:
                    ratio, outcome, ideal = re.fullmatch(r"(\S+) (wins|ties|loses) \((\S+)\)", row[b]).groups()
                    same(ratio, v[b]["ratio"], (row, b))
                    assert outcome == v[b]["outcome"], (row, b)
                    same(ideal, v[b]["ideal_ratio"], (row, b))


def test_energy_doc_statements_hold_on_every_configuration(traces):
    t = traces / "t.npz"
    rows = [dict(zip(h, c)) for kind, _, h, rs in tables(_doc("energy.md")) if kind == "configs" for c in rs]
    for row in rows:
        rep = report(t, *config_args(row))
        v = {x["method"]: x for x in rep["verdicts"]}
        assert all(v[b]["outcome"] == "wins" for b in DENSE), row
        assert all(v[b]["outcome"] == "loses" and v[b]["ideal_ratio"] <= 1.05 for b in ZERO_SKIPPING), row
        assert v["rate_coded"]["ideal_ratio"] > 1, row
        assert v["rate_coded"]["outcome"] in (("ties", "loses") if row["sizing"] == "config" else ("wins",)), row
        m = methods(rep)
        b = m["built"]
        assert b["compute_energy_pj"] < 0.11 * b["total_energy_pj"], row
    lo, hi = re.search(r"issues\s+(\S+)\s+\(4x4\)\s+to\s+(\S+)\s+\(8x8\)\s+adds", _doc("energy.md")).groups()
    for cell, array in ((lo, "4x4"), (hi, "8x8")):
        a = report(t, "--array", array, "--config", "accel/configs/small.toml")["activity"]
        same(cell, sum(x["issued_adds"] for x in a) / sum(x["synaptic_ops"] for x in a), array)


def test_paper_differences_tables_come_from_the_commands(traces):
    found = tables(_doc("paper-differences.md"))
    assert {k for k, *_ in found} == {"paper11", "paper7", "paper63"}, found
    for kind, args, header, rows in found:
        for cells in rows:
            row = dict(zip(header, cells))
            if kind == "paper11":
                m = methods(report(traces / "t.npz", *config_args(row)))
                base = m[row["baseline"]]
                for col, ours in (("built: compute / total", "built"), ("ideal: compute / total", "ours_ideal")):
                    comp, tot = re.fullmatch(r"(\S+) / (\S+)", row[col]).groups()
                    same(comp, base["compute_energy_pj"] / m[ours]["compute_energy_pj"], (row, col))
                    same(tot, base["total_energy_pj"] / m[ours]["total_energy_pj"], (row, col))
            elif kind == "paper7":
                extra = [] if row["model"] == "bundled" else ["--model", "golden/data/default_noreg.npz"]
                rep = report(traces / ("t.npz" if row["model"] == "bundled" else "noreg.npz"), *config_args(row), *extra)
                first = report(traces / "t.npz", *config_args(row))
                spikes = [sum(a["output_spikes"] for a in r["activity"]) / r["trace"]["images"] for r in (rep, first)]
                energy = [methods(r)["built"]["total_energy_pj"] for r in (rep, first)]
                same(row["spikes per image"], spikes[0], row)
                same(row["built nJ"], energy[0] / 1e3, row)
                same(row["spikes / bundled"], spikes[0] / spikes[1], row)
                same(row["energy / bundled"], energy[0] / energy[1], row)
            else:
                rep = report(traces / "t.npz", *config_args(row))
                assert row["Horner shift as built"] == "0 (wiring)", row
                same(row["as a barrel shifter, % of compute"], 100 * rep["horner_shift_share_as_barrel"], row)


def test_paper_differences_statements_hold(traces):
    text = _doc("paper-differences.md")
    rows = [dict(zip(h, c)) for kind, _, h, rs in tables(text) if kind == "paper11" for c in rs]

    def ratios(baselines, col, part):
        out = []
        for row in rows:
            if row["baseline"] in baselines:
                comp, tot = re.fullmatch(r"(\S+) / (\S+)", row[col]).groups()
                out.append(float(comp if part == "compute" else tot))
        return min(out), max(out)

    lo, hi = re.search(r"dense\s+baselines\s+the\s+paper\s+compares\s+with\s+cost\s+(\S+)-(\S+)x", text).groups()
    values = ratios(["qann_dense", "stripes"], "built: compute / total", "compute") + ratios(
        ["qann_dense", "stripes"], "ideal: compute / total", "compute")
    same(lo, min(values), "compute low")
    same(hi, max(values), "compute high")
    for name, base in (("dense QANN", "qann_dense"), ("Stripes-like bit-serial ANN", "stripes")):
        words = r"\s+".join(["over", "the", *name.split(), r"(?:shrinks\s+)?to"])
        lo, hi = re.search(words + r"\s+(\S+)-(\S+)x", text).groups()
        a, b = ratios([base], "built: compute / total", "total")
        same(lo, a, name)
        same(hi, b, name)
    assert ratios(ZERO_SKIPPING, "built: compute / total", "total")[1] < 1
    assert ratios(ZERO_SKIPPING, "ideal: compute / total", "total")[1] <= 1
    spikes = {(r["model"], r["array"]): r for kind, _, h, rs in tables(text) if kind == "paper7"
              for r in (dict(zip(h, c)) for c in rs)}
    fewer = re.search(r"gives\s+(\S+)x\s+fewer\s+spikes", text).group(1)
    same(fewer, float(spikes[("noreg", "4x4")]["spikes / bundled"]), "spikes")
    lo, hi = re.search(r"energy\s+falls\s+(\S+)x\s+\(4x4.*?to\s+(\S+)x\s+\(8x8", text, re.S).groups()
    same(lo, float(spikes[("noreg", "4x4")]["energy / bundled"]), "energy 4x4")
    same(hi, float(spikes[("noreg", "8x8")]["energy / bundled"]), "energy 8x8")

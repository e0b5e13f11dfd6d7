"""Generated hostile files through the command line, each in a subprocess.

``python -m accel info|run|sweep`` and ``python -m energy report`` are fed hostile
model files, traces, input files, accelerator configs and cost tables.  Every run
must: exit 0 or 2 (the documented codes: success, user error); print no
``Traceback``; print ``error: ...`` when it exits 2; change no file but its own
outputs (the inputs, the seeds and the package data are hashed before and after,
and nothing else may appear in its working directory); and leave every output it
wrote valid (a trace loads and matches its model, JSON parses without NaN or
Infinity).  Each example runs a batch of files, two subprocesses at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from corpus import SCALE, npz_case, toml_case
from hypothesis import given, settings
from hypothesis import strategies as st

import accel
import energy
import golden
from golden import ir, trace
from golden.convert import convert

ROOT = Path(__file__).resolve().parents[2]
#: the data files shipped in the packages (models, data set, configs, tables)
PACKAGE_DATA = sorted([*(Path(golden.__file__).parent / "data").glob("*"), *(Path(accel.__file__).parent / "configs").glob("*"),
                       *Path(energy.__file__).parent.glob("*.toml")])
BATCH = 4
#: CLI cases per run: about 100 in CI (the slow tier), a dozen locally
EXAMPLES = max(3, int(25 * SCALE)) if SCALE >= 1 else 3


def _digest(paths) -> dict[str, str]:
    out = {}
    for root in paths:
        for p in sorted(Path(root).rglob("*")) if Path(root).is_dir() else [Path(root)]:
            if p.is_file() and "__pycache__" not in p.parts:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _strict_json(text: str):
    def bad(c):
        raise ValueError(f"non-finite number {c} in JSON output")

    return json.loads(text, parse_constant=bad)


def _commands(kind: str, f: Path, out: Path, seeds) -> list[tuple[list[str], dict]]:
    """(argv, outputs) per command; ``outputs`` maps an output path to how to check it."""
    m, t = str(seeds.model), str(seeds.trace)
    if kind == "model":
        return [(["-m", "accel", "info", str(f), "--json"], {"stdout": "json"}),
                (["-m", "accel", "run", str(f), "--random", "2", "--out", str(out / "t.npz")], {out / "t.npz": f})]
    if kind == "trace":
        return [(["-m", "energy", "report", str(f), "--model", m, "--format", "json"], {"stdout": "json"})]
    if kind == "inputs":
        return [(["-m", "accel", "run", m, "--input", str(f), "--out", str(out / "t.npz")], {out / "t.npz": seeds.model})]
    if kind == "config":
        return [(["-m", "accel", "sweep", m, "--config", str(f), "--random", "1", "--rows", "1,2", "--cols", "1,2",
                  "--workers", "1", "--json", str(out / "s.json")], {out / "s.json": "json"})]
    return [(["-m", "energy", "report", t, "--model", m, "--costs", str(f), "--format", "json"], {"stdout": "json"})]


def _run_one(kind: str, case, seeds) -> tuple[list[str], list[int]]:
    """Run every command for one hostile file; return the problems found (empty: all good) and the exit codes."""
    problems, codes = [], []
    with tempfile.TemporaryDirectory(dir=seeds.dir) as tmp:
        tmp = Path(tmp)
        f = tmp / ("input.toml" if kind in ("config", "costs") else "input.npz")
        f.write_bytes(case.data)
        out = tmp / "out"
        out.mkdir()
        work = tmp / "cwd"
        work.mkdir()
        watched = [seeds.model, seeds.trace, seeds.inputs, f] + PACKAGE_DATA
        before = _digest(watched)
        env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="160")
        for argv, outputs in _commands(kind, f, out, seeds):
            cmd = " ".join(argv[1:4])
            try:
                p = subprocess.run([sys.executable, *argv], cwd=work, env=env, capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                problems.append(f"{cmd}: timed out")
                continue
            codes.append(p.returncode)
            if "Traceback" in p.stderr or p.returncode not in (0, 2):
                problems.append(f"traceback: {cmd}: exit {p.returncode}: {p.stderr[-1500:]}")
                continue
            if p.returncode == 2 and not p.stderr.startswith("error: "):
                problems.append(f"{cmd}: exit 2 without an 'error: ' message: {p.stderr[:300]}")
            for where, how in outputs.items():
                try:
                    if where == "stdout":
                        if p.returncode == 0:
                            _strict_json(p.stdout)
                    elif where.exists():
                        if how == "json":
                            _strict_json(where.read_text())
                        else:
                            trace.check_matches(trace.load(where), convert(ir.load(how)), str(where))
                        where.unlink()
                except Exception as e:  # an invalid output, whatever the reason
                    problems.append(f"invalid output: {cmd}: {where}: {type(e).__name__}: {str(e)[:300]}")
        if _digest(watched) != before:
            problems.append("destroyed: an input, a seed or package data changed")
        stray = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file() and p != f)
        if stray:
            problems.append(f"destroyed: files left outside the outputs: {stray}")
    return problems, codes


def _kind_case(seeds):
    return st.one_of(
        npz_case(seeds.model_arrays, ("graph.json",)).map(lambda c: ("model", c)),
        npz_case(seeds.trace_arrays, ("meta.json",)).map(lambda c: ("trace", c)),
        npz_case(seeds.input_arrays, ()).map(lambda c: ("inputs", c)),
        toml_case(seeds.config_text).map(lambda c: ("config", c)),
        toml_case(seeds.costs_text).map(lambda c: ("costs", c)),
    )


@pytest.mark.slow
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_cli_never_tracebacks_or_destroys(seeds, tally, data):
    batch = [data.draw(_kind_case(seeds), label=f"file {i}") for i in range(BATCH)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda kc: _run_one(kc[0], kc[1], seeds), batch))
    failures = []
    for (kind, case), (problems, codes) in zip(batch, results):
        tally["cases"] += 1
        tally["cli"] += 1
        tally["traceback"] += sum(p.startswith(("traceback", "timed")) for p in problems)
        tally["destroyed"] += sum(p.startswith(("destroyed", "invalid output")) for p in problems)
        tally["refused" if 2 in codes else "loaded"] += 1
        failures += [f"{kind} ({case.what}): {p}" for p in problems]
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["model", "trace", "inputs", "config", "costs"])
def test_cli_accepts_the_seeds(seeds, kind):
    """Unmutated, every seed runs through its commands with exit code 0 and valid outputs."""
    from corpus import Case

    path = {"model": seeds.model, "trace": seeds.trace, "inputs": seeds.inputs}.get(kind)
    data = path.read_bytes() if path else (seeds.config_text if kind == "config" else seeds.costs_text).encode()
    problems, codes = _run_one(kind, Case(data, "seed"), seeds)
    assert not problems and codes and set(codes) == {0}, (problems, codes)

"""accel sweep: sweep data, Pareto front, files, CLI errors (the subcommand end to end)."""

from __future__ import annotations

import csv
import importlib.util
import json

import numpy as np
import pytest

from snnbits.cli.accel import main
from accel.config import ArrayConfig
from accel.errors import AccelError
from accel.model import evaluate, profile
from accel.sweep import SweepPoint, objectives, pareto_front, parse_shapes, sweep
from golden import ir, trace
from golden.convert import convert
from golden.random import random_inputs, random_network
from golden.simulate import simulate


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "net.npz"
    ir.save(random_network(np.random.default_rng(5)), path)
    return path


@pytest.fixture(scope="module")
def prof(model_file):
    inet = convert(ir.load(model_file))
    x = random_inputs(np.random.default_rng(0), inet.input.shape, inet.input.bits, 2)
    return profile(inet, simulate(inet, x))


def test_parallel_sweep_equals_serial(prof):
    shapes = parse_shapes([1, 2, 4], [1, 3])
    serial = sweep(prof, ArrayConfig(), shapes, workers=1)
    parallel = sweep(prof, ArrayConfig(), shapes, workers=2)
    assert serial == parallel
    assert [(p.rows, p.cols) for p in serial] == [(1, 1), (2, 1), (1, 3), (4, 1), (2, 3), (4, 3)]
    one = evaluate(prof, ArrayConfig(rows=2, cols=3))
    p = next(p for p in serial if (p.rows, p.cols) == (2, 3))
    assert p.cycles == one.cycles / prof.images
    assert p.latency_us == pytest.approx(one.cycles / prof.images / 200)


def test_scan_widths_are_swept_and_read_from_the_config(prof):
    """Every scan width is a configuration of its own (the K the plan runs); widths that give the same K on a
    shape are evaluated once; a config's scan width is the one a plain sweep runs."""
    pts = sweep(prof, ArrayConfig(), [(2, 2), (4, 1)], workers=1, scans=[1, 2, 4, 16])
    assert [(p.rows, p.cols, p.scan) for p in pts] == [
        (2, 2, 2), (2, 2, 4), (2, 2, 16), (4, 1, 4), (4, 1, 16)]
    for p in pts:
        one = evaluate(prof, ArrayConfig(rows=p.rows, cols=p.cols, scan=p.scan))
        assert one.plan.scan == p.scan and p.cycles == one.cycles / prof.images
    assert len({p.cycles for p in pts if (p.rows, p.cols) == (2, 2)}) > 1  # K changes the cycles
    plain = sweep(prof, ArrayConfig(scan=4), [(2, 2)], workers=1)
    assert [p.scan for p in plain] == [4]
    with pytest.raises(AccelError, match=r"--scan widths must be positive integers, not 0"):
        sweep(prof, ArrayConfig(), [(2, 2)], workers=1, scans=[0])


def test_energy_and_area_hooks_land_in_every_point(prof):
    pts = sweep(prof, ArrayConfig(), [(1, 1), (2, 2)], workers=1, energy=_toy_energy, area=_toy_area)
    assert [p.energy_pj for p in pts] == [p.ops["pe_adds"] * 0.03 for p in pts]
    assert [p.area_um2 for p in pts] == [10.0 * p.pes for p in pts]


def test_built_machine_hooks_agree_with_the_energy_report(prof):
    from energy.built import area_um2, energy_pj
    from energy.report import energy_report

    pts = sweep(prof, ArrayConfig(), [(2, 3)], workers=1, energy=energy_pj, area=area_um2)
    rep = energy_report(prof.inet, prof.res, evaluate(prof, ArrayConfig(rows=2, cols=3)))
    assert pts[0].energy_pj == pytest.approx(rep.built.per_image(), rel=1e-12)
    assert pts[0].area_um2 is None  # a random network: not the widths the logic was synthesized at


def _toy_energy(stats) -> float:
    return stats.ops()["pe_adds"] / stats.images * 0.03


def _toy_area(stats) -> float:
    return 10.0 * stats.config.pes


def _pt(pes, cycles, energy=None, area=None):
    return SweepPoint(rows=pes, cols=1, pes=pes, scan=16, cycles=cycles, cycles_busy=cycles, cycles_idle=0, cycles_stalled=0,
                      latency_us=cycles / 100, pe_utilization=0, weights_resident=True, energy_pj=energy,
                      area_um2=area)


def test_pareto_front():
    pts = [_pt(1, 100), _pt(2, 60), _pt(2, 70), _pt(4, 60), _pt(8, 10)]
    assert pareto_front(pts) == [True, True, False, False, True]


def test_pareto_front_over_latency_energy_and_area():
    # (cycles, energy, area): the third is beaten by the second in all three; the fourth trades area for energy
    pts = [_pt(1, 100, 50, 1), _pt(2, 60, 40, 2), _pt(2, 70, 45, 3), _pt(4, 60, 30, 4), _pt(8, 100, 50, 1)]
    assert objectives(pts) == ("latency_us", "energy_pj", "area_um2")
    assert pareto_front(pts) == [True, True, False, True, True]
    pts[-1] = _pt(8, 100, 50, 2)  # now beaten by the first (same latency and energy, more area)
    assert pareto_front(pts) == [True, True, False, True, False]


def test_bad_shapes_and_cluster_errors(prof):
    with pytest.raises(AccelError, match=r"--rows sizes must be positive integers, not 0"):
        parse_shapes([0], [1])
    if importlib.util.find_spec("dask") is None:
        with pytest.raises(AccelError, match=r"--cluster tcp://127.0.0.1:1: Dask is not installed"):
            sweep(prof, ArrayConfig(), [(1, 1)], cluster="tcp://127.0.0.1:1")
    if importlib.util.find_spec("ray") is None:
        with pytest.raises(AccelError, match=r"--cluster ray://h:1: Ray is not installed"):
            sweep(prof, ArrayConfig(), [(1, 1)], cluster="ray://h:1")


def test_cli_writes_csv_json_png(model_file, tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(["sweep", str(model_file), "--random", "2", "--rows", "1,4", "--cols", "2,8", "--clock-mhz", "100",
               "--csv", f"{out}.csv", "--json", f"{out}.json", "--plot", f"{out}.png", "--workers", "1"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "4x8" in text and "Pareto" in text
    rows = list(csv.DictReader(open(f"{out}.csv")))
    assert [(r["rows"], r["cols"]) for r in rows] == [("1", "2"), ("1", "8"), ("4", "2"), ("4", "8")]
    assert {"read_bits_weight_sram", "write_bits_spike_sram", "pe_adds", "cycles_busy", "pareto", "energy_pj",
            "area_um2"} <= set(rows[0])
    assert all(float(r["energy_pj"]) > 0 for r in rows)
    doc = json.load(open(f"{out}.json"))
    assert doc["format"] == "snnbits-sweep" and doc["clock_mhz"] == 100 and len(doc["points"]) == 4
    p = doc["points"][0]
    assert p["latency_us"] == pytest.approx(p["cycles"] / 100)
    assert open(f"{out}.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_sweeps_scan_widths(model_file, tmp_path, capsys):
    rc = main(["sweep", str(model_file), "--random", "1", "--rows", "2", "--cols", "2", "--scan", "1,4,16",
               "--csv", str(tmp_path / "s.csv"), "--workers", "1", "--no-energy"])
    assert rc == 0
    assert "K" in capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert [(r["rows"], r["scan"]) for r in rows] == [("2", "2"), ("2", "4"), ("2", "16")]
    assert main(["sweep", str(model_file), "--scan", "0"]) == 2
    assert "error: argument --scan: takes comma-separated integers in 1..4096, not '0'" in capsys.readouterr().err
    many = ",".join(map(str, range(1, 257)))
    assert main(["sweep", str(model_file), "--rows", many, "--cols", many[:41], "--scan", many[:41]]) == 2
    assert ("error: --rows/--cols/--scan: 4,352 array shapes x 17 scan widths; a sweep evaluates at most 65,536 "
            "configurations") in capsys.readouterr().err


def test_cli_reads_a_trace(model_file, tmp_path, capsys):
    inet = convert(ir.load(model_file))
    x = random_inputs(np.random.default_rng(1), inet.input.shape, inet.input.bits, 2)
    path = trace.save(tmp_path / "t.npz", inet, simulate(inet, x), "fast")
    assert main(["sweep", str(model_file), "--trace", str(path), "--rows", "2", "--cols", "2",
                 "--json", str(tmp_path / "a.json"), "--workers", "1"]) == 0
    assert main(["sweep", str(model_file), "--input", str(_npy(tmp_path, x)), "--rows", "2", "--cols", "2",
                 "--json", str(tmp_path / "b.json"), "--workers", "1"]) == 0
    a, b = (json.load(open(tmp_path / f)) for f in ("a.json", "b.json"))
    assert a["points"] == b["points"]
    assert main(["sweep", str(model_file), "--trace", str(path), "--bitplanes"]) == 2
    assert "pass the same --weight-bits/--bitplanes" in capsys.readouterr().err


def _npy(tmp_path, x):
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy"


@pytest.mark.parametrize("argv, msg", [
    (["--rows", "0,2"], "error: argument --rows: takes comma-separated integers in 1..4096, not '0,2'"),
    (["--cols", "a"], "error: argument --cols: takes comma-separated integers in 1..4096, not 'a'"),
])
def test_cli_rejects_bad_sizes(model_file, argv, msg, capsys):
    assert main(["sweep", str(model_file)] + argv) == 2
    assert msg in capsys.readouterr().err


def test_cli_config_errors_exit_2(model_file, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[memory]\nweight_sram_kib = 0.001\n")
    assert main(["sweep", str(model_file), "--config", str(cfg), "--random", "1", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: config {cfg}") and "too small for layer" in err
    cfg.write_text("[array]\nrows = 4\nshape = 3\n")
    assert main(["sweep", str(model_file), "--config", str(cfg)]) == 2
    assert "unknown key [array] shape = 3" in capsys.readouterr().err


def test_workers_one_runs_in_this_process(prof, monkeypatch):
    import concurrent.futures as cf

    def boom(*a, **k):
        raise AssertionError("no process pool with workers=1")

    monkeypatch.setattr(cf, "ProcessPoolExecutor", boom)
    calls = []
    pts = sweep(prof, ArrayConfig(), [(1, 1), (2, 2)], workers=1, progress=lambda: calls.append(1))
    assert len(pts) == 2 and len(calls) == 2
    with pytest.raises(AccelError, match=r"--workers must be >= 1, not 0"):
        sweep(prof, ArrayConfig(), [(1, 1)], workers=0)

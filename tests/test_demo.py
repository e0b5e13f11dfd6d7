"""``accel demo``: interruption safety and the no-simulator path (the full run is in test_readme.py)."""

import json

import pytest

from snnbits.cli.accel import main

pytestmark = pytest.mark.slow  # each test runs most of the demo (tens of seconds)

FAST = ["--rows", "1,2", "--cols", "1,2", "--no-plots"]


def test_interrupted_demo_leaves_the_previous_run(tmp_path, monkeypatch):
    import energy.report

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "demo-out"
    out.mkdir()
    (out / ".snnbits-demo").write_text("")
    (out / "summary.md").write_text("previous complete run\n")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(energy.report, "energy_report", interrupted)
    assert main(["demo", "--out", str(out), "--cosim-images", "0", *FAST]) == 130
    assert (out / "summary.md").read_text() == "previous complete run\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-out"]  # no half-built folder left


def test_demo_without_simulator_skips_cosim_with_a_message(tmp_path, monkeypatch, capsys):
    import snnbits.cosim.runner as runner

    monkeypatch.setattr(runner, "missing_simulator",
                        lambda sim: "simulator 'icarus' not found; install it: apt-get install -y iverilog")
    out = tmp_path / "o"
    assert main(["demo", "--out", str(out), *FAST]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cosim"]["status"] == "skipped"
    assert "apt-get install -y iverilog" in (out / "summary.md").read_text()
    assert summary["accuracy"]["mismatches"] == 0
    md = (out / "summary.md").read_text()
    # the built machine against the zero-skipping baselines, with the numbers of this run
    skip = [v for v in summary["energy"]["verdicts"] if v["zero_skipping"]]
    assert {v["method"] for v in skip} == {"qann_skip", "pragmatic"}
    for v in skip:
        assert f"**{v['outcome']}** against" in md and f"{v['ratio']:.2f}x ours" in md
    assert (out / ".snnbits-demo").is_file() and [p.name for p in tmp_path.iterdir()] == ["o"]
    assert "skipped" in capsys.readouterr().out


def test_demo_numbers_come_from_the_run(tmp_path, monkeypatch):
    """Change the model's behaviour and the summary changes with it (no constants)."""
    import golden.accuracy as acc

    real = acc.evaluate

    def fewer_images(net, x, y, **kw):
        return real(net, x[:50], y[:50], **kw)

    monkeypatch.setattr(acc, "evaluate", fewer_images)
    out = tmp_path / "o"
    assert main(["demo", "--out", str(out), "--cosim-images", "0", *FAST]) == 0
    assert "(50 digits test images)" in (out / "summary.md").read_text()

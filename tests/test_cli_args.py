"""Command-line values are validated with clear errors (exit 2, no traceback, nothing written),
MODEL ``default`` never shadows a user's file, and names from user files never reach the
terminal as markup or escape sequences."""

import json
import os
import re
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_util import assert_user_error, assert_user_error_in_process, cli, cli_env, run_main, snapshot
from golden import datasets, ir, trace
from golden.convert import convert
from golden.models import DEFAULT_MODEL
from golden.random import random_inputs, random_network
from golden.simulate import simulate
from snnbits.cli import ui
from snnbits.cli.accel import main as accel_main
from snnbits.cli.args import DEFAULT_MAX_MEMORY_GIB, MAX_RTL_WIDTH, simulation_bytes
from snnbits.cli.energy import main as energy_main

BAD = [
    # (argv, what stderr must name)
    (["run", "--digits", "0", "--out", "t.npz"], "argument --digits: must be an integer >= 1, not '0'"),
    (["run", "--digits", "-5", "--out", "t.npz"], "argument --digits: must be an integer >= 1, not '-5'"),
    (["run", "--digits", "361", "--out", "t.npz"], "the digits test split has 360 images"),
    (["run", "--digits", "x", "--out", "t.npz"], "argument --digits"),
    (["run", "--random", "0", "--out", "t.npz"], "argument --random: must be an integer >= 1, not '0'"),
    (["run", "--random", "-3", "--out", "t.npz"], "argument --random"),
    (["run", "--random", "1000000000", "--out", "t.npz"], f"above the limit of {DEFAULT_MAX_MEMORY_GIB:g} GiB"),
    (["run", "--random", "2", "--seed", "-1", "--out", "t.npz"], "argument --seed: must be an integer in 0.."),
    (["run", "--random", "2", "--seed", "1.5", "--out", "t.npz"], "argument --seed"),
    (["run", "--random", "2", "-T", "0", "--out", "t.npz"], "argument -T/--steps: must be an integer >= 1"),
    (["run", "--random", "2", "-T", "5", "--out", "t.npz"], "T must be an integer in 1..B=4, not 5"),
    (["run", "--random", "2", "--max-memory", "0", "--out", "t.npz"], "argument --max-memory"),
    (["run", "--random", "2", "--max-memory", "nan", "--out", "t.npz"], "argument --max-memory"),
    (["run", "--random", "200", "--max-memory", "0.001", "--out", "t.npz"], "above the limit of 0.001 GiB"),
    (["run", "--random", "2", "--weight-bits", "99", "--out", "t.npz"],
     "argument --weight-bits: must be an integer in 2..24 or 'auto', not '99'"),
    (["run", "--random", "2", "--mode", "slow", "--out", "t.npz"], "invalid choice: 'slow'"),
    (["info", "--weight-bits", "1"], "argument --weight-bits: must be an integer in 2..24 or 'auto', not '1'"),
    (["info", "--weight-bits", "-3"], "argument --weight-bits"),
    (["compile", "--weight-bits", "25", "--out", "c"], "argument --weight-bits"),
    # options a command would ignore are refused: accel compile always feeds bit planes; a
    # calibration file or --match without --weight-bits auto calibrates nothing
    (["compile", "--bitplanes", "--out", "c"], "unrecognized arguments: --bitplanes"),
    (["compile", "--match", "0.5", "--out", "c"], "--match 0.5: only used with --weight-bits auto"),
    (["compile", "--calibration", "c.npy", "--out", "c"], "--calibration c.npy: only used with --weight-bits auto"),
    (["run", "--random", "2", "--calibration", "c.npy", "--out", "t.npz"], "--calibration c.npy: only used with"),
    (["sweep", "--random", "1", "--calibration", "c.npy"], "--calibration c.npy: only used with --weight-bits auto"),
    (["accuracy", "--calibration", "c.npy"], "--calibration c.npy: only used with --weight-bits auto"),
    (["demo", "--calibration", "c.npy", "--out", "d"], "--calibration c.npy: only used with --weight-bits auto"),
    # two files for one option: the second would silently replace the first
    (["info", "--input", "a.npy", "--calibration", "b.npy"],
     "--calibration b.npy: the images are already given (a.npy); give one file (--input or --calibration)"),
    (["run", "--weight-bits", "auto", "--calibration", "a.npy", "--calibration", "b.npy", "--out", "t.npz"],
     "--calibration b.npy: the images are already given (a.npy); give one file (see 'accel run --help')"),
    # an unknown option is reported by the subcommand, whose --help lists what it takes
    (["info", "--bogus"], "unrecognized arguments: --bogus (see 'accel info --help')"),
    # an empty name is not the current folder
    (["run", "--random", "2", "--out", ""], "argument --out: must be a file or folder name, not ''"),
    (["compile", "--out", ""], "argument --out: must be a file or folder name, not ''"),
    (["rtl", "--out", ""], "argument --out: must be a file or folder name, not ''"),
    (["run", "", "--random", "2", "--out", "t.npz"], "MODEL '': must be a model file name"),
    (["run", "--input", "", "--out", "t.npz"], "argument --input: must be a file or folder name, not ''"),
    (["sweep", "--config", " "], "argument --config: must be a file or folder name, not ' '"),
    (["accuracy", "--compare", ""], "--compare '': must be a model file name"),
    (["sweep", "--rows", str(10**18)], "argument --rows: takes comma-separated integers in 1..4096"),
    (["sweep", "--rows", "0"], "argument --rows"),
    (["sweep", "--rows", ""], "argument --rows"),
    (["sweep", "--cols", "4,-1"], "argument --cols"),
    (["sweep", "--cols", "4,x"], "argument --cols"),
    (["sweep", "--rows", ",".join(map(str, range(1, 300))), "--cols", ",".join(map(str, range(1, 300)))],
     "89,401 array shapes; a sweep evaluates at most 65,536"),
    (["sweep", "--clock-mhz", "inf"], "argument --clock-mhz: must be a finite number >= 0.001"),
    (["sweep", "--clock-mhz", "nan"], "argument --clock-mhz"),
    (["sweep", "--clock-mhz", "0"], "argument --clock-mhz"),
    (["sweep", "--clock-mhz", "-100"], "argument --clock-mhz"),
    (["sweep", "--clock-mhz", "1e300"], "argument --clock-mhz"),
    (["sweep", "--clock-mhz", "5e-324"], "argument --clock-mhz: must be a finite number >= 0.001 and <= 1e+06"),
    (["sweep", "--workers", "0"], "argument --workers"),
    (["sweep", "--workers", "100000"], "argument --workers"),
    (["sweep", "--random", "0"], "argument --random"),
    (["sweep", "--digits", "0"], "argument --digits"),
    (["sweep", "--cluster", "garbage"], "argument --cluster: must be a Dask scheduler address like tcp://HOST:8786"),
    (["sweep", "--cluster", "tcp://"], "argument --cluster"),
    (["accuracy", "--rate-T", "0"], "argument --rate-T: must be an integer in 1..64"),
    (["accuracy", "--rate-T", "1000"], "argument --rate-T"),
    (["accuracy", "--ablation-T", "-1"], "argument --ablation-T"),
    (["demo", "--cosim-images", "-1"], "argument --cosim-images: must be an integer in 0..64"),
    (["demo", "--cosim-images", "100000"], "argument --cosim-images"),
    (["demo", "--cosim-shape", "0x4"], "--cosim-shape must have 1..64 rows and columns, not '0x4'"),
    (["demo", "--cosim-shape", "big"], "--cosim-shape must look like 4x4, not 'big'"),
    (["demo", "--rows", "0"], "argument --rows"),
    (["rtl", "--out", "v", "--acc-width", "100000"], f"argument --acc-width: must be an integer in 1..{MAX_RTL_WIDTH}"),
    (["rtl", "--out", "v", "--acc-width", "0"], "argument --acc-width"),
    (["rtl", "--out", "v", "--in-width", "-1"], "argument --in-width"),
    (["rtl", "--out", "v", "--s-width", "65"], "argument --s-width"),
    (["rtl", "--out", "v", "--bits", "0"], "argument --bits"),
    (["rtl", "--out", "v", "--bits", "17"], "argument --bits"),
    (["rtl", "--out", "v", "--in-bits", "1000"], "argument --in-bits"),
    (["rtl", "--out", "v", "--acc-width", "8", "--in-width", "12"], "in_width must not exceed acc_width"),
]


@pytest.mark.parametrize("argv, needle", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_values_exit_2_and_write_nothing(tmp_path, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert_user_error_in_process(*run_main(accel_main, argv, capsys), needle)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("i", [0, 1, 6, 23, 42])
def test_bad_values_in_a_subprocess(tmp_path, i):
    """The same, end to end: what a user's shell sees."""
    argv, needle = BAD[i]
    before = snapshot(tmp_path)
    assert_user_error(cli("accel", *argv, cwd=tmp_path), needle)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argv, needle", [
    (["--rate-steps", "0"], "argument --rate-steps: must be an integer in 1..64"),
    (["--rate-steps", str(10**18)], "argument --rate-steps"),
    (["--sizing", "sideways"], "invalid choice"),
    (["--array", "3"], "argument --array: must look like 4x4"),
    (["--format", "xml"], "invalid choice"),
    (["--model", ""], "--model '': must be a model file name"),
    (["--costs", ""], "argument --costs: must be a file or folder name, not ''"),
    (["--memory-table", ""], "argument --memory-table: must be a file or folder name, not ''"),
    (["--config", ""], "argument --config: must be a file or folder name, not ''"),
    (["--plot", ""], "argument --plot: must be a file or folder name, not ''"),
    (["--export-accelergy", ""], "argument --export-accelergy: must be a file or folder name, not ''"),
])
def test_bad_energy_values(tmp_path, capsys, argv, needle):
    assert_user_error_in_process(*run_main(energy_main, ["report", tmp_path / "t.npz", *argv], capsys), needle)


@pytest.mark.slow
def test_unreachable_scheduler_is_a_clear_error_within_the_timeout(tmp_path):
    pytest.importorskip("dask.distributed")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = cli("accel", "sweep", "--random", "1", "--rows", "1", "--cols", "1", "--cluster", f"tcp://127.0.0.1:{port}",
            cwd=tmp_path, timeout=120)
    assert_user_error(p, f"--cluster tcp://127.0.0.1:{port}: no Dask scheduler answered within 10 s")


# ------------------------------------------------------------------ sizes


def test_an_impossible_input_shape_is_refused_before_allocating(tmp_path, capsys):
    """A model with a 1 x 5000 x 5000 input (the file is 1 kB; golden refuses much larger
    shapes itself): four images need about 30 GiB, refused by the estimate before anything
    is allocated."""
    nodes = [ir.Input(name="input", inputs=(), shape=(1, 5000, 5000), bits=8, scale=1.0),
             ir.Conv2d(name="c0", inputs=("input",), weight=np.ones((2, 1, 1, 1)), bias=np.zeros(2)),
             ir.QCFS(name="q0", inputs=("c0",), bits=4),
             ir.Conv2d(name="c1", inputs=("q0",), weight=np.ones((2, 2, 1, 1)), bias=np.zeros(2))]
    huge = ir.save(ir.network(nodes, name="huge"), tmp_path / "huge.npz")
    assert_user_error(cli("accel", "run", huge, "--random", "4", "--out", tmp_path / "t.npz", timeout=120),
                      "model 'huge'", "GiB, above the limit of 8 GiB", "raise --max-memory")
    assert_user_error_in_process(*run_main(accel_main, ["sweep", huge, "--random", "4"], capsys), "above the limit")
    assert run_main(accel_main, ["info", huge], capsys)[0] == 0  # describing it is fine
    assert not (tmp_path / "t.npz").exists()


def test_an_impossible_input_file_is_refused_from_its_header(tmp_path, capsys):
    """An .npy header claiming ten million images (the data is not there): refused before loading."""
    m = ir.save(random_network(np.random.default_rng(0), input_shape=(1, 8, 8)), tmp_path / "m.npz")
    f = tmp_path / "big.npy"
    with open(f, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": (10_000_000, 1, 8, 8)})
    out = tmp_path / "t.npz"
    assert_user_error_in_process(*run_main(accel_main, ["run", m, "--input", f, "--out", out], capsys), "above the limit")
    with open(f, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": (100_000, 100_000)})
    assert_user_error_in_process(*run_main(accel_main, ["run", m, "--input", f, "--out", out], capsys),
                                 "shape (100000, 100000) does not match (N,) + (1, 8, 8)")
    np.savez(tmp_path / "z.npz", x=np.zeros((3, 1, 8, 8), np.uint8)[:0], y=np.zeros(0))
    assert_user_error_in_process(*run_main(accel_main, ["run", m, "--input", tmp_path / "z.npz", "--out", out], capsys),
                                 "holds no images")
    assert not out.exists()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), mode=st.sampled_from(["fast", "literal"]),
       bitplanes=st.booleans())
def test_the_size_estimate_bounds_the_real_peak(tmp_path_factory, seed, n, mode, bitplanes):
    """simulate + trace.save never allocate more than the estimate (measured with tracemalloc)."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, input_shape=(int(rng.integers(1, 4)), 8, 8), groups=True, strides=True)
    inet = convert(net, bitplanes=bitplanes)
    x = random_inputs(rng, net.input.shape, net.input.bits, n)
    out = tmp_path_factory.mktemp("est") / "t.npz"
    tracemalloc.start()
    try:
        res = simulate(inet, x, mode=mode)
        trace.save(out, inet, res, mode)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= simulation_bytes(inet, n, None, mode)


def test_the_size_estimate_grows_with_images_and_is_not_absurd():
    inet = convert(ir.load(DEFAULT_MODEL))
    one, many = simulation_bytes(inet, 1), simulation_bytes(inet, 1000)
    assert many > 900 * (one - 2**20)
    assert simulation_bytes(inet, 360, mode="literal") < 2**30  # the whole digits split fits easily


# ------------------------------------------------------------------ MODEL 'default'


def test_omitted_model_is_the_bundled_one_even_with_a_file_named_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_text("not a model")
    rc, out, err = run_main(accel_main, ["info", "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["hash"] == convert(ir.load(DEFAULT_MODEL)).model_hash


def test_explicit_default_means_the_bundled_model_unless_a_file_is_named_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run_main(accel_main, ["info", "default", "--json"], capsys)
    assert rc == 0 and json.loads(out)["model"] == ir.load(DEFAULT_MODEL).name
    mine = random_network(np.random.default_rng(1), name="mine")
    ir.save(mine, tmp_path / "default.npz")
    os.rename(tmp_path / "default.npz", tmp_path / "default")
    for main, argv in ((accel_main, ["info", "default"]), (accel_main, ["run", "default", "--random", "1", "--out", "t.npz"]),
                       (accel_main, ["sweep", "default"]), (accel_main, ["accuracy", "default"]),
                       (accel_main, ["accuracy", "--compare", "default"]), (accel_main, ["demo", "default"]),
                       (energy_main, ["report", "t.npz", "--model", "default"])):
        assert_user_error_in_process(*run_main(main, argv, capsys), "'default' is ambiguous", "./default")
    rc, out, _ = run_main(accel_main, ["info", "./default", "--json"], capsys)  # the user's file, by its path
    assert rc == 0 and json.loads(out)["model"] == "mine"
    rc, _, err = run_main(accel_main, ["run", "./default", "--random", "2", "--out", "t.npz"], capsys)
    assert rc == 0, err
    assert trace.load(tmp_path / "t.npz").meta["model_name"] == "mine"
    rc, out, _ = run_main(energy_main, ["report", "t.npz", "--model", "./default", "--format", "json"], capsys)
    assert rc == 0 and json.loads(out)["model"]["name"] == "mine"
    assert cli("accel", "info", "default", cwd=tmp_path).returncode == 2  # and from a shell


# ------------------------------------------------------------------ names from user files


EVIL = ["[bold red]x[/]", "clear\x1b[2Jscreen\x07\x9b31m[/]"]


def _digits_model(name: str):
    net = random_network(np.random.default_rng(0), input_shape=(1, 8, 8), input_bits=5, channels=(3,), classes=10,
                         residual=False, name=name)
    return ir.network((datasets.input_node(),) + net.nodes[1:], name=name)


_SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own colour and style codes


def _shown(text: str, name: str | None) -> None:
    """``name`` appears escaped and literal: no markup eaten, no control character passed through."""
    plain = _SGR.sub("", text)
    if name is not None:
        visible = re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: m.group().encode("unicode_escape").decode(), name)
        assert visible in plain, plain[:3000]
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", plain), "a control character reached the terminal"


@pytest.mark.parametrize("name", EVIL, ids=["markup", "escape"])
def test_names_from_user_files_are_shown_literally_in_process(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ui.console, "width", 200)
    model = ir.save(_digits_model(name), tmp_path / "m.npz")
    for main, argv in ((accel_main, ["info", model, "-v"]),
                       (accel_main, ["run", model, "--random", "3", "--out", "t.npz"]),
                       (accel_main, ["sweep", model, "--random", "2", "--rows", "1,2", "--cols", "1", "--workers", "1"]),
                       (energy_main, ["report", "t.npz", "--model", model])):
        rc, out, err = run_main(main, argv, capsys)
        assert rc == 0, err
        _shown(out, None if argv[0] == "run" else name)


@pytest.mark.slow
@pytest.mark.parametrize("name", EVIL, ids=["markup", "escape"])
def test_names_from_user_files_are_shown_literally(tmp_path, name):
    """Every command, in a subprocess, with rich's colours forced on."""
    model = ir.save(_digits_model(name), tmp_path / "m.npz")
    costs = tmp_path / "c.toml"
    from energy.costs import DEFAULT_COSTS

    text = DEFAULT_COSTS.read_text()
    costs.write_text(re.sub(r'(?m)^name = .*$', lambda m: "name = " + json.dumps(name), text, count=1))
    env = cli_env(TERM="xterm-256color", FORCE_COLOR="1")  # rich styles on: only our own codes may appear
    runs = [
        ("accel", ["info", model]),
        ("accel", ["info", model, "-v"]),
        ("accel", ["run", model, "--random", "3", "--out", "t.npz"]),  # names no model: control characters only
        ("accel", ["sweep", model, "--random", "2", "--rows", "1,2", "--cols", "1", "--workers", "1"]),
        ("accel", ["accuracy", model, "--rate-T", "2", "--ablation-T", "2"]),
        ("energy", ["report", "t.npz", "--model", model, "--costs", costs]),
    ]
    for prog, argv in runs:
        p = cli(prog, *argv, cwd=tmp_path, env=env)
        assert p.returncode == 0 and "Traceback" not in p.stderr, (argv, p.stderr)
        _shown(p.stdout, None if argv[0] == "run" else name)
    p = cli("accel", "run", model, "--random", "1", "-T", "9", "--out", "u.npz", cwd=tmp_path, env=env)
    assert_user_error(p)
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", p.stderr)


@pytest.mark.slow
def test_names_with_mathtext_do_not_break_the_plots(tmp_path):
    """matplotlib reads ``$...$`` in a label as TeX: a model named so must still plot."""
    pytest.importorskip("matplotlib")
    name = "a$x^{$b"
    model = ir.save(_digits_model(name), tmp_path / "m.npz")
    for prog, argv in (("accel", ["accuracy", model, "--rate-T", "2", "--ablation-T", "2", "--plot", "a.png"]),
                       ("accel", ["run", model, "--random", "2", "--out", "t.npz"]),
                       ("energy", ["report", "t.npz", "--model", model, "--plot", "e.png"]),
                       ("accel", ["sweep", model, "--random", "1", "--rows", "1,2", "--cols", "1", "--plot", "s.png"])):
        p = cli(prog, *argv, cwd=tmp_path)
        assert p.returncode == 0 and "Traceback" not in p.stderr, (argv, p.stderr)
    for png in ("a.png", "e.png", "s.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _subcommands():
    import argparse

    from snnbits.cli.accel import build_parser as accel_parser
    from snnbits.cli.energy import build_parser as energy_parser

    for top in (accel_parser(), energy_parser()):
        sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
        yield from ((f"{top.prog} {name}", p) for name, p in sub.choices.items())


@pytest.mark.parametrize("name, parser", list(_subcommands()), ids=lambda v: v if isinstance(v, str) else "")
def test_help_has_an_example_and_every_option_says_what_it_does_and_its_default(name, parser):
    """Every subcommand's --help ends with an example; every option has a help text, and one that
    takes a value with a default names the default."""
    import argparse

    assert "Example: " in (parser.epilog or ""), f"{name}: no example in --help"
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        what = f"{name} {'/'.join(a.option_strings) or a.metavar}"
        assert a.help and a.help != argparse.SUPPRESS and len(a.help) >= 20, f"{what}: no help text"
        takes_value = not isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                         argparse._StoreConstAction))
        if a.option_strings and takes_value and not a.required and a.default is not None:
            assert "default" in a.help, f"{what}: the help does not name the default ({a.default!r})"


@pytest.mark.parametrize("content", ["bool", "complex", "missing", "text"])
@pytest.mark.parametrize("command", [["run", "--random", "1", "--out", "t.npz"], ["compile", "--out", "c"],
                                     ["sweep", "--random", "1", "--rows", "1", "--cols", "1"]])
def test_a_bad_calibration_file_is_named_as_such(tmp_path, monkeypatch, capsys, command, content):
    """Errors about the --calibration file used to call it 'input file', the name of --input."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "cal.npy"
    if content == "text":
        path.write_text("hello")
    elif content != "missing":
        np.save(path, np.zeros((2, 1, 8, 8), bool if content == "bool" else complex))
    argv = [*command, "--weight-bits", "auto", "--calibration", str(path)]
    assert_user_error_in_process(*run_main(accel_main, argv, capsys), f"error: calibration file {path}: ")

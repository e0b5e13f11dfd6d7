"""Every command in README.md runs, exactly as written, in a fresh working directory.

The shell blocks are read from the README itself, so editing a command there
changes what is tested.  Not run here: the two install-and-test lines at the
top (``pip install ...``, ``bash .ci/run``: CI itself runs them) and ``pytest``
lines (they are this suite).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


#: README commands that take minutes (the slow tier)
SLOW = ("accel demo", "accel accuracy")


def shell_commands() -> list[str]:
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            for part in line.split("  #")[0].split("&&"):
                part = part.strip()
                if part.startswith(("accel ", "energy ")) or part in ("accel", "energy"):
                    cmds.append(part)
    return cmds


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def run(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    prog, *args = shlex.split(cmd)
    env = dict(os.environ, COLUMNS="120")
    return subprocess.run([sys.executable, "-m", prog, *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=1200)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    (d / "accel" / "configs").mkdir(parents=True)
    shutil.copy(ROOT / "accel" / "configs" / "small.toml", d / "accel" / "configs")
    shutil.copy(ROOT / "energy" / "costs_45nm.toml", d / "my_costs.toml")
    return d


def test_readme_starts_with_the_two_commands():
    first = re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1).strip().splitlines()
    assert [l.split("#")[0].strip() for l in first] == ['pip install -e ".[demo]" && accel demo', "bash .ci/run"]


def test_readme_has_commands():
    cmds = shell_commands()
    assert any(c.startswith("accel run") for c in cmds) and any(c.startswith("energy report") for c in cmds)


@pytest.mark.parametrize("cmd", [pytest.param(c, marks=pytest.mark.slow) if c.startswith(SLOW) else c
                                 for c in shell_commands()])
def test_readme_command(cmd, workdir):
    if "--cluster" in cmd:
        try:
            from dask.distributed import LocalCluster
        except ImportError:
            p = run(cmd, workdir)
            assert p.returncode == 2 and "pip install" in p.stderr and "Traceback" not in p.stderr, p.stderr
            return
        # the README's scheduler address stands for the user's; here: a scheduler on loopback
        with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1",
                          dashboard_address=None) as c:
            p = run(re.sub(r"tcp://\S+", c.scheduler_address, cmd), workdir)
        assert p.returncode == 0, p.stderr[-3000:]
        return
    if cmd.startswith("energy report"):  # needs the trace of the 'accel run' line first
        run("accel run --digits 32 --mode literal --out out/trace.npz", workdir)
    p = run(cmd, workdir)
    assert p.returncode == 0, f"{cmd}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    if cmd == "accel demo":
        out = workdir / "demo-out"
        for f in ("summary.md", "accuracy.png", "energy.png", "sweep.png", "trace.npz", "energy.json"):
            assert (out / f).is_file(), f
        assert (out / ".snnbits-demo").is_file()
        assert not [p for p in workdir.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_readme_python_import_snippet(workdir):
    torch = pytest.importorskip("torch")
    from golden import ir
    from golden.training.qcfs import QCFS

    (snippet,) = [b for b in python_blocks() if "import_model" in b]
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), QCFS(bits=4),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 16 * 16, 10),
    ).eval()
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        exec(snippet, {"model": model})
    finally:
        os.chdir(cwd)
    net = ir.load(workdir / "my_model.npz")
    assert [n.op for n in net.nodes][:4] == ["input", "conv2d", "batchnorm", "qcfs"]

"""Training extra: QCFS module, bit regularizer (Eq. 10-11), STE, a short training run on digits."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from golden import datasets, ir, reference  # noqa: E402
from golden.convert import convert  # noqa: E402
from golden.simulate import integer_ann, simulate  # noqa: E402
from golden.training.importer import import_model  # noqa: E402
from golden.training.models import DigitsCNN, sequential_mlp  # noqa: E402
from golden.training.qcfs import QCFS, bit_count, spike_loss  # noqa: E402
from golden.training import make_default  # noqa: E402
from golden.training.repro import DISPATCH_ENV, environment, pin_cpu_dispatch, pinned_torch  # noqa: E402
from golden.training.train import TrainConfig, evaluate, finetune_from_relu, relu_to_qcfs, train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("bits", [1, 2, 4, 5])
def test_qcfs_forward_matches_golden_reference(bits):
    q = QCFS(bits=bits, lam=1.5).double()
    x = torch.linspace(-1, 3, 4001, dtype=torch.float64)
    got = q(x).detach().numpy()
    want = reference.qcfs(x.numpy(), 1.5, bits)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)
    L = (1 << bits) - 1
    assert got.max() == pytest.approx(1.5)  # top code is worth exactly lam (clip at 2^B - 1)
    assert np.array_equal(q.codes(x).numpy(), reference.qcfs_codes(x.numpy(), 1.5, bits))
    assert q.codes(x).max() == L


def test_qcfs_straight_through_gradient():
    q = QCFS(bits=4, lam=2.0).double()
    x = torch.tensor([-1.0, 0.3, 1.0, 1.9, 3.0], dtype=torch.float64, requires_grad=True)
    q(x).sum().backward()
    # STE: floor passes the gradient, the clip does not
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert q.lam.grad is not None and q.lam.grad != 0


def test_bit_count_forward_rounds_to_the_level_first():
    lam = torch.tensor(1.5, dtype=torch.float64)
    L = 15
    k = torch.arange(16, dtype=torch.float64)
    a = k * lam / L
    a_low = a - 1e-9  # 2.9999 must count as 3, not 2 (NOTES.md)
    want = [bin(i).count("1") for i in range(16)]
    assert bit_count(a, lam, 4).tolist() == want
    assert bit_count(a_low.clamp(min=0), lam, 4).tolist() == want


def test_bit_count_surrogate_gradient_eq11():
    lam = torch.tensor(1.5, dtype=torch.float64)
    a = torch.tensor([0.0, 0.1, 0.75, 1.4, 1.5], dtype=torch.float64, requires_grad=True)
    bit_count(a, lam, 4).sum().backward()
    assert a.grad.tolist() == [0.0, 4.0, 4.0, 4.0, 0.0]  # B inside (0, lam), 0 outside


def test_spike_loss_counts_one_bits_per_image():
    torch.manual_seed(0)
    m = sequential_mlp(bits=3).double().eval()
    q = [mod for mod in m.modules() if isinstance(mod, QCFS)][0]
    q.track_bits = True
    x = torch.rand(7, 1, 8, 8, dtype=torch.float64)
    m(x)
    codes = q.codes(m[2](m[1](m[0](x))))
    want = sum(bin(int(c)).count("1") for c in codes.flatten()) / 7
    assert float(spike_loss(m).detach()) == pytest.approx(want)


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    return datasets.digits_train(), datasets.digits_test()


def _snn_spikes(net, test):
    inet = convert(net)
    res = simulate(inet, test.x, mode="literal")
    return inet, res, sum(int(s.sum()) for s in res.spikes.values()) / len(test)


@pytest.fixture(scope="module")
def trained_pair(digits):
    """The same MLP, seed and recipe, trained without and with the bit regularizer."""
    train_set, test = digits
    cfg = TrainConfig(epochs=6, lr=0.05, batch_size=64, seed=0)
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: threads only spin, badly so on a shared CPU
    for reg in (0.0, 0.02):
        torch.manual_seed(0)
        model = sequential_mlp(bits=4, hidden=32)
        log = train(model, train_set, dataclasses.replace(cfg, reg=reg))
        out[reg] = (model, log, import_model(model.double(), datasets.input_node(), name=f"mlp{reg}"))
    torch.set_num_threads(threads)
    return out


def test_training_learns_and_snn_equals_integer_ann(trained_pair, digits):
    _, test = digits
    for model, log, net in trained_pair.values():
        assert log.ce[-1] < log.ce[0]
        assert evaluate(model.float(), test) > 0.85
        inet, res, _ = _snn_spikes(net, test)
        ann = integer_ann(inet, test.x)
        assert np.array_equal(res.predictions(inet), ann.predictions(inet))  # same predictions, every image
        for name, codes in ann.codes.items():
            assert np.array_equal(res.codes[name], codes)


def test_regularizer_cuts_spikes(trained_pair, digits):
    _, test = digits
    spikes = {reg: _snn_spikes(net, test)[2] for reg, (_, _, net) in trained_pair.items()}
    assert spikes[0.0] >= 1.5 * spikes[0.02], spikes
    logs = {reg: log for reg, (_, log, _) in trained_pair.items()}
    assert logs[0.02].spikes[-1] < logs[0.0].spikes[-1]


def test_gradient_flows_through_qcfs_to_first_layer(digits):
    train_set, _ = digits
    torch.manual_seed(0)
    model = sequential_mlp(bits=4)
    x = torch.as_tensor(train_set.x[:64], dtype=torch.float32) / 16
    model(x).logsumexp(1).sum().backward()
    first = model[1].weight.grad
    assert first is not None and float(first.abs().sum()) > 0  # zero without the STE


def test_training_is_deterministic(digits):
    train_set, _ = digits
    small = datasets.Split(train_set.x[:256], train_set.y[:256])
    hashes = []
    for _ in range(2):
        torch.manual_seed(0)
        m = sequential_mlp(bits=4)
        train(m, small, TrainConfig(epochs=2, reg=1e-3, seed=3))
        hashes.append(import_model(m.double(), datasets.input_node()).hash())
    assert hashes[0] == hashes[1]


def test_relu_to_qcfs_replaces_and_calibrates(digits):
    train_set, _ = digits
    torch.manual_seed(0)
    m = DigitsCNN(relu=True, residual=False)
    relu_to_qcfs(m, bits=4, x=train_set.x[:128])
    qs = [q for q in m.modules() if isinstance(q, QCFS)]
    assert len(qs) == 2 and not any(isinstance(q, torch.nn.ReLU) for q in m.modules())
    assert all(q.bits == 4 and 0 < float(q.lam.detach()) < 8.0 for q in qs)
    import_model(m.double(), datasets.input_node())  # importable afterwards


def test_train_config_validates():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="reg"):
        TrainConfig(reg=-1.0)


def test_relu_pretraining_then_qcfs_finetuning(digits):
    """Paper A.9: a ReLU network, converted to QCFS and fine-tuned briefly, converts exactly."""
    train_set, test = digits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        m = DigitsCNN(relu=True, residual=False, channels=(4, 8))
        train(m, train_set, TrainConfig(epochs=3, seed=0))
        relu_acc = evaluate(m, test)
        log = finetune_from_relu(m, train_set, bits=4, config=TrainConfig(epochs=2, lr=0.01, seed=1))
    finally:
        torch.set_num_threads(threads)
    assert len(log.ce) == 2
    assert evaluate(m, test) > relu_acc - 0.05 and evaluate(m, test) > 0.8
    inet = convert(import_model(m.double(), datasets.input_node()))
    assert np.array_equal(simulate(inet, test.x, mode="literal").predictions(inet), integer_ann(inet, test.x).predictions(inet))


def test_pinned_torch_pins_and_restores():
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.backends.mkldnn.enabled,
              torch.get_float32_matmul_precision())
    torch.set_num_threads(2)
    torch.backends.mkldnn.enabled = False
    try:
        with pinned_torch(threads=1):
            assert torch.get_num_threads() == 1
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.backends.mkldnn.enabled and torch.backends.mkldnn.deterministic
            assert torch.get_float32_matmul_precision() == "highest"
        assert torch.get_num_threads() == 2 and not torch.backends.mkldnn.enabled
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])
        torch.backends.mkldnn.enabled = before[2]
    assert before == (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
                      torch.backends.mkldnn.enabled, torch.get_float32_matmul_precision())


def test_pin_cpu_dispatch_keeps_what_the_user_set():
    env = {"MKL_CBWR": "COMPATIBLE", "OTHER": "x"}
    got = pin_cpu_dispatch(env)
    assert got == {**DISPATCH_ENV, "MKL_CBWR": "COMPATIBLE"}
    assert env == {**DISPATCH_ENV, "MKL_CBWR": "COMPATIBLE", "OTHER": "x"}


# ---------------------------------------------------------------- the bundled models, regenerated bit for bit


def _reference_platform_or_skip():
    env = {k: v for k, v in make_default.differences(environment()).items()
           if k in ("torch", "torch_git", "machine")}
    if env:
        pytest.skip(f"the bundled models were trained in another environment: {env} (reference, here)")
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("the bundled models were trained with AVX2 kernels; this CPU has none")


def _subprocess_env() -> dict[str, str]:
    """The caller's environment, with this checkout first on the path, the dispatch variables unset
    (the command pins them) and OpenMP/MKL asking for two threads (which the training must ignore)."""
    env = {k: v for k, v in os.environ.items() if k not in DISPATCH_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    return env


def _params(net):
    return {(n.name, k): v for n in net.nodes for k, v in n.params().items()}


def _assert_same_model(got, want):
    assert got.name == want.name
    assert [(n.op, n.name, n.inputs) for n in got.nodes] == [(n.op, n.name, n.inputs) for n in want.nodes]
    lams = {n.name: (n.lam, m.lam) for n, m in zip(got.nodes, want.nodes) if n.op == "qcfs"}
    assert all(a == b for a, b in lams.values()), f"lam (regenerated, bundled): {lams}"
    gp, wp = _params(got), _params(want)
    assert gp.keys() == wp.keys()
    for k in wp:
        assert gp[k].dtype == wp[k].dtype and gp[k].shape == wp[k].shape, k
        assert np.array_equal(gp[k], wp[k]), f"{k} differs"
    assert got.hash() == want.hash()


@pytest.mark.slow
@pytest.mark.parametrize("args, bundled", [([], make_default.DEFAULT_PATH), (["--reg", "0"], make_default.NOREG_PATH)],
                         ids=["default", "noreg"])
def test_make_default_command_regenerates_bundled_model(tmp_path, args, bundled):
    """The documented command, in a fresh process with OMP_NUM_THREADS=2, writes the bundled weights bit for bit."""
    _reference_platform_or_skip()
    out = tmp_path / "model.npz"
    p = subprocess.run([sys.executable, "-m", "golden.training.make_default", *args, "--out", str(out)],
                       cwd=tmp_path, env=_subprocess_env(), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    _assert_same_model(ir.load(out), ir.load(bundled))


_TWICE = """
import json, sys, torch
from golden import ir
from golden.training.make_default import make
from golden.training.repro import pin_cpu_dispatch
pin_cpu_dispatch()
first, _ = make()
torch.set_num_threads(2)                      # a caller's settings that make() must override
torch.use_deterministic_algorithms(False)
torch.backends.mkldnn.enabled = False
torch.set_flush_denormal(False)
second, _ = make()
ir.save(first, sys.argv[1] + "/first.npz")
ir.save(second, sys.argv[1] + "/second.npz")
json.dump({"threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.enabled}, open(sys.argv[1] + "/state.json", "w"))
"""


@pytest.mark.slow
def test_make_twice_in_one_process_regenerates_bundled_model(tmp_path):
    """Two trainings in one process, the second after the caller changed torch's settings: both bundled, bit for bit."""
    _reference_platform_or_skip()
    p = subprocess.run([sys.executable, "-c", _TWICE, str(tmp_path)], cwd=tmp_path, env=_subprocess_env(),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    bundled = ir.load(make_default.DEFAULT_PATH)
    _assert_same_model(ir.load(tmp_path / "first.npz"), bundled)
    _assert_same_model(ir.load(tmp_path / "second.npz"), bundled)
    assert json.loads((tmp_path / "state.json").read_text()) == {"threads": 2, "mkldnn": False}  # restored

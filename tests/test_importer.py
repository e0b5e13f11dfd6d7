"""Importer: torch model -> golden Network via torch.fx; round trips and refusals."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from golden import datasets, ir, reference  # noqa: E402
from golden.errors import GoldenError  # noqa: E402
from golden.training.importer import import_model  # noqa: E402
from golden.training.models import DigitsCNN, sequential_mlp  # noqa: E402
from golden.training.qcfs import QCFS  # noqa: E402
from golden.training.train import to_tensor  # noqa: E402


def _randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            C = m.num_features
            m.running_mean.copy_(torch.rand(C, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(C, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(C, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(C, generator=g) * 0.4 - 0.2)
    return model


class Residual(nn.Module):
    """Functional forms: torch.add, torch.flatten, x.flatten, operator +."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.q = QCFS(3, 1.0)
        self.conv2 = nn.Conv2d(4, 4, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.q2 = QCFS(3, 1.5)
        self.conv3 = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.bn3 = nn.BatchNorm2d(4)
        self.q3 = QCFS(3, 1.2)
        self.pool = nn.AvgPool2d(2, stride=2)
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        a = self.q(self.bn(self.conv(x)))
        b = self.q2(torch.add(self.bn2(self.conv2(a)), a))
        c = self.q3(self.bn3(self.conv3(b)) + b)
        return self.fc(self.drop(torch.flatten(self.pool(c), 1)))


def _models():
    torch.manual_seed(0)
    return {
        "sequential": sequential_mlp(bits=4, hidden=16),
        "digits_cnn": DigitsCNN(bits=4, channels=(4, 8)),
        "functional_residual": Residual(),
    }


@pytest.mark.parametrize("kind", ["sequential", "digits_cnn", "functional_residual"])
def test_round_trip_float_forward(kind, tmp_path):
    model = _randomize_bn(_models()[kind]).eval().double()
    net = import_model(model, datasets.input_node(), name=kind)
    x = np.random.default_rng(1).integers(0, 17, (64, 1, 8, 8))
    with torch.no_grad():
        want = model(to_tensor(x).double()).numpy()
    got = reference.forward(net, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    # the file round trip keeps everything
    ir.save(net, tmp_path / "m.npz")
    assert ir.load(tmp_path / "m.npz").hash() == net.hash()


def test_import_structure_of_residual_model():
    net = import_model(_randomize_bn(_models()["digits_cnn"]).eval(), datasets.input_node())
    ops = [n.op for n in net.nodes]
    assert ops.count("add") == 1 and ops.count("qcfs") == 3 and ops.count("avgpool2d") == 2
    add = next(n for n in net.nodes if n.op == "add")
    assert set(add.inputs) == {"res.bn", "act1"}
    assert net.bits == 4


def _err(model, match):
    with pytest.raises(GoldenError, match=match) as e:
        import_model(model, datasets.input_node())
    assert "importer" in str(e.value)
    return str(e.value)


def test_unsupported_module_names_module_and_alternatives():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.GELU(), nn.Linear(8, 10))
    msg = _err(model, r"module '2' \(GELU\) is not supported")
    assert "Supported:" in msg and "AvgPool2d" in msg and "QCFS" in msg


def test_maxpool_refused_with_avgpool_hint():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 10))
    _err(model, r"module '1' \(MaxPool2d\).*nn.AvgPool2d")


def test_functional_maxpool_and_relu_refused():
    class F(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            return self.fc(torch.flatten(torch.nn.functional.max_pool2d(torch.relu(x), 2), 1))

    _err(F(), r"relu.*QCFS")


def test_relu_module_hint():
    _err(nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU()), r"ReLU.*relu_to_qcfs")


def test_mismatched_bits():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), QCFS(4), nn.Linear(8, 8), QCFS(3), nn.Linear(8, 10))
    msg = _err(model, r"one bit width B")
    assert "'2': B=4" in msg and "'4': B=3" in msg


def test_untraceable_model():
    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    _err(Branchy(), r"cannot trace Branchy")


def test_flatten_must_keep_batch():
    class Flat0(nn.Module):
        def forward(self, x):
            return torch.flatten(x)

    _err(Flat0(), r"start_dim=1")


def test_not_a_module():
    with pytest.raises(GoldenError, match="torch.nn.Module"):
        import_model(object(), datasets.input_node())


def test_flatten_spellings_and_view_refused():
    class Kw(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(torch.flatten(x, start_dim=1))

    class Method(Kw):
        def forward(self, x):
            return self.fc(x.flatten(1))

    class View(Kw):
        def forward(self, x):
            return self.fc(x.view(x.size(0), -1))

    for cls in (Kw, Method):
        assert [n.op for n in import_model(cls(), datasets.input_node()).nodes] == ["input", "flatten", "linear"]
    _err(View(), r"method \.size\(\).*torch.flatten\(x, 1\)")

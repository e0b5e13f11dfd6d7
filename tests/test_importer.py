"""Importer: torch model -> golden Network via torch.fx; round trips and refusals."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from golden import datasets, ir, reference  # noqa: E402
from golden.errors import GoldenError  # noqa: E402
from golden.convert import convert  # noqa: E402
from golden.simulate import integer_ann, simulate  # noqa: E402
from golden.training import importer  # noqa: E402
from golden.training.importer import check_qcfs, import_model  # noqa: E402
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


# ---------------------------------------------------------------- a QCFS module written by the user


def _mlp_with(act: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), act, nn.Linear(8, 10))


class BitsLam(nn.Module):
    """A QCFS written from the formula, with the same attribute names as QCFS."""

    def __init__(self, bits=3, lam=1.25):
        super().__init__()
        self.bits = bits
        self.lam = nn.Parameter(torch.tensor(lam))

    def forward(self, x):
        L = 2**self.bits - 1
        return torch.clamp(torch.floor(x / self.lam * L + 0.5), 0, L) * self.lam / L


class AuthorsIF(nn.Module):
    """The QCFS authors' spelling: threshold ``up``, ``t`` levels; nothing says it is QCFS."""

    def __init__(self, t=7, up=2.0):
        super().__init__()
        self.t = t
        self.up = nn.Parameter(torch.tensor([up]))

    def forward(self, x):
        x = torch.floor(x / self.up * self.t + 0.5) / self.t
        return torch.clamp(x, 0, 1) * self.up


class Declared(AuthorsIF):
    """The same, declaring ``snnbits_qcfs = (bits, lam)``."""

    @property
    def snnbits_qcfs(self):
        return (self.t + 1).bit_length() - 1, self.up


class Truncating(BitsLam):
    """Claims QCFS but truncates (floor without the half step)."""

    def forward(self, x):
        L = 2**self.bits - 1
        return torch.clamp(torch.floor(x / self.lam * L), 0, L) * self.lam / L


class PerChannel(BitsLam):
    def __init__(self):
        super().__init__()
        self.lam = nn.Parameter(torch.ones(8))


class WrongSubclass(QCFS):
    def forward(self, x):
        return torch.minimum(torch.relu(x), self.lam)  # a clipped ReLU, not quantized


class NotElementwise(BitsLam):
    def forward(self, x):
        return super().forward(x) * x.shape[1] / x.shape[1]  # needs a batch dimension


@pytest.mark.parametrize("act, bits, lam", [(BitsLam(), 3, 1.25), (Declared(), 3, 2.0), (QCFS(3, 0.75), 3, 0.75)],
                         ids=["bits-lam", "snnbits_qcfs", "QCFS"])
def test_user_qcfs_module_is_imported_as_qcfs(act, bits, lam):
    model = _randomize_bn(_mlp_with(act)).eval().double()
    net = import_model(model, datasets.input_node())
    q = [n for n in net.nodes if n.op == "qcfs"]
    assert [(n.bits, n.lam) for n in q] == [(bits, lam)]
    x = np.random.default_rng(2).integers(0, 17, (32, 1, 8, 8))
    with torch.no_grad():
        want = model(to_tensor(x).double()).numpy()
    np.testing.assert_allclose(reference.forward(net, x), want, rtol=1e-9, atol=1e-9)
    inet = convert(net)
    assert np.array_equal(simulate(inet, x, mode="literal").predictions(inet), integer_ann(inet, x).predictions(inet))


def test_user_qcfs_that_truncates_is_refused_with_the_first_difference():
    msg = _err(_mlp_with(Truncating()), r"module '3' \(Truncating\) claims to be QCFS \(bits=3, lam=1.25\) but does not compute it")
    # the first probe that differs: level 1 at -0.45 LSB, 0.55 * 1.25 / 7 = 0.0982: QCFS rounds up to code 1
    assert "at x = 0.0982143 it returns 0, QCFS gives 0.178571" in msg
    assert "golden.training.qcfs.QCFS(bits, lam)" in msg


def test_qcfs_subclass_with_another_forward_is_refused():
    _err(_mlp_with(WrongSubclass(3, 1.0)), r"module '3' \(WrongSubclass\) claims to be QCFS .* does not compute it")


class Reducing(BitsLam):
    def forward(self, x):
        return super().forward(x).sum(-1)


@pytest.mark.parametrize("act", [NotElementwise, Reducing])
def test_user_qcfs_that_is_not_elementwise_is_refused(act):
    _err(_mlp_with(act()), rf"module '3' \({act.__name__}\) claims to be QCFS .* fails on a 1-D probe tensor")


def test_bad_declaration_is_refused():
    class BadDeclaration(AuthorsIF):
        snnbits_qcfs = 3

    _err(_mlp_with(BadDeclaration()), r"module '3' \(BadDeclaration\): snnbits_qcfs must be a tuple \(bits, lam\), not 3")


def test_per_channel_lam_is_refused():
    _err(_mlp_with(PerChannel()), r"module '3' \(PerChannel\): lam must be one scalar per layer, not a tensor of shape \(8,\)")


def test_unrecognized_qcfs_like_module_is_refused_naming_it():
    msg = _err(_mlp_with(AuthorsIF()), r"attribute '3.up' inside module '3' \(AuthorsIF\)")
    assert "golden.training.qcfs.QCFS(bits, lam)" in msg and "snnbits_qcfs = (bits, lam)" in msg


def test_check_qcfs_accepts_qcfs_for_every_width():
    for bits in range(1, 9):
        assert check_qcfs(QCFS(bits, 0.7).double(), bits, 0.7) is None
        assert check_qcfs(QCFS(bits, 0.7).double(), bits, 0.71) is not None  # another lam is caught


# ---------------------------------------------------------------- tensors that must be quantized


class TwoBranches(nn.Module):
    """conv(q1 + q2), or with fix=True conv(q(q1 + q2))."""

    def __init__(self, fix=False):
        super().__init__()
        self.c1, self.q1 = nn.Conv2d(1, 4, 3, padding=1), QCFS(4, 1.0)
        self.c2, self.q2 = nn.Conv2d(1, 4, 3, padding=1), QCFS(4, 1.5)
        self.qsum = QCFS(4, 2.0) if fix else nn.Identity()
        self.conv, self.q3 = nn.Conv2d(4, 4, 3, padding=1), QCFS(4, 1.0)
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        s = self.qsum(self.q1(self.c1(x)) + self.q2(self.c2(x)))
        return self.fc(torch.flatten(self.q3(self.conv(s)), 1))


def _seq(*mods):
    torch.manual_seed(0)
    return nn.Sequential(*mods)


REFUSED = {
    "conv(q1 + q2)": (
        lambda: TwoBranches(),
        r"module 'conv' \(Conv2d\) reads operation 'add' \(a \+ b\), which is not a quantized tensor.*conv\(QCFS\(a \+ b\)\)",
        lambda: TwoBranches(fix=True),
    ),
    "conv(bn(x))": (
        lambda: _seq(nn.BatchNorm2d(1), nn.Conv2d(1, 4, 3), QCFS(4, 1.0), nn.Flatten(), nn.Linear(144, 10)),
        r"module '1' \(Conv2d\) reads module '0' \(BatchNorm2d\).*move it after the conv/linear",
        lambda: _seq(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), QCFS(4, 1.0), nn.Flatten(), nn.Linear(144, 10)),
    ),
    "q(avgpool(conv(x)))": (
        lambda: _seq(nn.Conv2d(1, 4, 3, padding=1), nn.AvgPool2d(2), QCFS(4, 1.0), nn.Flatten(), nn.Linear(64, 10)),
        r"module '1' \(AvgPool2d\) acts on module '0' \(Conv2d\), which is not a quantized tensor.*QCFS -> AvgPool2d",
        lambda: _seq(nn.Conv2d(1, 4, 3, padding=1), QCFS(4, 1.0), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10)),
    ),
    "linear(flatten(conv(q)))": (
        lambda: _seq(nn.Conv2d(1, 4, 3, padding=1), QCFS(4, 1.0), nn.Conv2d(4, 4, 3, padding=1), nn.Flatten(),
                     nn.Linear(256, 10)),
        r"module '4' \(Linear\) reads module '2' \(Conv2d\) through module '3' \(Flatten\).*put a QCFS activation after module '2'",
        lambda: _seq(nn.Conv2d(1, 4, 3, padding=1), QCFS(4, 1.0), nn.Conv2d(4, 4, 3, padding=1), QCFS(4, 1.0),
                     nn.Flatten(), nn.Linear(256, 10)),
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unconvertible_structure_refused_at_import_and_the_fix_converts(case):
    bad, match, fixed = REFUSED[case]
    _err(_randomize_bn(bad()).eval().double(), match)
    net = import_model(_randomize_bn(fixed()).eval().double(), datasets.input_node())
    x = np.random.default_rng(3).integers(0, 17, (16, 1, 8, 8))
    inet = convert(net)
    assert np.array_equal(simulate(inet, x, mode="literal").predictions(inet), integer_ann(inet, x).predictions(inet))


class Program(nn.Module):
    """After conv-QCFS on the digits input: a chain of conv / bn / QCFS / avgpool / residual add
    (of the first tensor at the same resolution) on C channels, then optionally flatten + linear."""

    def __init__(self, ops, C=2):
        super().__init__()
        self.ops = ops
        side = 8 // 2 ** ops.count("pool")
        make = {"conv": lambda: nn.Conv2d(C, C, 3, padding=1), "bn": lambda: nn.BatchNorm2d(C),
                "q": lambda: QCFS(3, 1.0), "pool": lambda: nn.AvgPool2d(2), "add": nn.Identity,
                "linear": lambda: nn.Linear(C * side * side, 3)}
        self.first = nn.Sequential(nn.Conv2d(1, C, 3, padding=1), QCFS(3, 1.0))
        self.mods = nn.ModuleList(make[op]() for op in ops)

    def forward(self, x):
        x = self.first(x)
        first_at = {0: x}  # first tensor at each resolution, the skip input of an add
        depth = 0
        for op, m in zip(self.ops, self.mods):
            if op == "add":
                x = x + first_at[depth]
            elif op == "linear":
                x = m(torch.flatten(x, 1))
            else:
                x = m(x)
            depth += op == "pool"
            first_at.setdefault(depth, x)
        return x


def _import_unchecked(model):
    """The network the importer builds, without its check of quantized inputs."""
    original = importer._check_quantized_inputs
    importer._check_quantized_inputs = lambda *args: None
    try:
        return import_model(model, datasets.input_node())
    finally:
        importer._check_quantized_inputs = original


@settings(max_examples=80, deadline=None)
@given(ops=st.lists(st.sampled_from(["conv", "bn", "q", "pool", "add"]), min_size=1, max_size=7), linear=st.booleans())
def test_import_refuses_exactly_what_convert_cannot_fold(ops, linear):
    """On random op chains the import-time check agrees with golden.convert: refused at import
    if and only if convert, given the same graph unchecked, cannot fold it into layers."""
    assume(ops.count("pool") <= 2)
    ops = ops + ["linear"] * linear
    torch.manual_seed(0)
    model = _randomize_bn(Program(ops)).eval().double()
    try:
        import_model(model, datasets.input_node())
        refused = None
    except GoldenError as e:
        refused = str(e)
    try:
        convert(_import_unchecked(model))
        structural = None
    except GoldenError as e:
        structural = str(e) if ("not a quantized activation" in str(e) or "cannot be folded" in str(e)) else None
    assert (refused is None) == (structural is None), (ops, refused, structural)
    assert refused is None or "which is not a quantized tensor" in refused

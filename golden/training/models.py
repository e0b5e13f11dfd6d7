"""Small torch models for the 8x8 digits (input ``(1, 8, 8)``, values ``k / 16``)."""

from __future__ import annotations

from torch import nn

from .qcfs import QCFS


class ResBlock(nn.Module):
    """``qcfs(bn(conv(x)) + x)``: a residual block whose skip input is a QCFS output."""

    def __init__(self, channels: int, bits: int, lam: float):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.act = QCFS(bits, lam)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)) + x)


class DigitsCNN(nn.Module):
    """conv-bn-qcfs, residual block, avgpool, conv-bn-qcfs, avgpool, flatten, linear.

    ``act`` builds the activation (default :class:`QCFS`; pass ``nn.ReLU`` for a ReLU
    pre-training, then :func:`golden.training.train.relu_to_qcfs`).  The residual
    block always uses QCFS unless ``residual=False``.
    """

    def __init__(self, bits: int = 4, channels: tuple[int, int] = (16, 32), residual: bool = True,
                 lam: float = 2.0, classes: int = 10, relu: bool = False):
        super().__init__()
        c1, c2 = channels
        act = (lambda: nn.ReLU()) if relu else (lambda: QCFS(bits, lam))
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.act1 = act()
        self.res = ResBlock(c1, bits, lam) if residual and not relu else nn.Identity()
        self.pool1 = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.act2 = act()
        self.pool2 = nn.AvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c2 * 2 * 2, classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.res(x)
        x = self.pool1(x)
        x = self.act2(self.bn2(self.conv2(x)))
        return self.fc(self.flatten(self.pool2(x)))


def sequential_mlp(bits: int = 4, hidden: int = 32, lam: float = 2.0, classes: int = 10) -> nn.Sequential:
    """flatten, linear-bn-qcfs, linear: the smallest model for tests."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, hidden),
        nn.BatchNorm1d(hidden),
        QCFS(bits, lam),
        nn.Linear(hidden, classes),
    )

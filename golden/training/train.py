"""Training of QCFS networks: SGD with momentum and a cosine schedule (paper A.1),
the bit regularizer (Eq. 10), and ReLU-to-QCFS fine-tuning (A.9).

Denormal floats are flushed to zero during training (they made CPU training ~30x
slower once the loss is tiny).  Deterministic: :func:`train` seeds torch and its
own shuffling generator and turns on ``torch.use_deterministic_algorithms``
(both restored afterwards).  Two runs give the same weights bit for bit only
with the same thread count and CPU dispatch as well:
:func:`golden.training.repro.pinned_torch` and
:func:`golden.training.repro.pin_cpu_dispatch` pin them, and
:mod:`golden.training.repro` lists what the weights depend on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..datasets import PIXEL_MAX, Split
from .qcfs import QCFS, qcfs_modules, spike_loss


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters.  Paper A.1: SGD, momentum 0.9, cosine decay, weight decay 5e-4
    (applied to conv and linear weights only, not to ``lam`` or BatchNorm); ``reg`` is
    the coefficient of ``L_SP`` (1-bits per image, summed over layers; the paper sums
    over the whole batch, so its 1e-8 is not comparable)."""

    epochs: int = 40
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    reg: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for f, lo in (("epochs", 1), ("batch_size", 1)):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"TrainConfig: {f} must be an integer >= {lo}, not {v!r}")
        for f in ("lr", "momentum", "weight_decay", "reg"):
            v = getattr(self, f)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"TrainConfig: {f} must be a finite number >= 0, not {v!r}")


@dataclass
class TrainLog:
    """Per epoch: mean cross-entropy, mean ``L_SP`` (1-bits per image), training accuracy."""

    ce: list[float] = field(default_factory=list)
    spikes: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """Digits pixel codes (0..16) to the float values the torch model sees (``k / 16``)."""
    return torch.as_tensor(np.asarray(x, dtype=np.float32) / PIXEL_MAX)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def _param_groups(model: nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for m in model.modules():
        for name, p in m.named_parameters(recurse=False):
            (decay if isinstance(m, (nn.Conv2d, nn.Linear)) and name == "weight" else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train(
    model: nn.Module,
    data: Split,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[int, TrainLog], None] | None = None,
) -> TrainLog:
    """Train ``model`` on ``data`` (pixel codes and labels) in place; return the log.

    Loss: ``CE + config.reg * L_SP`` (Eq. 10).  ``progress(epoch, log)`` is called after
    each epoch.
    """
    deterministic = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    seed_everything(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    x, y = to_tensor(data.x), torch.as_tensor(data.y, dtype=torch.int64)
    opt = torch.optim.SGD(_param_groups(model, config.weight_decay), lr=config.lr, momentum=config.momentum)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    qs = qcfs_modules(model)
    for q in qs:
        q.track_bits = True
    log = TrainLog()
    ce_fn = nn.CrossEntropyLoss()
    # denormal floats appear once the cross-entropy gets tiny and slow CPU training ~30x
    torch.set_flush_denormal(True)
    try:
        for epoch in range(config.epochs):
            model.train()
            perm = torch.randperm(len(y), generator=gen)
            tot_ce = tot_sp = correct = 0.0
            for i in range(0, len(y), config.batch_size):
                idx = perm[i : i + config.batch_size]
                if len(idx) < 2:  # BatchNorm needs two samples
                    continue
                out = model(x[idx])
                ce = ce_fn(out, y[idx])
                sp = spike_loss(model) if qs else torch.zeros(())
                loss = ce + config.reg * sp if config.reg else ce
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    for q in qs:
                        q.lam.clamp_(min=1e-3)
                tot_ce += ce.item() * len(idx)
                tot_sp += sp.item() * len(idx)
                correct += float((out.argmax(1) == y[idx]).sum())
            sched.step()
            log.ce.append(tot_ce / len(y))
            log.spikes.append(tot_sp / len(y))
            log.accuracy.append(correct / len(y))
            if progress is not None:
                progress(epoch, log)
    finally:
        torch.set_flush_denormal(False)
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
        for q in qs:
            q.track_bits = False
            q.bit_total = None
    model.eval()
    return log


@torch.no_grad()
def evaluate(model: nn.Module, data: Split) -> float:
    """Float accuracy of ``model`` (eval mode) on ``data``."""
    model.eval()
    return float((model(to_tensor(data.x)).argmax(1).numpy() == data.y).mean())


@torch.no_grad()
def relu_to_qcfs(model: nn.Module, bits: int, x: np.ndarray | None = None, percentile: float = 99.0) -> nn.Module:
    """Replace every ``nn.ReLU`` module of ``model`` (in place) by a :class:`QCFS` of ``bits`` bits.

    With calibration pixel codes ``x``, each new ``lam`` starts at the ``percentile`` of
    the positive activations that ReLU produced there (else at QCFS's 8.0).  Functional
    ``F.relu`` calls are not modules and are not replaced.  Paper A.9: a few epochs of
    :func:`train` afterwards recover the ReLU network's accuracy.
    """
    names = [n for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    lams: dict[str, float] = {}
    if x is not None and names:
        acts: dict[str, torch.Tensor] = {}
        hooks = [
            model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: acts.__setitem__(n, o))
            for n in names
        ]
        model.eval()
        model(to_tensor(x))
        for h in hooks:
            h.remove()
        for n, a in acts.items():
            pos = a[a > 0]
            lams[n] = float(np.percentile(pos.numpy(), percentile)) if pos.numel() else 1.0
    for n in names:
        parent_name, _, child = n.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, QCFS(bits=bits, lam=max(lams.get(n, 8.0), 1e-3)))
    return model


def finetune_from_relu(model: nn.Module, data: Split, bits: int, config: TrainConfig) -> TrainLog:
    """Paper A.9: turn a ReLU network into a QCFS network (calibrated ``lam``) and fine-tune it."""
    relu_to_qcfs(model, bits, data.x[:512])
    return train(model, data, config)

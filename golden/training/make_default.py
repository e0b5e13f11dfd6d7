"""Regenerate the bundled default model ``golden/data/default.npz``.

    python -m golden.training.make_default            # writes golden/data/default.npz
    python -m golden.training.make_default --reg 0 --out /tmp/noreg.npz

Trains :class:`golden.training.models.DigitsCNN` (B = 4) on the digits training
split with :class:`golden.training.train.TrainConfig` defaults (seed 0), imports it
with :func:`golden.training.importer.import_model` and saves it with
:func:`golden.ir.save`.  The recorded accuracies are in ``docs/default-model.md``.

Reproducible bit for bit (see :mod:`golden.training.repro`): the command pins the
CPU dispatch of ATen, oneDNN and MKL to AVX2 before torch runs anything, and
:func:`make` trains on one thread with deterministic settings.  In the
:data:`REFERENCE` environment the command writes the bundled files' exact
weights (``tests/test_training.py`` regenerates both and compares the hashes);
it prints the environment it ran in and what differs from the reference.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from .. import datasets, ir
from .importer import import_model
from .models import DigitsCNN
from .repro import environment, pin_cpu_dispatch, pinned_torch
from .train import TrainConfig, evaluate, train

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "default.npz"
#: regularizer coefficient of the bundled model (chosen with bench/regularizer_sweep.py)
DEFAULT_REG = 3e-4
BITS = 4
NOREG_PATH = DEFAULT_PATH.with_name("default_noreg.npz")
#: the environment the bundled models were trained in (:func:`golden.training.repro.environment`);
#: torch, the machine and the CPU dispatch decide the float results, the other entries are recorded
REFERENCE = {
    "torch": "2.13.0+cpu",
    "torch_git": "cf30153c4c131c8164ee7798e5022d810682e2cb",
    "machine": "x86_64",
    "cpu_capability": "AVX2",
    "numpy": "2.4.6",
    "scikit-learn": "1.9.1",
    "python": "3.11.7",
}
#: entries of :data:`REFERENCE` that change the trained weights when they differ
DECISIVE = ("torch", "torch_git", "machine", "cpu_capability")


def differences(env: dict) -> dict[str, tuple]:
    """Entries of :data:`REFERENCE` that ``env`` (from :func:`environment`) does not match: ``{key: (reference, env)}``."""
    return {k: (v, env.get(k)) for k, v in REFERENCE.items() if env.get(k) != v}


def make(reg: float = DEFAULT_REG, seed: int = 0, epochs: int = TrainConfig.epochs, name: str = "digits-cnn",
         progress=None) -> tuple[ir.Network, dict]:
    """Train and import one digits model; returns the network and a summary dict.

    Runs inside :func:`golden.training.repro.pinned_torch` (one thread,
    deterministic settings; the caller's torch settings are restored afterwards),
    so a second call in the same process gives the same network.  The summary's
    ``environment`` records what the weights depend on beyond that.
    ``progress(epoch, log)`` is passed to :func:`golden.training.train.train`."""
    cfg = dataclasses.replace(TrainConfig(), reg=reg, seed=seed, epochs=epochs)
    data = datasets.digits_train()
    with pinned_torch(threads=1):
        torch.manual_seed(seed)
        model = DigitsCNN(bits=BITS)
        t0 = time.perf_counter()
        log = train(model, data, cfg, progress=progress)
        seconds = time.perf_counter() - t0
        net = import_model(model.double(), datasets.input_node(), name=name)
        accuracy = evaluate(model.float(), datasets.digits_test())
        env = environment()
    summary = {
        "config": dataclasses.asdict(cfg),
        "train_seconds": round(seconds, 1),
        "torch_test_accuracy": accuracy,
        "train_spikes_per_image": log.spikes[-1],
        "environment": env,
    }
    return net, summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m golden.training.make_default", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_PATH, help=f"model file to write (default: {DEFAULT_PATH})")
    p.add_argument("--reg", type=float, default=DEFAULT_REG, help=f"bit regularizer coefficient (default: {DEFAULT_REG})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = p.parse_args(argv)
    pin_cpu_dispatch()  # before the first torch operation of this process
    from rich.progress import Progress

    with Progress(transient=True) as prog:
        task = prog.add_task("training", total=args.epochs)
        net, summary = make(args.reg, args.seed, args.epochs, name="digits-cnn" if args.reg else "digits-cnn-noreg",
                            progress=lambda e, log: prog.update(task, completed=e + 1,
                                                                description=f"training, loss {log.ce[-1]:.3f}"))
    ir.save(net, args.out)
    print(f"wrote {args.out} (hash {net.hash()}): {summary}")
    diff = differences(summary["environment"])
    if diff:
        decisive = sorted(set(diff) & set(DECISIVE))
        print("environment differs from the bundled models' reference: "
              + ", ".join(f"{k} {v[1]!r} (reference {v[0]!r})" for k, v in diff.items())
              + (f"; {', '.join(decisive)} change the trained weights" if decisive else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

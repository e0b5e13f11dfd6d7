"""Regenerate the bundled default model ``golden/data/default.npz``.

    python -m golden.training.make_default            # writes golden/data/default.npz
    python -m golden.training.make_default --reg 0 --out /tmp/noreg.npz

Trains :class:`golden.training.models.DigitsCNN` (B = 4) on the digits training
split with :class:`golden.training.train.TrainConfig` defaults (seed 0, one torch
thread, deterministic algorithms), imports it with
:func:`golden.training.importer.import_model` and saves it with :func:`golden.ir.save`.
The recorded accuracies are in ``docs/default-model.md``.
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
from .train import TrainConfig, evaluate, train

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "default.npz"
#: regularizer coefficient of the bundled model (chosen with bench/regularizer_sweep.py)
DEFAULT_REG = 3e-4
BITS = 4


def make(reg: float = DEFAULT_REG, seed: int = 0, epochs: int = TrainConfig.epochs, name: str = "digits-cnn",
         progress=None) -> tuple[ir.Network, dict]:
    """Train and import one digits model; returns the network and a summary dict.

    ``progress(epoch, log)`` is passed to :func:`golden.training.train.train`."""
    torch.set_num_threads(1)  # one thread: no OpenMP spinning on a shared CPU, no thread-count dependence
    cfg = dataclasses.replace(TrainConfig(), reg=reg, seed=seed, epochs=epochs)
    torch.manual_seed(seed)
    model = DigitsCNN(bits=BITS)
    t0 = time.perf_counter()
    log = train(model, datasets.digits_train(), cfg, progress=progress)
    net = import_model(model.double(), datasets.input_node(), name=name)
    summary = {
        "config": dataclasses.asdict(cfg),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "torch_test_accuracy": evaluate(model.float(), datasets.digits_test()),
        "train_spikes_per_image": log.spikes[-1],
    }
    return net, summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m golden.training.make_default", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_PATH, help=f"model file to write (default: {DEFAULT_PATH})")
    p.add_argument("--reg", type=float, default=DEFAULT_REG, help=f"bit regularizer coefficient (default: {DEFAULT_REG})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = p.parse_args(argv)
    from rich.progress import Progress

    with Progress(transient=True) as prog:
        task = prog.add_task("training", total=args.epochs)
        net, summary = make(args.reg, args.seed, args.epochs, name="digits-cnn" if args.reg else "digits-cnn-noreg",
                            progress=lambda e, log: prog.update(task, completed=e + 1,
                                                                description=f"training, loss {log.ce[-1]:.3f}"))
    ir.save(net, args.out)
    print(f"wrote {args.out} (hash {net.hash()[:16]}): {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

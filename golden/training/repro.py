"""Bit-for-bit reproducible CPU training: what the float results depend on, and how it is pinned.

Two trainings give the same weights bit for bit only if every float operation
runs the same kernel with the same summation order.  On a CPU build of torch
that order depends on (measured with :mod:`golden.training.make_default`,
torch 2.13.0+cpu, x86-64 host with AVX2):

* the number of intra-op threads (1, 2, 3 and 4 threads give four different
  models): pinned to 1 by :func:`pinned_torch`;
* the instruction set each library dispatches to, chosen once per process from
  the CPU or from an environment variable: ATen's kernels
  (``ATEN_CPU_CAPABILITY``), oneDNN's convolutions (``ONEDNN_MAX_CPU_ISA``) and
  MKL's GEMM (``MKL_CBWR``).  Forcing any one of them to another level changes
  the model, so a CPU with AVX-512 would train another model by default.
  :func:`pin_cpu_dispatch` pins all three to AVX2 (kernels that every x86-64
  CPU since 2013 runs); it must run before the process's first torch operation;
* whether convolutions use oneDNN at all (``torch.backends.mkldnn.enabled``):
  pinned on by :func:`pinned_torch`, with float32 arithmetic kept IEEE
  (no TF32 or bfloat16 matrix products on CPUs that have them).

Measured to make no difference once the above is pinned: ``OMP_NUM_THREADS``
and ``MKL_NUM_THREADS`` (``torch.set_num_threads`` overrides them),
``torch.use_deterministic_algorithms``, flushing denormals to zero, and a
second training in the same process.  The data order comes from a seeded
``torch.Generator`` and the split from scikit-learn's fixed ``random_state``;
the data path uses no BLAS (pixel codes are divided by 16, which is exact).

Not pinned, so recorded by :func:`environment`: the torch build (another
version or a CUDA wheel compiles other kernels), the CPU architecture
(ARM builds have other kernels), and cache-size-dependent blocking inside
oneDNN, which could differ between CPU models at the same instruction set.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

import numpy as np
import torch

#: instruction set each CPU library dispatches to, read once per process on first use
DISPATCH_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def pin_cpu_dispatch(env: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set every :data:`DISPATCH_ENV` variable that is not set yet in ``env`` (default ``os.environ``).

    Takes effect only if the process has not run a torch operation yet (the
    libraries read these variables once).  Returns the values now in ``env``:
    a value the user set is kept (and ends up in :func:`environment`).
    """
    env = os.environ if env is None else env
    for k, v in DISPATCH_ENV.items():
        env.setdefault(k, v)
    return {k: env[k] for k in DISPATCH_ENV}


@contextmanager
def pinned_torch(threads: int = 1) -> Iterator[None]:
    """Pin the process-wide torch settings that change float results; restore them on exit.

    Inside: ``threads`` intra-op threads, deterministic algorithms, oneDNN on
    (deterministic, IEEE float32 rather than TF32/bfloat16 arithmetic) and
    full-precision float32 matrix products.
    """
    saved = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.get_float32_matmul_precision(),
    )
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.set_float32_matmul_precision("highest")
    try:
        with torch.backends.mkldnn.flags(enabled=True, deterministic=True, allow_tf32=None, fp32_precision="ieee"):
            yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
        torch.set_float32_matmul_precision(saved[3])


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def environment() -> dict:
    """Everything a training result depends on that :func:`pinned_torch` cannot pin, as recorded data."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "torch_git": torch.version.git_version,
        "numpy": np.__version__,
        "scikit-learn": _version("sklearn"),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "dispatch_env": {k: os.environ.get(k) for k in DISPATCH_ENV},
        "platform": sys.platform,
    }

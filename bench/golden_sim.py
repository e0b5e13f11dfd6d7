"""Golden-model speed against the float ANN, measured in one run with interleaved repetitions.

    python bench/golden_sim.py [--model vgg16|bundled|all] [--images 64] [--reps 5] [--threads 1]
    python bench/golden_sim.py --thread-sweep      # BLAS threads 1 vs 2 at batch 2 and --images

Methods, on the same network and the same pixel codes:

``fast``     :func:`golden.simulate.simulate` ``mode="fast"`` (exact integer SNN, closed form)
``literal``  :func:`golden.simulate.simulate` ``mode="literal"`` (time step by time step)
``numpy32``  :func:`golden.reference.forward` ``dtype=float32`` (the float QCFS ANN, same kernels)
``torch32``  a torch float32 forward of the same IR graph (``torch.nn.functional``), if torch is installed
``sj_if4``   the rate-coded SNN in SpikingJelly: multi-step IF neurons (reset by subtraction,
             threshold ``lam``) at ``T = 4``, stateless ops on the ``T*N`` batch, if spikingjelly is installed

Before timing, ``fast`` and ``literal`` must agree bit for bit (codes of every layer,
every membrane, logits), and the torch forward must match ``numpy32``: a fast but
wrong change cannot look good.  Each repetition runs every method once, in turn;
the table shows medians and the ratio of ``fast``'s images/s to each method's.
Peak memory is the tracemalloc peak of one extra run (NumPy allocations only);
"kept" is what a :class:`~golden.simulate.SimResult` holds per image.

Models: ``vgg16`` is VGG-16 at CIFAR shape (13 conv-BN-QCFS, 5 average pools, a
linear classifier; B = 4, 8-bit weights), random weights with calibrated thresholds;
``bundled`` is the trained digits model of ``golden/data/default.npz``.

Threads: every method runs on ``--threads`` threads (BLAS via threadpoolctl, torch
via ``torch.set_num_threads``).  The simulator's default is one BLAS thread
(:data:`golden.simulate.DEFAULT_THREADS`): its GEMMs are cache-sized chunks, and on
the 2-core development machine (shared, 2026-11-29) two BLAS threads ran ``fast``
on VGG-16 at 0.24x-0.32x (batch 2) and 0.17x-0.18x (batch 64) of one thread, on the
bundled model at 0.99x (batch 2) and 0.01x (batch 64) (``--thread-sweep``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

from golden import reference
from golden.convert import convert
from golden.ir import QCFS, Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, Linear, network
from golden.models import load_model
from golden.random import calibrate, random_inputs
from golden.simulate import simulate

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16(rng, bits: int = 4):
    """VGG-16 at 3x32x32: 13 conv-BN-QCFS, 5 average pools, flatten, a linear classifier (10)."""
    nodes = [Input(name="input", inputs=(), shape=(3, 32, 32), bits=8, scale=1.0)]
    prev, c, i = "input", 3, 0
    for v in VGG16:
        if v == "M":
            nodes.append(AvgPool2d(name=f"pool{i}", inputs=(prev,), kernel=(2, 2), stride=(2, 2)))
            prev = f"pool{i}"
            continue
        i += 1
        nodes += [
            Conv2d(name=f"conv{i}", inputs=(prev,), weight=rng.normal(0, np.sqrt(2 / (c * 9)), (v, c, 3, 3)),
                   bias=rng.normal(0, 0.05, v), padding=(1, 1)),
            BatchNorm(name=f"bn{i}", inputs=(f"conv{i}",), gamma=rng.uniform(0.8, 1.2, v), beta=rng.normal(0, 0.1, v),
                      mean=rng.normal(0, 0.1, v), var=rng.uniform(0.8, 1.2, v)),
            QCFS(name=f"q{i}", inputs=(f"bn{i}",), lam=1.0, bits=bits),
        ]
        prev, c = f"q{i}", v
    nodes += [Flatten(name="flatten", inputs=(prev,)),
              Linear(name="fc", inputs=("flatten",), weight=rng.normal(0, np.sqrt(1 / c), (10, c)), bias=np.zeros(10))]
    return calibrate(network(nodes, name="vgg16-32x32"), random_inputs(rng, (3, 32, 32), 8, 16))


# ------------------------------------------------------------------ torch and SpikingJelly forwards


def torch_forward(net, T: int | None = None):
    """A float32 torch forward of ``net`` (an IR graph); with ``T``, the rate-coded SNN in
    SpikingJelly (QCFS -> multi-step IFNode, threshold ``lam``, reset by subtraction)."""
    import torch
    import torch.nn.functional as F

    if T is not None:
        from spikingjelly.activation_based import functional, neuron

    def t(a):
        return None if a is None else torch.tensor(np.asarray(a), dtype=torch.float32)

    steps, neurons = [], []
    for n in net.nodes:
        if isinstance(n, Input):
            s = n.scale / ((1 << n.bits) - 1)
            fn = (lambda s: lambda a, x: x * s)(s)
        elif isinstance(n, Conv2d):
            fn = (lambda w, b, n: lambda a, x: F.conv2d(a[0], w, b, n.stride, n.padding, 1, n.groups))(t(n.weight), t(n.bias), n)
        elif isinstance(n, Linear):
            fn = (lambda w, b: lambda a, x: F.linear(a[0], w, b))(t(n.weight), t(n.bias))
        elif isinstance(n, BatchNorm):
            fn = (lambda m, v, g, b, eps: lambda a, x: F.batch_norm(a[0], m, v, g, b, False, 0.0, eps))(
                t(n.mean), t(n.var), t(n.gamma), t(n.beta), n.eps)
        elif isinstance(n, QCFS):
            if T is None:
                L = (1 << n.bits) - 1
                fn = (lambda lam, L: lambda a, x: lam / L * torch.clamp(torch.floor(a[0] * (L / lam) + 0.5), 0, L))(n.lam, L)
            else:
                node = neuron.IFNode(v_threshold=float(n.lam), v_reset=None, step_mode="m")
                neurons.append(node)
                fn = (lambda node: lambda a, x: node(a[0].reshape((T, -1) + a[0].shape[1:])).reshape(a[0].shape))(node)
        elif isinstance(n, AvgPool2d):
            fn = (lambda n: lambda a, x: F.avg_pool2d(a[0], n.kernel, n.stride))(n)
        elif isinstance(n, Flatten):
            fn = lambda a, x: a[0].flatten(1)  # noqa: E731
        elif isinstance(n, Add):
            fn = lambda a, x: a[0] + a[1]  # noqa: E731
        else:  # pragma: no cover - the IR has no other node types
            raise TypeError(n)
        steps.append((n.name, n.inputs, fn))

    def run(pixels: np.ndarray, return_all: bool = False):
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
            if T is not None:
                x = x.unsqueeze(0).expand((T,) + tuple(x.shape)).reshape((-1,) + tuple(x.shape[1:]))
            vals = {}
            for name, ins, fn in steps:
                vals[name] = fn([vals[i] for i in ins], x)
            if return_all:
                return {k: v.numpy() for k, v in vals.items()}
            out = vals[net.output]
            if T is not None:
                out = out.reshape((T, -1) + tuple(out.shape[1:])).mean(0)
                for node in neurons:
                    functional.reset_net(node)
            return out.numpy()

    return run


# ------------------------------------------------------------------ measurement


def _check(net, inet, x, torch_run) -> None:
    fast = simulate(inet, x, mode="fast", membranes=True)
    lit = simulate(inet, x, mode="literal", membranes=True)
    for k in lit.membrane:
        a, b = fast.membrane[k], lit.membrane[k]
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), f"membrane {k}: fast != literal"
    for k in lit.codes:
        a, b = fast.codes[k], lit.codes[k]
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), f"codes {k}: fast != literal"
    if torch_run is None:
        return None
    # the first layer's pre-activation agrees to float32 rounding; after that, rounding
    # differences flip a few codes at QCFS steps, and the flips propagate
    want = reference.forward(net, x, return_all=True, dtype=np.float32)
    got = torch_run(x, return_all=True)
    first = next(n for n in net.nodes if isinstance(n, QCFS)).inputs[0]
    err = float(np.abs(got[first] - want[first]).max() / np.abs(want[first]).max())
    assert err < 1e-5, f"torch forward differs from the NumPy forward at {first}: relative error {err:.2g}"
    same = min(float(np.mean(got[n.name] == want[n.name])) for n in net.nodes if isinstance(n, QCFS))
    assert same >= 0.95, f"torch forward differs from the NumPy forward: only {same:.2%} of some layer's codes equal"
    return same


def _peak_bytes(f) -> int:
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(name: str, net, x, reps: int, threads: int) -> None:
    inet = convert(net)
    N = len(x)
    methods = {
        "fast": lambda: simulate(inet, x, mode="fast", threads=threads),
        "literal": lambda: simulate(inet, x, mode="literal", threads=threads),
        "numpy32": lambda: reference.forward(net, x, dtype=np.float32),
    }
    torch_run = None
    try:
        import torch

        torch.set_num_threads(threads)
        torch_run = torch_forward(net)
        methods["torch32"] = lambda: torch_run(x)
        try:
            import spikingjelly  # noqa: F401

            sj = torch_forward(net, T=4)
            methods["sj_if4"] = lambda: sj(x)
        except ImportError:
            pass
    except ImportError:
        pass
    neurons = sum(int(np.prod(l.out_shape)) for l in inet.layers)
    print(f"\n{name}: {len(inet.layers)} layers, {neurons} neurons per image, input {net.input.shape}, "
          f"B={inet.bits}, {N} images, {threads} thread(s), {reps} interleaved repetitions")
    print("GEMM dtype per layer: " + ", ".join(f"{l.name} {l.gemm_dtype}" for l in inet.layers))
    with threadpool_limits(limits=threads, user_api="blas"):
        same = _check(net, inet, x, torch_run)
        print("check: fast == literal bit for bit (codes, membranes, logits)"
              + (f"; torch32 and numpy32 agree on >= {same:.1%} of the codes of every layer" if torch_run else ""))
        for f in methods.values():  # warm up (plans, caches, thread pools)
            f()
        times = {k: [] for k in methods}
        for _ in range(reps):
            for k, f in methods.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        peak = {k: _peak_bytes(methods[k]) for k in ("fast", "literal", "numpy32")}
    res = simulate(inet, x)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'method':<9} {'images/s':>10} {'fast is':>9} {'peak MiB':>9}")
    for k, t in med.items():
        pk = f"{peak[k] / 2**20:9.1f}" if k in peak else f"{'-':>9}"
        print(f"{k:<9} {N / t:10.1f} {t / med['fast']:8.2f}x {pk}")
    print(f"kept per image by a SimResult: {res.nbytes / N:,.0f} bytes ({res.nbytes / N / neurons:.2f} per neuron: "
          f"uint8 codes, int64 logits, pixels)")


def thread_sweep(net, images: int, reps: int) -> None:
    inet = convert(net)
    rng = np.random.default_rng(1)
    for N in (2, images):
        x = random_inputs(rng, net.input.shape, net.input.bits, N)
        times = {1: [], 2: []}
        for th in times:
            simulate(inet, x, threads=th)
        for _ in range(reps * (8 if N == 2 else 1)):
            for th in times:
                t0 = time.perf_counter()
                simulate(inet, x, threads=th)
                times[th].append(time.perf_counter() - t0)
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"{net.name}, batch {N}: fast with 1 BLAS thread {N / m[1]:.1f} images/s, with 2 {N / m[2]:.1f} "
              f"images/s: 2 threads run at {m[1] / m[2]:.2f}x of 1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("vgg16", "bundled", "all"), default="all")
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--thread-sweep", action="store_true", help="only compare 1 and 2 BLAS threads for fast")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    models = []
    if a.model in ("vgg16", "all"):
        models.append(("VGG-16 (32x32)", vgg16(rng)))
    if a.model in ("bundled", "all"):
        models.append(("bundled digits model", load_model(None)))
    for name, net in models:
        if a.thread_sweep:
            thread_sweep(net, a.images, a.reps)
        else:
            measure(name, net, random_inputs(rng, net.input.shape, net.input.bits, a.images), a.reps, a.threads)


if __name__ == "__main__":
    main()

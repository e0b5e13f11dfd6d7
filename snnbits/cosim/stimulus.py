"""Stimulus for the neuron PE: random, exhaustive and golden-trace cases, and the case file.

A *case* is one neuron evaluation: input steps ``a(1..T_in)``, ``init``, ``S``,
``T`` (fire steps) and ``pad = B_in - T_in``, labelled with a layer name and a
neuron index so that a failure can name them.  pytest writes the cases into
``cases.npz`` in the build folder; the cocotb bench reads it (no pickles).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from golden.convert import signed_bits

SCHEMA_VERSION = 1
_KEYS = ("a", "t_in", "init", "S", "n_fire", "pad", "layer", "neuron")


def wrap(x: int, width: int) -> int:
    """``x`` modulo ``2**width``, as a two's complement integer (what a register holds)."""
    x &= (1 << width) - 1
    return x - (1 << width) if x >> (width - 1) else x


def min_acc_width(in_width: int, t_in: int, pad: int, init_range: tuple[int, int]) -> int:
    """Narrowest signed membrane that holds every value of an evaluation.

    ``a`` spans the whole signed ``in_width`` range, ``t_in`` steps, then ``<< pad``
    and ``init`` in ``init_range``.  Horner partial sums and fire-phase values lie
    within the final range (a spike only moves ``u`` from ``>= thr`` to ``[0, u)``).
    """
    lo, hi = -(1 << (in_width - 1)), (1 << (in_width - 1)) - 1
    gain = ((1 << t_in) - 1) << pad
    return signed_bits(min(0, lo * gain) + min(0, init_range[0]), max(0, hi * gain) + max(0, init_range[1]))


@dataclass(frozen=True)
class Cases:
    """Neuron evaluations; ``a`` is ``(N, max T_in)``, zero-padded beyond ``t_in``."""

    a: np.ndarray
    t_in: np.ndarray
    init: np.ndarray
    S: np.ndarray
    n_fire: np.ndarray
    pad: np.ndarray
    layer: np.ndarray  # unicode labels
    neuron: np.ndarray

    def __len__(self) -> int:
        return len(self.t_in)

    def steps(self, i: int) -> list[int]:
        return [int(v) for v in self.a[i, : self.t_in[i]]]

    def save(self, path, *, bits: int, in_bits: int, seed: int) -> Path:
        path = Path(path)
        np.savez(path, schema_version=SCHEMA_VERSION, bits=bits, in_bits=in_bits, seed=seed,
                 **{k: getattr(self, k) for k in _KEYS})
        return path

    @staticmethod
    def concat(parts: list["Cases"]) -> "Cases":
        width = max(p.a.shape[1] for p in parts)
        a = np.concatenate([np.pad(p.a, ((0, 0), (0, width - p.a.shape[1]))) for p in parts])
        return Cases(a, *(np.concatenate([getattr(p, k) for p in parts]) for k in _KEYS[1:]))


def load_cases(path) -> tuple[Cases, dict]:
    """Read a case file; returns the cases and ``{"bits", "in_bits", "seed"}``."""
    with np.load(path, allow_pickle=False) as f:
        version = int(f["schema_version"])
        if version != SCHEMA_VERSION:
            raise ValueError(f"{path}: schema_version must be {SCHEMA_VERSION}, not {version}")
        meta = {k: int(f[k]) for k in ("bits", "in_bits", "seed")}
        return Cases(*(f[k] for k in _KEYS)), meta


def _cases(a, t_in, init, S, n_fire, pad, layer, neuron=None) -> Cases:
    n = len(t_in)
    return Cases(np.asarray(a, np.int64).reshape(n, -1), np.asarray(t_in, np.int64),
                 np.asarray(init, np.int64), np.asarray(S, np.int64), np.asarray(n_fire, np.int64),
                 np.asarray(pad, np.int64), np.full(n, layer) if isinstance(layer, str) else np.asarray(layer),
                 np.arange(n) if neuron is None else np.asarray(neuron, np.int64))


def exhaustive_cases(in_width: int, bits: int, S_values, init_values) -> Cases:
    """Every sequence of ``bits`` input steps with ``a`` over the whole signed ``in_width`` range.

    ``S`` and ``init`` cycle through the given values (so each sequence meets several)."""
    seqs = np.array(list(itertools.product(range(-(1 << (in_width - 1)), 1 << (in_width - 1)), repeat=bits)))
    n = len(seqs)
    S = np.resize(np.asarray(S_values), n)
    init = np.resize(np.asarray(init_values), n)
    return _cases(seqs, np.full(n, bits), init, S, np.full(n, bits), np.zeros(n), f"exhaustive_b{bits}")


@dataclass(frozen=True)
class RandomLayer:
    """Widths of a random layer: ``fan_in`` inputs, ``weight_bits`` signed weights, ``bits`` = B = B_in."""

    fan_in: int = 64
    weight_bits: int = 8
    bits: int = 4
    s_width: int = 12

    @property
    def syn_range(self) -> tuple[int, int]:
        q = (1 << (self.weight_bits - 1)) - 1
        return -q * self.fan_in, q * self.fan_in

    @property
    def in_width(self) -> int:
        return signed_bits(*self.syn_range)

    @property
    def init_range(self) -> tuple[int, int]:
        smax = (1 << self.s_width) - 1
        return -(smax << self.bits), (smax << self.bits) + smax // 2

    @property
    def acc_width(self) -> int:
        return min_acc_width(self.in_width, self.bits, 0, self.init_range)


def random_cases(spec: RandomLayer, n: int, seed: int) -> Cases:
    """``n`` random evaluations of a realistic layer.

    Per neuron: weights uniform in the signed ``weight_bits`` range, input spikes
    Bernoulli with a per-neuron density, ``a(t) = W . s(t)``; ``T_in`` is usually
    ``bits`` (sometimes fewer, then ``pad = bits - T_in``), ``T`` usually ``bits``;
    ``S`` is chosen so that the output code spans below 0 .. above ``2**B - 1``,
    and ``init = bias + S // 2``.
    """
    rng = np.random.default_rng(seed)
    B = spec.bits
    q = (1 << (spec.weight_bits - 1)) - 1
    W = rng.integers(-q, q + 1, size=(n, spec.fan_in))
    density = rng.uniform(0.02, 0.6, size=(n, 1, 1))
    spikes = rng.random((n, B, spec.fan_in)) < density
    a = np.einsum("ntj,nj->nt", spikes.astype(np.int64), W)
    a[rng.random(n) < 0.01] = spec.syn_range[1]  # a few extremes
    a[rng.random(n) < 0.01] = spec.syn_range[0]
    t_in = np.where(rng.random(n) < 0.8, B, rng.integers(1, B + 1, size=n))
    a = np.where(np.arange(B)[None, :] < t_in[:, None], a, 0)
    pad = B - t_in
    u = np.zeros(n, np.int64)
    for t in range(B):
        u = np.where(t < t_in, 2 * u + a[:, t], u)
    u <<= pad
    smax = (1 << spec.s_width) - 1
    code_span = rng.uniform(0.5, 2.0 * (1 << B), size=n)
    S = np.clip(np.abs(u) / code_span + rng.integers(0, 3, size=n), 1, smax).astype(np.int64)
    S[rng.random(n) < 0.05] = smax
    bias = np.round(rng.uniform(-1, 1, size=n) * S * (1 << B) / 2).astype(np.int64)
    init = bias + S // 2
    n_fire = np.where(rng.random(n) < 0.8, B, rng.integers(1, B + 1, size=n))
    return _cases(a, t_in, init, S, n_fire, pad, "random")


def golden_layer_cases(inet, layer, res, *, max_neurons: int, seed: int) -> tuple[Cases, np.ndarray, np.ndarray]:
    """Cases of one hidden layer from a golden simulation ``res`` (:func:`golden.simulate.simulate`).

    Input steps are :func:`golden.simulate.synaptic_steps`; when the run has
    ``T < B`` and every source is a hidden layer, its trailing ``B - T`` zero
    steps become ``pad``.  At most ``max_neurons`` neurons (of all images), chosen
    with ``seed``.  Returns the cases and, for the same neurons, the golden run's
    spikes ``(n, T)`` and membranes ``(n,)``, so that the caller can check the
    cases against the run they came from.
    """
    from golden.simulate import synaptic_steps

    a = synaptic_steps(inet, layer, res)
    D = a.shape[0]
    shape = a.shape[1:]  # (N,) + out_shape
    flat = a.reshape(D, -1)
    n_all = flat.shape[1]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n_all, size=min(max_neurons, n_all), replace=False))
    channel = np.unravel_index(pick, shape)[1]
    pad = inet.alignment(layer, res.T).pad
    if pad:
        if np.any(flat[D - pad:]):
            raise ValueError(f"layer {layer.name}: trailing {pad} input steps are not zero")
    t_in = D - pad
    n = len(pick)
    cases = _cases(flat[:t_in, pick].T, np.full(n, t_in), layer.init[channel], layer.S[channel],
                   np.full(n, res.T), np.full(n, pad), layer.name, pick)
    spikes = res.spikes[layer.name].reshape(res.T, -1)[:, pick].T.astype(np.int64)
    membrane = res.membrane[layer.name].reshape(-1)[pick]
    return cases, spikes, membrane

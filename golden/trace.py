"""Trace files: the versioned ``.npz`` record of one bit-serial simulation.

Entries (all plain arrays, read with ``allow_pickle=False``):

``meta.json``
    UTF-8 JSON as a ``uint8`` array: ``format`` (``"snnbits-trace"``),
    ``schema_version``, ``model_name``, ``model_hash`` (SHA-256 of the model file's
    graph and parameters), ``B``, ``T``, ``mode``, ``N`` (batch size),
    ``weight_bits``, ``bitplanes``, ``input`` (``name``, ``shape``, ``bits``) and
    ``layers``: per layer ``name``, ``kind`` (``hidden``/``output``), ``shape``,
    ``sources`` (names of the layers, or the input, whose spikes it reads),
    ``bits``, ``acc_bits``, ``syn_bits``, ``weight_bits``.
``input/codes``
    ``(N,) + input shape`` unsigned pixel codes.
``<layer>/spikes`` (hidden layers)
    Output spikes, bit-packed: ``np.packbits`` with ``bitorder="little"`` of the
    ``(T, N, M)`` 0/1 array (``M`` neurons in C order) along its last axis, so the
    stored shape is ``(T, N, ceil(M / 8))``; time step 0 is the MSB.
    The *input* spikes of a layer are the output spikes of its ``sources``.
``<layer>/membrane``
    ``(N,) + shape`` signed integers: membrane after accumulation (bias and half LSB
    included); for the output layer, the integer logits.
``<layer>/codes`` (hidden layers)
    ``(N,) + shape`` unsigned output codes (``T`` MSBs).

:func:`load` validates everything (format, version, keys, dtypes, shapes, and that
codes equal the bits of the spikes) and refuses what it does not understand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .convert import IntNetwork
from .errors import GoldenError
from .npzio import json_entry, read_npz
from .simulate import SimResult

SCHEMA_VERSION = 1
FORMAT = "snnbits-trace"


def _uint_dtype(bits: int):
    return np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32


def _int_dtype(bits: int):
    return np.int8 if bits <= 8 else np.int16 if bits <= 16 else np.int32 if bits <= 32 else np.int64


@dataclass
class Trace:
    """A loaded trace: the metadata dict and the simulation result (spikes unpacked)."""

    meta: dict
    result: SimResult

    @property
    def layers(self) -> list[dict]:
        return self.meta["layers"]

    def layer(self, name: str) -> dict:
        for l in self.meta["layers"]:
            if l["name"] == name:
                return l
        raise GoldenError(f"trace: no layer {name!r} (layers: {[l['name'] for l in self.meta['layers']]})")


def metadata(inet: IntNetwork, res: SimResult, mode: str) -> dict:
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "model_name": inet.name,
        "model_hash": inet.model_hash,
        "B": inet.bits,
        "T": res.T,
        "mode": mode,
        "N": int(res.pixels.shape[0]),
        "weight_bits": inet.weight_bits,
        "bitplanes": inet.bitplanes,
        "input": {"name": inet.input.name, "shape": list(inet.input.shape), "bits": inet.input.bits},
        "layers": [
            {
                "name": l.name,
                "kind": "output" if l.is_output else "hidden",
                "shape": list(l.out_shape),
                "sources": list(l.sources),
                "bits": l.bits,
                "acc_bits": l.acc_bits,
                "syn_bits": l.syn_bits,
                "weight_bits": l.weight_bits,
            }
            for l in inet.layers
        ],
    }


def save(path, inet: IntNetwork, res: SimResult, mode: str) -> Path:
    """Write a trace atomically (a temporary file renamed into place: an interrupted
    run never leaves a half-written trace under the final name)."""
    path = Path(path)
    meta = metadata(inet, res, mode)
    arrays = {
        "meta.json": np.frombuffer(json.dumps(meta, indent=1).encode(), dtype=np.uint8),
        "input/codes": res.pixels.astype(_uint_dtype(inet.input.bits)),
    }
    N = res.pixels.shape[0]
    for l in inet.layers:
        arrays[f"{l.name}/membrane"] = res.membrane[l.name].astype(_int_dtype(l.acc_bits))
        if not l.is_output:
            s = res.spikes[l.name].reshape(res.T, N, -1)
            arrays[f"{l.name}/spikes"] = np.packbits(s, axis=-1, bitorder="little")
            arrays[f"{l.name}/codes"] = res.codes[l.name].astype(_uint_dtype(l.bits))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    tmp.replace(path)
    return path


def _need(cond: bool, src: str, msg: str) -> None:
    if not cond:
        raise GoldenError(f"trace file {src}: {msg}")


def load(path) -> Trace:
    """Read and validate a trace file; raise :class:`GoldenError` naming file, field and value."""
    src = str(path)
    files = read_npz(path, "trace")
    meta = json_entry(files, "meta.json", "trace", src)
    _need(isinstance(meta, dict), src, "'meta.json' must be a JSON object")
    _need(meta.get("format") == FORMAT, src, f"field 'format' is {meta.get('format')!r}, expected {FORMAT!r}")
    _need(
        meta.get("schema_version") == SCHEMA_VERSION,
        src,
        f"schema_version {meta.get('schema_version')!r} is not supported (this version reads {SCHEMA_VERSION})",
    )
    keys = {"format", "schema_version", "model_name", "model_hash", "B", "T", "mode", "N", "weight_bits", "bitplanes", "input", "layers"}
    _need(set(meta) == keys, src, f"meta.json fields {sorted(set(meta) ^ keys)} are missing or unknown")
    B, T, N = meta["B"], meta["T"], meta["N"]
    for k, v in (("B", B), ("T", T), ("N", N)):
        _need(isinstance(v, int) and not isinstance(v, bool) and v >= (0 if k == "N" else 1), src, f"field {k!r} must be a positive integer, not {v!r}")
    _need(T <= B, src, f"field 'T' ({T}) exceeds 'B' ({B})")
    inp = meta["input"]
    _need(isinstance(inp, dict) and set(inp) == {"name", "shape", "bits"}, src, f"field 'input' is malformed: {inp!r}")
    ishape = tuple(inp["shape"])
    x = files.pop("input/codes", None)
    _need(x is not None, src, "missing array 'input/codes'")
    _need(x.dtype.kind == "u" and x.shape == (N,) + ishape, src, f"array 'input/codes' has dtype {x.dtype} shape {x.shape}, expected unsigned {(N,) + ishape}")
    res = SimResult(T=T, pixels=x.astype(np.int64))
    _need(isinstance(meta["layers"], list) and meta["layers"], src, "field 'layers' must be a non-empty list")
    lkeys = {"name", "kind", "shape", "sources", "bits", "acc_bits", "syn_bits", "weight_bits"}
    weights = (1 << (B - 1 - np.arange(T))).reshape(T, 1, 1)
    for i, l in enumerate(meta["layers"]):
        _need(isinstance(l, dict) and set(l) == lkeys, src, f"layers[{i}] must have exactly the fields {sorted(lkeys)}")
        name, shape = l["name"], tuple(l["shape"])
        _need(l["kind"] in ("hidden", "output"), src, f"layers[{i}] ({name!r}): kind {l['kind']!r} is not 'hidden' or 'output'")
        m = files.pop(f"{name}/membrane", None)
        _need(m is not None, src, f"missing array '{name}/membrane'")
        _need(m.dtype.kind == "i" and m.shape == (N,) + shape, src, f"array '{name}/membrane' has dtype {m.dtype} shape {m.shape}, expected signed {(N,) + shape}")
        res.membrane[name] = m.astype(np.int64)
        if l["kind"] == "output":
            continue
        M = int(np.prod(shape))
        p = files.pop(f"{name}/spikes", None)
        c = files.pop(f"{name}/codes", None)
        _need(p is not None and c is not None, src, f"missing array '{name}/spikes' or '{name}/codes'")
        _need(p.dtype == np.uint8 and p.shape == (T, N, (M + 7) // 8), src, f"array '{name}/spikes' has dtype {p.dtype} shape {p.shape}, expected uint8 {(T, N, (M + 7) // 8)}")
        s = np.unpackbits(p, axis=-1, count=M, bitorder="little")
        codes = c.astype(np.int64)
        _need(c.dtype.kind == "u" and c.shape == (N,) + shape, src, f"array '{name}/codes' has dtype {c.dtype} shape {c.shape}, expected unsigned {(N,) + shape}")
        _need(
            np.array_equal((s.astype(np.int64) * weights).sum(0), codes.reshape(N, M)),
            src,
            f"layer {name!r}: codes do not equal the bits of the spikes (corrupt trace)",
        )
        res.spikes[name] = s.reshape((T, N) + shape)
        res.codes[name] = codes
    _need(not files, src, f"unknown array(s) {sorted(files)}")
    return Trace(meta=meta, result=res)


def check_matches(trace: Trace, inet: IntNetwork, src: str = "trace") -> None:
    """Refuse a trace made from another model, or one that lacks the model's layers."""
    if trace.meta["model_hash"] != inet.model_hash:
        raise GoldenError(
            f"{src}: made from model {trace.meta['model_name']!r} (hash {trace.meta['model_hash'][:12]}), "
            f"not from {inet.name!r} (hash {inet.model_hash[:12]})"
        )
    have = {l["name"] for l in trace.layers}
    missing = [l.name for l in inet.layers if l.name not in have]
    if missing:
        raise GoldenError(f"{src}: lacks layer(s) {missing} that model {inet.name!r} needs")

"""Trace files: the versioned ``.npz`` record of one bit-serial simulation.

Entries (all plain arrays, read with ``allow_pickle=False``):

``meta.json``
    UTF-8 JSON as a ``uint8`` array: ``format`` (``"snnbits-trace"``),
    ``schema_version``, ``model_name``, ``model_hash`` (SHA-256 of the model file's
    graph and parameters), ``B``, ``T``, ``mode``, ``N`` (batch size),
    ``weight_bits``, ``bitplanes``, ``term_shifts`` (present, and true, only for a network
    converted with per-term shifts), ``input`` (``name``, ``shape``, ``bits``) and
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

:func:`load` validates everything (``meta.json`` against :data:`META`, keys, dtypes,
shapes, value ranges, and that codes equal the bits of the spikes) and refuses what
it does not understand; :func:`check_matches` then proves a trace is the simulation
of a given integer network.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snnbits.schema import Bool, Const, Int, List, Obj, Str, Version, check, show

from .convert import MAX_ACC_BITS, IntNetwork
from .errors import GoldenError
from .ir import _NAME_RE, MAX_BITS, MAX_ELEMENTS, MAX_NAME, MAX_NODES
from .npzio import MAX_BYTES, NpzReader, write_npz
from .simulate import MODES, SimResult, simulate

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
        **({"term_shifts": True} if inet.term_shifts else {}),
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
    write_npz(path, arrays)
    return path


_SHAPE = List(Int(1, MAX_ELEMENTS), 1, 3)
_NAME = Str(pattern=_NAME_RE.pattern, max_len=MAX_NAME)

#: meta.json; cross-field rules (T <= B, sources, widths) are checked by :func:`load`
META = Obj({
    "format": Const(FORMAT),
    "schema_version": Version(SCHEMA_VERSION),
    "model_name": Str(max_len=1000),
    "model_hash": Str(pattern="[0-9a-f]{64}"),
    "B": Int(1, MAX_BITS),
    "T": Int(1, MAX_BITS),
    "mode": Str(choices=MODES),
    "N": Int(0, 1 << 31),
    "weight_bits": Int(2, 24),  # what golden.convert.convert accepts
    "bitplanes": Bool(),
    "term_shifts": Bool(optional=True),  # absent: false
    "input": Obj({"name": _NAME, "shape": _SHAPE, "bits": Int(1, MAX_BITS)}),
    "layers": List(Obj({
        "name": _NAME,
        "kind": Str(choices=["hidden", "output"]),
        "shape": _SHAPE,
        "sources": List(_NAME, 1, MAX_NODES),
        "bits": Int(1, MAX_BITS, nullable=True),
        "acc_bits": Int(1, MAX_ACC_BITS),
        "syn_bits": Int(1, MAX_ACC_BITS),
        "weight_bits": Int(1, 24),
    }), 1, MAX_NODES),
})


def _check_meta(meta: dict, fail) -> None:
    """The rules between fields that a schema of single fields cannot say."""
    B, T = meta["B"], meta["T"]
    if T > B:
        fail(f"field 'T' ({T}) exceeds 'B' ({B})")
    inp = meta["input"]
    if len(inp["shape"]) == 2:
        fail(f"field 'input.shape' must be (C, H, W) or (F,), not {inp['shape']}")
    seen = {inp["name"]: "input"}
    layers = meta["layers"]
    for i, l in enumerate(layers):
        at = f"layers[{i}]"
        if l["name"] in seen:
            fail(f"field '{at}.name': {l['name']!r} is used twice")
        if len(l["shape"]) == 2:
            fail(f"field '{at}.shape' must be (C, H, W) or (F,), not {l['shape']}")
        if l["kind"] == "output":
            if i != len(layers) - 1:
                fail(f"field '{at}.kind': only the last layer can be the output layer")
            if l["bits"] is not None:
                fail(f"field '{at}.bits' must be null for the output layer, not {l['bits']}")
        elif l["bits"] != B:
            fail(f"field '{at}.bits' is {l['bits']}, but every hidden layer has B = {B} bits")
        if len(set(l["sources"])) != len(l["sources"]):
            fail(f"field '{at}.sources' names a source twice: {show(l['sources'])}")
        for s in l["sources"]:
            if seen.get(s) not in ("input", "hidden"):
                fail(f"field '{at}.sources': {s!r} is neither the input nor an earlier hidden layer")
        if l["weight_bits"] > meta["weight_bits"]:
            fail(f"field '{at}.weight_bits' ({l['weight_bits']}) exceeds the trace's weight_bits ({meta['weight_bits']})")
        if l["syn_bits"] > l["acc_bits"]:
            fail(f"field '{at}.syn_bits' ({l['syn_bits']}) exceeds its acc_bits ({l['acc_bits']})")
        seen[l["name"]] = l["kind"]


def _loaded_bytes(meta: dict) -> int:
    """Memory the loaded trace takes: int64 pixels, membranes and codes, unpacked spikes."""
    N, T = meta["N"], meta["T"]
    total = N * math.prod(meta["input"]["shape"]) * 8
    for l in meta["layers"]:
        M = math.prod(l["shape"])
        total += N * M * 8 + (N * M * (8 + T) if l["kind"] == "hidden" else 0)
    return total


def load(path) -> Trace:
    """Read and validate a trace file; raise :class:`GoldenError` naming file, field and value.

    ``meta.json`` is checked against :data:`META` and its cross-field rules; then the
    archive must hold exactly the arrays the metadata implies, with the right dtype
    kinds and shapes (checked from the headers, before anything is decompressed), and
    within their ranges: pixel codes below ``2**input.bits``, membranes within
    ``acc_bits``, codes equal to the bits of the spikes.
    """
    src = f"trace file {path}"

    def fail(msg):
        raise GoldenError(f"{src}: {msg}")

    with NpzReader(path, "trace") as z:
        meta = check(META, z.json("meta.json"), src, GoldenError)
        _check_meta(meta, fail)
        B, T, N = meta["B"], meta["T"], meta["N"]
        need = _loaded_bytes(meta)
        if need > MAX_BYTES:
            fail(f"{N} image(s) of these layers would take {need / 2**30:.3g} GiB in memory, more than the limit "
                 f"of {MAX_BYTES / 2**30:.3g} GiB (golden.npzio.MAX_BYTES)")
        inp = meta["input"]
        expected = {"meta.json", "input/codes"}
        for l in meta["layers"]:
            expected |= {f"{l['name']}/membrane"} | ({f"{l['name']}/spikes", f"{l['name']}/codes"} if l["kind"] == "hidden" else set())
        if set(z.members) != expected:
            missing, unknown = sorted(expected - set(z.members)), sorted(set(z.members) - expected)
            fail(f"missing array {missing[0]!r}" if missing else f"unknown array(s) {show(unknown)}")
        # every header first, then the data
        z.member("input/codes", "u", shape=(N,) + tuple(inp["shape"]))
        for l in meta["layers"]:
            shape, M = (N,) + tuple(l["shape"]), math.prod(l["shape"])
            z.member(f"{l['name']}/membrane", "i", shape=shape)
            if l["kind"] == "hidden":
                z.member(f"{l['name']}/spikes", "u", itemsizes=(1,), shape=(T, N, (M + 7) // 8))
                z.member(f"{l['name']}/codes", "u", shape=shape)
        x = z.array("input/codes", "u")
        if x.size and int(x.max()) > (1 << inp["bits"]) - 1:
            fail(f"array 'input/codes' holds pixel code {int(x.max())}, more than {(1 << inp['bits']) - 1} "
                 f"({inp['bits']}-bit input)")
        res = SimResult(T=T, pixels=x.astype(np.int64))
        weights = (1 << (B - 1 - np.arange(T))).reshape(T, 1, 1)
        for l in meta["layers"]:
            name, shape, M = l["name"], tuple(l["shape"]), math.prod(l["shape"])
            m = z.array(f"{name}/membrane", "i")
            lim = 1 << (l["acc_bits"] - 1)
            if m.size and (int(m.min()) < -lim or int(m.max()) > lim - 1):
                fail(f"array '{name}/membrane' holds {int(m.min())}..{int(m.max())}, outside its "
                     f"{l['acc_bits']}-bit accumulator (acc_bits)")
            res.membrane[name] = m.astype(np.int64)
            if l["kind"] == "output":
                continue
            p = z.array(f"{name}/spikes", "u")
            c = z.array(f"{name}/codes", "u")
            s = np.unpackbits(p, axis=-1, count=M, bitorder="little")
            codes = c.astype(np.int64)
            if not np.array_equal((s.astype(np.int64) * weights).sum(0), codes.reshape(N, M)):
                fail(f"layer {name!r}: codes do not equal the bits of the spikes (corrupt trace)")
            res.spikes[name] = s.reshape((T, N) + shape)
            res.codes[name] = codes
    return Trace(meta=meta, result=res)


def check_matches(trace: Trace, inet: IntNetwork, src: str = "trace") -> None:
    """Refuse a trace that is not the simulation of ``inet`` on its own pixel codes.

    Every redundant field is compared with the network (model hash, B, weight bits,
    bit planes, the input and each layer's name, kind, shape, sources and widths),
    then the trace's pixels are simulated again (``fast`` mode) and every membrane,
    code and spike must be equal: an edited trace cannot pass for the model's.
    """
    meta = trace.meta
    if meta["model_hash"] != inet.model_hash:
        raise GoldenError(
            f"{src}: made from model {meta['model_name']!r} (hash {meta['model_hash'][:12]}), "
            f"not from {inet.name!r} (hash {inet.model_hash[:12]})"
        )
    want = metadata(inet, SimResult(T=meta["T"], pixels=trace.result.pixels), meta["mode"])
    given = dict(meta, term_shifts=meta.get("term_shifts", False))
    want["term_shifts"] = inet.term_shifts
    for key in ("B", "weight_bits", "bitplanes", "term_shifts", "input"):
        if given[key] != want[key]:
            raise GoldenError(f"{src}: field {key!r} is {show(given[key])}, but model {inet.name!r} converted with "
                              f"weight_bits={inet.weight_bits}, bitplanes={inet.bitplanes}, "
                              f"term_shifts={inet.term_shifts} gives {show(want[key])}")
    have = {l["name"]: l for l in meta["layers"]}
    missing = [l["name"] for l in want["layers"] if l["name"] not in have]
    if missing:
        raise GoldenError(f"{src}: lacks layer(s) {missing} that model {inet.name!r} needs")
    if [l["name"] for l in meta["layers"]] != [l["name"] for l in want["layers"]]:
        raise GoldenError(f"{src}: layers {show([l['name'] for l in meta['layers']])} are not model "
                          f"{inet.name!r}'s {show([l['name'] for l in want['layers']])}")
    for i, (l, w) in enumerate(zip(meta["layers"], want["layers"])):
        for key in w:
            if l[key] != w[key]:
                raise GoldenError(f"{src}: field 'layers[{i}].{key}' of layer {l['name']!r} is {show(l[key])}, but "
                                  f"model {inet.name!r} (weight_bits={inet.weight_bits}) gives {show(w[key])}")
    again = simulate(inet, trace.result.pixels, T=meta["T"], mode="fast")
    for kind in ("membrane", "codes", "spikes"):
        for name, v in getattr(again, kind).items():
            if not np.array_equal(getattr(trace.result, kind)[name], v):
                raise GoldenError(f"{src}: layer {name!r}: the {kind} differ from model {inet.name!r}'s simulation "
                                  "of the trace's own pixel codes (an edited or corrupt trace)")

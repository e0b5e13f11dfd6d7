"""A small, typed description of a QCFS network, and its file format.

A :class:`Network` is a tuple of nodes in topological order.  Each node is a
frozen dataclass; float parameters are NumPy ``float64`` arrays.  Shapes never
include the batch dimension: an image is ``(C, H, W)``, a vector ``(F,)``.

Values of quantized tensors (see ``docs/integer-network.md``):

* ``Input(bits=P, scale=lam)``: pixel code ``k`` in ``0 .. 2**P - 1`` means ``lam * k / (2**P - 1)``.
* ``QCFS(bits=B, lam=lam)``: ``a = lam / L * clip(floor(x * L / lam + 1/2), 0, L)`` with
  ``L = 2**B - 1`` levels: the top code is worth exactly ``lam`` (NOTES.md, pitfall 1).

File format (``.npz``, loaded with ``allow_pickle=False``): one entry
``graph.json`` (UTF-8 JSON as a ``uint8`` array) and one ``float64`` array per
parameter, keyed ``"<node>/<param>"``.  The JSON holds ``schema_version``,
``format`` (``"snnbits-model"``), ``name``, ``output`` and ``nodes``: a list of
``{"name", "op", "inputs", "attrs"}``.  See ``docs/file-formats.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from snnbits.schema import Const, Int, List, Num, Obj, Pair, Str, Table, Version, check, show

from .errors import GoldenError
from .npzio import NpzReader

SCHEMA_VERSION = 1
FORMAT = "snnbits-model"
#: widest activation or input code (QCFS bits B, input bits P)
MAX_BITS = 16
#: most nodes in a network
MAX_NODES = 4096
#: most values of one tensor per image (an activation, or the input)
MAX_ELEMENTS = 1 << 26
#: longest node or network name
MAX_NAME = 200
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_NETWORK_NAME = Str(max_len=1000)


def _where_attrs(node: "Node", where: str) -> dict:
    """The node's attributes checked against its class's declared schema (normalized)."""
    return check(node.ATTRS, node.attrs(), where, GoldenError)


def _param(where: str, pname: str, a, *, ndim: int | None = None, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A read-only float64 copy of a real, finite parameter array with no zero-sized dimension."""
    if a is None:
        raise GoldenError(f"{where}: parameter {pname!r} is missing")
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise GoldenError(f"{where}: parameter {pname!r} is not a numeric array ({str(e)[:100]})") from None
    if arr.dtype.kind not in "fiu":
        what = "complex; parameters must be real" if arr.dtype.kind == "c" else "not a real number type"
        raise GoldenError(f"{where}: parameter {pname!r} has dtype {arr.dtype}, {what}")
    if ndim is not None and arr.ndim != ndim:
        raise GoldenError(f"{where}: parameter {pname!r} must have {ndim} dimensions, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise GoldenError(f"{where}: parameter {pname!r} has shape {arr.shape}, expected {shape}")
    if 0 in arr.shape:
        raise GoldenError(f"{where}: parameter {pname!r} has shape {arr.shape} with a zero-sized dimension")
    arr = np.array(arr, dtype=np.float64)  # own copy
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise GoldenError(
            f"{where}: parameter {pname!r} holds a non-finite value {float(arr[tuple(bad)])} at index {tuple(int(i) for i in bad)}"
        )
    arr.setflags(write=False)
    return arr


def _tensor(where: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` if it is a tensor the golden model holds (every dimension >= 1, at most MAX_ELEMENTS values)."""
    if min(shape) < 1:
        raise GoldenError(f"{where}: output shape {shape} is empty")
    if math.prod(shape) > MAX_ELEMENTS:
        raise GoldenError(f"{where}: output shape {shape} has {math.prod(shape)} values per image, more than the limit of {MAX_ELEMENTS}")
    return shape


def _needs(where: str, x: tuple[int, ...], ndim: int, what: str) -> None:
    if len(x) != ndim:
        raise GoldenError(f"{where}: input must be {what}, got shape {x}")


_POS = Num(1e-12, 1e12)  # lam, scale: the golden model folds them into integer weights
_PAIR = Pair(1, MAX_ELEMENTS)


@dataclass(frozen=True, eq=False)
class Node:
    """Base class: ``name`` and the names of the input nodes.

    Each subclass declares its attributes (``ATTRS``, the same schema for model
    files and for nodes built in code) and infers its own output shape
    (:meth:`infer`)."""

    name: str
    inputs: tuple[str, ...]
    op: ClassVar[str] = ""
    n_inputs: ClassVar[int] = 1
    param_names: ClassVar[tuple[str, ...]] = ()
    optional_params: ClassVar[tuple[str, ...]] = ()
    ATTRS: ClassVar[Obj] = Obj({})

    def attrs(self) -> dict:
        """JSON-able attributes (everything but name, inputs and arrays)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("name", "inputs") and f.name not in self.param_names
        }

    def params(self) -> dict[str, np.ndarray]:
        return {p: getattr(self, p) for p in self.param_names if getattr(self, p) is not None}

    def infer(self, ins: list[tuple[int, ...]], where: str) -> tuple["Node", tuple[int, ...]]:
        """Validate this node against its input shapes ``ins``; return it normalized (attributes
        as the schema gives them, parameters as read-only float64) and its output shape."""
        raise NotImplementedError  # pragma: no cover - every node type overrides it


@dataclass(frozen=True, eq=False)
class Input(Node):
    """Network input: integer pixel codes of ``bits`` bits; top code worth ``scale``."""

    shape: tuple[int, ...] = ()
    bits: int = 8
    scale: float = 1.0
    op: ClassVar[str] = "input"
    n_inputs: ClassVar[int] = 0
    ATTRS: ClassVar[Obj] = Obj({"shape": List(Int(1, MAX_ELEMENTS), 1, 3), "bits": Int(1, MAX_BITS), "scale": _POS})

    def infer(self, ins, where):
        a = _where_attrs(self, where)
        shape = tuple(a.pop("shape"))
        if len(shape) == 2:
            raise GoldenError(f"{where}: shape must be (C, H, W) or (F,), not {shape}")
        return dataclasses.replace(self, shape=shape, **a), _tensor(where, shape)


@dataclass(frozen=True, eq=False)
class Conv2d(Node):
    """2-D convolution, weight ``(O, C/groups, kh, kw)``, optional bias ``(O,)``."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    op: ClassVar[str] = "conv2d"
    param_names: ClassVar[tuple[str, ...]] = ("weight", "bias")
    optional_params: ClassVar[tuple[str, ...]] = ("bias",)
    ATTRS: ClassVar[Obj] = Obj({"stride": _PAIR, "padding": Pair(0, MAX_ELEMENTS), "groups": Int(1, MAX_ELEMENTS)})

    def infer(self, ins, where):
        (x,) = ins
        _needs(where, x, 3, "(C, H, W)")
        a = _where_attrs(self, where)
        w = _param(where, "weight", self.weight, ndim=4)
        g, (sh, sw), (ph, pw) = a["groups"], a["stride"], a["padding"]
        O, Cg, kh, kw = w.shape
        if x[0] % g or O % g or Cg * g != x[0]:
            raise GoldenError(f"{where}: weight shape {w.shape} with groups={g} does not fit {x[0]} input channels")
        H, W = (x[1] + 2 * ph - kh) // sh + 1, (x[2] + 2 * pw - kw) // sw + 1
        if H < 1 or W < 1:
            raise GoldenError(f"{where}: kernel {kh}x{kw} does not fit input {x} with padding {(ph, pw)}")
        b = None if self.bias is None else _param(where, "bias", self.bias, shape=(O,))
        return dataclasses.replace(self, weight=w, bias=b, **a), _tensor(where, (O, H, W))


@dataclass(frozen=True, eq=False)
class Linear(Node):
    """Fully connected layer, weight ``(O, F)``, optional bias ``(O,)``."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    op: ClassVar[str] = "linear"
    param_names: ClassVar[tuple[str, ...]] = ("weight", "bias")
    optional_params: ClassVar[tuple[str, ...]] = ("bias",)

    def infer(self, ins, where):
        (x,) = ins
        _needs(where, x, 1, "a vector (F,); insert a flatten node")
        _where_attrs(self, where)
        w = _param(where, "weight", self.weight, ndim=2)
        if w.shape[1] != x[0]:
            raise GoldenError(f"{where}: parameter 'weight' has shape {w.shape}, expected (O, {x[0]})")
        b = None if self.bias is None else _param(where, "bias", self.bias, shape=(w.shape[0],))
        return dataclasses.replace(self, weight=w, bias=b), _tensor(where, (w.shape[0],))


@dataclass(frozen=True, eq=False)
class BatchNorm(Node):
    """Inference batch norm: ``gamma * (x - mean) / sqrt(var + eps) + beta`` per channel."""

    gamma: np.ndarray = None
    beta: np.ndarray = None
    mean: np.ndarray = None
    var: np.ndarray = None
    eps: float = 1e-5
    op: ClassVar[str] = "batchnorm"
    param_names: ClassVar[tuple[str, ...]] = ("gamma", "beta", "mean", "var")
    ATTRS: ClassVar[Obj] = Obj({"eps": Num(0, 1, open_lo=True)})

    def infer(self, ins, where):
        (x,) = ins
        a = _where_attrs(self, where)
        arrs = {p: _param(where, p, getattr(self, p), shape=(x[0],)) for p in self.param_names}
        if np.any(arrs["var"] < 0):
            raise GoldenError(f"{where}: parameter 'var' must be >= 0, found {float(arrs['var'].min())!r}")
        return dataclasses.replace(self, **a, **arrs), x


@dataclass(frozen=True, eq=False)
class QCFS(Node):
    """QCFS activation with ``bits`` output bits and trainable threshold ``lam``."""

    lam: float = 1.0
    bits: int = 4
    op: ClassVar[str] = "qcfs"
    ATTRS: ClassVar[Obj] = Obj({"lam": _POS, "bits": Int(1, MAX_BITS)})

    def infer(self, ins, where):
        return dataclasses.replace(self, **_where_attrs(self, where)), ins[0]


@dataclass(frozen=True, eq=False)
class AvgPool2d(Node):
    """Average pooling without padding."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    op: ClassVar[str] = "avgpool2d"
    ATTRS: ClassVar[Obj] = Obj({"kernel": _PAIR, "stride": _PAIR})

    def infer(self, ins, where):
        (x,) = ins
        _needs(where, x, 3, "(C, H, W)")
        a = _where_attrs(self, where)
        k, s = a["kernel"], a["stride"]
        H, W = (x[1] - k[0]) // s[0] + 1, (x[2] - k[1]) // s[1] + 1
        if H < 1 or W < 1:
            raise GoldenError(f"{where}: kernel {k} does not fit input {x}")
        return dataclasses.replace(self, **a), _tensor(where, (x[0], H, W))


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    """Flatten ``(C, H, W)`` to ``(C*H*W,)`` in C order."""

    op: ClassVar[str] = "flatten"

    def infer(self, ins, where):
        _where_attrs(self, where)
        return self, (math.prod(ins[0]),)


@dataclass(frozen=True, eq=False)
class Add(Node):
    """Residual addition of two tensors of equal shape."""

    op: ClassVar[str] = "add"
    n_inputs: ClassVar[int] = 2

    def infer(self, ins, where):
        _where_attrs(self, where)
        if ins[0] != ins[1]:
            raise GoldenError(f"{where}: operand shapes differ: {ins[0]} vs {ins[1]}")
        return self, ins[0]


NODE_TYPES: dict[str, type[Node]] = {
    t.op: t for t in (Input, Conv2d, Linear, BatchNorm, QCFS, AvgPool2d, Flatten, Add)
}


@dataclass(frozen=True, eq=False)
class Network:
    """A validated QCFS network.  Build with :func:`network`, never by hand."""

    name: str
    nodes: tuple[Node, ...]
    output: str
    shapes: dict[str, tuple[int, ...]] = field(repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_name", {n.name: n for n in self.nodes})

    def node(self, name: str) -> Node:
        n = self._by_name.get(name)
        if n is None:
            raise GoldenError(f"network {self.name!r}: no node named {name!r}")
        return n

    @property
    def input(self) -> Input:
        return self.nodes[0]

    @property
    def bits(self) -> int | None:
        """The activation bit width ``B`` shared by every QCFS node (None if there is none)."""
        bs = {n.bits for n in self.nodes if isinstance(n, QCFS)}
        return bs.pop() if bs else None

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes if name in n.inputs]

    def hash(self) -> str:
        """SHA-256 of the canonical graph JSON and all parameter bytes."""
        h = hashlib.sha256(json.dumps(_graph_json(self), sort_keys=True).encode())
        for n in self.nodes:
            for k, v in sorted(n.params().items()):
                h.update(f"{n.name}/{k}".encode())
                h.update(np.ascontiguousarray(v, dtype="<f8").tobytes())
        return h.hexdigest()


# ---------------------------------------------------------------- validation


def network(nodes, output: str | None = None, name: str = "network", source: str = "network") -> Network:
    """Validate ``nodes`` (topological order, an :class:`Input` first) and build a :class:`Network`.

    Each node validates itself and infers its output shape (:meth:`Node.infer`)."""
    nodes = list(nodes)
    if not nodes or not isinstance(nodes[0], Input):
        raise GoldenError(f"{source}: the first node must be the input node (op 'input')")
    if len(nodes) > MAX_NODES:
        raise GoldenError(f"{source}: {len(nodes)} nodes, more than the limit of {MAX_NODES}")
    name = check(_NETWORK_NAME, name, source, GoldenError, "name")
    shapes: dict[str, tuple[int, ...]] = {}
    out_nodes: list[Node] = []
    for i, n in enumerate(nodes):
        if not isinstance(n, Node) or type(n) not in NODE_TYPES.values():
            raise GoldenError(f"{source}: node {i} is a {type(n).__name__}, not one of the IR node types")
        if not isinstance(n.name, str) or not _NAME_RE.fullmatch(n.name) or len(n.name) > MAX_NAME:
            raise GoldenError(f"{source}: node {i}: name must match {_NAME_RE.pattern} (at most {MAX_NAME} characters), not {show(n.name)}")
        where = f"{source}: node {i} {n.name!r} ({n.op})"
        if n.name in shapes:
            raise GoldenError(f"{where}: duplicate node name {n.name!r}")
        if isinstance(n, Input) and i:
            raise GoldenError(f"{where}: only one input node is allowed, and it comes first")
        if not isinstance(n.inputs, (tuple, list)):
            raise GoldenError(f"{where}: inputs must be a list of node names, not {show(n.inputs)}")
        ins = tuple(n.inputs)
        if len(ins) != n.n_inputs:
            raise GoldenError(f"{where}: takes {n.n_inputs} input(s), got {len(ins)}: {show(list(ins))}")
        for src in ins:
            if not isinstance(src, str) or src not in shapes:
                raise GoldenError(f"{where}: input {show(src)} is not an earlier node")
        n = dataclasses.replace(n, inputs=ins)
        n, shapes[n.name] = n.infer([shapes[s] for s in ins], where)
        out_nodes.append(n)
    output = out_nodes[-1].name if output is None else output
    if output not in shapes:
        raise GoldenError(f"{source}: output {show(output)} is not a node")
    bits = {n.bits for n in out_nodes if isinstance(n, QCFS)}
    if len(bits) > 1:
        detail = ", ".join(f"{n.name}: {n.bits}" for n in out_nodes if isinstance(n, QCFS))
        raise GoldenError(
            f"{source}: all QCFS nodes must share one bit width B (the SNN runs T = B steps); found {detail}"
        )
    return Network(name=name, nodes=tuple(out_nodes), output=output, shapes=shapes)


# ---------------------------------------------------------------- file format


def _graph_json(net: Network) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "format": FORMAT,
        "name": net.name,
        "output": net.output,
        "nodes": [
            {"name": n.name, "op": n.op, "inputs": list(n.inputs), "attrs": _jsonable(n.attrs())}
            for n in net.nodes
        ],
    }


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def save(net: Network, path) -> Path:
    """Write ``net`` to ``path`` (``.npz``), atomically (temporary file, then rename)."""
    path = Path(path)
    arrays = {"graph.json": np.frombuffer(json.dumps(_graph_json(net), indent=1).encode(), dtype=np.uint8)}
    for n in net.nodes:
        for k, v in n.params().items():
            arrays[f"{n.name}/{k}"] = np.asarray(v, dtype=np.float64)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    tmp.replace(path)
    return path


#: graph.json (the attributes of each node are checked against its class's ``ATTRS``)
GRAPH = Obj({
    "format": Const(FORMAT),
    "schema_version": Version(SCHEMA_VERSION),
    "name": Str(max_len=1000, optional=True),
    "output": Str(max_len=MAX_NAME, optional=True),
    "nodes": List(Obj({
        "name": Str(pattern=_NAME_RE.pattern, max_len=MAX_NAME),
        "op": Str(choices=list(NODE_TYPES)),
        "inputs": List(Str(max_len=MAX_NAME), 0, 2),
        "attrs": Table(),
    }), 1, MAX_NODES),
})


def load(path) -> Network:
    """Read and validate a model file written by :func:`save`.

    Raises :class:`GoldenError` naming the file, the node and the field for anything
    malformed: not a zip, no ``graph.json``, another ``schema_version``, unknown ops or
    attributes, fields of the wrong type or out of range, missing or extra arrays,
    arrays that are not real floats, wrong shapes, NaN or infinite weights.  The zip
    directory and every array header are checked before any array is decompressed
    (:mod:`golden.npzio`).
    """
    path = Path(path)
    src = f"model file {path}"
    with NpzReader(path, "model", dense=True) as z:
        g = check(GRAPH, z.json("graph.json"), src, GoldenError)
        specs = []
        for i, d in enumerate(g["nodes"]):
            cls = NODE_TYPES[d["op"]]
            where = f"{src}: node {i} {d['name']!r} ({d['op']})"
            attrs = check(cls.ATTRS, d["attrs"], where, GoldenError, "attrs")
            keys = {}
            for p in cls.param_names:
                key = f"{d['name']}/{p}"
                if key in z.members:
                    z.member(key, "f")
                    keys[p] = key
                elif p not in cls.optional_params:
                    raise GoldenError(f"{where}: missing array {key!r}")
            specs.append((cls, d, attrs, keys))
        known = {k for *_, keys in specs for k in keys.values()} | {"graph.json"}
        unused = sorted(set(z.members) - known)
        if unused:
            raise GoldenError(f"{src}: array(s) {show(unused)} belong to no node")
        nodes = [
            cls(name=d["name"], inputs=tuple(d["inputs"]), **attrs, **{p: z.array(k, "f") for p, k in keys.items()})
            for cls, d, attrs, keys in specs
        ]
    return network(nodes, output=g.get("output"), name=g.get("name", path.stem), source=src)

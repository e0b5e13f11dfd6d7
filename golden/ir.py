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

from .errors import GoldenError
from .npzio import json_entry, read_npz

SCHEMA_VERSION = 1
FORMAT = "snnbits-model"
MAX_BITS = 16
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(
        isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v
    ):
        return int(v[0]), int(v[1])
    raise GoldenError(f"{what} must be an int or a pair of ints, not {v!r}")


@dataclass(frozen=True, eq=False)
class Node:
    """Base class: ``name`` and the names of the input nodes."""

    name: str
    inputs: tuple[str, ...]
    op: ClassVar[str] = ""
    n_inputs: ClassVar[int] = 1
    param_names: ClassVar[tuple[str, ...]] = ()

    def attrs(self) -> dict:
        """JSON-able attributes (everything but name, inputs and arrays)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("name", "inputs") and f.name not in self.param_names
        }

    def params(self) -> dict[str, np.ndarray]:
        return {p: getattr(self, p) for p in self.param_names if getattr(self, p) is not None}


@dataclass(frozen=True, eq=False)
class Input(Node):
    """Network input: integer pixel codes of ``bits`` bits; top code worth ``scale``."""

    shape: tuple[int, ...] = ()
    bits: int = 8
    scale: float = 1.0
    op: ClassVar[str] = "input"
    n_inputs: ClassVar[int] = 0


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


@dataclass(frozen=True, eq=False)
class Linear(Node):
    """Fully connected layer, weight ``(O, F)``, optional bias ``(O,)``."""

    weight: np.ndarray = None
    bias: np.ndarray | None = None
    op: ClassVar[str] = "linear"
    param_names: ClassVar[tuple[str, ...]] = ("weight", "bias")


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


@dataclass(frozen=True, eq=False)
class QCFS(Node):
    """QCFS activation with ``bits`` output bits and trainable threshold ``lam``."""

    lam: float = 1.0
    bits: int = 4
    op: ClassVar[str] = "qcfs"


@dataclass(frozen=True, eq=False)
class AvgPool2d(Node):
    """Average pooling without padding."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    op: ClassVar[str] = "avgpool2d"


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    """Flatten ``(C, H, W)`` to ``(C*H*W,)`` in C order."""

    op: ClassVar[str] = "flatten"


@dataclass(frozen=True, eq=False)
class Add(Node):
    """Residual addition of two tensors of equal shape."""

    op: ClassVar[str] = "add"
    n_inputs: ClassVar[int] = 2


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

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise GoldenError(f"network {self.name!r}: no node named {name!r}")

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


def _check_array(where: str, pname: str, a, shape: tuple[int, ...] | None) -> np.ndarray:
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise GoldenError(f"{where}: parameter {pname!r} is not numeric ({e})") from None
    if shape is not None and arr.shape != shape:
        raise GoldenError(f"{where}: parameter {pname!r} has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise GoldenError(
            f"{where}: parameter {pname!r} holds a non-finite value {float(arr[tuple(bad)])} at index {tuple(int(i) for i in bad)}"
        )
    arr = np.array(arr, dtype=np.float64)  # own copy
    arr.setflags(write=False)
    return arr


def _pos_int(where: str, field_: str, v, lo: int = 1, hi: int | None = None) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise GoldenError(f"{where}: {field_} must be an integer in {rng}, not {v!r}")
    return int(v)


def _infer(node: Node, ins: list[tuple[int, ...]], where: str) -> tuple[Node, tuple[int, ...]]:
    """Validate one node against its input shapes; return a normalized node and its output shape."""
    rep = dataclasses.replace
    if isinstance(node, Input):
        shape = tuple(node.shape) if isinstance(node.shape, (tuple, list)) else None
        if not shape or len(shape) not in (1, 3) or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
            raise GoldenError(f"{where}: shape must be (C, H, W) or (F,) of positive ints, not {node.shape!r}")
        bits = _pos_int(where, "bits", node.bits, 1, MAX_BITS)
        if not isinstance(node.scale, (int, float)) or not math.isfinite(node.scale) or node.scale <= 0:
            raise GoldenError(f"{where}: scale must be a positive finite number, not {node.scale!r}")
        return rep(node, shape=tuple(int(s) for s in shape), bits=bits, scale=float(node.scale)), tuple(int(s) for s in shape)
    (x,) = ins if node.n_inputs == 1 else (None,)
    if isinstance(node, Conv2d):
        if len(x) != 3:
            raise GoldenError(f"{where}: input must be (C, H, W), got shape {x}")
        w = _check_array(where, "weight", node.weight, None)
        if w.ndim != 4:
            raise GoldenError(f"{where}: parameter 'weight' must be 4-D (O, C/groups, kh, kw), got shape {w.shape}")
        g = _pos_int(where, "groups", node.groups)
        O, Cg, kh, kw = w.shape
        if x[0] % g or O % g or Cg * g != x[0]:
            raise GoldenError(
                f"{where}: weight shape {w.shape} with groups={g} does not fit {x[0]} input channels"
            )
        stride = _pair(node.stride, f"{where}: stride")
        padding = _pair(node.padding, f"{where}: padding")
        if min(stride) < 1 or min(padding) < 0:
            raise GoldenError(f"{where}: stride must be >= 1 and padding >= 0, not {stride} / {padding}")
        H = (x[1] + 2 * padding[0] - kh) // stride[0] + 1
        W = (x[2] + 2 * padding[1] - kw) // stride[1] + 1
        if H < 1 or W < 1:
            raise GoldenError(f"{where}: kernel {kh}x{kw} does not fit input {x} with padding {padding}")
        b = None if node.bias is None else _check_array(where, "bias", node.bias, (O,))
        return rep(node, weight=w, bias=b, stride=stride, padding=padding, groups=g), (O, H, W)
    if isinstance(node, Linear):
        if len(x) != 1:
            raise GoldenError(f"{where}: input must be a vector (F,), got shape {x}; insert a flatten node")
        w = _check_array(where, "weight", node.weight, None)
        if w.ndim != 2 or w.shape[1] != x[0]:
            raise GoldenError(f"{where}: parameter 'weight' has shape {w.shape}, expected (O, {x[0]})")
        b = None if node.bias is None else _check_array(where, "bias", node.bias, (w.shape[0],))
        return rep(node, weight=w, bias=b), (w.shape[0],)
    if isinstance(node, BatchNorm):
        C = x[0]
        arrs = {p: _check_array(where, p, getattr(node, p), (C,)) for p in node.param_names}
        if np.any(arrs["var"] < 0):
            raise GoldenError(f"{where}: parameter 'var' must be >= 0, found {arrs['var'].min()!r}")
        if not isinstance(node.eps, (int, float)) or not node.eps > 0:
            raise GoldenError(f"{where}: eps must be > 0, not {node.eps!r}")
        return rep(node, eps=float(node.eps), **arrs), x
    if isinstance(node, QCFS):
        bits = _pos_int(where, "bits", node.bits, 1, MAX_BITS)
        lam = node.lam
        if not isinstance(lam, (int, float, np.floating)) or not math.isfinite(lam) or lam <= 0:
            raise GoldenError(f"{where}: lam (threshold lambda) must be a positive finite number, not {lam!r}")
        return rep(node, bits=bits, lam=float(lam)), x
    if isinstance(node, AvgPool2d):
        if len(x) != 3:
            raise GoldenError(f"{where}: input must be (C, H, W), got shape {x}")
        k = _pair(node.kernel, f"{where}: kernel")
        s = _pair(node.stride, f"{where}: stride")
        if min(k) < 1 or min(s) < 1:
            raise GoldenError(f"{where}: kernel and stride must be >= 1, not {k} / {s}")
        H, W = (x[1] - k[0]) // s[0] + 1, (x[2] - k[1]) // s[1] + 1
        if H < 1 or W < 1:
            raise GoldenError(f"{where}: kernel {k} does not fit input {x}")
        return rep(node, kernel=k, stride=s), (x[0], H, W)
    if isinstance(node, Flatten):
        return node, (int(np.prod(x)),)
    if isinstance(node, Add):
        if ins[0] != ins[1]:
            raise GoldenError(f"{where}: operand shapes differ: {ins[0]} vs {ins[1]}")
        return node, ins[0]
    raise GoldenError(f"{where}: unknown node type {type(node).__name__}")


def network(nodes, output: str | None = None, name: str = "network", source: str = "network") -> Network:
    """Validate ``nodes`` (topological order, an :class:`Input` first) and build a :class:`Network`."""
    nodes = list(nodes)
    if not nodes or not isinstance(nodes[0], Input):
        raise GoldenError(f"{source}: the first node must be the input node (op 'input')")
    shapes: dict[str, tuple[int, ...]] = {}
    out_nodes: list[Node] = []
    for i, n in enumerate(nodes):
        where = f"{source}: node {i} {getattr(n, 'name', '?')!r} ({n.op})"
        if not isinstance(n.name, str) or not _NAME_RE.match(n.name):
            raise GoldenError(f"{source}: node {i}: name must match {_NAME_RE.pattern}, not {n.name!r}")
        if n.name in shapes:
            raise GoldenError(f"{where}: duplicate node name {n.name!r}")
        if isinstance(n, Input) and i:
            raise GoldenError(f"{where}: only one input node is allowed, and it comes first")
        ins = tuple(n.inputs)
        if len(ins) != n.n_inputs:
            raise GoldenError(f"{where}: takes {n.n_inputs} input(s), got {len(ins)}: {list(ins)}")
        for src in ins:
            if src not in shapes:
                raise GoldenError(f"{where}: input {src!r} is not an earlier node")
        n = dataclasses.replace(n, inputs=ins)
        n, shapes[n.name] = _infer(n, [shapes[s] for s in ins], where)
        out_nodes.append(n)
    output = out_nodes[-1].name if output is None else output
    if output not in shapes:
        raise GoldenError(f"{source}: output {output!r} is not a node")
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


def load(path) -> Network:
    """Read and validate a model file written by :func:`save`.

    Raises :class:`GoldenError` naming the file, the node and the field for anything
    malformed: not a zip, no ``graph.json``, another ``schema_version``, unknown ops or
    attributes, missing or extra arrays, wrong shapes, NaN or infinite weights.
    """
    path = Path(path)
    src = str(path)
    files = read_npz(path, "model")
    g = json_entry(files, "graph.json", "model", src)
    if not isinstance(g, dict):
        raise GoldenError(f"model file {src}: 'graph.json' must be a JSON object")
    if g.get("format") != FORMAT:
        raise GoldenError(f"model file {src}: field 'format' is {g.get('format')!r}, expected {FORMAT!r}")
    if g.get("schema_version") != SCHEMA_VERSION:
        raise GoldenError(
            f"model file {src}: schema_version {g.get('schema_version')!r} is not supported "
            f"(this version reads schema_version {SCHEMA_VERSION})"
        )
    extra = set(g) - {"schema_version", "format", "name", "output", "nodes"}
    if extra:
        raise GoldenError(f"model file {src}: unknown top-level field(s) {sorted(extra)}")
    if not isinstance(g.get("nodes"), list):
        raise GoldenError(f"model file {src}: field 'nodes' must be a list")
    nodes = []
    used = set()
    for i, d in enumerate(g["nodes"]):
        if not isinstance(d, dict) or set(d) != {"name", "op", "inputs", "attrs"}:
            raise GoldenError(f"model file {src}: node {i} must have exactly the fields name, op, inputs, attrs; got {d!r:.200}")
        op = d["op"]
        if op not in NODE_TYPES:
            raise GoldenError(f"model file {src}: node {i} {d['name']!r}: unknown op {op!r} (known: {sorted(NODE_TYPES)})")
        cls = NODE_TYPES[op]
        allowed = {f.name for f in dataclasses.fields(cls)} - {"name", "inputs"} - set(cls.param_names)
        attrs = d["attrs"]
        if not isinstance(attrs, dict) or set(attrs) - allowed:
            bad = sorted(set(attrs) - allowed) if isinstance(attrs, dict) else attrs
            raise GoldenError(f"model file {src}: node {d['name']!r} ({op}): unknown attribute(s) {bad} (accepted: {sorted(allowed)})")
        if not isinstance(d["inputs"], list):
            raise GoldenError(f"model file {src}: node {d['name']!r}: 'inputs' must be a list")
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in attrs.items()}
        for p in cls.param_names:
            key = f"{d['name']}/{p}"
            if key in files:
                kw[p] = files[key]
                used.add(key)
            elif p != "bias":
                raise GoldenError(f"model file {src}: node {d['name']!r} ({op}): missing array {key!r}")
        nodes.append(cls(name=d["name"], inputs=tuple(d["inputs"]), **kw))
    unused = set(files) - used
    if unused:
        raise GoldenError(f"model file {src}: array(s) {sorted(unused)} belong to no node")
    return network(nodes, output=g.get("output"), name=str(g.get("name", path.stem)), source=f"model file {src}")

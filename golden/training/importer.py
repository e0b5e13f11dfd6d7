"""Import a trained PyTorch QCFS model into a golden :class:`~golden.ir.Network`.

The model is traced with ``torch.fx`` symbolic tracing (QCFS kept as a leaf) (no list of attribute names:
whatever the ``forward`` does is what gets imported), then every graph node is
mapped to one IR node:

==============================================  =====================
torch                                           golden.ir
==============================================  =====================
``nn.Conv2d`` (zero padding, no dilation)       ``Conv2d``
``nn.Linear``                                   ``Linear``
``nn.BatchNorm1d`` / ``nn.BatchNorm2d``         ``BatchNorm`` (running statistics)
:class:`golden.training.qcfs.QCFS`              ``QCFS``
``nn.AvgPool2d`` (no padding, floor mode)       ``AvgPool2d``
``nn.Flatten``, ``torch.flatten(x, 1)``,
``x.flatten(1)``                                ``Flatten``
``x + y``, ``torch.add(x, y)``                  ``Add``
``nn.Identity``, ``nn.Dropout``                 (skipped: identity at inference)
==============================================  =====================

Anything else raises :class:`~golden.errors.GoldenError` naming the module (its
qualified name and type) and the supported alternatives; ``MaxPool2d`` is refused
with a hint to train with ``AvgPool2d``, ``ReLU`` with a hint to use QCFS.

**Your own QCFS module.**  A module is imported as a QCFS activation if it is a
:class:`~golden.training.qcfs.QCFS` (or a subclass), if it declares
``snnbits_qcfs = (bits, lam)`` (an attribute or property; ``lam`` a number or a
one-element tensor), or if it has no submodules, an attribute ``bits`` and a
scalar ``lam``.  Its forward is then checked on probe inputs around every level
(:func:`check_qcfs`): it must return ``lam / L * clip(round(x * L / lam), 0, L)``
away from the rounding boundaries and beyond both ends, else the import is
refused with the first input where it differs.  Any other module whose forward
the importer cannot map is refused naming it, with a hint to use ``QCFS``,
subclass it, or declare ``snnbits_qcfs``.

**Where quantized tensors are required** (what :func:`golden.convert.convert`
can turn into integer layers, checked at import time): a ``Conv2d``/``Linear``
must read the network input or a QCFS output, optionally through
``AvgPool2d``/``Flatten``; ``AvgPool2d``/``Flatten`` must act on such a tensor
too; ``BatchNorm`` must follow a conv/linear (it is folded into it), possibly
after a residual ``+``.  So ``conv(q1 + q2)`` (a conv reading a sum),
``conv(bn(x))`` (BatchNorm before the conv), ``q(avgpool(conv(x)))`` (pooling
before the activation) and ``linear(flatten(conv(q)))`` (a linear reading a
conv output) are refused, naming both modules and the rewrite that imports.
"""

from __future__ import annotations

import math
import operator
import re

import numpy as np
import torch
from torch import fx, nn

from ..errors import GoldenError
from ..ir import QCFS as IrQCFS
from ..ir import Add, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, Linear, Network, network
from .qcfs import QCFS

SUPPORTED = (
    "Conv2d, Linear, BatchNorm1d, BatchNorm2d, QCFS (golden.training.qcfs.QCFS), AvgPool2d, Flatten, "
    "Identity, Dropout, torch.flatten(x, 1), x + y / torch.add(x, y)"
)
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_HINTS = {
    nn.MaxPool2d: "max pooling has no exact spiking equivalent here; train with nn.AvgPool2d instead",
    nn.MaxPool1d: "max pooling has no exact spiking equivalent here; train with nn.AvgPool2d instead",
    nn.ReLU: "replace ReLU by golden.training.qcfs.QCFS (golden.training.train.relu_to_qcfs does it) and fine-tune",
    nn.ReLU6: "replace it by golden.training.qcfs.QCFS and fine-tune",
    nn.AdaptiveAvgPool2d: "use nn.AvgPool2d with an explicit kernel size",
}
_IDENTITY = (nn.Identity, nn.Dropout)
_QCFS_HINT = (
    "if it is a QCFS activation, use golden.training.qcfs.QCFS(bits, lam) or a subclass, or declare "
    "snnbits_qcfs = (bits, lam) on it so that the importer can check it"
)


def _arr(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().to(torch.float64).cpu().numpy().copy()


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _unsupported(where: str, what: str, hint: str | None = None) -> GoldenError:
    msg = f"importer: {where} ({what}) is not supported"
    msg += f"; {hint}" if hint else ""
    return GoldenError(f"{msg}. Supported: {SUPPORTED}")


def _is_qcfs_like(m: nn.Module) -> bool:
    """Whether ``m`` claims to be a QCFS activation (see the module docstring).

    Looks only at the class and the instance dictionaries: while ``torch.fx`` traces,
    reading a parameter through ``nn.Module.__getattr__`` would add it to the graph."""
    if isinstance(m, QCFS) or hasattr(type(m), "snnbits_qcfs") or "snnbits_qcfs" in vars(m):
        return True
    has_lam = "lam" in m._parameters or "lam" in m._buffers or "lam" in vars(m) or hasattr(type(m), "lam")
    has_bits = "bits" in vars(m) or hasattr(type(m), "bits")
    return has_lam and has_bits and not m._modules


def _qcfs_spec(m: nn.Module):
    """``(bits, lam)`` as a QCFS-like module ``m`` declares them (call outside tracing)."""
    if hasattr(type(m), "snnbits_qcfs") or "snnbits_qcfs" in vars(m):
        return m.snnbits_qcfs
    return m.bits, m.lam


def _qcfs_params(m: nn.Module, where: str, spec) -> tuple[int, float]:
    what = type(m).__name__
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise GoldenError(f"importer: {where} ({what}): snnbits_qcfs must be a tuple (bits, lam), not {spec!r}")
    bits, lam = spec
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
        raise GoldenError(f"importer: {where} ({what}): bits must be an integer in 1..16, not {bits!r}")
    if isinstance(lam, torch.Tensor):
        if lam.numel() != 1:
            raise GoldenError(
                f"importer: {where} ({what}): lam must be one scalar per layer, not a tensor of shape "
                f"{tuple(lam.shape)}; use golden.training.qcfs.QCFS(bits, lam)"
            )
        lam = lam.detach().reshape(()).item()
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or not lam > 0:
        raise GoldenError(f"importer: {where} ({what}): lam must be a finite number > 0, is {lam!r}")
    return bits, float(lam)


@torch.no_grad()
def check_qcfs(m: nn.Module, bits: int, lam: float) -> tuple[float, float, float] | None:
    """Probe ``m`` against QCFS with ``bits`` and ``lam``; None if it agrees, else ``(x, got, want)``.

    Probe inputs, a 1-D tensor: for every level ``j`` from -2 to ``L + 2``,
    ``x = (j + f) * lam / L`` with ``f`` in -0.45, -0.25, 0, 0.25, 0.45 (so truncation
    instead of rounding, a clip at ``2**B`` or a scale of ``lam / 2**B`` are caught).
    Expected: ``lam / L * clip(j, 0, L)``; the output's code ``round(y * L / lam)`` must
    equal ``clip(j, 0, L)`` and its value must be within ``1e-6 * lam`` of ``lam / L``
    times it.  Runs in eval mode, in the dtype of ``m``'s first floating parameter
    (float64 if none).  Raises whatever ``m`` raises, and ``ValueError`` if the output
    is not a tensor of the input's shape.
    """
    L = (1 << bits) - 1
    j = np.repeat(np.arange(-2, L + 3), 5)
    f = np.tile([-0.45, -0.25, 0.0, 0.25, 0.45], L + 5)
    x = (j + f) * (lam / L)
    k = np.clip(j, 0, L)
    dtype = next((p.dtype for p in m.parameters() if p.is_floating_point()), torch.float64)
    was_training = m.training
    m.eval()
    try:
        y = m(torch.as_tensor(x, dtype=dtype))
    finally:
        m.train(was_training)
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != x.shape:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"it returns {got} for an input of shape {x.shape}")
    y = y.detach().to(torch.float64).numpy()
    bad = (np.rint(y * L / lam) != k) | (np.abs(y - k * (lam / L)) > 1e-6 * lam)
    if not bad.any():
        return None
    i = int(np.argmax(bad))
    return float(x[i]), float(y[i]), float(k[i] * (lam / L))


def _module_node(name: str, src: str, qual: str, m: nn.Module):
    """IR node for call_module ``m`` (qualified name ``qual``); None for an identity."""
    where = f"module {qual!r}"
    if isinstance(m, _IDENTITY):
        return None
    if _is_qcfs_like(m):
        bits, lam = _qcfs_params(m, where, _qcfs_spec(m))
        try:
            diff = check_qcfs(m, bits, lam)
        except Exception as e:  # the user's forward may fail on a 1-D probe
            raise GoldenError(
                f"importer: {where} ({type(m).__name__}) claims to be QCFS (bits={bits}, lam={lam:.6g}) but its "
                f"forward fails on a 1-D probe tensor ({type(e).__name__}: {e}); an activation must be elementwise. "
                "Use golden.training.qcfs.QCFS(bits, lam)"
            ) from None
        if diff is not None:
            x, got, want = diff
            raise GoldenError(
                f"importer: {where} ({type(m).__name__}) claims to be QCFS (bits={bits}, lam={lam:.6g}) but does not "
                f"compute it: at x = {x:.6g} it returns {got:.6g}, QCFS gives {want:.6g} "
                f"(lam / L * clip(round(x * L / lam), 0, L), L = {(1 << bits) - 1}). "
                "Use golden.training.qcfs.QCFS(bits, lam), or fix its forward"
            )
        return IrQCFS(name=name, inputs=(src,), lam=lam, bits=bits)
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise GoldenError(f"importer: {where} (Conv2d): padding {m.padding!r} / padding_mode {m.padding_mode!r}; only integer zero padding is supported")
        if _pair(m.dilation) != (1, 1):
            raise GoldenError(f"importer: {where} (Conv2d): dilation {m.dilation} is not supported (only 1)")
        return Conv2d(name=name, inputs=(src,), weight=_arr(m.weight), bias=_arr(m.bias),
                      stride=_pair(m.stride), padding=_pair(m.padding), groups=int(m.groups))
    if isinstance(m, nn.Linear):
        return Linear(name=name, inputs=(src,), weight=_arr(m.weight), bias=_arr(m.bias))
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if m.running_mean is None or m.running_var is None:
            raise GoldenError(f"importer: {where} ({type(m).__name__}): needs running statistics (track_running_stats=True)")
        C = m.num_features
        gamma = _arr(m.weight) if m.affine else np.ones(C)
        beta = _arr(m.bias) if m.affine else np.zeros(C)
        return BatchNorm(name=name, inputs=(src,), gamma=gamma, beta=beta, mean=_arr(m.running_mean),
                         var=_arr(m.running_var), eps=float(m.eps))
    if isinstance(m, nn.AvgPool2d):
        if _pair(m.padding) != (0, 0) or m.ceil_mode or m.divisor_override is not None:
            raise GoldenError(f"importer: {where} (AvgPool2d): padding, ceil_mode and divisor_override are not supported")
        k = _pair(m.kernel_size)
        s = k if m.stride is None else _pair(m.stride)
        return AvgPool2d(name=name, inputs=(src,), kernel=k, stride=s)
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise GoldenError(f"importer: {where} (Flatten): only start_dim=1, end_dim=-1 is supported, not {m.start_dim}, {m.end_dim}")
        return Flatten(name=name, inputs=(src,))
    hint = next((h for t, h in _HINTS.items() if isinstance(m, t)), None)
    raise _unsupported(where, type(m).__name__, hint)


def _flatten_args(node: fx.Node, where: str) -> fx.Node:
    args = list(node.args)
    start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
    end = args[2] if len(args) > 2 else node.kwargs.get("end_dim", -1)
    if start != 1 or end != -1:
        raise GoldenError(f"importer: {where}: flatten must keep the batch dimension (start_dim=1, end_dim=-1), got {start}, {end}")
    return args[0]


class _Tracer(fx.Tracer):
    """torch.fx tracer that keeps every QCFS-like module (:func:`_is_qcfs_like`) as one leaf."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return _is_qcfs_like(m) or super().is_leaf_module(m, qualname)


def _owner(node: fx.Node, modules: dict[str, nn.Module]) -> str | None:
    """Qualified name of the innermost user-defined (not ``torch.nn``) submodule whose forward made ``node``."""
    stack = node.meta.get("nn_module_stack") or {}
    for key in reversed(list(stack)):
        path = stack[key][0] if isinstance(stack[key], tuple) else key
        m = modules.get(path)
        if path and m is not None and not type(m).__module__.startswith("torch."):
            return path
    return None


def _inside(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    """`` inside module 'q' (MyAct); <QCFS hint>`` for a node traced inside a user submodule, else ''."""
    q = _owner(node, modules)
    return "" if q is None else f" inside module {q!r} ({type(modules[q]).__name__}); {_QCFS_HINT}"


def _check_quantized_inputs(nodes: list, output: str, what: dict[str, str]) -> None:
    """Refuse, naming the torch modules, every place where :mod:`golden.convert` needs a quantized
    tensor and the model has another (mirrors ``golden.convert._chain`` and ``_expr``)."""
    by_name = {n.name: n for n in nodes}

    def quantized(name: str) -> bool:
        n = by_name[name]
        if isinstance(n, (Input, IrQCFS)):
            return True
        return isinstance(n, (AvgPool2d, Flatten)) and quantized(n.inputs[0])

    def reader_error(reader: str, src: str) -> GoldenError:
        path = []
        p = by_name[src]
        while isinstance(p, (AvgPool2d, Flatten)):
            path.append(p.name)
            p = by_name[p.inputs[0]]
        through = f" through {', '.join(what[n] for n in path)}" if path else ""
        head = f"importer: {what[reader]} reads {what[p.name]}{through}, which is not a quantized tensor"
        need = ("; a Conv2d/Linear must read the network input or a QCFS output (optionally through "
                "AvgPool2d/Flatten), because the SNN feeds it spikes")
        if isinstance(p, BatchNorm) and quantized(p.inputs[0]):
            fix = ("a BatchNorm is folded into the conv/linear before it, so it cannot come before one: move it "
                   "after the conv/linear (conv -> bn -> QCFS)")
        elif isinstance(p, Add):
            fix = ("apply a QCFS to the sum first (conv(QCFS(a + b))), or give each summand its own conv/linear "
                   "and add their outputs (conv_a(a) + conv_b(b), then BatchNorm/QCFS)")
        else:
            fix = f"put a QCFS activation after {what[p.name]} (e.g. conv -> bn -> QCFS -> flatten -> linear)"
        return GoldenError(f"{head}{need}. Fix: {fix}")

    def check(name: str) -> None:
        if quantized(name):
            return
        n = by_name[name]
        if isinstance(n, (Conv2d, Linear)):
            if not quantized(n.inputs[0]):
                raise reader_error(name, n.inputs[0])
        elif isinstance(n, BatchNorm):
            check(n.inputs[0])
        elif isinstance(n, Add):
            check(n.inputs[0])
            check(n.inputs[1])
        else:  # AvgPool2d / Flatten of a tensor that is not quantized
            src = by_name[n.inputs[0]]
            kind = "pooling" if isinstance(n, AvgPool2d) else "flattening"
            raise GoldenError(
                f"importer: {what[name]} acts on {what[src.name]}, which is not a quantized tensor; "
                f"{kind} is done on spike codes (a sum pool of QCFS codes), so it must come after a QCFS "
                f"activation. Fix: move it after the activation (conv -> bn -> QCFS -> {type(n).__name__})"
            )

    for n in nodes:
        if isinstance(n, IrQCFS):
            check(n.inputs[0])
    if not isinstance(by_name[output], IrQCFS):
        check(output)


def import_model(model: nn.Module, input: Input, name: str = "imported") -> Network:
    """Trace ``model`` (a trained torch module, evaluated in eval mode) into a validated Network.

    ``input`` is the IR input node: its shape, pixel bits and scale say what the
    model's input tensor holds (a pixel code ``k`` is the value ``scale * k / (2**bits - 1)``).
    """
    if not isinstance(model, nn.Module):
        raise GoldenError(f"importer: model must be a torch.nn.Module, not {type(model).__name__}")
    if not isinstance(input, Input):
        raise GoldenError(f"importer: input must be a golden.ir.Input node, not {type(input).__name__}")
    try:
        tracer = _Tracer()
        gm = fx.GraphModule(model, tracer.trace(model))
    except Exception as e:  # fx raises many types for untraceable code
        raise GoldenError(
            f"importer: torch.fx cannot trace {type(model).__name__} ({type(e).__name__}: {e}); "
            "forward must not branch on tensor values"
        ) from None
    qcfs_bits = {q: _qcfs_params(m, f"module {q!r}", _qcfs_spec(m))[0]
                 for q, m in model.named_modules() if _is_qcfs_like(m) and m is not model}
    if len(set(qcfs_bits.values())) > 1:
        detail = ", ".join(f"module {q!r}: B={b}" for q, b in qcfs_bits.items())
        raise GoldenError(f"importer: all QCFS modules must share one bit width B (the SNN runs T = B steps); found {detail}")
    modules = dict(gm.named_modules())
    user_modules = dict(model.named_modules())
    nodes = [input]
    alias: dict[str, str] = {}  # fx node name -> IR node name
    what = {input.name: f"the network input {input.name!r}"}  # IR node name -> how the model wrote it
    used = {input.name}
    output = None

    def fresh(base: str) -> str:
        base = base if _NAME_RE.match(base) else "n" + base
        n, i = base, 1
        while n in used:
            n, i = f"{base}_{i}", i + 1
        used.add(n)
        return n

    def src_of(a, where: str) -> str:
        if not isinstance(a, fx.Node) or a.name not in alias:
            raise GoldenError(f"importer: {where}: argument {a!r} is not a tensor computed by the model")
        return alias[a.name]

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise GoldenError(f"importer: the model must take exactly one input tensor, its forward takes {len(placeholders)}")
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            alias[node.name] = input.name
        elif node.op == "call_module":
            m = modules[node.target]
            where = f"module {node.target!r}"
            if len(node.args) != 1 or node.kwargs:
                raise GoldenError(f"importer: {where} ({type(m).__name__}) must be called with one tensor argument")
            src = src_of(node.args[0], where)
            base = node.target if _NAME_RE.match(node.target) else f"{type(m).__name__.lower()}_{node.target.replace('.', '_')}"
            ir = _module_node(fresh(base), src, node.target, m)
            if ir is None:
                alias[node.name] = src
            else:
                nodes.append(ir)
                alias[node.name] = ir.name
                what[ir.name] = f"module {node.target!r} ({type(m).__name__})"
        elif node.op in ("call_function", "call_method"):
            fn = node.target
            desc = f"method .{fn}()" if isinstance(fn, str) else f"function {getattr(fn, '__qualname__', fn)}"
            where = f"operation {node.name!r}"
            if fn in (operator.add, operator.iadd, torch.add, "add", "add_"):
                args = list(node.args)
                if len(args) != 2 or node.kwargs.get("alpha", 1) != 1 or set(node.kwargs) - {"alpha"}:
                    raise GoldenError(f"importer: {where}: only the sum of two tensors is supported")
                ir = Add(name=fresh(node.name), inputs=(src_of(args[0], where), src_of(args[1], where)))
                desc = "a + b"
            elif fn in (torch.flatten, "flatten"):
                ir = Flatten(name=fresh(node.name), inputs=(src_of(_flatten_args(node, where), where),))
            elif fn in (torch.nn.functional.max_pool2d, torch.max_pool2d):
                raise _unsupported(where, "max pooling", _HINTS[nn.MaxPool2d])
            elif fn in (torch.relu, torch.nn.functional.relu, "relu"):
                raise _unsupported(where, "relu", _HINTS[nn.ReLU])
            elif fn in ("view", "reshape", "size", torch.reshape):
                raise _unsupported(where, desc, "flatten with torch.flatten(x, 1) or nn.Flatten() instead of view/reshape")
            else:
                raise _unsupported(where + _inside(node, user_modules), desc)
            nodes.append(ir)
            alias[node.name] = ir.name
            what[ir.name] = f"operation {node.name!r} ({desc})"
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, fx.Node):
                raise GoldenError(f"importer: the model must return one tensor, not {type(out).__name__}")
            output = src_of(out, "output")
        else:  # get_attr: a tensor used directly in forward
            raise _unsupported(f"attribute {node.target!r}{_inside(node, user_modules)}",
                               "direct use of a parameter or buffer in forward")
    _check_quantized_inputs(nodes, output, what)
    return network(nodes, output=output, name=name, source=f"importer ({type(model).__name__})")

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
"""

from __future__ import annotations

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


def _arr(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().to(torch.float64).cpu().numpy().copy()


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _unsupported(where: str, what: str, hint: str | None = None) -> GoldenError:
    msg = f"importer: {where} ({what}) is not supported"
    msg += f"; {hint}" if hint else ""
    return GoldenError(f"{msg}. Supported: {SUPPORTED}")


def _module_node(name: str, src: str, qual: str, m: nn.Module):
    """IR node for call_module ``m`` (qualified name ``qual``); None for an identity."""
    where = f"module {qual!r}"
    if isinstance(m, _IDENTITY):
        return None
    if isinstance(m, QCFS):
        lam = float(m.lam.detach())
        if not lam > 0:
            raise GoldenError(f"importer: {where} (QCFS): lam must be > 0, is {lam!r}")
        return IrQCFS(name=name, inputs=(src,), lam=lam, bits=int(m.bits))
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
    """torch.fx tracer that keeps :class:`QCFS` as one leaf module."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, QCFS) or super().is_leaf_module(m, qualname)


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
    qcfs_bits = {q: m.bits for q, m in model.named_modules() if isinstance(m, QCFS)}
    if len(set(qcfs_bits.values())) > 1:
        detail = ", ".join(f"module {q!r}: B={b}" for q, b in qcfs_bits.items())
        raise GoldenError(f"importer: all QCFS modules must share one bit width B (the SNN runs T = B steps); found {detail}")
    modules = dict(gm.named_modules())
    nodes = [input]
    alias: dict[str, str] = {}  # fx node name -> IR node name
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
        elif node.op in ("call_function", "call_method"):
            fn = node.target
            what = f"method .{fn}()" if isinstance(fn, str) else f"function {getattr(fn, '__qualname__', fn)}"
            where = f"operation {node.name!r}"
            if fn in (operator.add, operator.iadd, torch.add, "add", "add_"):
                args = list(node.args)
                if len(args) != 2 or node.kwargs.get("alpha", 1) != 1 or set(node.kwargs) - {"alpha"}:
                    raise GoldenError(f"importer: {where}: only the sum of two tensors is supported")
                ir = Add(name=fresh(node.name), inputs=(src_of(args[0], where), src_of(args[1], where)))
            elif fn in (torch.flatten, "flatten"):
                ir = Flatten(name=fresh(node.name), inputs=(src_of(_flatten_args(node, where), where),))
            elif fn in (torch.nn.functional.max_pool2d, torch.max_pool2d):
                raise _unsupported(where, "max pooling", _HINTS[nn.MaxPool2d])
            elif fn in (torch.relu, torch.nn.functional.relu, "relu"):
                raise _unsupported(where, "relu", _HINTS[nn.ReLU])
            elif fn in ("view", "reshape", "size", torch.reshape):
                raise _unsupported(where, what, "flatten with torch.flatten(x, 1) or nn.Flatten() instead of view/reshape")
            else:
                raise _unsupported(where, what)
            nodes.append(ir)
            alias[node.name] = ir.name
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, fx.Node):
                raise GoldenError(f"importer: the model must return one tensor, not {type(out).__name__}")
            output = src_of(out, "output")
        else:  # get_attr: a tensor used directly in forward
            raise _unsupported(f"attribute {node.target!r}", "direct use of a parameter or buffer in forward")
    return network(nodes, output=output, name=name, source=f"importer ({type(model).__name__})")

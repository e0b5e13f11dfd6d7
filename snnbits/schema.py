"""Declared schemas for the project's input files: one per file format, checked in one place.

A schema is a tree of field descriptions: :class:`Int`, :class:`Num`, :class:`Str`,
:class:`Bool`, :class:`Const`, :class:`Version`, :class:`List`, :class:`Pair`,
:class:`Obj` (a table of named fields) and :class:`Map` (named values of one kind).
:func:`check` walks a parsed document (JSON or TOML) against a schema and returns it
normalized (``Int`` gives ``int``, ``Num`` gives ``float``, ``Pair`` a tuple).  The
first problem raises the caller's error type with a message that names the file,
the field's path (JSON files:
``field 'nodes[3].attrs.stride'``; TOML files: ``[memory] weight_sram_kib``) and
the value, shown safely: long strings and containers abbreviated, huge integers
and non-finite floats formatted without overflow.  :func:`read_toml` reads a TOML
file with the same care (size cap, bad UTF-8, deep nesting).

A small in-project module rather than ``jsonschema``: that would be a new
dependency, its ``integer`` accepts ``3.0`` and its ``number`` accepts NaN and
infinity, TOML dates are outside its type system, and its messages would have to
be rewritten to name file, field and value the way every loader here does.

Rules every field follows: a ``bool`` is never a number and a number never a
``bool``; an ``Int`` is an integer (``3.0`` is refused); a ``Num`` is finite; an
``Obj`` refuses unknown keys and lists the accepted ones.  Validation recurses
only as deep as the schema, never as deep as the document.
"""

from __future__ import annotations

import math
import re
import tomllib

import numpy as np

#: largest TOML file read (configurations and tables are a few KiB)
MAX_TOML_BYTES = 1 << 20

_MISSING = object()


def show(v, limit: int = 80) -> str:
    """``v`` for an error message: at most ``limit`` characters, never raising."""
    text = _show(v, 2)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(v, depth: int) -> str:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, int):
        n = v.bit_length()
        return repr(v) if n <= 64 else f"{float(v):.4g}" if n < 1024 else f"an integer of {n} bits"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return repr(v) if len(v) <= 50 else f"{v[:40]!r}... ({len(v)} characters)"
    if isinstance(v, (list, tuple)):
        if depth == 0:
            return f"[... {len(v)} items]"
        inner = ", ".join(_show(x, depth - 1) for x in v[:4])
        return f"[{inner}{', ...' if len(v) > 4 else ''}]"
    if isinstance(v, dict):
        if depth == 0:
            return f"{{... {len(v)} keys}}"
        items = list(v.items())
        inner = ", ".join(f"{_show(k, 0)}: {_show(x, depth - 1)}" for k, x in items[:4])
        return f"{{{inner}{', ...' if len(items) > 4 else ''}}}"
    return f"{type(v).__name__} {str(v)[:60]}"


def _dotted(parts: tuple) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}" if out else str(p)
    return out


class Ctx:
    """Where errors go (``error(f"{where}: {message}")``) and how a field's path is written:
    ``"json"``: ``field 'nodes[3].attrs.stride'``; ``"toml"``: ``[memory] weight_sram_kib``,
    the section first, as the user sees it in the file."""

    def __init__(self, where: str, error: type[Exception], style: str = "json"):
        self.where, self.error, self.toml = where, error, style == "toml"

    def fail(self, msg: str):
        raise self.error(f"{self.where}: {msg}")

    def name(self, parts: tuple) -> str:
        if self.toml:
            return str(parts[0]) if len(parts) == 1 else f"[{parts[0]}] {_dotted(parts[1:])}"
        return f"field {_dotted(parts)!r}"

    def bad(self, parts: tuple, expect: str, v):
        self.fail(f"{self.name(parts)} must be {expect}, not {show(v)}" if parts else f"must be {expect}, not {show(v)}")

    def missing(self, parts: tuple, field: "Field"):
        if self.toml:
            self.fail(f"missing section [{parts[0]}]" if len(parts) == 1 and isinstance(field, Obj)
                      else f"missing key {self.name(parts)}")
        self.fail(f"missing {self.name(parts)}")

    def unknown(self, parts: tuple, v, accepted) -> None:
        inside = parts[:-1]
        if not self.toml:
            what, where = self.name(parts), f" in {_dotted(inside)!r}" if inside else ""
        else:
            what = (f"section [{parts[0]}]" if isinstance(v, dict) and not inside else
                    f"key {self.name(parts)} = {show(v, 40)}")
            where = f" in {self.name(inside) if len(inside) > 1 else f'[{inside[0]}]'}" if inside else ""
        self.fail(f"unknown {what} (accepted{where}: {', '.join(accepted)})")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _num(x) -> str:
    return str(x) if isinstance(x, int) else str(int(x)) if x.is_integer() and abs(x) < 1e10 else f"{x:g}"


def _range(lo, hi, open_lo: bool = False) -> str:
    if lo is not None and hi is not None and not open_lo:
        return f" in {_num(lo)}..{_num(hi)}"
    parts = ([f"{'>' if open_lo else '>='} {_num(lo)}"] if lo is not None else []) + ([f"<= {_num(hi)}"] if hi is not None else [])
    return " " + " and ".join(parts) if parts else ""


class Field:
    """Base class.  ``optional``: the key may be absent (``default`` fills it in, if given);
    ``nullable``: ``null`` is accepted (and returned as ``None``)."""

    expect = "a value"

    def __init__(self, *, optional: bool = False, default=_MISSING, nullable: bool = False):
        self.optional = optional or default is not _MISSING
        self.default, self.nullable = default, nullable

    def check(self, v, ctx: Ctx, path: tuple):
        if v is None and self.nullable:
            return None
        return self._check(v, ctx, path)

    def _check(self, v, ctx, path):  # pragma: no cover - every field type overrides it
        raise NotImplementedError


class Int(Field):
    def __init__(self, lo: int | None = None, hi: int | None = None, **kw):
        super().__init__(**kw)
        self.lo, self.hi = lo, hi
        self.expect = f"the integer {lo}" if lo is not None and lo == hi else "an integer" + _range(lo, hi)

    def _check(self, v, ctx, path):
        if not _is_int(v) or (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            ctx.bad(path, self.expect, v)
        return int(v)


class Num(Field):
    """A finite real number (int or float), optionally in a range; ``open_lo``: strictly above ``lo``."""

    def __init__(self, lo: float | None = None, hi: float | None = None, *, open_lo: bool = False, **kw):
        super().__init__(**kw)
        self.lo, self.hi, self.open_lo = lo, hi, open_lo
        self.expect = "a finite number" + _range(lo, hi, open_lo)

    def _check(self, v, ctx, path):
        if not (_is_int(v) or isinstance(v, (float, np.floating))):
            ctx.bad(path, self.expect, v)
        try:
            f = float(v)
        except OverflowError:
            ctx.bad(path, self.expect, v)
        if (not math.isfinite(f) or (self.lo is not None and (f <= self.lo if self.open_lo else f < self.lo))
                or (self.hi is not None and f > self.hi)):
            ctx.bad(path, self.expect, v)
        return f


class Bool(Field):
    expect = "true or false"

    def _check(self, v, ctx, path):
        if not isinstance(v, (bool, np.bool_)):
            ctx.bad(path, self.expect, v)
        return bool(v)


class Str(Field):
    def __init__(self, choices=None, pattern: str | None = None, max_len: int = 1000, nonempty: bool = False, **kw):
        super().__init__(**kw)
        self.choices, self.max_len, self.nonempty = choices, max_len, nonempty
        self.pattern = re.compile(pattern) if pattern else None
        self.expect = (f"one of {list(choices)}" if choices else
                       f"a string matching {pattern}" if pattern else "a non-empty string" if nonempty else "a string")
        if not choices:
            self.expect += f" of at most {max_len} characters"

    def _check(self, v, ctx, path):
        if (not isinstance(v, str) or len(v) > self.max_len or (self.choices and v not in self.choices)
                or (self.pattern and not self.pattern.fullmatch(v)) or (self.nonempty and not v.strip())):
            ctx.bad(path, self.expect, v)
        return v


class Const(Field):
    """Exactly ``value`` (a file's ``format``)."""

    def __init__(self, value, **kw):
        super().__init__(**kw)
        self.value = value

    def _check(self, v, ctx, path):
        if type(v) is not type(self.value) or v != self.value:
            ctx.fail(f"{ctx.name(path)} is {show(v)}, expected {self.value!r}")
        return v


class Version(Const):
    """A ``schema_version``: this code reads exactly one."""

    def _check(self, v, ctx, path):
        if type(v) is not int or v != self.value:
            key = path[-1]
            ctx.fail(f"{key} {show(v)} is not supported (this version reads {key} {self.value})")
        return v


class List(Field):
    def __init__(self, item: Field, min_len: int = 0, max_len: int | None = None, **kw):
        super().__init__(**kw)
        self.item, self.min_len, self.max_len = item, min_len, max_len
        n = (f"{min_len}" if min_len == max_len else f"{min_len}..{max_len}" if max_len is not None
             else f"at least {min_len}" if min_len else "")
        self.expect = f"a list of {n + ' ' if n else ''}items, each {item.expect}"

    def _check(self, v, ctx, path):
        if not isinstance(v, (list, tuple)) or len(v) < self.min_len or (self.max_len is not None and len(v) > self.max_len):
            ctx.bad(path, self.expect, v)
        return [self.item.check(x, ctx, path + (i,)) for i, x in enumerate(v)]


class Pair(Field):
    """An ``Int`` or a list of two (a kernel, stride or padding); returned as a tuple of two."""

    def __init__(self, lo: int | None = None, hi: int | None = None, **kw):
        super().__init__(**kw)
        self.item = Int(lo, hi)
        self.expect = f"{self.item.expect} or a list of two of them"

    def _check(self, v, ctx, path):
        if _is_int(v):
            v = (v, v)
        if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(_is_int(x) for x in v):
            ctx.bad(path, self.expect, v)
        return tuple(self.item.check(x, ctx, path) for x in v)


class Obj(Field):
    """A table of named fields, checked in declaration order; unknown keys are refused."""

    expect = "a table"

    def __init__(self, fields: dict[str, Field], **kw):
        super().__init__(**kw)
        self.fields = fields

    def _check(self, v, ctx, path):
        if not isinstance(v, dict):
            ctx.bad(path, "a table (an object of named fields)", v)
        out = {}
        for key, f in self.fields.items():
            if key in v:
                out[key] = f.check(v[key], ctx, path + (key,))
            elif f.default is not _MISSING:
                out[key] = f.default
            elif not f.optional:
                ctx.missing(path + (key,), f)
        for key in v:
            if key not in self.fields:
                ctx.unknown(path + (show(key, 40) if not isinstance(key, str) else key,), v[key], list(self.fields))
        return out


class Map(Field):
    """A table whose keys are names (strings matching ``key``) and whose values all follow ``value``."""

    def __init__(self, value: Field, key: str = r"\S{1,100}", min_len: int = 0, max_len: int = 10_000, **kw):
        super().__init__(**kw)
        self.value, self.key, self.min_len, self.max_len = value, re.compile(key), min_len, max_len
        self.expect = f"a table of {'at least ' + str(min_len) + ' ' if min_len else ''}named values, each {value.expect}"

    def _check(self, v, ctx, path):
        if not isinstance(v, dict) or not self.min_len <= len(v) <= self.max_len:
            ctx.bad(path, self.expect, v)
        out = {}
        for k, x in v.items():
            if not isinstance(k, str) or not self.key.fullmatch(k):
                ctx.fail(f"{ctx.name(path)} has a key {show(k, 40)} that is not a name")
            out[k] = self.value.check(x, ctx, path + (k,))
        return out


class Table(Field):
    """Any table (its fields are checked by the caller, e.g. against a schema chosen by another field)."""

    expect = "a table"

    def _check(self, v, ctx, path):
        if not isinstance(v, dict):
            ctx.bad(path, "a table (an object of named fields)", v)
        return v


def check(schema: Field, value, where: str, error: type[Exception], path: tuple = (), style: str = "json"):
    """Validate ``value`` against ``schema``; errors read ``"{where}: field '{path}' must be ..., not ..."``
    (``style="toml"``: ``"{where}: [section] key must be ..."``).  ``path``: where ``value`` sits in its file."""
    return schema.check(value, Ctx(where, error, style), (path,) if isinstance(path, str) else tuple(path))


def read_capped(path, limit: int, where: str, error: type[Exception]) -> bytes:
    """The bytes of the file at ``path``, reading at most ``limit + 1`` of them; every failure raises
    ``error`` as ``"{where}: ..."`` (a missing or unreadable file, a file larger than ``limit``)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except FileNotFoundError:
        raise error(f"{where}: no such file") from None
    except OSError as e:
        raise error(f"{where}: cannot read it ({e.strerror or e})") from None
    if len(raw) > limit:
        raise error(f"{where}: larger than {limit >> 10} KiB; not a file of this project")
    return raw


def read_toml(path, where: str, error: type[Exception]) -> dict:
    """Parse the TOML file at ``path`` (at most :data:`MAX_TOML_BYTES`); every failure raises ``error``
    as ``"{where}: ..."``: a missing or unreadable file, bad UTF-8, bad TOML, nesting too deep."""
    raw = read_capped(path, MAX_TOML_BYTES, where, error)
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise error(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise error(f"{where}: nested too deeply to be a file of this project") from None
    except (tomllib.TOMLDecodeError, ValueError) as e:
        raise error(f"{where}: not valid TOML ({str(e)[:200]})") from None

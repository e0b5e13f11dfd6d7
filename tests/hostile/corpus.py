"""Generated corpora of hostile input files: hypothesis strategies that mutate valid files.

Every strategy draws a :class:`Case`: the bytes of one file, a one-line description
of the mutation (shown when a test fails), and, for ``.npz`` files, the arrays and
JSON that were written, so that a test can check that whatever *loads* is exactly
what the file holds (no silent cast, no silent default).

Mutations, per file kind:

* JSON entries (``graph.json``, ``meta.json``, ``info.json``): any field set to a
  hostile value (wrong type, huge, NaN/inf, subnormal, long or empty string, deep
  nesting, a ``bool`` where an ``int`` goes and the reverse), deleted, or an unknown
  field added; the JSON text truncated, given a repeated key, or nested 100,000 deep.
* arrays: another dtype (complex, strings, object/pickle, ints, bool, float32,
  big-endian), another shape (zero-sized, flattened, extra axis, scalar), extreme
  values (NaN, inf, 1e308, 1e19, -1, the dtype's limits), dropped, renamed, or an
  unknown one added.
* zip archive: truncated, bytes flipped or zeroed, garbage appended, random bytes,
  a member's decompressed size in the zip directory changed (a lying directory),
  a member header declaring a huge shape.
* TOML (accelerator configs, cost tables): a value replaced by a hostile literal
  (``nan``, ``inf``, ``1e308``, huge integers, dates, strings, arrays, inline tables,
  deep nesting), keys and sections deleted, duplicated or invented, bytes flipped,
  text truncated, random bytes.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

#: cases per corpus: CI runs the full count, a local run about a third (HOSTILE_SCALE overrides)
SCALE = float(os.environ.get("HOSTILE_SCALE", 1.0 if os.environ.get("CI") else 0.3))


def examples(n: int) -> int:
    return max(5, int(n * SCALE))


@dataclass
class Case:
    data: bytes
    what: str
    arrays: dict | None = None  # for .npz cases: the arrays written (JSON entries decoded)
    docs: dict = field(default_factory=dict)


# ------------------------------------------------------------------ hostile values

DEEP = "\x00DEEP\x00"  # replaced by 100,000 nested brackets after json.dumps
HUGE = "\x00HUGE\x00"  # replaced by a 5001-digit integer (more than Python parses by default)

HOSTILE_VALUES = [
    0, -1, 1, 2, 3, 5, 8, 16, 17, 24, 53, 64, 255, 256, 4096, 2**31, 2**53 + 1, 2**63, -(2**63), 2**64, 10**19, 10**30,
    10**400, HUGE, True, False, None,
    0.0, -0.0, 0.5, 1.5, 2.0, 1e-300, 5e-324, 1e19, 1.7e308, -1.7e308, float("nan"), float("inf"), float("-inf"),
    "", " ", "false", "true", "0", "4", "NaN", "fast", "hidden", "output", "input", "x" * 10_000, "\u00e9\u4e2d", "a\nb",
    "../../etc/passwd", "0" * 64, "f" * 64,
    [], [1], [1, 2], [1, 2, 3], [1, 8, 8], [0, 0], [-1, 1], [2**40, 2**40, 2**40], [[1]], ["input"], [None], [True, False],
    {}, {"a": 1}, {"name": "x"}, DEEP,
]


def _json_text(doc) -> bytes:
    text = json.dumps(doc, allow_nan=True)
    text = text.replace(json.dumps(HUGE), "1" + "0" * 5000)
    return text.replace(json.dumps(DEEP), "[" * 100_000 + "]" * 100_000).encode()


def _paths(doc, prefix=()):
    """Every path into a JSON document (dict keys and list indices), the root included."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:40]):
            out += _paths(v, prefix + (i,))
    return out


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def json_mutation(draw, doc) -> tuple[bytes, str]:
    """The JSON text of ``doc`` with one hostile change."""
    doc = json.loads(json.dumps(doc))
    kind = draw(st.sampled_from(["set", "set", "set", "delete", "add", "root", "text"]))
    paths = _paths(doc)
    if kind == "root":
        v = draw(st.sampled_from(HOSTILE_VALUES))
        return _json_text(v), f"JSON root replaced by {str(v)[:40]!r}"
    if kind == "text":
        text = _json_text(doc)
        how = draw(st.sampled_from(["truncate", "duplicate", "flip", "bom", "latin1"]))
        if how == "truncate":
            n = draw(st.integers(0, len(text) - 1))
            return text[:n], f"JSON text truncated at {n}"
        if how == "duplicate":
            key = draw(st.sampled_from(sorted(k for k in doc if isinstance(k, str)) or ["x"]))
            return b'{"' + key.encode() + b'": 1, ' + text[1:], f"JSON key {key!r} repeated"
        if how == "flip":
            i = draw(st.integers(0, len(text) - 1))
            b = draw(st.integers(1, 255))
            t = bytearray(text)
            t[i] ^= b
            return bytes(t), f"JSON byte {i} xor {b}"
        if how == "bom":
            return b"\xef\xbb\xbf" + text, "JSON with a UTF-8 BOM"
        return text.replace(b'"', b'"\xe9', 1), "JSON with a latin-1 byte"
    path = draw(st.sampled_from(paths[1:] or [()]))
    if not path:
        return _json_text(doc), "JSON unchanged"
    parent, key = _get(doc, path[:-1]), path[-1]
    if kind == "set":
        v = draw(st.sampled_from(HOSTILE_VALUES))
        parent[key] = v
        return _json_text(doc), f"JSON {'/'.join(map(str, path))} = {str(v)[:40]!r}"
    if kind == "delete":
        del parent[key]
        return _json_text(doc), f"JSON {'/'.join(map(str, path))} deleted"
    target = parent if isinstance(parent, dict) else doc
    name = draw(st.sampled_from(["extra", "bits", "dilation", "shape", "B", ""]))
    if name in target:
        return _json_text(doc), "JSON unchanged"
    target[name] = draw(st.sampled_from(HOSTILE_VALUES[:30]))
    return _json_text(doc), f"JSON unknown field {name!r} added near {'/'.join(map(str, path))}"


# ------------------------------------------------------------------ arrays and archives

HOSTILE_DTYPES = ["float32", "float16", ">f8", "complex128", "int8", "int64", "uint8", "uint16", "uint64", "bool",
                  "<U3", "object", "float64", ">i8", ">u2"]


def pack(arrays: dict, compress: bool = True) -> bytes:
    """An ``.npz`` of ``arrays`` (values that are bytes are written as raw ``uint8`` JSON entries)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        for k, v in arrays.items():
            if isinstance(v, bytes):
                v = np.frombuffer(v, dtype=np.uint8)
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(v), allow_pickle=True)
            zf.writestr(k + ".npy", member.getvalue())
    return buf.getvalue()


@st.composite
def array_mutation(draw, arrays: dict, json_keys) -> tuple[dict, str]:
    arrays = dict(arrays)
    keys = sorted(k for k in arrays if k not in json_keys)
    kind = draw(st.sampled_from(["dtype", "shape", "value", "value", "drop", "add", "rename", "fortran"]))
    if kind == "add":
        name = draw(st.sampled_from(["extra", "x", "y", "input/codes", "conv0/bias", "q0/codes", "../x", "a/b/c"]))
        if name in arrays:
            return arrays, "unchanged"
        arrays[name] = np.zeros(draw(st.integers(0, 4)))
        return arrays, f"array {name!r} added"
    key = draw(st.sampled_from(keys or sorted(arrays)))
    a = np.asarray(arrays[key]) if not isinstance(arrays[key], bytes) else np.frombuffer(arrays[key], np.uint8)
    if kind == "drop":
        del arrays[key]
        return arrays, f"array {key!r} dropped"
    if kind == "rename":
        arrays[key + "_"] = arrays.pop(key)
        return arrays, f"array {key!r} renamed"
    if kind == "fortran":
        arrays[key] = np.asfortranarray(a.T).T if a.ndim > 1 else a
        return arrays, f"array {key!r} in Fortran order"
    if kind == "dtype":
        dt = draw(st.sampled_from(HOSTILE_DTYPES))
        if dt == "object":
            b = np.empty(a.shape, dtype=object)
            b[...] = 0
        elif dt == "<U3":
            b = a.astype(str).astype("<U3")
        else:
            with np.errstate(all="ignore"):
                b = a.astype(dt)
            if dt == "complex128" and b.size:
                b = b + 1j
        arrays[key] = b
        return arrays, f"array {key!r} as {dt}"
    if kind == "shape":
        how = draw(st.sampled_from(["ravel", "extra_axis", "zero", "scalar", "shorter", "transpose", "zero_inner"]))
        if how == "ravel":
            b = a.ravel()
        elif how == "extra_axis":
            b = a[None]
        elif how == "zero":
            b = np.zeros((0,) + a.shape[1:], a.dtype)
        elif how == "scalar":
            b = np.asarray(a.ravel()[0] if a.size else 0, a.dtype)
        elif how == "shorter":
            b = a.ravel()[:-1]
        elif how == "transpose":
            b = a.T.copy()
        else:
            b = np.zeros(a.shape[:-1] + (0,), a.dtype) if a.ndim else a
        arrays[key] = b
        return arrays, f"array {key!r} shape {a.shape} -> {b.shape} ({how})"
    # value
    b = a.copy()
    if not b.size:
        return arrays, "unchanged"
    i = draw(st.integers(0, b.size - 1))
    if b.dtype.kind == "f":
        v = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1.7e308, -1.7e308, 1e19, 5e-324, 0.0, -1.0, 1e6]))
    elif b.dtype.kind in "iu":
        info = np.iinfo(b.dtype)
        v = draw(st.sampled_from([info.min, info.max, 0, 1, 2, 16, 17, 255, max(info.min, -1)]))
    else:
        v = draw(st.sampled_from([0, 1]))
    how = draw(st.sampled_from(["one", "all"]))
    if how == "one":
        b.flat[i] = v
    else:
        b[...] = v
    arrays[key] = b
    return arrays, f"array {key!r} {'element ' + str(i) if how == 'one' else 'all'} = {v!r}"


def _patch_directory_size(data: bytes, index: int, new_size: int) -> bytes:
    """Set the uncompressed size of member ``index`` in the central directory (a lying directory)."""
    data = bytearray(data)
    pos, n = 0, 0
    while True:
        pos = data.find(b"PK\x01\x02", pos)
        if pos < 0:
            return bytes(data)
        if n == index:
            struct.pack_into("<I", data, pos + 24, new_size & 0xFFFFFFFF)
            return bytes(data)
        n += 1
        pos += 4


def _huge_header_member(name: str, shape) -> bytes:
    """An archive member whose ``.npy`` header declares ``shape`` but holds 16 bytes."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": tuple(shape)})
    return member.getvalue() + bytes(16)


@st.composite
def archive_mutation(draw, data: bytes, names) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["truncate", "flip", "zero", "append", "random", "directory", "header", "npy"]))
    if kind == "truncate":
        n = draw(st.integers(0, len(data) - 1))
        return data[:n], f"archive truncated at {n} of {len(data)} bytes"
    if kind == "flip":
        flips = draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)), min_size=1, max_size=4))
        d = bytearray(data)
        for i, b in flips:
            d[i] ^= b
        return bytes(d), f"archive bytes flipped {flips}"
    if kind == "zero":
        i = draw(st.integers(0, len(data) - 1))
        n = draw(st.integers(1, 64))
        return data[:i] + bytes(min(n, len(data) - i)) + data[i + n:], f"archive bytes {i}..{i + n} zeroed"
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=64)), "garbage appended"
    if kind == "random":
        return draw(st.binary(min_size=0, max_size=256)), "random bytes"
    if kind == "directory":
        i = draw(st.integers(0, max(0, len(names) - 1)))
        size = draw(st.sampled_from([0, 1, 100, 2**20, 2**31, 2**32 - 1]))
        return _patch_directory_size(data, i, size), f"zip directory says member {i} decompresses to {size} bytes"
    if kind == "header":
        name = draw(st.sampled_from(sorted(names)))
        shape = draw(st.sampled_from([(2**40,), (2**20, 2**20), (10**6, 10**6, 10**6), (-1,), (3,)]))
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = {i.filename: z.read(i) for i in z.infolist()}
        members[name + ".npy"] = _huge_header_member(name, shape) if shape != (-1,) else members[name + ".npy"].replace(b"(", b"(-1, ", 1)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for k, v in members.items():
                zf.writestr(k, v)
        return buf.getvalue(), f"member {name!r} header declares shape {shape}"
    member = io.BytesIO()
    np.save(member, np.zeros(3))
    return member.getvalue(), "a bare .npy file"


EXTREME_FLOATS = [1.7e308, -1.7e308, 1e300, 1e150, 1e19, -1e19, 1e12, 1e-12, 1e-300, 5e-324, 0.0]


@st.composite
def extreme_mutation(draw, written: dict, json_keys) -> tuple[dict, str]:
    """Well-typed but extreme numbers: a float array (all of it, one channel or one element) or a
    numeric JSON field set to a huge, tiny or subnormal value; what overflows arithmetic downstream."""
    written = dict(written)
    floats = sorted(k for k, v in written.items() if k not in json_keys and np.asarray(v).dtype.kind == "f")
    numeric = []
    for key in json_keys:
        doc = json.loads(written[key])
        numeric += [(key, p) for p in _paths(doc)[1:] if isinstance(_get(doc, p), (int, float))
                    and not isinstance(_get(doc, p), bool)]
    if floats and (not numeric or draw(st.booleans())):
        key = draw(st.sampled_from(floats))
        a = np.array(written[key], dtype=np.float64)
        v = draw(st.sampled_from(EXTREME_FLOATS))
        how = draw(st.sampled_from(["all", "channel", "one"]))
        if how == "all" or a.ndim == 0:
            a[...] = v
        elif how == "channel":
            a[draw(st.integers(0, a.shape[0] - 1))] = v
        else:
            a.flat[draw(st.integers(0, a.size - 1))] = v
        written[key] = a
        return written, f"array {key!r} {how} = {v!r}"
    if not numeric:
        return written, "unchanged"
    key, path = draw(st.sampled_from(numeric))
    doc = json.loads(written[key])
    old = _get(doc, path)
    v = draw(st.sampled_from(EXTREME_FLOATS if isinstance(old, float) else [1, 2, 16, 17, 24, 2**16, 2**26, 2**31]))
    _get(doc, path[:-1])[path[-1]] = v
    written[key] = _json_text(doc)
    return written, f"{key}: {'/'.join(map(str, path))} = {v!r}"


@st.composite
def npz_case(draw, arrays: dict, json_keys: tuple[str, ...]) -> Case:
    """A hostile variant of the ``.npz`` file holding ``arrays`` (JSON entries as decoded documents)."""
    levels = ["json", "json", "array", "array", "extreme", "archive", "both"] if json_keys else ["array", "array", "archive"]
    level = draw(st.sampled_from(levels))
    written = {k: (_json_text(v) if k in json_keys else v) for k, v in arrays.items()}
    what = []
    if level in ("json", "both"):
        key = draw(st.sampled_from(json_keys))
        written[key], w = draw(json_mutation(arrays[key]))
        what.append(f"{key}: {w}")
    if level in ("array", "both"):
        written, w = draw(array_mutation(written, json_keys))
        what.append(w)
    if level == "extreme":
        for _ in range(draw(st.integers(1, 3))):
            written, w = draw(extreme_mutation(written, json_keys))
            what.append(w)
    data = pack(written, compress=draw(st.booleans()))
    if level == "archive":
        data, w = draw(archive_mutation(data, list(written)))
        what.append(w)
        written = None
    return Case(data, "; ".join(what), written)


# ------------------------------------------------------------------ TOML

HOSTILE_TOML = [
    "nan", "inf", "-inf", "+inf", "1e308", "-1e308", "5e-324", "0", "-1", "0.0", "-0.0", "1", "2", "3.5", "1e3",
    "99999999999999999999999", "9223372036854775807", "-9223372036854775808", "0x7fffffffffffffff", "1_000",
    "true", "false", '"false"', '"8"', '""', '" "', '"' + "x" * 5000 + '"', "'literal'", '"""multi\nline"""',
    "1979-05-27", "1979-05-27T07:32:00Z", "07:32:00", "[]", "[1, 2]", '["a"]', "[[1]]", "{}", "{ a = 1 }",
    "[" * 3000 + "]" * 3000, '"\\u0000"', '"os-broadcast"', '"linear"', '"constant"', '"sqrt_capacity"',
]


@st.composite
def toml_case(draw, text: str) -> Case:
    """A hostile variant of the TOML document ``text``."""
    lines = text.splitlines()
    assign = [i for i, l in enumerate(lines) if "=" in l and not l.lstrip().startswith("#")]
    heads = [i for i, l in enumerate(lines) if l.lstrip().startswith("[")]
    kind = draw(st.sampled_from(["value", "value", "value", "delete", "duplicate", "unknown", "section", "bytes",
                                 "truncate", "random"]))
    if kind == "value" and assign:
        i = draw(st.sampled_from(assign))
        v = draw(st.sampled_from(HOSTILE_TOML))
        key = lines[i].split("=", 1)[0]
        lines[i] = f"{key}= {v}"
        return Case("\n".join(lines).encode(), f"line {i + 1}: {key.strip()} = {v[:40]}")
    if kind == "delete" and (assign or heads):
        i = draw(st.sampled_from(assign + heads))
        what = lines.pop(i)
        return Case("\n".join(lines).encode(), f"line {i + 1} deleted: {what[:40]}")
    if kind == "duplicate" and (assign or heads):
        i = draw(st.sampled_from(assign + heads))
        lines.insert(i, lines[i])
        return Case("\n".join(lines).encode(), f"line {i + 1} repeated: {lines[i][:40]}")
    if kind == "unknown":
        i = draw(st.sampled_from(assign or [0]))
        key = draw(st.sampled_from(["extra", "bits", "rows", "mhz", "schema_version", "energy_pj", "unknown_key"]))
        lines.insert(i + 1, f"{key} = {draw(st.sampled_from(HOSTILE_TOML[:20]))}")
        return Case("\n".join(lines).encode(), f"line {i + 2}: {lines[i + 1][:40]} inserted")
    if kind == "section":
        name = draw(st.sampled_from(["[extra]", "[array]", "[[array]]", "[memory.x]", "[int_add]", "[[sram.points]]",
                                     "[dram.points]", "[clock]\nmhz = 1"]))
        at = draw(st.sampled_from([0, len(lines)] + heads))
        lines.insert(at, name)
        return Case("\n".join(lines).encode(), f"section {name!r} inserted at line {at + 1}")
    raw = text.encode()
    if kind == "bytes":
        flips = draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(1, 255)), min_size=1, max_size=4))
        d = bytearray(raw)
        for i, b in flips:
            d[i] ^= b
        return Case(bytes(d), f"bytes flipped {flips}")
    if kind == "truncate":
        n = draw(st.integers(0, len(raw)))
        return Case(raw[:n], f"truncated at {n}")
    return Case(draw(st.binary(max_size=300)), "random bytes")

"""Reading the project's ``.npz`` and ``.npy`` files safely: headers first, bounded, never unpickling.

An ``.npz`` file is a zip archive of ``.npy`` members.  :class:`NpzReader` reads
the zip directory and every member's ``.npy`` header (a few hundred bytes each)
*before* it decompresses any array data, and refuses, naming the file and the
member, with a :class:`~golden.errors.GoldenError`:

* anything but a zip archive of uniquely named ``.npy`` members, stored or
  deflated, not encrypted, at most :data:`MAX_MEMBERS` of them;
* a member whose decompressed size in the zip directory is not exactly its
  ``.npy`` header plus the bytes its dtype and shape need (:mod:`zipfile` never
  decompresses a member beyond that size, and checks its CRC at the end);
* an archive whose members would decompress to more than :data:`MAX_BYTES` in
  total, and, when the loader asks for it (``dense=True``: model parameters),
  a member over :data:`DENSE_MIN_BYTES` that compresses better than
  :data:`DENSE_MAX_RATIO` : 1, which no real float array does (a decompression bomb);
* object, structured and zero-sized dtypes (object arrays need pickle, which is
  never loaded), and per entry any dtype the loader did not list
  (:meth:`NpzReader.array`);
* corrupt or truncated data (``zlib.error``, ``EOFError``, a bad CRC).

So a small archive cannot make a loader allocate more than the sizes its
headers declare, and those are checked against the caps and against what the
loader expects before any data is read.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from numpy.lib import format as npformat

from .errors import GoldenError

#: most bytes an archive may decompress to (all members together), and most bytes of one .npy file
MAX_BYTES = 2 << 30
#: most members an archive may hold
MAX_MEMBERS = 20_000
#: most bytes of a JSON entry (graph.json, meta.json, info.json)
MAX_JSON_BYTES = 16 << 20
#: longest .npy header read (numpy's own default)
MAX_HEADER_BYTES = 10_000
#: a dense member larger than DENSE_MIN_BYTES must not compress better than DENSE_MAX_RATIO : 1
DENSE_MAX_RATIO = 100
DENSE_MIN_BYTES = 1 << 20

_NPY_MAGIC = b"\x93NUMPY"
_CHUNK = 1 << 20
#: what zipfile, zlib and numpy's header parser raise on malformed input (GoldenError, a ValueError,
#: is always re-raised before these are caught)
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, ValueError, struct.error, SyntaxError,
                NotImplementedError, RecursionError)


_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket"}


def open_regular(path, fail):
    """``open(path, "rb")`` of a regular file; anything else (a folder, a device such as
    ``/dev/zero``, a FIFO, a socket) is refused through ``fail`` before it is opened, since
    reading one can block forever or never end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        fail("no such file")
    except OSError as e:
        fail(f"cannot read it ({e.strerror or e})")
    if not stat.S_ISREG(mode):
        fail(f"is {_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not a file")
    try:
        return open(path, "rb")
    except OSError as e:
        fail(f"cannot read it ({e.strerror or e})")


def _size(n: int) -> str:
    for unit, k in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << k:
            return f"{n / (1 << k):.3g} {unit}"
    return f"{n} bytes"


def dtype_text(dt: np.dtype) -> str:
    """A dtype as users write it (``float64``, ``<U3``), byte order left out for plain numbers."""
    return dt.name if dt.kind in "biufc" else dt.str


@dataclass(frozen=True)
class Member:
    """One ``.npy`` member of an archive, as its header declares it (no data read)."""

    key: str  # member name without ".npy"
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    header_bytes: int
    info: zipfile.ZipInfo

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _read_header(f, fail) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """dtype, shape, Fortran order and header length of the .npy stream ``f`` (reads only the header)."""
    version = npformat.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(f, max_header_size=MAX_HEADER_BYTES)
    elif version == (2, 0):
        shape, fortran, dtype = npformat.read_array_header_2_0(f, max_header_size=MAX_HEADER_BYTES)
    else:
        fail(f".npy format version {version[0]}.{version[1]} is not read (1.0 and 2.0 are)")
    if dtype.hasobject:
        fail(f"not a readable array: dtype {dtype} holds Python objects, which only pickle can store; pickles are never loaded")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize == 0 or dtype.kind not in "biufcSU":
        fail(f"not a readable array: dtype {dtype.str} is not a plain number or string dtype")
    if not isinstance(fortran, bool) or not all(isinstance(s, int) and s >= 0 for s in shape):
        fail(f"malformed header (shape {shape!r}, fortran_order {fortran!r})")
    return dtype, tuple(shape), fortran, f.tell()


def _read_exact(f, nbytes: int) -> bytearray:
    """Exactly ``nbytes`` from ``f`` in bounded chunks, then the end of the stream (a zip member's CRC is checked there)."""
    buf = bytearray(nbytes)
    view = memoryview(buf)
    pos = 0
    while pos < nbytes:
        chunk = f.read(min(_CHUNK, nbytes - pos))
        if not chunk:
            raise EOFError(f"data ends after {pos} of {nbytes} bytes")
        view[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    if f.read(1):
        raise ValueError(f"more data than the header's {nbytes} bytes")
    return buf


def _to_array(buf: bytearray, m_dtype: np.dtype, shape: tuple[int, ...], fortran: bool) -> np.ndarray:
    a = np.frombuffer(buf, dtype=m_dtype).reshape(shape, order="F" if fortran else "C")
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _kinds_text(kinds: str, itemsizes) -> str:
    names = {"f": "float", "i": "signed integer", "u": "unsigned integer", "b": "bool", "c": "complex", "U": "string"}
    text = " or ".join(names[k] for k in kinds)
    if itemsizes:
        text += f" ({'/'.join(str(8 * s) for s in itemsizes)}-bit)"
    return text


class NpzReader:
    """An open ``.npz`` archive whose directory and ``.npy`` headers have been checked.

    ``what`` names the kind of file in errors ("model", "trace", "data"); every
    error reads ``"<what> file <path>: ..."``.  Use as a context manager.
    """

    def __init__(self, path, what: str, *, dense: bool = False):
        self.src = str(path)
        self.what = what
        self._zip = None
        self._file = open_regular(path, self.fail)
        try:
            if self._file.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
                self._unreadable("a single .npy array, not an .npz archive")
            self._file.seek(0)
            self._zip = zipfile.ZipFile(self._file)
            self.members = self._scan(dense)
        except GoldenError:
            self.close()
            raise
        except _READ_ERRORS as e:
            self.close()
            self._unreadable(str(e) or type(e).__name__)

    # ------------------------------------------------------------ errors

    def fail(self, msg: str):
        raise GoldenError(f"{self.what} file {self.src}: {msg}")

    def _unreadable(self, reason: str):
        self.fail(f"not a readable .npz {self.what} file ({reason[:300]})")

    # ------------------------------------------------------------ directory and headers

    def _scan(self, dense: bool) -> dict[str, Member]:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            self.fail(f"the archive holds {len(infos)} members, more than the limit of {MAX_MEMBERS}")
        total = 0
        keys: set[str] = set()
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or name == ".npy":  # (ZipInfo.is_dir fails on an empty name)
                self.fail(f"member {name[:100]!r} is not a .npy array")
            if name[:-4] in keys:
                self.fail(f"member {name[:100]!r} appears twice")
            keys.add(name[:-4])
            if info.flag_bits & 0x1:
                self.fail(f"member {name[:100]!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                self.fail(f"member {name[:100]!r} uses zip compression method {info.compress_type}; "
                          "only stored and deflated members are read")
            total += info.file_size
            if total > MAX_BYTES:
                self.fail(f"the members would decompress to more than {_size(MAX_BYTES)} "
                          f"(the limit, golden.npzio.MAX_BYTES); refused before decompressing")
        members = {}
        for info in infos:
            key = info.filename[:-4]

            def bad(reason, key=key):
                self.fail(f"member {key[:100]!r}: {reason}")

            try:
                with self._zip.open(info) as f:
                    dtype, shape, fortran, hlen = _read_header(f, bad)
            except GoldenError:
                raise
            except _READ_ERRORS as e:
                bad(f"not a readable .npy header ({str(e)[:200] or type(e).__name__})")
            m = Member(key, dtype, shape, fortran, hlen, info)
            if hlen + m.nbytes != info.file_size:
                bad(f"its header declares {dtype_text(dtype)} {shape} ({_size(hlen + m.nbytes)} with the header) "
                    f"but the zip directory says it decompresses to {_size(info.file_size)}")
            if dense and info.file_size > DENSE_MIN_BYTES and info.compress_size * DENSE_MAX_RATIO < info.file_size:
                bad(f"{_size(info.compress_size)} decompress to {_size(info.file_size)}, a ratio above "
                    f"{DENSE_MAX_RATIO}:1 that no parameter array has (a decompression bomb?)")
            members[key] = m
        return members

    # ------------------------------------------------------------ reading

    def member(self, key: str, kinds: str, *, itemsizes: tuple[int, ...] | None = None,
               shape: tuple[int, ...] | None = None, ndim: int | None = None) -> Member:
        """Check (from the header alone) that member ``key`` exists and has an allowed dtype and shape."""
        m = self.members.get(key)
        if m is None:
            self.fail(f"missing array {key!r}")
        if m.dtype.kind not in kinds or (itemsizes and m.dtype.itemsize not in itemsizes):
            self.fail(f"array {key!r} has dtype {dtype_text(m.dtype)}, expected {_kinds_text(kinds, itemsizes)}")
        if shape is not None and m.shape != tuple(shape):
            self.fail(f"array {key!r} has shape {m.shape}, expected {tuple(shape)}")
        if ndim is not None and len(m.shape) != ndim:
            self.fail(f"array {key!r} has shape {m.shape}, expected {ndim} dimensions")
        return m

    def array(self, key: str, kinds: str, **check) -> np.ndarray:
        """Read member ``key`` after :meth:`member` accepted its header (native byte order, writable)."""
        m = self.member(key, kinds, **check)
        try:
            with self._zip.open(m.info) as f:
                f.read(m.header_bytes)
                buf = _read_exact(f, m.nbytes)
        except _READ_ERRORS as e:
            self.fail(f"array {key!r} is corrupt or truncated ({str(e)[:200] or type(e).__name__})")
        return _to_array(buf, m.dtype, m.shape, m.fortran_order)

    def json(self, key: str, max_bytes: int = MAX_JSON_BYTES) -> object:
        """Decode the UTF-8 JSON stored as a 1-D ``uint8`` array under ``key``.

        Objects with a repeated key are refused (JSON parsers disagree on which value wins)."""
        if key not in self.members:
            self.fail(f"no {key!r} entry; not a {self.what} file of this project")
        m = self.member(key, "u", itemsizes=(1,), ndim=1)
        if m.nbytes > max_bytes:
            self.fail(f"{key!r} is {_size(m.nbytes)}, more than the limit of {_size(max_bytes)}")
        raw = self.array(key, "u", itemsizes=(1,), ndim=1).tobytes()
        return decode_json(raw, lambda msg: self.fail(f"{key!r} {msg}"))

    # ------------------------------------------------------------ context manager

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        self._file.close()

    def __enter__(self) -> "NpzReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"key {k[:60]!r} appears twice in one object")
        d[k] = v
    return d


def decode_json(raw: bytes, fail) -> object:
    """Parse UTF-8 JSON bytes; ``fail(msg)`` raises for bad UTF-8, bad JSON, repeated keys or deep nesting."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except RecursionError:
        fail("is nested too deeply to be a file of this project")
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"is not valid UTF-8 JSON ({str(e)[:200]})")


def read_npy(path, what: str) -> np.ndarray:
    """A bare ``.npy`` file: header checked first (size against the file and :data:`MAX_BYTES`), no pickle."""
    src = str(path)

    def fail(msg):
        raise GoldenError(f"{what} file {src}: {msg}")

    try:
        with open_regular(path, fail) as f:
            dtype, shape, fortran, hlen = _read_header(f, fail)
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > MAX_BYTES:
                fail(f"its header declares {dtype_text(dtype)} {shape} ({_size(nbytes)}), more than the limit of "
                     f"{_size(MAX_BYTES)} (golden.npzio.MAX_BYTES)")
            size = os.fstat(f.fileno()).st_size
            if size != hlen + nbytes:
                fail(f"its header declares {dtype_text(dtype)} {shape} ({_size(hlen + nbytes)} with the header) "
                     f"but the file holds {_size(size)}")
            buf = _read_exact(f, nbytes)
    except GoldenError:
        raise
    except FileNotFoundError:
        fail("no such file")
    except _READ_ERRORS as e:
        fail(f"not a readable .npy file ({str(e)[:200] or type(e).__name__})")
    return _to_array(buf, dtype, shape, fortran)


def is_npy(path) -> bool:
    """Whether ``path`` starts with the ``.npy`` magic (False if it cannot be read)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.read(len(_NPY_MAGIC)) == _NPY_MAGIC
    except OSError:
        return False



def write_npz(path, arrays: dict[str, np.ndarray]):
    """Write ``arrays`` as a compressed ``.npz`` at ``path``, atomically.

    The archive is written under a unique temporary name in the target's folder
    and renamed into place with one :func:`os.replace`, so a reader never sees a
    half-written file, an interrupted writer leaves nothing under the final name,
    and concurrent writers to one path never share a temporary file (the last
    complete writer wins).  The temporary file is removed if writing fails.
    """
    import tempfile
    from pathlib import Path

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path

"""Output paths that never destroy data: every command that writes goes through here.

Files (``accel run --out``, ``--json``, ``--csv``, ``--plot``):

* checked before any work starts (:func:`check_file`): the name must be a file
  name (not ``.``, ``..`` or ending in ``/``), not too long, not an input of the
  same command, and nothing that exists there may be anything but a regular,
  writable file: a folder, a device (``/dev/null``), a FIFO or a socket is
  refused, never replaced.  A symbolic link is followed: the file it points to
  is replaced and the link stays.  Missing parent folders are created (the
  nearest existing one must be a writable folder).
* written under a unique temporary name in the target's folder and renamed
  over the target with one atomic ``os.replace`` (:func:`writing`): a reader
  sees the old file or the new one, never a truncated one, even after SIGKILL;
  of concurrent writers the last complete one wins.

Folders (``accel demo --out``, ``accel rtl --out``), :func:`check_folder` and
:func:`building`: a folder is built under a unique temporary name next to the
target and swapped in atomically when complete.  An existing target is
replaced only when this tool made it (it holds the command's marker file, e.g.
``.snnbits-demo``) or when it is empty; any other folder, a file, ``/``, the
home folder, the current folder or any folder above it is refused before any
work starts.  An interrupted or failed build removes its temporary folder and
leaves the target as it was.

Every refusal is a :class:`~snnbits.cli.dispatch.UsageError` (``error: ...``,
exit code 2) naming the option, the path and the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from .dispatch import UsageError

#: the one-line policy shown in ``--help`` of every option that writes a file
FILE_HELP = "missing folders are created; an existing file is replaced atomically, never a folder or device"

_KIND = {stat.S_IFREG: "a file", stat.S_IFDIR: "a folder", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
         stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket", stat.S_IFLNK: "a symbolic link"}


def _kind(mode: int) -> str:
    return _KIND.get(stat.S_IFMT(mode), "not a regular file")  # doors, ports, ...


def _oserror(option: str, path, e: OSError) -> UsageError:
    why = e.strerror or str(e)
    if e.errno == errno.ENAMETOOLONG:
        why = "file name too long"
    return UsageError(f"{option} {path}: cannot write ({why})")


def _real(path: Path) -> Path:
    """``path`` made absolute with every symbolic link resolved (the path is not required to exist)."""
    return Path(os.path.realpath(path))


def _lstat(path: Path):
    try:
        return path.lstat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None  # a parent is a file: reported by _check_parent


def _check_name(option: str, shown, path: Path) -> None:
    """Lengths within the file system's limits (ENAMETOOLONG before any work)."""
    anchor = _existing_ancestor(path)
    try:
        name_max = os.pathconf(anchor, "PC_NAME_MAX")
        path_max = os.pathconf(anchor, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            raise UsageError(f"{option} {shown}: file name too long ({len(os.fsencode(part))} bytes; "
                             f"this file system allows {name_max})")
    if len(os.fsencode(str(path))) >= path_max:
        raise UsageError(f"{option} {shown}: path too long ({len(os.fsencode(str(path)))} bytes; "
                         f"this file system allows {path_max - 1})")


def _existing_ancestor(path: Path) -> Path:
    p = path.parent
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _check_parent(option: str, shown, path: Path) -> None:
    """The nearest existing ancestor of ``path`` is a folder we may create files in."""
    anchor = _existing_ancestor(path)
    st = os.stat(anchor) if os.path.exists(anchor) else None
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{option} {shown}: {anchor} is {'a dangling link' if st is None else _kind(st.st_mode)}, "
                         "not a folder")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {shown}: cannot write in folder {anchor} (permission denied)")
    try:  # a real probe: permissions, read-only file systems and quotas, whoever we run as
        fd, probe = tempfile.mkstemp(dir=anchor, prefix=".snnbits-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"{option} {shown}: cannot write in folder {anchor} ({e.strerror})") from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _real(a) == _real(b)


def check_file(path, option: str, inputs: Iterable = ()) -> Path:
    """Validate an output file path before any work starts; return the path that will be
    replaced (absolute, symbolic links resolved).  ``inputs``: files the command reads,
    which it must never overwrite."""
    if path is None or str(path) == "":
        raise UsageError(f"{option}: needs a file name")
    shown = str(path)
    if shown.endswith(os.sep) or Path(shown).name in ("", ".", ".."):
        raise UsageError(f"{option} {shown}: is a folder name; give a file name")
    target = _real(Path(path))
    _check_name(option, shown, target)
    st = _lstat(target)
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{option} {shown}: is {_kind(st.st_mode)}, not a regular file; refusing to replace it")
        if not st.st_mode & stat.S_IWUSR:
            raise UsageError(f"{option} {shown}: the file is read-only; refusing to replace it")
    _check_parent(option, shown, target)
    for i in inputs:
        if i is not None and os.path.exists(i) and _same_file(Path(i), target):
            raise UsageError(f"{option} {shown}: is an input of this command ({i}); refusing to overwrite it")
    return target


def check_distinct(outputs: dict[str, Path | None]) -> None:
    """No two outputs of one command may be the same path."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        if path is None:
            continue
        real = _real(Path(path))
        if real in seen:
            raise UsageError(f"{option} {path}: the same file as {seen[real]}; give each output its own name")
        seen[real] = option


def _mode_for(target: Path) -> int:
    """The mode a plainly created file would get (or the replaced file's own mode)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _temp_name_parts(target: Path) -> tuple[str, str]:
    suffix = target.suffix if len(target.suffix) <= 16 else ""
    return f".{target.name[:40]}.", f".partial{suffix}"


@contextlib.contextmanager
def writing(path, option: str) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix) for a writer to fill; on
    success rename it over ``path`` atomically, on any error or interrupt delete it."""
    target = check_file(path, option)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix, suffix = _temp_name_parts(target)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
        os.close(fd)
    except OSError as e:
        raise _oserror(option, path, e) from None
    tmp = Path(tmp)
    try:
        try:
            yield tmp
        except OSError as e:
            raise _oserror(option, path, e) from None
        st = _lstat(target)
        if st is not None and not stat.S_ISREG(st.st_mode):  # appeared while we worked
            raise UsageError(f"{option} {path}: is now {_kind(st.st_mode)}, not a regular file; refusing to replace it")
        try:
            os.chmod(tmp, _mode_for(target))
            os.replace(tmp, target)
        except OSError as e:
            raise _oserror(option, path, e) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_text(path, option: str, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`writing`); return ``path``."""
    with writing(path, option) as tmp:
        tmp.write_text(text)
    return Path(path)


# ------------------------------------------------------------------ folders


def _refuse_special_folder(option: str, shown, target: Path) -> None:
    cwd = _real(Path.cwd())
    home = _real(Path.home())
    if target == Path(target.anchor):
        raise UsageError(f"{option} {shown}: is the root folder; choose a new folder for the output")
    if target == cwd or target in cwd.parents:
        raise UsageError(f"{option} {shown}: is the current folder or a folder above it; "
                         "choose a new folder for the output")
    if target == home or target in home.parents:
        raise UsageError(f"{option} {shown}: is your home folder or a folder above it; "
                         "choose a new folder for the output")


def _replaceable(target: Path, marker: str) -> str | None:
    """None when ``target`` may be replaced; else the reason it may not."""
    st = _lstat(target)
    if st is None:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return f"is {_kind(st.st_mode)}, not a folder; refusing to replace it"
    try:
        entries = os.listdir(target)
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if not entries:
        return None
    m = target / marker
    if marker in entries and m.is_file() and not m.is_symlink():
        return None
    return (f"exists and was not made by this command (no {marker} inside); "
            "refusing to replace it: remove it yourself or choose another folder")


def check_folder(path, option: str, marker: str, inputs: Iterable = ()) -> Path:
    """Validate an output folder before any work starts; return it (absolute, links resolved)."""
    if path is None or str(path) == "":
        raise UsageError(f"{option}: needs a folder name")
    shown = str(path)
    if Path(shown).name in ("", ".", ".."):
        target = _real(Path(shown))
        _refuse_special_folder(option, shown, target)
        raise UsageError(f"{option} {shown}: give the output folder a name of its own")
    target = _real(Path(path))
    _refuse_special_folder(option, shown, target)
    _check_name(option, shown, target / marker)
    why = _replaceable(target, marker)
    if why:
        raise UsageError(f"{option} {shown}: {why}")
    _check_parent(option, shown, target)
    for i in inputs:
        if i is not None and os.path.exists(i) and (_real(Path(i)) == target or target in _real(Path(i)).parents):
            raise UsageError(f"{option} {shown}: holds an input of this command ({i}); choose another folder")
    return target


# renameat2(2) flags (Linux >= 3.15); other systems fall back to two renames
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        f = libc.renameat2
    except (OSError, AttributeError):
        return None
    f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    f.restype = ctypes.c_int
    return f


_RENAMEAT2 = _renameat2()


def _rename2(src: Path, dst: Path, flags: int) -> bool:
    """renameat2; False when this system or file system does not support it."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _install(tmp: Path, target: Path, marker: str, option: str, shown) -> None:
    """Put the finished folder ``tmp`` at ``target``: atomically, and only over a folder we may replace."""
    for _ in range(100):
        why = _replaceable(target, marker)
        if why:
            raise UsageError(f"{option} {shown}: {why}")
        if not os.path.lexists(target):
            try:
                if _rename2(tmp, target, _RENAME_NOREPLACE):
                    return
                os.rename(tmp, target)  # no renameat2: replaces at most an empty folder
                return
            except OSError as e:
                if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue  # another writer got there first: check what it left, then swap
                raise
        try:
            if _rename2(tmp, target, _RENAME_EXCHANGE):
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous run
                return
        except FileNotFoundError:
            continue  # the target went away meanwhile
        # fallback: move the old folder aside, then put ours in its place
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name[:40]}.", suffix=".old"))
        try:
            os.rename(target, old / "x")
        except FileNotFoundError:
            shutil.rmtree(old, ignore_errors=True)
            continue
        try:
            os.rename(tmp, target)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            continue
        finally:
            shutil.rmtree(old, ignore_errors=True)
        return
    raise UsageError(f"{option} {shown}: other processes keep writing this folder; try again")


@contextlib.contextmanager
def building(path, option: str, marker: str, note: str = "") -> Iterator[Path]:
    """Yield a fresh temporary folder next to ``path``; when the block completes, write
    ``marker`` into it and swap it in for ``path`` atomically (see module doc).  On any
    error or interrupt the temporary folder is deleted and ``path`` is left as it was."""
    target = check_folder(path, option, marker)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name[:40]}.", suffix=".partial"))
    except OSError as e:
        raise _oserror(option, path, e) from None
    try:
        try:
            yield tmp
        except OSError as e:
            if getattr(e, "filename", None) and str(tmp) in str(e.filename):
                raise _oserror(option, path, e) from None
            raise
        (tmp / marker).write_text(note or "made by snnbits; the next run of the same command replaces this folder\n")
        os.chmod(tmp, 0o777 & ~_umask())
        try:
            _install(tmp, target, marker, option, path)
        except OSError as e:
            raise _oserror(option, path, e) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask

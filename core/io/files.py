"""Files in and out: regular files only, every output written atomically.

Reading: :func:`open_regular` opens a path for reading only if, once links
are resolved, it is a regular file — never a FIFO (which would block), a
device such as ``/dev/zero`` (which never ends) or a folder — and it never
blocks while finding out.

Writing: :func:`atomic_write` fills a temporary file in the target's folder
and renames it over the target in one step, so the target is always either
the old file or the complete new one.  On Linux the temporary file is
anonymous (``O_TMPFILE``) until the write has finished, so not even ``kill
-9`` leaves one behind; on any failure the temporary file is removed.
:func:`check_output` checks a path the run will write, before any work:
the folder exists and takes a file (by creating the temporary file), the
path is not a folder or device, and not one of the run's inputs.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Callable, Iterable

from ..errors import ConfigError

try:
    import resource
except ImportError:  # pragma: no cover - not a POSIX system
    resource = None

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """``"a regular file"``, ``"a folder"``, ``"a character device"``, …"""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path, error: type[Exception], what: str):
    """``path`` opened for binary reading, if it is a regular file.

    ``error`` is raised, naming ``path`` and ``what`` it should be (``"a data
    file"``), when it does not exist, cannot be read, or is anything but a
    regular file once symbolic links are resolved.  ``O_NONBLOCK`` makes
    opening a FIFO return at once; the type is then read from the open
    descriptor, so nothing can swap the file between the check and the read.
    """
    name = str(path)
    noun = what.removeprefix("a ").removeprefix("an ")  # "cannot read data file 'x'"
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"cannot read {noun} {name!r}: no such file") from None
    except OSError as exc:
        raise error(f"cannot read {noun} {name!r}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(
                f"{name!r} is {file_kind(mode)}, not a regular file; {what} must be a "
                "regular file" + (" ('-' reads CSV from standard input)"
                                  if "data" in what else "")
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _o_tmpfile_works(folder: str) -> bool:
    return hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")


def _temp_descriptor(folder: str, base: str) -> tuple[int, str | None]:
    """``(fd, name)`` of a new empty file in ``folder``; ``name`` is ``None``
    for an anonymous (``O_TMPFILE``) file, which has no name until linked."""
    cloexec = getattr(os, "O_CLOEXEC", 0)
    if _o_tmpfile_works(folder):
        try:
            return os.open(folder, os.O_TMPFILE | os.O_RDWR | cloexec, 0o666), None
        except OSError as exc:  # a file system without O_TMPFILE: use a named file
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
    name = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
    # 0o666: the umask decides the mode, as for any new file
    return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | cloexec, 0o666), name


def _unlink_quietly(name: str | None) -> None:
    if name is not None:
        try:
            os.unlink(name)
        except OSError:
            pass


def atomic_write(path, write: Callable, *, text: bool = False) -> Path:
    """Write ``path`` through ``write(fh)``: all of it, or nothing at all.

    ``fh`` is a binary file object (a text one with ``text=True``: UTF-8,
    ``\\n`` line ends) on a temporary file in ``path``'s folder.  When
    ``write`` returns, the data is flushed to disk and the file renamed over
    ``path``; when anything fails (``write`` raising, a full disk, a signal)
    the temporary file is removed and ``path`` is untouched.  Returns ``path``.
    """
    path = Path(path)
    folder = str(path.parent) if str(path.parent) else "."
    fd, name = _temp_descriptor(folder, path.name)
    try:
        with os.fdopen(fd, "r+b", closefd=False) as raw:
            if text:
                import io

                fh = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                try:
                    write(fh)
                    fh.flush()
                finally:
                    fh.detach()
            else:
                write(raw)
            raw.flush()
            os.fsync(fd)
        if name is None:
            # give the anonymous file a name only now that it is complete
            base = f".{path.name}.{secrets.token_hex(6)}.tmp"
            # a dir_fd makes os.link use linkat(AT_SYMLINK_FOLLOW); plain link()
            # would try to link the /proc symlink itself
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.link(f"/proc/self/fd/{fd}", base, dst_dir_fd=dfd, follow_symlinks=True)
            finally:
                os.close(dfd)
            name = os.path.join(folder, base)
        os.replace(name, path)
        name = None
        _fsync_folder(folder)
    except BaseException:
        _unlink_quietly(name)
        raise
    finally:
        os.close(fd)
    return path


def _fsync_folder(folder: str) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path, option: str, *, inputs: Iterable = (), size: int = 0) -> Path:
    """Check, before any work, that the run can write ``path``; return it.

    ``option`` names it in errors (``"--save"``); ``inputs`` are files the
    run reads, which it must not overwrite; ``size`` is a lower bound of the
    bytes it will write (checked against the free space of the folder's
    disk and the process's file-size limit).  Every refusal is a
    :class:`ConfigError` saying what is wrong and what would be right.
    """
    p = Path(path)
    shown = f"{option} {str(path)}"
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{shown}: the folder {str(folder)!r} does not exist; create it "
                          "first or give another path")
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot check the path: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise ConfigError(f"{shown} is {file_kind(mode)}; give the name of a file to write")
    for source in inputs:
        if source is not None and str(source) != "-" and Path(source).exists() \
                and _same_file(p, Path(source)):
            raise ConfigError(
                f"{shown} is the input {str(source)!r}, which writing would destroy; "
                "give another file name"
            )
    try:
        fd, name = _temp_descriptor(str(folder), p.name)
    except OSError as exc:
        raise ConfigError(
            f"{shown}: cannot write in the folder {str(folder)!r}: "
            f"{exc.strerror or exc}; choose a writable folder"
        ) from None
    os.close(fd)
    _unlink_quietly(name)
    if size:
        check_room(p, size, option)
    return p


def check_room(path, size: int, option: str) -> None:
    """Refuse, before any work, to write ``size`` bytes at ``path`` when the
    folder's disk has less free space or the file-size limit is lower."""
    shown = f"{option} {str(path)}"
    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if resource else -1
    if soft not in (-1, getattr(resource, "RLIM_INFINITY", -1)) and soft < size:
        raise ConfigError(
            f"{shown}: the file needs at least {size} bytes but this process may write "
            f"files of at most {soft} bytes (ulimit -f); raise the limit"
        )
    try:
        st = os.statvfs(folder)
    except OSError:
        return
    free = st.f_bavail * st.f_frsize
    if free < size:
        raise ConfigError(
            f"{shown}: the file needs at least {size} bytes but the disk of "
            f"{str(folder)!r} has {free} bytes free; free some space or choose another "
            "folder"
        )

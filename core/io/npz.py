"""The one reader of ``.npz`` files, for model files and data files alike.

An ``.npz`` file is a zip archive of ``.npy`` members.  A file may be
hostile — a zip bomb, a member whose header claims 10¹³ floats, pickled
objects, ``/dev/zero`` behind a symbolic link — so :class:`NpzArchive`:

- opens regular files only (:func:`~deltarule.io.files.open_regular`);
- lists the members from the zip's directory without decompressing any,
  and reads only the members its caller asks for;
- parses each member's ``.npy`` header itself (``ast.literal_eval`` of at
  most :data:`MAX_HEADER_BYTES`), before reading any data: the dtype must be
  on the caller's allow-list (object arrays are refused: unpickling runs
  code), and ``shape × itemsize`` must be within the caller's byte limit,
  match the member's size in the zip directory and, for a deflated member,
  be a size deflate can produce from the compressed bytes
  (:data:`MAX_DEFLATE_RATIO`);
- then reads exactly that many bytes into one pre-allocated array, in
  chunks of :data:`CHUNK_BYTES`, and checks the member ends there with the
  right CRC.  No step allocates more than the limit allows.

Every failure raises the caller's error class (``ModelFileError``,
``DataError``) with one of these messages: no such file / cannot read (with
the system's reason) / not a regular file / empty / a single ``.npy`` file /
not a .npz (zip) file / a damaged or truncated zip archive / member …
is damaged / uses an unsupported compression / is encrypted / holds pickled
objects / has dtype … (expected …) / has shape … (expected …) / is too large
(N bytes, limit M).
"""

from __future__ import annotations

import ast
import math
import struct
import zipfile
import zlib
from typing import Iterable

import numpy as np

from .files import open_regular

MAX_HEADER_BYTES = 10_000  # numpy's own limit for a .npy header
MAX_DEFLATE_RATIO = 1032  # deflate's best: 258 bytes from about 2 bits
CHUNK_BYTES = 1 << 22  # bytes decompressed per read: a bound on temporaries
NPY_MAGIC = b"\x93NUMPY"
META_KEY = "__deltarule__"  # the JSON metadata array that marks a model file

# dtype allow-lists: kind + item size, byte order aside
NUMERIC = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"})
FLOATS = frozenset({"f4", "f8"})
BYTES = frozenset({"u1"})

_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error,
                RuntimeError, NotImplementedError, ValueError)
_HEADER_ERRORS = (SyntaxError, RecursionError, MemoryError, TypeError,
                  UnicodeDecodeError) + _READ_ERRORS


def dtype_code(dtype: np.dtype) -> str:
    """``"f8"`` for float64 in either byte order, ``"b1"`` for bool, …"""
    return f"{dtype.kind}{dtype.itemsize}"


class NpzArchive:
    """An open ``.npz`` file: its member names, and members read on request.

    ``error`` is the exception class raised for anything wrong, ``what``
    what the file should be (``"a deltarule model"``).  Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, path, error: type[Exception], what: str):
        self.path, self.error, self.what = path, error, what
        self.shown = repr(str(path))
        fh = open_regular(path, error, what)
        try:
            self._zip = self._open_zip(fh)
        except BaseException:
            fh.close()
            raise
        self._fh = fh
        infos: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            infos[info.filename] = info  # a repeated name: the last one wins, as in zipfile
        self.arrays = {n[:-4]: i for n, i in infos.items() if n.endswith(".npy")}
        self.others = [n for n in infos if not n.endswith(".npy")]

    def _open_zip(self, fh) -> zipfile.ZipFile:
        head = fh.read(8)
        fh.seek(0)
        if not head:
            raise self.error(f"{self.shown} is empty, so not {self.what}")
        if head.startswith(NPY_MAGIC):
            raise self.error(
                f"{self.shown} is a single .npy array, not a .npz archive, so not "
                f"{self.what}"
            )
        try:
            is_zip = zipfile.is_zipfile(fh)
            fh.seek(0)
        except OSError as exc:
            raise self.error(f"cannot read {self.shown}: {exc.strerror or exc}") from None
        if not is_zip:
            if head.startswith(b"PK\x03\x04"):
                raise self.error(
                    f"{self.shown} is a damaged or truncated zip archive (its directory "
                    f"at the end is missing), so not {self.what} that can be read"
                )
            raise self.error(f"{self.shown} is not a .npz (zip) file, so not {self.what}")
        try:
            return zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
                struct.error) as exc:
            raise self.error(
                f"{self.shown} is a damaged or truncated zip archive ({exc}), so not "
                f"{self.what} that can be read"
            ) from None

    def close(self) -> None:
        self._zip.close()
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- one member ------------------------------------------------------
    def _member_error(self, name: str, problem: str) -> Exception:
        return self.error(f"{self.shown}: member {name!r} {problem}")

    def _open_member(self, name: str):
        try:
            info = self.arrays[name]
        except KeyError:
            raise self._member_error(name, "is missing") from None
        if info.flag_bits & 0x1:
            raise self._member_error(name, "is encrypted; .npz members never are")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise self._member_error(
                name, f"uses zip compression method {info.compress_type}; .npz files "
                      "store members plain or deflated"
            )
        if info.compress_type == zipfile.ZIP_DEFLATED and \
                info.file_size > info.compress_size * MAX_DEFLATE_RATIO + 1024:
            raise self._member_error(
                name, f"is damaged: {info.compress_size} compressed bytes cannot inflate "
                      f"to the {info.file_size} its zip entry claims"
            )
        try:
            return info, self._zip.open(info)
        except _READ_ERRORS as exc:
            raise self._member_error(name, f"is damaged: {exc}") from None

    def _header(self, name: str, fp) -> tuple[tuple[int, ...], np.dtype, bool, int]:
        """``(shape, dtype, fortran_order, header_bytes)`` of a member's ``.npy`` header."""
        try:
            magic = fp.read(8)
            if len(magic) < 8 or not magic.startswith(NPY_MAGIC):
                raise ValueError("it is not a NumPy .npy array")
            major = magic[6]
            if major == 1:
                size_bytes, encoding = 2, "latin1"
            elif major in (2, 3):
                size_bytes, encoding = 4, "latin1" if major == 2 else "utf8"
            else:
                raise ValueError(f"unknown .npy format version {major}.{magic[7]}")
            raw = fp.read(size_bytes)
            if len(raw) < size_bytes:
                raise ValueError("its .npy header is truncated")
            length = int.from_bytes(raw, "little")
            if length > MAX_HEADER_BYTES:
                raise ValueError(f"its .npy header has {length} bytes (at most "
                                 f"{MAX_HEADER_BYTES})")
            text = fp.read(length)
            if len(text) < length:
                raise ValueError("its .npy header is truncated")
            header = ast.literal_eval(text.decode(encoding))
        except _HEADER_ERRORS as exc:
            raise self._member_error(name, f"is damaged: {exc}") from None
        if not isinstance(header, dict) or set(header) != {"descr", "fortran_order",
                                                            "shape"}:
            raise self._member_error(name, "is damaged: its .npy header is not a NumPy "
                                           "array description")
        shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
        if not isinstance(shape, tuple) or not all(
                type(n) is int and n >= 0 for n in shape) or type(fortran) is not bool:
            raise self._member_error(name, f"is damaged: its .npy header has shape "
                                           f"{shape!r}")
        if _mentions_object(descr):
            raise self._member_error(
                name, f"holds pickled objects, which deltarule never loads (unsafe); "
                      f"{self.shown} is not {self.what}"
            )
        try:
            dtype = np.dtype(descr) if isinstance(descr, str) else None
        except (TypeError, ValueError):
            dtype = None
        if dtype is None or dtype.fields is not None or dtype.subdtype is not None:
            raise self._member_error(name, f"has the dtype {descr!r}, which is not a "
                                           "plain number type")
        return shape, dtype, fortran, 8 + size_bytes + length

    def read(self, name: str, *, dtypes: Iterable[str], limit: int,
             shape: tuple[int, ...] | None = None, what: str = "") -> np.ndarray:
        """The member ``name`` (without ``.npy``) as a native-byte-order array.

        ``dtypes``: allowed :func:`dtype_code` values; ``limit``: the most
        bytes its data may have; ``shape``: the shape it must have, if known;
        ``what``: how errors describe the expected array (``"float64"``).
        """
        info, fp = self._open_member(name)
        with fp:
            shp, dtype, fortran, offset = self._header(name, fp)
            if dtype_code(dtype) not in dtypes:
                expected = what or ", ".join(sorted(np.dtype(c).name for c in dtypes))
                shown = dtype.str if dtype.kind in "OSUVMm" else dtype.name
                raise self._member_error(name, f"has dtype {shown}; expected {expected}")
            if shape is not None and shp != tuple(shape):
                raise self._member_error(name, f"has shape {shp}; expected {tuple(shape)}")
            count = math.prod(shp)
            nbytes = count * dtype.itemsize
            if nbytes > limit:
                raise self._member_error(name, f"is too large ({nbytes} bytes, limit "
                                               f"{limit})")
            if offset + nbytes != info.file_size:
                raise self._member_error(
                    name, f"is damaged: its header describes {nbytes} bytes of data but "
                          f"the member holds {info.file_size - offset}"
                )
            try:
                flat = np.empty(count, dtype=dtype)
            except MemoryError:
                raise self._member_error(
                    name, f"is too large for the memory available ({nbytes} bytes)"
                ) from None
            self._fill(name, fp, flat, nbytes)
        if not dtype.isnative and dtype.itemsize > 1:
            flat = flat.byteswap().view(dtype.newbyteorder("="))
        return flat.reshape(shp, order="F" if fortran else "C")

    def _fill(self, name: str, fp, flat: np.ndarray, nbytes: int) -> None:
        view = memoryview(flat).cast("B") if nbytes else memoryview(b"")
        done = 0
        try:
            while done < nbytes:
                got = fp.readinto(view[done: done + CHUNK_BYTES])
                if not got:
                    raise EOFError(f"it ends after {done} of {nbytes} data bytes")
                done += got
            if fp.read(1):  # also makes zipfile check the CRC
                raise ValueError("it has bytes after its data")
        except _READ_ERRORS as exc:
            raise self._member_error(name, f"is damaged: {exc}") from None


def _mentions_object(descr) -> bool:
    """Whether a header's ``descr`` names Python objects anywhere (``'|O'``)."""
    if isinstance(descr, str):
        return descr.lstrip("|<>=").startswith("O")
    if isinstance(descr, list):  # structured: [(field name, descr[, shape]), ...]
        return any(isinstance(f, tuple) and len(f) >= 2 and _mentions_object(f[1])
                   for f in descr)
    return False


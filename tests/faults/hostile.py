"""Builders of hostile input for the fault-injection suite.

Everything here writes bytes exactly as asked — a zip entry whose sizes lie,
a ``.npy`` header claiming 10¹³ floats, a deflate stream that inflates to
gigabytes from a few megabytes — because deltarule's own writers (and
NumPy's) would refuse to produce them.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

STORED, DEFLATED = 0, 8


# -- .npy members ---------------------------------------------------------------


def npy(arr) -> bytes:
    """``arr`` as NumPy writes it into an ``.npz`` member."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=True)
    return buf.getvalue()


def npy_header(descr="<f8", shape=(1,), fortran=False, *, version=1, raw=None) -> bytes:
    """A ``.npy`` header alone; ``raw`` replaces the dictionary text."""
    text = raw if raw is not None else repr(
        {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})
    size_bytes = 2 if version == 1 else 4
    pad = (64 - (8 + size_bytes + len(text) + 1) % 64) % 64
    body = (text + " " * pad + "\n").encode("latin1")
    length = struct.pack("<H" if version == 1 else "<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + length + body


def header_of(member: bytes) -> dict:
    """The dictionary of a member's ``.npy`` header."""
    size = 2 if member[6] == 1 else 4
    length = int.from_bytes(member[8:8 + size], "little")
    return ast.literal_eval(member[8 + size:8 + size + length].decode("latin1"))


# -- zip archives written byte by byte -----------------------------------------------


class Member:
    """One zip entry: ``data`` as stored, with sizes and CRC that may lie."""

    def __init__(self, name, data: bytes, *, method=STORED, size=None, crc=None,
                 compressed=None, flags=0):
        self.name = name if name.endswith("/") or "." in name.split("/")[-1] else name + ".npy"
        if compressed is None:
            compressed = data if method == STORED else _deflate(data)
        self.payload = compressed
        self.size = len(data) if size is None else size
        self.crc = zlib.crc32(data) if crc is None else crc
        self.method, self.flags = method, flags


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def write_zip(path, members, *, truncate_at=None, garbage_directory=False) -> Path:
    """A zip archive of ``members``: :class:`Member` objects or ``name -> bytes``."""
    if isinstance(members, dict):
        members = [Member(k, v) for k, v in members.items()]
    out, central = io.BytesIO(), io.BytesIO()
    for m in members:
        offset = out.tell()
        name = m.name.encode()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, m.flags, m.method, 0, 0,
                              m.crc, len(m.payload), m.size, len(name), 0))
        out.write(name)
        out.write(m.payload)
        central.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, m.flags, m.method,
                                  0, 0, m.crc, len(m.payload), m.size, len(name), 0, 0, 0,
                                  0, 0, offset))
        central.write(name)
    cd = central.getvalue()
    if garbage_directory:
        cd = b"\x00" * len(cd)
    start = out.tell()
    out.write(cd)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                          len(cd), start, 0))
    data = out.getvalue()
    if truncate_at is not None:
        data = data[:truncate_at]
    Path(path).write_bytes(data)
    return Path(path)


def bomb(nbytes: int, *, header: bytes, name="X") -> Member:
    """A deflated member inflating to ``header`` plus ``nbytes`` zero bytes.

    Built from a repeated full-flush block, so writing a gigabyte bomb costs
    milliseconds; its CRC is not computed (the reader must refuse the member
    long before it could check one).
    """
    chunk = 1 << 20
    assert nbytes % chunk == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    unit = c.compress(b"\0" * chunk) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(b"\0" * chunk) + c.flush(zlib.Z_FULL_FLUSH)
    assert unit == again  # a full flush resets the window: the block repeats
    payload = head + unit * (nbytes // chunk) + c.flush()
    return Member(name, b"", method=DEFLATED, compressed=payload,
                  size=len(header) + nbytes, crc=0)


# -- model files --------------------------------------------------------------------


def model_members(path) -> dict[str, bytes]:
    """The raw members of an ``.npz`` (names without ``.npy``)."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return {n[:-4] if n.endswith(".npy") else n: zf.read(n) for n in zf.namelist()}


def meta_of(members) -> dict:
    raw = np.load(io.BytesIO(members["__deltarule__"]))
    return json.loads(raw.tobytes().decode())


def meta_member(meta=None, *, text=None) -> bytes:
    """A ``__deltarule__`` member holding ``meta`` as JSON (or ``text`` verbatim)."""
    if text is None:
        text = json.dumps(meta)
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    return npy(np.frombuffer(raw, dtype=np.uint8))


def rewrite_model(source, target, *, meta=None, set_meta=None, drop_meta=(), members=None,
                  drop=()) -> Path:
    """A copy of model file ``source`` with its metadata or members changed.

    ``set_meta``: fields to set; ``drop_meta``: fields to remove; ``meta``: a
    whole replacement (any JSON value); ``members``: members to add or replace
    (``name -> bytes`` or :class:`Member`); ``drop``: members to remove.
    """
    old = model_members(source)
    new_meta = meta_of(old) if meta is None else meta
    if isinstance(new_meta, dict):
        for key in drop_meta:
            new_meta.pop(key, None)
        new_meta.update(set_meta or {})
    out = {k: v for k, v in old.items() if k not in drop and k != "__deltarule__"}
    if "__deltarule__" not in drop:
        out["__deltarule__"] = meta_member(new_meta)
    extra = []
    for key, value in (members or {}).items():
        if isinstance(value, Member):
            out.pop(key, None)
            extra.append(value)
        else:
            out[key] = value
    return write_zip(target, [Member(k, v) for k, v in out.items()] + extra)


# -- files and folders --------------------------------------------------------------------


def digest(path) -> str:
    """sha256 of a file, to prove an input was left untouched."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def temporaries(*folders) -> list[str]:
    """Temporary files of deltarule's atomic writes left in ``folders``."""
    return [n for folder in folders for n in os.listdir(folder) if n.endswith(".tmp")]

"""Hostile ``.npz`` files, made byte by byte: one safe reader for models and data.

Each case builds a file, hands it to ``deltarule.load`` (model files), to
``read_metadata`` (which also reads the loss histories), or to
``read_table`` (data files), and asserts the one error class, the message's
words, and that the file was left untouched.  Memory-hungry cases (bombs)
are in test_memory.py, under an address-space limit.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

import deltarule
from deltarule import DataError, ModelFileError
from deltarule.io.data import read_table
from deltarule.io.model import read_metadata

from .conftest import deadline, params_equal, unreadable
from .hostile import (
    DEFLATED,
    Member,
    digest,
    model_members,
    npy,
    npy_header,
    rewrite_model,
    write_zip,
)


def load_fails(path, *words, error=ModelFileError, reader=deltarule.load):
    before = digest(path) if os.path.isfile(path) else None
    with deadline(10), pytest.raises(error) as info:
        reader(path)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    assert "\n" not in message
    if before is not None:
        assert digest(path) == before  # the input is untouched
    return message


# -- the file itself ------------------------------------------------------------------


def test_text_is_not_a_zip(tmp_path):
    (tmp_path / "m.npz").write_text("W1,b1\n1,2\n")
    load_fails(tmp_path / "m.npz", "is not a .npz (zip) file", "not a deltarule model")


def test_empty_file(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"")
    load_fails(tmp_path / "m.npz", "is empty")


def test_a_single_npy_file(tmp_path):
    (tmp_path / "m.npz").write_bytes(npy(np.zeros(3)))
    load_fails(tmp_path / "m.npz", "single .npy array, not a .npz archive")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_model_file(model_copy, tmp_path, fraction):
    data = model_copy.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: int(len(data) * fraction)])
    load_fails(tmp_path / "cut.npz", "damaged or truncated zip archive")


def test_garbage_central_directory(tmp_path):
    write_zip(tmp_path / "m.npz", {"W1": npy(np.zeros((2, 3)))}, garbage_directory=True)
    load_fails(tmp_path / "m.npz", "damaged or truncated zip archive")


def test_unreadable_model_file(model_copy):
    with unreadable(model_copy):
        message = load_fails(model_copy, "cannot read", "Permission denied")
    assert "not a .npz" not in message  # the true cause, not a wrong one


def test_a_folder(tmp_path):
    load_fails(tmp_path, "is a folder, not a regular file")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "m.npz")
    load_fails(tmp_path / "m.npz", "FIFO (named pipe), not a regular file")


@pytest.mark.parametrize("via_link", [False, True])
def test_dev_zero(tmp_path, via_link):
    path = "/dev/zero"
    if via_link:
        os.symlink("/dev/zero", tmp_path / "m.npz")
        path = tmp_path / "m.npz"
    load_fails(path, "is a character device, not a regular file")


def test_a_link_to_a_model_loads(model_copy, tmp_path, xor_model):
    os.symlink(model_copy, tmp_path / "link.npz")
    assert params_equal(deltarule.load(tmp_path / "link.npz").params, xor_model[1].params)


# -- members: pickles, dtypes, shapes, headers ---------------------------------------------


@pytest.mark.parametrize("member", ["W1", "b2", "__deltarule__"])
def test_pickled_parameters_are_never_unpickled(model_copy, tmp_path, member):
    class Bomb:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "PWNED"),))

    payload = npy(np.array([Bomb()], dtype=object))
    rewrite_model(model_copy, tmp_path / "p.npz", members={member: payload})
    load_fails(tmp_path / "p.npz", "pickled objects", "never loads")
    assert not (tmp_path / "PWNED").exists()


def test_structured_member_with_an_object_field(model_copy, tmp_path):
    member = npy_header([("x", "<f8"), ("obj", "|O")], (2,)) + b"\0" * 32
    rewrite_model(model_copy, tmp_path / "p.npz", members={"W1": member})
    load_fails(tmp_path / "p.npz", "member 'W1'", "pickled objects")


def test_a_pickle_in_a_member_never_read_is_never_touched(model_copy, tmp_path, xor_model):
    payload = npy(np.array([{"a": 1}], dtype=object))
    rewrite_model(model_copy, tmp_path / "p.npz", members={"extra": payload})
    assert params_equal(deltarule.load(tmp_path / "p.npz").params, xor_model[1].params)


@pytest.mark.parametrize("dtype, shown", [
    (np.complex128, "complex128"), (np.float16, "float16"), (np.int64, "int64"),
    (np.float32, "float32"), ("U3", "<U3"), (bool, "bool"),
])
def test_parameter_dtypes(model_copy, tmp_path, dtype, shown):
    bad = np.ones((2, 3)).astype(dtype)
    rewrite_model(model_copy, tmp_path / "p.npz", members={"W1": npy(bad)})
    load_fails(tmp_path / "p.npz", "member 'W1'", f"has dtype {shown}", "expected float64")


@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 1), (6,), (0, 3), ()])
def test_parameter_shapes(model_copy, tmp_path, shape):
    rewrite_model(model_copy, tmp_path / "p.npz", members={"W1": npy(np.ones(shape))})
    load_fails(tmp_path / "p.npz", "member 'W1'", "expected (2, 3)")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_parameters(model_copy, tmp_path, value):
    b = np.zeros(3)
    b[1] = value
    rewrite_model(model_copy, tmp_path / "p.npz", members={"b1": npy(b)})
    load_fails(tmp_path / "p.npz", "parameter b1 contains NaN or infinite values")


@pytest.mark.parametrize("member", ["W1", "b1", "W2", "b2", "__deltarule__"])
def test_missing_members(model_copy, tmp_path, member):
    rewrite_model(model_copy, tmp_path / "p.npz", drop=[member])
    load_fails(tmp_path / "p.npz", "missing" if member != "__deltarule__" else
               "no __deltarule__ metadata")


def test_a_header_claiming_ten_trillion_floats(model_copy, tmp_path):
    claim = npy_header("<f8", (10**13,)) + b"\0" * 64
    rewrite_model(model_copy, tmp_path / "p.npz", members={"__history__": claim})
    load_fails(tmp_path / "p.npz", "member '__history__'", "too large (80000000000000 bytes",
               "limit 1073741824)", reader=read_metadata)


def test_a_header_promising_more_data_than_the_member_holds(model_copy, tmp_path):
    member = npy_header("<f8", (2, 3)) + b"\0" * 16  # 16 of 48 bytes
    rewrite_model(model_copy, tmp_path / "p.npz", members={"W1": member})
    load_fails(tmp_path / "p.npz", "member 'W1' is damaged", "describes 48 bytes")


def test_bytes_after_the_data(model_copy, tmp_path):
    member = npy(np.zeros((2, 3)))
    rewrite_model(model_copy, tmp_path / "p.npz",
                  members={"W1": Member("W1", member, size=len(member) - 8)})
    load_fails(tmp_path / "p.npz", "member 'W1' is damaged")


def test_a_corrupted_member_fails_its_crc(model_copy, tmp_path):
    good = npy(np.ones((2, 3)))
    rewrite_model(model_copy, tmp_path / "p.npz",
                  members={"W1": Member("W1", good[:-8] + b"\x01" * 8,
                                        crc=__import__("zlib").crc32(good))})
    load_fails(tmp_path / "p.npz", "member 'W1' is damaged", "CRC")


@pytest.mark.parametrize("raw, words", [
    (b"not numpy at all" * 4, "not a NumPy .npy array"),
    (npy_header(raw="[1, 2, 3]"), "not a NumPy array description"),
    (npy_header(raw="{'descr': '<f8', 'shape': (2, 3)}"), "not a NumPy array description"),
    (npy_header(raw="{'descr': '<f8', 'fortran_order': 'no', 'shape': (2, 3)}"), "shape"),
    (npy_header(raw="{'descr': '<f8', 'fortran_order': False, 'shape': (-2, 3)}"), "shape"),
    (npy_header(raw="{'descr': '<f8', 'fortran_order': False, 'shape': (2.0, 3)}"), "shape"),
    (npy_header(raw="{'descr': __import__('os'), 'fortran_order': False, 'shape': (2,)}"),
     "is damaged"),
    (npy_header(raw="{" * 5000 + "}" * 5000), "is damaged"),
    (npy_header(raw="{'descr': 'xyz', 'fortran_order': False, 'shape': (2, 3)}"),
     "not a plain number type"),
    (b"\x93NUMPY\x09\x00" + b"\0" * 64, "unknown .npy format version"),
    (b"\x93NUMPY\x01\x00\xff\xff" + b" " * 100, "header has 65535 bytes"),
    (b"\x93NUMPY\x01\x00\x40\x00{'descr'", "truncated"),
])
def test_damaged_npy_headers(model_copy, tmp_path, raw, words):
    rewrite_model(model_copy, tmp_path / "p.npz", members={"W1": raw})
    load_fails(tmp_path / "p.npz", "member 'W1'", words)


def test_encrypted_member(model_copy, tmp_path):
    rewrite_model(model_copy, tmp_path / "p.npz",
                  members={"W1": Member("W1", npy(np.zeros((2, 3))), flags=1)})
    load_fails(tmp_path / "p.npz", "member 'W1' is encrypted")


def test_unsupported_compression(model_copy, tmp_path):
    rewrite_model(model_copy, tmp_path / "p.npz",
                  members={"W1": Member("W1", npy(np.zeros((2, 3))), method=12)})
    load_fails(tmp_path / "p.npz", "compression method 12")


def test_a_deflated_member_claiming_an_impossible_ratio(model_copy, tmp_path):
    small = Member("W1", npy(np.zeros((2, 3))), method=DEFLATED)
    small.size = len(small.payload) * 5000
    rewrite_model(model_copy, tmp_path / "p.npz", members={"W1": small})
    load_fails(tmp_path / "p.npz", "member 'W1' is damaged", "cannot inflate")


def test_metadata_member_of_the_wrong_dtype(model_copy, tmp_path):
    rewrite_model(model_copy, tmp_path / "p.npz", members={"__deltarule__": npy(np.ones(4))})
    load_fails(tmp_path / "p.npz", "member '__deltarule__' has dtype float64")


def test_metadata_member_too_large(model_copy, tmp_path):
    big = npy(np.zeros(2 << 20, dtype=np.uint8))
    rewrite_model(model_copy, tmp_path / "p.npz", members={"__deltarule__": big})
    load_fails(tmp_path / "p.npz", "too large (2097152 bytes, limit 1048576)")


# -- what must still load ------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["big-endian", "fortran", "deflated", "npy-2.0"])
def test_unusual_but_valid_encodings_load(model_copy, tmp_path, xor_model, variant):
    members = model_members(model_copy)
    W1 = xor_model[1].params[0][0]
    if variant == "big-endian":
        members["W1"] = npy(W1.astype(">f8"))
    elif variant == "fortran":
        members["W1"] = npy(np.asfortranarray(W1))
    elif variant == "npy-2.0":
        members["W1"] = npy_header("<f8", W1.shape, version=2) + W1.tobytes()
    kind = DEFLATED if variant == "deflated" else 0
    write_zip(tmp_path / "v.npz", [Member(k, v, method=kind) for k, v in members.items()])
    assert params_equal(deltarule.load(tmp_path / "v.npz").params, xor_model[1].params)


def test_numpy_savez_compressed_models_load(xor_model, tmp_path):
    with np.load(xor_model[0]) as data:
        np.savez_compressed(tmp_path / "c.npz", **{k: data[k] for k in data.files})
    assert params_equal(deltarule.load(tmp_path / "c.npz").params, xor_model[1].params)


# -- data files ------------------------------------------------------------------------------


def data_fails(path, *words):
    return load_fails(path, *words, error=DataError, reader=read_table)


@pytest.mark.parametrize("array, words", [
    (np.array([{"a": 1}], dtype=object), "pickled objects"),
    (np.ones((3, 2), dtype=np.complex64), "has dtype complex64; expected numbers"),
    (np.array(["a", "b"]), "has dtype <U1; expected numbers"),
    (np.array([b"ab"]), "has dtype |S2; expected numbers"),
    (np.zeros(2, dtype="datetime64[s]"), "expected numbers"),
])
def test_data_npz_dtypes(tmp_path, array, words):
    np.savez(tmp_path / "d.npz", X=array)
    data_fails(tmp_path / "d.npz", "member 'X'", words)


def test_data_npz_header_claiming_ten_trillion_floats(tmp_path):
    write_zip(tmp_path / "d.npz", {"X": npy_header("<f8", (10**13, 1)) + b"\0" * 8})
    data_fails(tmp_path / "d.npz", "member 'X' is too large (80000000000000 bytes")


def test_data_npz_with_a_member_that_is_not_an_array(tmp_path):
    write_zip(tmp_path / "d.npz", {"X": npy(np.zeros((2, 2))), "notes.txt": b"hello"})
    data_fails(tmp_path / "d.npz", "holds 'notes.txt', which is not a NumPy array")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder", "truncated"])
def test_data_npz_that_is_not_a_regular_file(tmp_path, kind):
    path = tmp_path / "d.npz"
    if kind == "fifo":
        os.mkfifo(path)
        words = ["FIFO"]
    elif kind == "dev-zero":
        os.symlink("/dev/zero", path)
        words = ["character device"]
    elif kind == "folder":
        path.mkdir()
        words = ["is a folder"]
    else:
        np.savez(path, X=np.zeros((4, 2)))
        path.write_bytes(path.read_bytes()[:100])
        words = ["damaged or truncated zip archive"]
    data_fails(path, *words)


def test_data_npz_bool_and_small_ints_are_numbers(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.array([[True, False]]), y=np.array([3], np.int8))
    table = read_table(tmp_path / "d.npz")
    assert table.data.tolist() == [[1.0, 0.0, 3.0]]
    assert zipfile.is_zipfile(tmp_path / "d.npz")

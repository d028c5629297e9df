"""Hostile data: CSV files, non-regular files, labels, sizes and ragged input.

A data file may be anything a user (or a typo) names: a FIFO, a device, a
CSV with a 300 KiB field, a sparse file of gigabytes, NUL bytes.  Every case
is one ``DataError`` (or one line from the command line), never a hang, a
``_csv.Error``, a ``MemoryError`` or a raw NumPy ``ValueError``.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

import deltarule
from deltarule import ConfigError, DataError, DeltaRuleError
from deltarule.datasets import MAX_CLASSES, one_hot
from deltarule.io import data as data_io
from deltarule.io.data import read_table

from .conftest import assert_one_line_error, cli, deadline
from .hostile import digest


def fails(path, *words, error=DataError):
    with deadline(10), pytest.raises(error) as info:
        read_table(path)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_a_field_longer_than_csvs_default_limit(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("a,b\n" + "1," + "0" * 300_000 + "1\n2,3\n")
    table = read_table(path)
    assert table.data.tolist() == [[1.0, 1.0], [2.0, 3.0]]
    import csv

    assert csv.field_size_limit() == 131072  # the csv module's global setting is restored


def test_a_csv_over_the_size_limit(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:  # sparse: no disk used
        fh.truncate(data_io.MAX_DATA_BYTES + 1)
    fails(path, "is too large", f"limit {data_io.MAX_DATA_BYTES}")


def test_a_csv_over_the_value_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(data_io, "MAX_DATA_VALUES", 10)
    path = tmp_path / "d.csv"
    path.write_text("a,b\n" + "1,2\n" * 6)
    fails(path, "is too large: more than 5 rows of 2 columns (limit 10 numbers)")


def test_standard_input_beyond_the_limit(monkeypatch):
    monkeypatch.setattr(data_io, "MAX_DATA_BYTES", 100)
    monkeypatch.setattr("sys.stdin", io.StringIO("a,b\n" + "1,2\n" * 50))
    fails("-", "<stdin> is too large (more than 100 characters")


def test_a_line_without_end_stops_at_the_limit(monkeypatch):
    monkeypatch.setattr(data_io, "MAX_DATA_BYTES", 5000)
    monkeypatch.setattr(data_io, "_PIECE_CHARS", 64)
    monkeypatch.setattr("sys.stdin", io.StringIO("a" * 100_000))
    fails("-", "too large")


@pytest.mark.parametrize("content, words", [
    (b"a,b\n1,\x002\n", "line 2 holds NUL bytes"),
    (b"\x00" * 4096, "line 1 holds NUL bytes"),
    (b'a,b\n"1,2\n', "has 1 value(s)"),
    (b"a,b\n1,2,3\n", "has 3 value(s)"),
    (b"\xff\xfea,b\n", "is not UTF-8 text"),
    (b"", "is empty"),
    (b"a,b\n1,nan\n", "is not a finite number"),
    (b"a,b\n1,1e999\n", "is not a finite number"),
])
def test_malformed_csv(tmp_path, content, words):
    (tmp_path / "d.csv").write_bytes(content)
    fails(tmp_path / "d.csv", words)


@pytest.mark.parametrize("kind, words", [
    ("fifo", "FIFO (named pipe), not a regular file"),
    ("dev-zero", "character device, not a regular file"),
    ("link-to-dev-zero", "character device, not a regular file"),
    ("folder", "is a folder, not a regular file"),
    ("missing", "no such file"),
    ("dangling-link", "no such file"),
])
def test_csv_that_is_not_a_regular_file(tmp_path, kind, words):
    path = tmp_path / "d.csv"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = "/dev/zero"
    elif kind == "link-to-dev-zero":
        os.symlink("/dev/zero", path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "dangling-link":
        os.symlink(tmp_path / "nowhere.csv", path)
    fails(path, words)


def test_dev_zero_on_standard_input(capsys, monkeypatch):
    zero = open("/dev/zero", encoding="utf-8", newline="")
    monkeypatch.setattr("sys.stdin", zero)
    with deadline(10):
        status, out, err = cli(capsys, "train", "-", "--target", "a")
    zero.close()
    assert_one_line_error(status, err, "<stdin>", "NUL bytes")


# -- class labels, sizes, ragged lists --------------------------------------------------------


@pytest.mark.parametrize("labels, words", [
    ([0, 1, 10_000_000, 0], "label 10000000 (row 3) would make 10000001 classes, more "
                            f"than the limit of {MAX_CLASSES}"),
    ([0, 1, 5, 0], "label 5 (row 3) would make 6 classes, more than the 4 rows"),
    ([0, 1.5, 1, 0], "row 2 holds 1.5"),
    ([0, -1, 1, 0], "row 2 holds -1"),
])
def test_one_hot_labels_are_checked_before_a_network_exists(tmp_path, capsys, labels,
                                                            words):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i % 2},{v}\n"
                                            for i, v in enumerate(labels)))
    before = digest(path)
    status, out, err = cli(capsys, "train", path, "--target", "label", "--one-hot")
    line = assert_one_line_error(status, err, words, "'label'", "--one-hot")
    assert out == "" and digest(path) == before
    assert "MemoryError" not in line


def test_one_hot_in_the_library():
    with pytest.raises(DataError, match="more than the 2 rows"):
        one_hot([0, 7])
    assert one_hot([0, 7], n_classes=8).shape == (2, 8)  # asked for: allowed


@pytest.mark.parametrize("argv, words", [
    (["--hidden", "100000000000"], "has 400000000001 parameters; deltarule handles at most"),
    (["--layers", "2,70000,70000,1"], "has 4900350001 parameters"),
])
def test_impossible_network_sizes_from_the_command_line(capsys, argv, words):
    status, out, err = cli(capsys, "train", "xor", *argv)
    assert_one_line_error(status, err, words)
    assert out == ""


@pytest.mark.parametrize("layers", [[2, 10**11, 1], [2, 30_000, 30_000, 1]])
def test_impossible_network_sizes_in_the_library(layers):
    with pytest.raises(ConfigError, match="parameters"):
        deltarule.Trainer(layers).fit(np.eye(2), np.eye(2)[:, :1])


def test_network_memory_is_checked_against_the_budget(monkeypatch):
    import deltarule.validation as validation

    monkeypatch.setattr(validation, "memory_budget", lambda: (10_000, "the test's budget"))
    with pytest.raises(ConfigError, match="needs .* more than the test's budget allows"):
        # 1.2 million parameters: above the size at which the system is asked
        deltarule.train(np.eye(2), np.eye(2)[:, :1], layers=[2, 300_000, 1], max_epochs=1)


@pytest.mark.parametrize("X", [
    [[0, 1], [1]],
    [[0, 1], [1, [0, 1]]],
    [[0, 1], 3],
])
def test_ragged_nested_lists(X):
    with pytest.raises(DeltaRuleError) as info:
        deltarule.train(X, [[1], [0]], layers=[2, 3, 1], max_epochs=1)
    assert "ragged" in str(info.value) or "numbers" in str(info.value)


def test_ragged_lists_to_predict():
    net = deltarule.train(np.eye(2), np.eye(2)[:, :1], max_epochs=1, seed=0).network
    with pytest.raises(DataError, match="ragged nested list"):
        net.predict([[0, 1], [1]])

"""Data files: CSV/TSV with a header, .npz; every bad file names where it is bad."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deltarule import DataError
from deltarule.io.data import Table, read_table, write_csv, write_csv_text
from deltarule.trainer import holdout
from deltarule.datasets import one_hot
from deltarule.errors import ConfigError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_header_and_numbers(tmp_path):
    path = write(tmp_path, "d.csv", "x1, x2 ,y\n0,1,1\n\n1,0,1\n 1 ,1,0\n0,0,0\n\n")
    t = read_table(path)
    assert t.columns == ("x1", "x2", "y")
    assert t.data.dtype == np.float64
    np.testing.assert_array_equal(
        t.data, [[0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 0]])
    assert t.default_target == ()


def test_tsv_and_byte_order_mark(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_bytes("\ufeffa\tb\n1.5\t-2e3\n".encode("utf-8"))
    t = read_table(path)
    assert t.columns == ("a", "b")
    np.testing.assert_array_equal(t.data, [[1.5, -2000.0]])


def test_split_targets_and_columns(tmp_path):
    t = read_table(write(tmp_path, "d.csv", "a,b,c,d\n1,2,3,4\n5,6,7,8\n"))
    s = t.split(["d", "b"])
    assert s.features == ("a", "c") and s.targets == ("d", "b")
    np.testing.assert_array_equal(s.X, [[1, 3], [5, 7]])
    np.testing.assert_array_equal(s.y, [[4, 2], [8, 6]])
    s = t.split(["d"], columns=["c", "a"])
    np.testing.assert_array_equal(s.X, [[3, 1], [7, 5]])
    s = t.split([])
    assert s.y.shape == (2, 0) and s.features == ("a", "b", "c", "d")


def test_split_errors(tmp_path):
    t = read_table(write(tmp_path, "d.csv", "alpha,beta\n1,2\n"))
    with pytest.raises(DataError, match=r"no target column 'alhpa' \(did you mean "
                                        r"'alpha'\?\); its columns are: alpha, beta"):
        t.split(["alhpa"])
    with pytest.raises(DataError, match="both a feature and a target"):
        t.split(["beta"], columns=["alpha", "beta"])
    with pytest.raises(DataError, match="no feature columns left"):
        t.split(["alpha", "beta"])
    with pytest.raises(DataError, match="twice"):
        t.split(["beta", "beta"])


@pytest.mark.parametrize("text, where", [
    ("a,b\n1,2\n3,x\n", r"row 2 \(line 3\), column 'b' \(2 of 2\): 'x' is not a number"),
    ("a,b\n1,2\n\n,4\n", r"row 2 \(line 4\), column 'a' \(1 of 2\): the cell is empty"),
    ("a,b,c\n1,2,3\n4,5,6\n7,8,nan\n",
     r"row 3 \(line 4\), column 'c' \(3 of 3\): nan is not a finite number"),
    ("a,b\n1,2\n3,-inf\n", r"row 2 \(line 3\), column 'b' \(2 of 2\): -inf is not a finite"),
    ("a,b\n1,2\n3\n", r"row 2 \(line 3\) has 1 value\(s\) but the header on line 1 "
                      r"names 2 columns"),
    ("a,b\n1,2,3\n", r"row 1 \(line 2\) has 3 value"),
])
def test_bad_cells_name_row_and_column(tmp_path, text, where):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError, match=where) as info:
        read_table(path).split()  # text is refused once it is used as an input
    assert str(info.value).startswith(f"{path}: ")


def test_a_text_target_column_gives_labels(tmp_path):
    path = write(tmp_path, "iris.csv", "petal,kind\n1.5,setosa\n4.2, versicolor\n6,virginica\n")
    split = read_table(path).split(["kind"])
    assert split.labels.tolist() == ["setosa", "versicolor", "virginica"]
    assert split.X.tolist() == [[1.5], [4.2], [6.0]] and split.targets == ("kind",)
    with pytest.raises(DataError, match=r"row 1 \(line 2\), column 'kind' \(2 of 2\): "
                                        r"'setosa' is not a number"):
        read_table(path).split(["petal"])  # as an input, text is an error
    empty = write(tmp_path, "gap.csv", "x,kind\n1,a\n2,\n")
    with pytest.raises(DataError, match="row 2, column 'kind': the label is empty"):
        read_table(empty).split(["kind"])


@pytest.mark.parametrize("text, message", [
    ("", "is empty: expected a header row"),
    ("\n\n  \n", "is empty"),
    ("a,b\n", r"has a header \(a, b\) but no data rows"),
    ("1,2\n3,4\n", r"line 1 holds numbers \(1, 2\), not column names"),
    ("a,,c\n1,2,3\n", "column 2 of the header .* has no name"),
    ("a,b,a\n1,2,3\n", "names column 'a' twice"),
])
def test_bad_headers(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_table(write(tmp_path, "bad.csv", text))


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="cannot read data file .*nope.csv"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a folder, not a regular file"):
        read_table(tmp_path)
    (tmp_path / "latin1.csv").write_bytes("caf\xe9,b\n1,2\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not UTF-8 text"):
        read_table(tmp_path / "latin1.csv")


def test_npz_x_and_y(tmp_path):
    X = np.arange(6.0).reshape(3, 2)
    np.savez(tmp_path / "xy.npz", X=X, y=np.array([0, 1, 1]))
    t = read_table(tmp_path / "xy.npz")
    assert t.columns == ("x1", "x2", "y") and t.default_target == ("y",)
    s = t.split()
    np.testing.assert_array_equal(s.X, X)
    np.testing.assert_array_equal(s.y, [[0], [1], [1]])
    np.savez(tmp_path / "xY.npz", X=X, y=np.eye(3)[:, :2])
    t = read_table(tmp_path / "xY.npz")
    assert t.default_target == ("y1", "y2")
    np.savez(tmp_path / "x.npz", X=X)
    assert read_table(tmp_path / "x.npz").split().y.shape == (3, 0)


def test_npz_named_columns(tmp_path):
    np.savez(tmp_path / "cols.npz", height=np.array([1.5, 1.8]), weight=np.array([50, 80]),
             label=np.array([0, 1], dtype=np.int8))
    t = read_table(tmp_path / "cols.npz")
    assert t.columns == ("height", "weight", "label") and t.default_target == ()
    s = t.split(["label"])
    np.testing.assert_array_equal(s.X, [[1.5, 50], [1.8, 80]])


def test_bad_npz(tmp_path):
    cases = {
        "pickled.npz": dict(X=np.array([{"a": 1}], dtype=object)),
        "text.npz": dict(X=np.array([["a", "b"]])),
        "ragged.npz": dict(a=np.zeros(3), b=np.zeros(4)),
        "twod.npz": dict(a=np.zeros((3, 2)), b=np.zeros(3)),
        "extra.npz": dict(X=np.zeros((2, 2)), y=np.zeros(2), w=np.zeros(2)),
        "rows.npz": dict(X=np.zeros((2, 2)), y=np.zeros(3)),
        "nan.npz": dict(X=np.array([[0.0, 1.0], [2.0, np.nan]])),
        "empty.npz": dict(X=np.zeros((0, 2))),
    }
    messages = {
        "pickled.npz": "pickled objects",
        "text.npz": "dtype <U1; expected numbers",
        "ragged.npz": r"differ in length \(a: 3, b: 4\)",
        "twod.npz": r"array 'a' has shape \(3, 2\)",
        "extra.npz": r"arrays other than y \(w\)",
        "rows.npz": "X has 2 rows but y has 3",
        "nan.npz": r"row 2, column 'x2': nan is not a finite number",
        "empty.npz": "no data rows",
    }
    for name, content in cases.items():
        np.savez(tmp_path / name, **content)
        with pytest.raises(DataError, match=messages[name]):
            read_table(tmp_path / name)
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="is a damaged or truncated zip archive"):
        read_table(tmp_path / "broken.npz")
    (tmp_path / "text.npz").write_bytes(b"just some text")
    with pytest.raises(DataError, match=r"is not a \.npz \(zip\) file, so not a data file"):
        read_table(tmp_path / "text.npz")


def test_a_model_file_is_not_data(tmp_path):
    import deltarule
    from deltarule.datasets import xor

    result = deltarule.train(*xor(), max_epochs=2, seed=0)
    path = deltarule.save(result, tmp_path / "model.npz")
    with pytest.raises(DataError, match="is a deltarule model file, not a data file"):
        read_table(path)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(deadline=None, max_examples=60)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 4)), elements=finite))
def test_write_then_read_is_exact(data):
    names = [f"c{i}" for i in range(data.shape[1])]
    text = write_csv_text(names, data)
    table = read_table_text(text)
    assert table.columns == tuple(names)
    np.testing.assert_array_equal(table.data, data)


def read_table_text(text):
    from deltarule.io.data import _read_delimited

    return _read_delimited(io.StringIO(text), "<text>", ",")


def test_write_csv_uses_the_shortest_form():
    buf = io.StringIO()
    write_csv(buf, ["a", "b"], np.array([[0.1, 2.0], [1e-300, -3.5]]))
    assert buf.getvalue() == "a,b\n0.1,2.0\n1e-300,-3.5\n"
    assert write_csv_text(["p"], np.array([[0.1]], dtype=np.float32)) == "p\n0.1\n"


@settings(deadline=None, max_examples=50)
@given(st.integers(2, 300), st.floats(0.01, 0.99), st.integers(0, 2**32 - 1))
def test_holdout_partitions_the_rows(n, fraction, seed):
    n_val = int(round(n * fraction))
    if n_val < 1 or n_val >= n:
        with pytest.raises(ConfigError, match="both need at least 1"):
            holdout(n, fraction, np.random.default_rng(seed))
        return
    tr, va = holdout(n, fraction, np.random.default_rng(seed))
    assert len(va) == n_val
    np.testing.assert_array_equal(np.sort(np.r_[tr, va]), np.arange(n))
    tr2, va2 = holdout(n, fraction, np.random.default_rng(seed))
    np.testing.assert_array_equal(va, va2)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan"), True, "0.2"])
def test_holdout_rejects_bad_fractions(fraction):
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        holdout(10, fraction, np.random.default_rng(0))


def test_one_hot():
    np.testing.assert_array_equal(one_hot([2, 0, 1]), np.eye(3)[[2, 0, 1]])
    assert one_hot([0, 1], 4).shape == (2, 4)
    with pytest.raises(DataError, match="whole numbers 0, 1, 2, …; row 1 holds 0.5"):
        one_hot([0.5, 1])
    with pytest.raises(DataError, match="row 3 holds -1"):
        one_hot([0, 1, -1])
    with pytest.raises(DataError, match="does not fit 2 classes"):
        one_hot([0, 2], 2)


def test_table_is_plain_data():
    t = Table(("a",), np.zeros((2, 1)), "<mem>")
    assert t.n_rows == 2

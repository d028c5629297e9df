"""Data files for the command line: CSV/TSV with a header row, and ``.npz``.

Formats (chosen by the file name):

- ``*.npz`` — either an array ``X`` (2-D, or 1-D for one feature) with an
  optional ``y``: the columns are then named ``x1 … xn`` and ``y1 … yk`` (just
  ``y`` when ``y`` is 1-D) and ``y``'s columns are the default target; or
  only 1-D arrays of one length, each a named column, in the file's order.
  Loaded with ``allow_pickle=False``.
- ``*.tsv`` — tab-separated; anything else (``*.csv``, ``*.txt``, …) is
  comma-separated.  ``-`` reads comma-separated text from standard input.
  The first non-blank line names the columns; every further non-blank line
  holds one number per column.  Blank lines are skipped.

Every problem raises :class:`deltarule.DataError` naming the file, the row
and the column, e.g. ``data.csv: row 3 (line 4), column 'x2' (2 of 3): 'abc'
is not a number``.  Rows are counted from 1 below the header; lines from 1 at
the top of the file.
"""

from __future__ import annotations

import csv
import difflib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError
from .npz import META_KEY, load_npz_arrays


@dataclass(frozen=True)
class Table:
    """Named numeric columns read from a file.

    ``data`` is ``(n_rows, n_columns)`` float64, ``columns`` the names in
    file order, ``default_target`` the columns used as targets when none are
    named (``y``'s columns of an ``X``/``y`` ``.npz``; empty otherwise).
    """

    columns: tuple[str, ...]
    data: np.ndarray
    source: str
    default_target: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return self.data.shape[0]

    def indices(self, names: Iterable[str], what: str = "column") -> list[int]:
        """Positions of ``names``; an unknown name is a :class:`DataError`."""
        out = []
        for name in names:
            try:
                out.append(self.columns.index(name))
            except ValueError:
                close = difflib.get_close_matches(name, self.columns, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise DataError(
                    f"{self.source} has no {what} {name!r}{hint}; its columns are: "
                    f"{', '.join(self.columns)}"
                ) from None
        return out

    def split(self, target: Sequence[str] | None = None,
              columns: Sequence[str] | None = None) -> "Split":
        """Features and targets as two matrices.

        ``target``: the target column names (default :attr:`default_target`);
        ``columns``: the feature column names (default: every column that is
        not a target).  ``y`` has zero columns when there is no target.
        """
        target = tuple(self.default_target if target is None else target)
        t_idx = self.indices(target, "target column")
        if len(set(target)) != len(target):
            raise DataError(f"target column(s) {', '.join(target)} name a column twice")
        if columns is None:
            f_idx = [i for i in range(len(self.columns)) if i not in t_idx]
        else:
            f_idx = self.indices(columns)
            both = [self.columns[i] for i in f_idx if i in t_idx]
            if both:
                raise DataError(
                    f"column(s) {', '.join(both)} cannot be both a feature and a target"
                )
            if len(set(f_idx)) != len(f_idx):
                raise DataError(f"feature columns {', '.join(columns)} name a column twice")
        if not f_idx:
            raise DataError(
                f"{self.source} has no feature columns left once the target "
                f"column(s) {', '.join(target)} are set aside"
            )
        return Split(
            X=self.data[:, f_idx],
            y=self.data[:, t_idx],
            features=tuple(self.columns[i] for i in f_idx),
            targets=tuple(self.columns[i] for i in t_idx),
        )


@dataclass(frozen=True)
class Split:
    """``X`` ``(n, n_features)``, ``y`` ``(n, n_targets)`` and their column names."""

    X: np.ndarray
    y: np.ndarray
    features: tuple[str, ...]
    targets: tuple[str, ...]


def read_table(path) -> Table:
    """Read ``path`` (see the module docstring for the formats) as a :class:`Table`."""
    name = str(path)
    if name == "-":
        return _read_delimited(sys.stdin, "<stdin>", ",")
    p = Path(name)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return _read_npz(p)
    delimiter = "\t" if suffix in (".tsv", ".tab") else ","
    try:
        with open(p, encoding="utf-8-sig", newline="") as fh:
            return _read_delimited(fh, name, delimiter)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "data files must be CSV text, or .npz arrays"
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read data file {name!r}: {exc.strerror or exc}") from None


def _read_delimited(lines, source: str, delimiter: str) -> Table:
    reader = csv.reader(lines, delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    rows: list[list[float]] = []
    line_of_row: list[int] = []
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        line = reader.line_num
        if header is None:
            header = _header(fields, source, line)
            header_line = line
            continue
        if len(fields) != len(header):
            raise DataError(
                f"{source}: row {len(rows) + 1} (line {line}) has {len(fields)} "
                f"value(s) but the header on line {header_line} names {len(header)} "
                f"columns; every row needs one value per column"
            )
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            rows.append(_parse_row(fields, header, source, len(rows) + 1, line))
        line_of_row.append(line)
    if header is None:
        raise DataError(
            f"{source} is empty: expected a header row naming the columns, then one "
            "row of numbers per sample"
        )
    if not rows:
        raise DataError(
            f"{source} has a header ({', '.join(header)}) but no data rows"
        )
    data = np.array(rows, dtype=np.float64)
    bad = ~np.isfinite(data)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{source}: row {r + 1} (line {line_of_row[r]}), column {header[c]!r} "
            f"({c + 1} of {len(header)}): {float(data[r, c])!r} is not a finite number; "
            "remove or impute missing and infinite values"
        )
    return Table(tuple(header), data, source)


def _header(fields: list[str], source: str, line: int) -> list[str]:
    names = [f.strip() for f in fields]
    for i, n in enumerate(names):
        if not n:
            raise DataError(
                f"{source}: column {i + 1} of the header (line {line}) has no name; "
                "the first line must name every column"
            )
    if all(_is_number(n) for n in names):
        raise DataError(
            f"{source}: line {line} holds numbers ({', '.join(names[:4])}"
            f"{', …' if len(names) > 4 else ''}), not column names; the first line "
            "must be a header row naming the columns, e.g. x1,x2,y"
        )
    seen = set()
    for n in names:
        if n in seen:
            raise DataError(f"{source}: the header names column {n!r} twice")
        seen.add(n)
    return names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_row(fields, header, source, row, line) -> list[float]:
    values = []
    for c, text in enumerate(fields):
        try:
            values.append(float(text))
        except ValueError:
            shown = f"{text!r} is not a number" if text.strip() else "the cell is empty"
            raise DataError(
                f"{source}: row {row} (line {line}), column {header[c]!r} "
                f"({c + 1} of {len(header)}): {shown}; every cell below the header "
                "must be a number"
            ) from None
    return values


def _read_npz(path: Path) -> Table:
    name = str(path)
    if not path.exists():
        raise DataError(f"cannot read data file {name!r}: no such file")
    arrays = load_npz_arrays(path, DataError, "a data file")
    if META_KEY in arrays:
        raise DataError(f"{name} is a deltarule model file, not a data file")
    if not arrays:
        raise DataError(f"{name} holds no arrays")
    if "X" in arrays:
        extra = sorted(set(arrays) - {"X", "y"})
        if extra:
            raise DataError(
                f"{name} has X plus arrays other than y ({', '.join(extra)}); an X/y "
                "file holds exactly X and optionally y"
            )
        X = _numeric_2d(arrays["X"], name, "X")
        columns = [f"x{i + 1}" for i in range(X.shape[1])]
        parts, target = [X], []
        if "y" in arrays:
            y = arrays["y"]
            target = ["y"] if y.ndim == 1 else [f"y{i + 1}" for i in range(
                y.shape[1] if y.ndim == 2 else 0)]
            y = _numeric_2d(y, name, "y")
            if len(y) != len(X):
                raise DataError(f"{name}: X has {len(X)} rows but y has {len(y)}")
            parts.append(y)
        data = np.hstack(parts) if len(parts) > 1 else parts[0]
        table = Table(tuple(columns + target), data, name, tuple(target))
    else:
        cols = []
        for key, arr in arrays.items():
            if arr.ndim != 1:
                raise DataError(
                    f"{name}: array {key!r} has shape {arr.shape}; a named-column .npz "
                    "holds only 1-D arrays of one length (or use arrays X and y)"
                )
            cols.append(_numeric_2d(arr, name, key))
        lengths = {len(c) for c in cols}
        if len(lengths) > 1:
            detail = ", ".join(f"{k}: {len(a)}" for k, a in arrays.items())
            raise DataError(f"{name}: the columns differ in length ({detail})")
        table = Table(tuple(arrays), np.hstack(cols), name)
    if table.n_rows == 0:
        raise DataError(f"{name} has no data rows")
    bad = ~np.isfinite(table.data)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{name}: row {r + 1}, column {table.columns[c]!r}: {float(table.data[r, c])!r} "
            "is not a finite number; remove or impute missing and infinite values"
        )
    return table


def _numeric_2d(arr: np.ndarray, source: str, key: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise DataError(
            f"{source}: array {key!r} has dtype {arr.dtype}; data arrays must be numbers"
        )
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise DataError(f"{source}: array {key!r} must be 1-D or 2-D, got shape {arr.shape}")
    return arr.astype(np.float64)


def write_csv(out, columns: Sequence[str], data: np.ndarray) -> None:
    """Write a header and one line per row of ``data`` to the text stream ``out``.

    Each number is written in the shortest form that reads back to the same
    value of the array's dtype (``0.1``, not ``0.10000000000000001``).
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in np.asarray(data):
        writer.writerow([str(v) for v in row])


def write_csv_text(columns: Sequence[str], data: np.ndarray) -> str:
    """:func:`write_csv` into a string."""
    buf = io.StringIO()
    write_csv(buf, columns, data)
    return buf.getvalue()

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
  holds one value per column.  Blank lines are skipped.  Input columns hold
  numbers; a *target* column may hold text (class labels such as
  ``setosa``), which :attr:`Split.labels` returns as strings.

Every problem raises :class:`deltarule.DataError` naming the file, the row
and the column, e.g. ``data.csv: row 3 (line 4), column 'x2' (2 of 3): 'abc'
is not a number``.  Rows are counted from 1 below the header; lines from 1 at
the top of the file.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError
from .files import open_regular
from .npz import META_KEY, NUMERIC, NpzArchive


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
    # columns holding text: name -> (the cells as strings, the first non-number
    # as a ready DataError message); their ``data`` column is NaN
    text: dict = field(default_factory=dict)

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
        for i in f_idx:
            if self.columns[i] in self.text:
                raise DataError(self.text[self.columns[i]][1])
        labels = None
        text_targets = [self.columns[i] for i in t_idx if self.columns[i] in self.text]
        if text_targets:
            if len(t_idx) != 1:
                raise DataError(
                    f"{self.source}: target column {text_targets[0]!r} holds text (class "
                    f"labels); a text target must be the only target column, got "
                    f"{', '.join(target)}"
                )
            labels = self.text[text_targets[0]][0]
            empty = np.flatnonzero(np.char.str_len(labels.astype(str)) == 0)
            if empty.size:
                raise DataError(
                    f"{self.source}: row {int(empty[0]) + 1}, column {text_targets[0]!r}: "
                    "the label is empty; every row needs a class label"
                )
        return Split(
            X=self.data[:, f_idx],
            y=self.data[:, t_idx],
            features=tuple(self.columns[i] for i in f_idx),
            targets=tuple(self.columns[i] for i in t_idx),
            labels=labels,
        )


@dataclass(frozen=True)
class Split:
    """``X`` ``(n, n_features)``, ``y`` ``(n, n_targets)`` and their column names.

    ``labels``: for a single target column holding text, its cells as an
    ``(n,)`` array of strings (``y`` is then NaN); else ``None``.
    """

    X: np.ndarray
    y: np.ndarray
    features: tuple[str, ...]
    targets: tuple[str, ...]
    labels: np.ndarray | None = None


MAX_DATA_BYTES = 1 << 30  # a data file: 1 GiB of text, or of .npz arrays decompressed
MAX_DATA_VALUES = 1 << 27  # numbers in a table: 1 GiB as float64
_BLOCK_ROWS = 4096  # CSV rows parsed into one float64 block (bounds the Python objects)
_PIECE_CHARS = 1 << 20  # a long line is read in pieces of this many characters


def read_table(path) -> Table:
    """Read ``path`` (see the module docstring for the formats) as a :class:`Table`.

    Only regular files are read (and ``-``, standard input); a file holds at
    most :data:`MAX_DATA_BYTES` (CSV text, or ``.npz`` arrays decompressed)
    and :data:`MAX_DATA_VALUES` numbers.  Every problem is a :class:`DataError`.
    """
    name = str(path)
    if name == "-":
        return _read_delimited(sys.stdin, "<stdin>", ",")
    p = Path(name)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return _read_npz(p)
    delimiter = "\t" if suffix in (".tsv", ".tab") else ","
    fh = open_regular(p, DataError, "a data file")
    size = os.fstat(fh.fileno()).st_size
    if size > MAX_DATA_BYTES:
        fh.close()
        raise DataError(f"{name} is too large ({size} bytes, limit {MAX_DATA_BYTES})")
    with io.TextIOWrapper(fh, encoding="utf-8-sig", newline="") as text:
        try:
            return _read_delimited(text, name, delimiter)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                "data files must be CSV text, or .npz arrays"
            ) from None
        except OSError as exc:
            raise DataError(f"cannot read data file {name!r}: {exc.strerror or exc}") \
                from None


def _bounded_lines(stream, source: str, limit: int):
    """The lines of a text stream, refusing more than ``limit`` characters in all.

    Lines are read in pieces of at most :data:`_PIECE_CHARS` characters, so a
    stream without line ends (``/dev/zero`` on standard input) is stopped by
    the limit, or at once by its NUL bytes, never read whole into memory.
    """
    left, number, pieces = limit, 0, []
    while True:
        want = min(left + 1, _PIECE_CHARS)
        piece = stream.readline(want)
        if not piece:
            if pieces:
                yield "".join(pieces)
            return
        left -= len(piece)
        if left < 0:
            raise DataError(f"{source} is too large (more than {limit} characters, "
                            f"limit {limit})")
        if "\0" in piece:
            raise DataError(f"{source}: line {number + 1} holds NUL bytes, so it is not "
                            "CSV text")
        pieces.append(piece)
        if len(piece) < want or piece[-1] in "\r\n":
            number += 1
            yield pieces[0] if len(pieces) == 1 else "".join(pieces)
            pieces = []


def _read_delimited(lines, source: str, delimiter: str) -> Table:
    old_limit = csv.field_size_limit()
    # a field may be as long as the file (csv's default stops at 128 KiB)
    csv.field_size_limit(max(old_limit, MAX_DATA_BYTES))
    try:
        return _parse_delimited(_bounded_lines(lines, source, MAX_DATA_BYTES), source,
                                delimiter)
    finally:
        csv.field_size_limit(old_limit)


def _parse_delimited(lines, source: str, delimiter: str) -> Table:
    reader = csv.reader(lines, delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    blocks: list[np.ndarray] = []
    rows: list[list[float]] = []
    text: dict = {}  # column index -> [its cells as text, the error message for inputs]
    n_rows = 0
    line_of_row: list[int] = []
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            line = reader.line_num
            if header is None:
                header = _header(fields, source, line)
                header_line = line
                max_rows = MAX_DATA_VALUES // len(header)
                continue
            if len(fields) != len(header):
                raise DataError(
                    f"{source}: row {n_rows + 1} (line {line}) has {len(fields)} "
                    f"value(s) but the header on line {header_line} names {len(header)} "
                    f"columns; every row needs one value per column"
                )
            if n_rows >= max_rows:
                raise DataError(
                    f"{source} is too large: more than {max_rows} rows of {len(header)} "
                    f"columns (limit {MAX_DATA_VALUES} numbers)"
                )
            if text:
                rows.append(_parse_text_row(fields, header, source, n_rows, line, text,
                                            blocks, rows))
            else:
                try:
                    rows.append([float(f) for f in fields])
                except ValueError:
                    rows.append(_parse_text_row(fields, header, source, n_rows, line, text,
                                                blocks, rows))
            n_rows += 1
            line_of_row.append(line)
            if len(rows) == _BLOCK_ROWS:
                blocks.append(np.array(rows, dtype=np.float64))
                rows = []
    except csv.Error as exc:
        raise DataError(
            f"{source}: line {reader.line_num}: {exc}; data files must be plain CSV text"
        ) from None
    if header is None:
        raise DataError(
            f"{source} is empty: expected a header row naming the columns, then one "
            "row of numbers per sample"
        )
    if not n_rows:
        raise DataError(
            f"{source} has a header ({', '.join(header)}) but no data rows"
        )
    if rows:
        blocks.append(np.array(rows, dtype=np.float64))
    data = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    del blocks, rows
    numeric = [i for i in range(len(header)) if i not in text]
    bad = ~np.isfinite(data[:, numeric])
    if bad.any():
        r, k = (int(i) for i in np.argwhere(bad)[0])
        c = numeric[k]
        raise DataError(
            f"{source}: row {r + 1} (line {line_of_row[r]}), column {header[c]!r} "
            f"({c + 1} of {len(header)}): {float(data[r, c])!r} is not a finite number; "
            "remove or impute missing and infinite values"
        )
    return Table(tuple(header), data, source,
                 text={header[c]: (np.array(cells), message)
                       for c, (cells, message) in text.items()})


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


def _parse_text_row(fields, header, source, n_rows, line, text, blocks, rows) -> list[float]:
    """One row once a column may hold text (class labels): the numbers, with NaN
    in text columns, whose cells go to ``text``.  A column becomes text at its
    first cell that is not a number; its cells read before are kept as text
    too, in their shortest form (``1``, ``2.5``)."""
    values = []
    for c, cell in enumerate(fields):
        if c in text:
            text[c][0].append(cell.strip())
            values.append(math.nan)
            continue
        try:
            values.append(float(cell))
            continue
        except ValueError:
            pass
        earlier = [b[:, c] for b in blocks] + [np.array([r[c] for r in rows], dtype=float)]
        cells = [np.format_float_positional(v, trim="-")
                 for v in np.concatenate(earlier)] if n_rows else []
        shown = f"{cell!r} is not a number" if cell.strip() else "the cell is empty"
        message = (
            f"{source}: row {n_rows + 1} (line {line}), column {header[c]!r} "
            f"({c + 1} of {len(header)}): {shown}; every input cell below the header "
            "must be a number (only a target column may hold text labels)"
        )
        text[c] = [cells + [cell.strip()], message]
        values.append(math.nan)
    return values


def _read_npz(path: Path) -> Table:
    name = str(path)
    with NpzArchive(path, DataError, "a data file") as npz:
        if META_KEY in npz.arrays:
            raise DataError(f"{name} is a deltarule model file, not a data file")
        if npz.others:
            raise DataError(
                f"{name} holds {npz.others[0]!r}, which is not a NumPy array; a data .npz "
                "holds only arrays"
            )
        if not npz.arrays:
            raise DataError(f"{name} holds no arrays")
        if "X" in npz.arrays:
            extra = sorted(set(npz.arrays) - {"X", "y"})
            if extra:
                raise DataError(
                    f"{name} has X plus arrays other than y ({', '.join(extra)}); an X/y "
                    "file holds exactly X and optionally y"
                )
        arrays, used = {}, 0
        for key in npz.arrays:
            arr = npz.read(key, dtypes=NUMERIC, limit=MAX_DATA_BYTES - used,
                           what="numbers")
            used += arr.nbytes
            if arr.size > MAX_DATA_VALUES:
                raise DataError(f"{name}: array {key!r} is too large ({arr.size} numbers, "
                                f"limit {MAX_DATA_VALUES})")
            arrays[key] = arr
    if sum(a.size for a in arrays.values()) > MAX_DATA_VALUES:
        raise DataError(f"{name} is too large ({sum(a.size for a in arrays.values())} "
                        f"numbers, limit {MAX_DATA_VALUES})")
    if "X" in arrays:
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

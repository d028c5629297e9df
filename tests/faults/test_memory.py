"""Memory-hungry hostile input, under an address-space limit so a regression fails fast.

Zip bombs of gigabytes, headers claiming 10¹³ floats, metadata describing
networks of 10¹⁸ parameters, a one-hot label of ten million, ``--hidden
100000000000``: every case runs in ONE child process limited to
:data:`LIMIT` bytes of address space (``RLIMIT_AS``).  Each must end in the
right ``DeltaRuleError`` (or status 2 from the command line) within seconds;
a reader that decompressed a bomb or allocated the network would hit the
limit (a ``MemoryError``) or the time bound instead.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from .hostile import bomb, npy, npy_header, rewrite_model, write_zip

LIMIT = 1 << 30  # 1 GiB of address space; Python with NumPy needs about 200 MiB
GIB = 1 << 30

CHILD = textwrap.dedent('''
    import contextlib, io, json, sys, time
    import numpy as np
    import deltarule
    from deltarule.cli import main
    from deltarule.io.data import read_table
    from deltarule.io.model import read_metadata

    def cli(*argv, stdin=None):
        err = io.StringIO()
        old = sys.stdin
        if stdin:
            sys.stdin = open(stdin, encoding="utf-8", newline="")
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                status = main(list(argv))
        finally:
            sys.stdin = old
        if status:
            raise SystemError(f"status {status}: {err.getvalue().strip()}")
        return status

    CALLS = {
        "load": lambda p: deltarule.load(p),
        "read_metadata": lambda p: read_metadata(p),
        "read_table": lambda p: read_table(p),
        "trainer": lambda layers, rows: deltarule.Trainer(layers, max_epochs=1).fit(
            np.zeros((rows, layers[0])), np.zeros((rows, layers[-1]))),
        "cli": cli,
        "cli_stdin": lambda stdin, *argv: cli(*argv, stdin=stdin),
    }
    for line in sys.stdin:
        case = json.loads(line)
        start = time.perf_counter()
        try:
            CALLS[case["call"]](*case["args"])
            outcome = {"type": None, "message": ""}
        except BaseException as exc:
            outcome = {"type": type(exc).__name__, "message": str(exc)}
        outcome["id"] = case["id"]
        outcome["seconds"] = time.perf_counter() - start
        print(json.dumps(outcome), flush=True)
''')


def cases(root, model):
    """``[(id, call, args, expected error type, words)]`` with their files built."""
    out = []
    p = root / "extra-bomb.npz"
    rewrite_model(model, p, members={"junk": bomb(3 * GIB, header=npy_header(
        "<f8", (3 * GIB // 8,)), name="junk")})
    out.append(("an unread 3 GiB bomb member", "load", [str(p)], None, ""))
    p = root / "history-bomb.npz"
    rewrite_model(model, p, members={"__history__": bomb(3 * GIB, header=npy_header(
        "<f8", (3 * GIB // 8,)), name="__history__")})
    out.append(("a 3 GiB history bomb", "read_metadata", [str(p)], "ModelFileError",
                "too large (3221225472 bytes, limit 1073741824)"))
    p = root / "weights-bomb.npz"
    rewrite_model(model, p, members={"W1": bomb(GIB, header=npy_header("<f8", (2, 3)),
                                                name="W1")})
    out.append(("a W1 inflating to 1 GiB", "load", [str(p)], "ModelFileError",
                "its header describes 48 bytes of data"))
    p = root / "data-bomb.npz"
    write_zip(p, [bomb(2 * GIB, header=npy_header("<f8", (2 * GIB // 16, 2)))])
    out.append(("a 2 GiB data bomb", "read_table", [str(p)], "DataError",
                "too large (2147483648 bytes, limit 1073741824)"))
    p = root / "data-claim.npz"
    write_zip(p, {"X": npy_header("<f8", (10**13,)) + b"\0" * 64})
    out.append(("a data header claiming 1e13 floats", "read_table", [str(p)], "DataError",
                "too large (80000000000000 bytes"))
    p = root / "model-claim.npz"
    rewrite_model(model, p, members={"__history__": npy_header("<f8", (10**13,))})
    out.append(("a history header claiming 1e13 floats", "read_metadata", [str(p)],
                "ModelFileError", "too large (80000000000000 bytes"))
    p = root / "layers-huge.npz"
    rewrite_model(model, p, set_meta={"layers": [10**9, 10**9]})
    out.append(("metadata layers [1e9, 1e9]", "load", [str(p)], "ModelFileError",
                "network of 1000000001000000000 parameters"))
    p = root / "layers-big.npz"
    rewrite_model(model, p, set_meta={"layers": [10_000, 10_000],
                                      "activations": [{"name": "sigmoid"}]})
    out.append(("metadata layers [1e4, 1e4] beyond the limit", "load", [str(p)],
                "ModelFileError", "more than the address-space limit (ulimit -v) allows"))
    out.append(("Trainer 2-10000-10000-1", "trainer", [[2, 10_000, 10_000, 1], 4],
                "ConfigError", "more than the address-space limit"))
    out.append(("a workspace of 60000 rows x 5000 units", "trainer", [[8, 5000, 10], 60_000],
                "ConfigError", "and 60000 rows at once"))
    out.append(("--hidden 100000000000", "cli", ["train", "xor", "--hidden", "100000000000"],
                "SystemError", "status 2: deltarule: error: the network 2-100000000000-1"))
    p = root / "labels.csv"
    p.write_text("a,b,label\n0,1,1\n1,0,10000000\n1,1,0\n0,0,0\n")
    out.append(("--one-hot with a label of 1e7", "cli",
                ["train", str(p), "--target", "label", "--one-hot"], "SystemError",
                "would make 10000001 classes"))
    out.append(("/dev/zero on standard input", "cli_stdin",
                ["/dev/zero", "train", "-", "--target", "a"], "SystemError", "NUL bytes"))
    p = root / "zero-link.csv"
    os.symlink("/dev/zero", p)
    out.append(("a CSV linked to /dev/zero", "cli", ["train", str(p), "--target", "a"],
                "SystemError", "character device"))
    return out


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, xor_model):
    root = tmp_path_factory.mktemp("memory")
    table = cases(root, xor_model[0])

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

    (root / "child.py").write_text(CHILD)
    lines = "".join(json.dumps({"id": c[0], "call": c[1], "args": c[2]}) + "\n"
                    for c in table)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", DELTARULE_DISABLE_PLUGIN_AUTOLOAD="1")
    proc = subprocess.run([sys.executable, str(root / "child.py")], input=lines, text=True,
                          capture_output=True, timeout=240, preexec_fn=limit, env=env)
    results = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        results[record["id"]] = record
    assert [c[0] for c in table] == IDS
    return {c[0]: (c, results.get(c[0]), proc.stderr) for c in table}


IDS = [  # one test per case of cases(); checked against it in the fixture
    "an unread 3 GiB bomb member", "a 3 GiB history bomb", "a W1 inflating to 1 GiB",
    "a 2 GiB data bomb", "a data header claiming 1e13 floats",
    "a history header claiming 1e13 floats", "metadata layers [1e9, 1e9]",
    "metadata layers [1e4, 1e4] beyond the limit", "Trainer 2-10000-10000-1",
    "a workspace of 60000 rows x 5000 units", "--hidden 100000000000",
    "--one-hot with a label of 1e7", "/dev/zero on standard input",
    "a CSV linked to /dev/zero",
]


@pytest.mark.parametrize("case_id", IDS)
def test_memory_hungry_input_under_an_address_space_limit(outcomes, case_id):
    (case, result, stderr) = outcomes[case_id]
    assert result is not None, f"the child died before this case: {stderr[-2000:]}"
    _, _, _, expected, words = case
    assert result["type"] == expected, result
    assert words in result["message"], result
    assert "MemoryError" not in result["message"]
    assert result["seconds"] < 20, result  # nothing was decompressed or allocated whole


def test_the_limit_is_real(tmp_path):
    """The child's limit does stop a real allocation of 2 GiB (the suite's premise)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

    proc = subprocess.run([sys.executable, "-c", "import numpy as np; np.ones(1 << 28)"],
                          capture_output=True, text=True, preexec_fn=limit, timeout=60)
    assert proc.returncode != 0 and "MemoryError" in proc.stderr
    assert npy(np.zeros(1))  # the builders import


def test_bombs_are_small_on_disk(tmp_path):
    p = write_zip(tmp_path / "b.npz", [bomb(GIB, header=npy_header("<f8", (GIB // 8,)))])
    assert p.stat().st_size < 2 << 20  # about 1 MiB for 1 GiB

"""ONNX export: ``deltarule.to_onnx`` and ``deltarule export``.

The central promise: for every bundled activation and the example package's
swish, models trained on XOR, digits and a table with string labels export,
pass ``onnx.checker`` (full check), and onnxruntime's outputs equal
``predict`` on the training data and on random inputs, with the same labels:

* float64: ``|onnx − predict| ≤ 1e-12 · (1 + |predict|)``;
* float32: ``|onnx − predict| ≤ 1e-6 · (1 + |predict|)``.

Two float32 matrix products that sum in different orders (NumPy's BLAS,
onnxruntime's MLAS) differ by about float32's own rounding error of the
network, which grows with the layers' widths and pre-activations; these
models (measured: at most 5.5e-7) stay within 1e-6, and a failure message
reports that rounding error beside the difference.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import deltarule
from deltarule.cli import main
from deltarule.datasets import xor
from deltarule.export import IR_VERSION, OPSET, session

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

# short trainings on purpose: what is compared is the export, not convergence
pytestmark = pytest.mark.filterwarnings("ignore::deltarule.ConvergenceWarning")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "deltarule-swish"
BUNDLED = deltarule.make_registry(entry_points=False).catalogue().names("activations")
DTYPES = ("float32", "float64")


@pytest.fixture(scope="module")
def swish_module():
    sys.path.insert(0, str(EXAMPLE))
    try:
        import deltarule_swish
        yield deltarule_swish
    finally:
        sys.path.remove(str(EXAMPLE))


def activation(name, swish_module=None):
    if name == "swish":
        return swish_module.Swish(beta=1.5)
    if name == "leaky_relu":
        return ("leaky_relu", {"slope": 0.1})
    return name


# -- models ------------------------------------------------------------------


def _train(X, y, layers, act, dtype, epochs, lr, batch_size=None, seed=0):
    """The activation in the hidden and the output layer; a mean loss keeps every
    one of them (relu, identity, …) from dying or diverging."""
    loss = "cross_entropy" if act == "softmax" else ("mse", {"reduction": "mean"})
    return deltarule.train(X, y, layers=layers, activation=[act, act], loss=loss,
                           init="xavier", lr=lr, max_epochs=epochs, batch_size=batch_size,
                           seed=seed, dtype=dtype)


def xor_model(act, dtype):
    X, y = xor()
    k = 2 if act == "softmax" else 1
    Y = np.eye(2)[y[:, 0].astype(int)] if k == 2 else y
    # seed 4: relu and leaky_relu learn XOR in both dtypes (a dead relu output
    # would make the comparison trivial)
    result = _train(X, Y, [2, 8, k], act, dtype, epochs=300, lr=0.5, seed=4)
    result.network.classes = np.array([0, 1])
    return result, X


def digits_model(act, dtype):
    from deltarule.datasets import digits

    X, Y = digits()
    result = _train(X, Y, [64, 16, 10], act, dtype, epochs=3, lr=0.05, batch_size=64)
    result.network.classes = np.arange(10)
    return result, X


def string_table(n_classes, seed=0, rows=90):
    """Unscaled features (one in the thousands) and string labels, as a CSV holds."""
    rng = np.random.default_rng(seed)
    names = np.array(["setosa", "versicolor", "virginica"][:n_classes])
    idx = rng.integers(0, n_classes, rows)
    centres = rng.normal(0, 3, (n_classes, 3))
    X = centres[idx] + rng.normal(0, 1, (rows, 3))
    X[:, 1] = X[:, 1] * 400 + 2000
    return X, names[idx], names


def strings_model(act, dtype):
    """Trained by ``deltarule train flowers.csv --target species --scale standard``:
    the model file brings the scaler and the string classes, as a user's would."""
    name = act if isinstance(act, str) else act[0] if isinstance(act, tuple) else act.name
    n_classes = 2 if name in ("sigmoid", "swish") else 3  # one output unit for these
    X, labels, _ = string_table(n_classes)
    # a summed mse over 90 rows: the learning rate is per row, as in a mean
    loss, lr = ("cross_entropy", "0.5") if name == "softmax" else ("mse", "0.005")
    plugin = ["--plugin", "deltarule_swish:plugin"] if name == "swish" else []
    with tempfile.TemporaryDirectory() as tmp:
        path, model = Path(tmp) / "flowers.csv", Path(tmp) / "m.npz"
        path.write_text("petal (mm),width (um),noise,species\n" + "".join(
            f"{x[0]!r},{x[1]!r},{x[2]!r},{label}\n" for x, label in zip(X.tolist(), labels)))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(["train", str(path), "--target", "species", "--scale", "standard",
                         "--activation", f"{name},{name}", "--loss", loss, "--init", "xavier",
                         "--lr", lr, "--epochs", "100", "--seed", "0", "--dtype", dtype,
                         "--save", str(model), "--quiet", *plugin])
        assert code == 0
        net = deltarule.load(model, plugins=plugin[1:])
    assert net.scaler is not None and net.classes is not None and net.dtype == dtype
    return net, X


MODELS = {"xor": xor_model, "digits": digits_model, "strings": strings_model}


def reference(net, X):
    """``(ŷ, labels)`` as deltarule computes them for raw inputs ``X``."""
    return net.predict(X), net.predict_labels(X)


def rounding_error(net, X):
    """``max |ŷ_float32 − ŷ_exact|``: the network's own float32 rounding error."""
    exact = deltarule.Network(net.layers, net.activations,
                              [(W.astype(np.float64), b.astype(np.float64))
                               for W, b in net.params], np.float64)
    exact.scaler, exact.classes = net.scaler, net.classes
    Y32 = net.predict(X)
    Y64 = exact.predict(np.asarray(X, dtype=net.dtype).astype(np.float64))
    return float(np.max(np.abs(Y32 - Y64)))


def random_inputs(X, rows=500, seed=1):
    """Uniform over each feature's training range widened by half of it each way."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.random.default_rng(seed).uniform(lo - span / 2, hi + span / 2,
                                               (rows, X.shape[1]))


def run(proto, X, dtype):
    outputs = session(proto).run(None, {"input": np.asarray(X, dtype=dtype)})
    return dict(zip([o.name for o in proto.graph.output], outputs))


def assert_equivalent(proto, net, X, what):
    """onnxruntime's outputs equal deltarule's within the stated tolerance; same labels."""
    got = run(proto, X, net.dtype)
    Y, labels = reference(net, X)
    tol = 1e-12 if net.dtype == np.float64 else 1e-6
    P = got["probabilities"]
    assert P.dtype == net.dtype and P.shape == Y.shape
    err = np.abs(P.astype(np.float64) - Y)
    if not np.all(err <= tol * (1 + np.abs(Y))):
        own = rounding_error(net, X) if net.dtype == np.float32 else 0.0
        pytest.fail(f"{what}: max |onnx − predict| = {err.max():.3g} > {tol:.3g}·(1 + |ŷ|) "
                    f"(deltarule's own float32 rounding error here: {own:.3g})")
    # the same labels, except that where deltarule's own decision is within the
    # tolerance (an output within it of 0.5, or of the largest output) either
    # near-winner will do
    slack = 2 * tol * (1 + np.abs(Y))
    if Y.shape[1] == 1:
        near = np.abs(Y - 0.5) <= slack
        allowed = np.where(near, True, (Y > 0.5) == (np.arange(2) == 1))
    else:
        allowed = Y >= Y.max(axis=1, keepdims=True) - slack
    chosen = got["label"][:, None] == net.classes[None, :]
    assert chosen.sum(axis=1).tolist() == [1] * len(Y), what
    assert np.all(allowed[chosen]), f"{what}: labels differ"
    decided = allowed.sum(axis=1) == 1
    assert np.array_equal(got["label"][decided], labels[decided]), what
    return err.max()


# -- the central promise --------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("data", list(MODELS))
@pytest.mark.parametrize("name", [*BUNDLED, "swish"])
def test_exported_model_runs_like_predict(name, data, dtype, swish_module):
    act = activation(name, swish_module)
    model, X = MODELS[data](act, dtype)  # a TrainResult, or a Network loaded from its file
    net = getattr(model, "network", model)
    proto = deltarule.to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    assert_equivalent(proto, net, X, f"{name}/{data}/{dtype} on the training data")
    assert_equivalent(proto, net, random_inputs(X), f"{name}/{data}/{dtype} on random inputs")


def test_every_bundled_activation_lowers_itself():
    from deltarule.protocols import capabilities

    catalogue = deltarule.make_registry(entry_points=False).catalogue()
    for name in BUNDLED:
        assert capabilities(catalogue.get("activations", name)).lower_onnx, name
    assert not capabilities(Cube()).lower_onnx


# -- the graph -------------------------------------------------------------------


def test_graph_inputs_outputs_and_versions():
    net, _ = strings_model("tanh", "float64")
    proto = deltarule.to_onnx(net)
    assert proto.ir_version == IR_VERSION == 8
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", OPSET)] == [("", 17)]
    assert proto.producer_name == "deltarule"

    def signature(value):
        t = value.type.tensor_type
        return value.name, t.elem_type, [d.dim_param or d.dim_value for d in t.shape.dim]

    assert [signature(v) for v in proto.graph.input] == [
        ("input", onnx.TensorProto.DOUBLE, ["batch", 3])]
    assert [signature(v) for v in proto.graph.output] == [
        ("probabilities", onnx.TensorProto.DOUBLE, ["batch", 3]),
        ("label", onnx.TensorProto.STRING, ["batch"])]
    ops = [n.op_type for n in proto.graph.node]
    assert ops == ["Sub", "Div", "MatMul", "Add", "Tanh", "MatMul", "Add", "Tanh",
                   "ArgMax", "Gather"]
    inits = {i.name for i in proto.graph.initializer}
    assert {"W1", "b1", "W2", "b2", "scaler_offset", "scaler_scale", "classes"} <= inits


def test_a_model_without_classes_has_one_output_named_output():
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=50, seed=0)
    proto = deltarule.to_onnx(result)
    assert [o.name for o in proto.graph.output] == ["output"]
    got = run(proto, X, np.float64)["output"]
    assert np.allclose(got, result.predict(X), rtol=1e-12, atol=1e-12)


def test_one_output_unit_labels_through_the_half_threshold():
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], lr=0.5, max_epochs=3000, seed=1)
    result.network.classes = np.array(["no", "yes"])
    proto = deltarule.to_onnx(result)
    assert [n.op_type for n in proto.graph.node][-4:] == ["Greater", "Cast", "Reshape",
                                                          "Gather"]
    got = run(proto, X, np.float64)
    assert got["label"].tolist() == ["yes", "yes", "no", "no"]


@pytest.mark.parametrize("classes, elem", [
    (np.array([3, 7, 11]), "INT64"),
    (np.array([0.5, 1.5, 2.5]), "DOUBLE"),
    (np.array([1, 2, 3], dtype=np.int32), "INT32"),
])
def test_numeric_labels_keep_their_type(classes, elem):
    X, labels, names = string_table(3)
    Y = (labels[:, None] == names[None, :]).astype(float)
    result = deltarule.train(X / 1000, Y, layers=[3, 4, 3], max_epochs=20, seed=0)
    result.network.classes = classes
    proto = deltarule.to_onnx(result)
    assert proto.graph.output[1].type.tensor_type.elem_type == getattr(onnx.TensorProto, elem)
    got = run(proto, X / 1000, np.float64)
    assert got["label"].dtype == classes.dtype
    assert np.array_equal(got["label"], classes[np.argmax(result.predict(X / 1000), axis=1)])


def test_dynamic_batch_dimension():
    net, X = strings_model("relu", "float32")
    proto = deltarule.to_onnx(net)
    sess = session(proto)
    for rows in (1, 2, 257):
        P, labels = sess.run(None, {"input": random_inputs(X, rows).astype(np.float32)})
        assert P.shape == (rows, 3) and labels.shape == (rows,)


def test_the_scaler_is_part_of_the_graph():
    """Raw, unscaled inputs go in: (x − offset) / scale happens inside the graph."""
    net, X = strings_model("tanh", "float64")
    got = run(deltarule.to_onnx(net), X, np.float64)["probabilities"]
    assert np.allclose(got, net.forward((X - net.scaler.offset) / net.scaler.scale),
                       rtol=1e-12, atol=1e-12)
    assert not np.allclose(got, net.forward(X), atol=1e-3)  # it does matter


def test_export_is_deterministic():
    net, _ = strings_model("softplus", "float32")
    assert deltarule.to_onnx(net).SerializeToString() == \
        deltarule.to_onnx(net).SerializeToString()


def test_metadata_travels_in_the_model_props():
    import json

    net, _ = strings_model("leaky_relu", "float64")
    props = {p.key: p.value for p in deltarule.to_onnx(net).metadata_props}
    meta = json.loads(props["deltarule"])
    assert meta["layers"] == [3, 3, 3]
    assert meta["activations"][0] == {"name": "leaky_relu", "options": {"slope": 0.01}}
    assert meta["classes"] == ["setosa", "versicolor", "virginica"]
    assert meta["scaler"] == {"kind": "standard"}
    assert meta["feature_names"] == ["petal (mm)", "width (um)", "noise"]
    assert meta["target_names"] == ["species"]


# -- what to_onnx accepts and writes ---------------------------------------------------


def test_network_result_and_path_give_the_same_graph(tmp_path):
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=20, seed=0)
    path = deltarule.save(result, tmp_path / "m.npz")
    a = deltarule.to_onnx(result).SerializeToString()
    assert deltarule.to_onnx(result.network).SerializeToString() == a
    assert deltarule.to_onnx(path).SerializeToString() == a
    assert deltarule.to_onnx(str(path)).SerializeToString() == a


def test_writes_the_file_atomically(tmp_path):
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=20, seed=0)
    out = tmp_path / "m.onnx"
    proto = deltarule.to_onnx(result, out)
    assert out.read_bytes() == proto.SerializeToString()
    onnx.checker.check_model(str(out), full_check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_other_objects_are_refused():
    with pytest.raises(deltarule.ExportError, match="Network, a TrainResult or the path"):
        deltarule.to_onnx(42)


def test_missing_onnx_names_the_extra(monkeypatch):
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=5, seed=0)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(deltarule.MissingDependencyError, match=r"deltarule\[onnx\]"):
        deltarule.to_onnx(result)


def test_classes_that_do_not_fit_the_outputs_are_an_error():
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=5, seed=0)
    result.network.classes = np.array(["a", "b", "c"])
    with pytest.raises(deltarule.ExportError, match="1 output unit.*3 classes"):
        deltarule.to_onnx(result)


# -- the lowering protocol ----------------------------------------------------------------


class Cube:
    """``z³`` without a lowering."""

    name = "cube"

    def forward(self, z):
        return z * z * z

    def derivative(self, z, a):
        return 3 * z * z


class Cubes:
    name = "cubes"

    @deltarule.hookimpl
    def deltarule_activations(self):
        return [Cube()]


def _cube_result(plugins=()):
    X, y = xor()
    return deltarule.train(X, y, layers=[2, 3, 1], activation=["cube", "sigmoid"],
                           lr=0.01, max_epochs=5, seed=0, plugins=plugins)


def test_an_activation_without_lowering_is_named_with_its_plugin():
    result = _cube_result([Cubes()])
    with pytest.raises(deltarule.ExportError) as info:
        deltarule.to_onnx(result, plugins=[Cubes()])
    message = str(info.value)
    assert "activation 'cube' (layer 1; plugin 'cubes' (user))" in message
    assert "lower_onnx(g, z)" in message and "docs/export.md" in message


def test_an_unregistered_activation_is_named_with_its_class():
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], activation=[Cube(), "sigmoid"],
                             max_epochs=2, seed=0)
    with pytest.raises(deltarule.ExportError, match=r"class tests\.test_export\.Cube"):
        deltarule.to_onnx(result)


def test_lowerings_supply_a_missing_lowering():
    result = _cube_result([Cubes()])
    proto = deltarule.to_onnx(
        result, lowerings={"cube": lambda act, g, z: g.op("Mul", z, g.op("Mul", z, z))})
    X = random_inputs(xor()[0])
    assert np.allclose(run(proto, X, np.float64)["output"], result.predict(X),
                       rtol=1e-12, atol=1e-12)


def test_a_lowering_that_raises_is_a_plugin_error():
    def broken(act, g, z):
        raise RuntimeError("boom")

    with pytest.raises(deltarule.PluginError, match="'cube'.*failed in lower_onnx: "
                                                    "RuntimeError: boom") as info:
        deltarule.to_onnx(_cube_result([Cubes()]), lowerings={"cube": broken})
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_lowering_must_return_a_value_it_made():
    with pytest.raises(deltarule.ExportError, match="returned 'W1', which is not a value"):
        deltarule.to_onnx(_cube_result([Cubes()]), lowerings={"cube": lambda a, g, z: "W1"})


def test_a_lowering_with_an_unknown_operator_gives_an_invalid_graph_error():
    with pytest.raises(deltarule.ExportError, match="not valid ONNX"):
        deltarule.to_onnx(_cube_result([Cubes()]),
                          lowerings={"cube": lambda a, g, z: g.op("Cubed", z)})


def test_identity_may_return_z_itself():
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], activation=["identity", "identity"],
                             lr=0.01, max_epochs=5, seed=0)
    proto = deltarule.to_onnx(result)
    assert [n.op_type for n in proto.graph.node] == ["MatMul", "Add"] * 2
    assert np.allclose(run(proto, X, np.float64)["output"], result.predict(X), rtol=1e-12,
                       atol=1e-12)


# -- the command line ------------------------------------------------------------------


def test_cli_export_writes_a_graph_that_runs_like_predict(tmp_path):
    from .helpers import python

    model, out = tmp_path / "m.npz", tmp_path / "m.onnx"
    proc = python("-m", "deltarule", "train", "xor", "--epochs", "50", "--seed", "0",
                  "--dtype", "float32", "--save", model, "--quiet")
    assert proc.returncode == 0, proc.stderr
    proc = python("-m", "deltarule", "export", model, out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"wrote {out}: ONNX opset 17, IR version 8, float32, layers 2-3-1 "
        "(sigmoid, sigmoid)",
        "input  input: float32[batch, 2]",
        "output output: float32[batch, 1]",
    ]
    proto = onnx.load(str(out))
    net = deltarule.load(model)
    X = random_inputs(xor()[0])
    got = run(proto, X, np.float32)["output"]
    assert np.all(np.abs(got - net.predict(X)) <= 1e-6 * (1 + np.abs(net.predict(X))))


def test_cli_export_with_a_plugin_activation(tmp_path):
    from .helpers import python

    env = {"PYTHONPATH": str(EXAMPLE), "DELTARULE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    model, out = tmp_path / "swish.npz", tmp_path / "swish.onnx"
    proc = python("-m", "deltarule", "train", "xor", "--plugin", "deltarule_swish:plugin",
                  "--activation", "swish,sigmoid", "--epochs", "50", "--save", model,
                  "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    proc = python("-m", "deltarule", "export", model, out, env=env)
    assert proc.returncode == 2 and "unknown activation 'swish'" in proc.stderr
    proc = python("-m", "deltarule", "export", model, out, "--plugin",
                  "deltarule_swish:plugin", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [n.op_type for n in onnx.load(str(out)).graph.node][2:8] == [
        "Mul", "Neg", "Exp", "Add", "Div", "Mul"]


@pytest.mark.parametrize("case, words", [
    ("missing", "does not exist"),
    ("same", "which writing would destroy"),
    ("folder", "is a folder"),
    ("nofolder", "does not exist"),
    ("nolowering", "has no ONNX lowering"),
])
def test_cli_export_errors_are_one_line(tmp_path, case, words):
    from .helpers import python

    X, y = xor()
    activation = [Cube(), "sigmoid"] if case == "nolowering" else "sigmoid"
    result = deltarule.train(X, y, layers=[2, 3, 1], activation=activation, max_epochs=2,
                             seed=0)
    model = str(deltarule.save(result, tmp_path / "m.npz"))
    args = {"missing": (tmp_path / "nope.npz", tmp_path / "x.onnx"),
            "same": (model, model),
            "folder": (model, tmp_path),
            "nofolder": (model, tmp_path / "no" / "x.onnx"),
            "nolowering": (model, tmp_path / "x.onnx")}[case]
    extra = ["--plugin", "tests.test_export:CUBES"] if case == "nolowering" else []
    proc = python("-m", "deltarule", "export", *args, *extra,
                  cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 2
    assert proc.stderr.startswith("deltarule: error: ") and words in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.onnx").exists()


CUBES = Cubes()


def test_each_model_of_train_many_exports():
    X, y = xor()
    many = deltarule.train_many(X, y, seeds=range(3), lr=0.5, max_epochs=200)
    for result in many:
        got = run(deltarule.to_onnx(result), X, np.float64)["output"]
        assert np.allclose(got, result.network.predict(X), rtol=1e-12, atol=1e-12)

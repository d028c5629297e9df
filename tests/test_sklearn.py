"""deltarule.sklearn: scikit-learn's own estimator checks, pipelines, searches."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip(
    "sklearn", reason="scikit-learn is not installed (pip install 'deltarule[sklearn]')"
)

from sklearn.datasets import load_iris, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import deltarule  # noqa: E402
from deltarule import ConfigError  # noqa: E402
from deltarule.sklearn import DeltaRuleClassifier, DeltaRuleRegressor  # noqa: E402

ESTIMATORS = [
    DeltaRuleClassifier(),
    DeltaRuleRegressor(),
    # the classic recipe: sigmoid units, squared error, plain SGD, float32
    DeltaRuleClassifier(hidden_layer_sizes=(8,), activation="sigmoid", loss="mse",
                        optimizer="sgd", lr=0.05, max_epochs=300, batch_size=None,
                        dtype="float32"),
    DeltaRuleRegressor(hidden_layer_sizes=(16, 8), activation=("leaky_relu", {"slope": 0.1}),
                       optimizer="rmsprop", lr=0.01,
                       optimizer_options={"rho": 0.95, "weight_decay": 1e-4},
                       patience=10, validation_fraction=0.2),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def test_defaults_fit_iris_in_a_pipeline(iris):
    X, y = iris
    model = make_pipeline(StandardScaler(), DeltaRuleClassifier(random_state=0)).fit(X, y)
    assert model.score(X, y) > 0.9  # MLPClassifier's defaults: 0.95-0.97
    clf = model[-1]
    assert clf.n_iter_ == 200 and clf.stop_reason_ == "max_epochs"
    assert len(clf.loss_curve_) == 200 and clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert [a.name for a in clf.network_.activations] == ["relu", "softmax"]
    assert clf.network_.layers == (4, 100, 3)


def test_grid_search_over_deltarule_parameters(iris):
    X, y = iris
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), DeltaRuleClassifier(max_epochs=60, random_state=0)),
        {"deltaruleclassifier__activation": ["tanh", "relu"],
         "deltaruleclassifier__lr": [0.001, 0.01]},
        cv=3,
    ).fit(X, y)
    assert grid.best_params_["deltaruleclassifier__lr"] == 0.01
    assert grid.best_score_ > 0.85


def test_binary_classifier_uses_one_sigmoid_unit_and_string_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    clf = DeltaRuleClassifier(hidden_layer_sizes=(), lr=0.05, random_state=1).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.network_.layers == (2, 1)
    assert clf.network_.activations[-1].name == "sigmoid"
    proba = clf.predict_proba(X)
    assert proba.shape == (80, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (clf.predict(X) == y).mean() > 0.95


def test_regressor_output_shapes_follow_y():
    X, y = make_regression(n_samples=60, n_features=3, n_targets=2, random_state=0)
    y = y / y.std(axis=0)
    reg = DeltaRuleRegressor(hidden_layer_sizes=(), lr=0.05, random_state=0).fit(X, y)
    assert reg.predict(X).shape == (60, 2) and reg.n_outputs_ == 2
    assert reg.score(X, y) > 0.95  # a linear model on linear data
    reg.fit(X, y[:, 0])
    assert reg.predict(X).shape == (60,) and reg.n_outputs_ == 1


def test_random_state_makes_fits_reproducible(iris):
    X, y = iris
    a = DeltaRuleClassifier(max_epochs=20, random_state=3).fit(X, y)
    b = DeltaRuleClassifier(max_epochs=20, random_state=3).fit(X, y)
    c = DeltaRuleClassifier(max_epochs=20, random_state=np.random.RandomState(3)).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert c.loss_curve_ != a.loss_curve_  # seeded from the RandomState's draw


def test_pickle_keeps_a_working_network(iris):
    X, y = iris
    clf = DeltaRuleClassifier(hidden_layer_sizes=(5,), max_epochs=5, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    net = back.network_
    assert all(np.shares_memory(W, net.theta) for W in net.weights)


def test_network_can_be_saved_as_a_deltarule_model(tmp_path, iris):
    X, y = iris
    clf = DeltaRuleClassifier(hidden_layer_sizes=(6,), max_epochs=10, random_state=0).fit(X, y)
    deltarule.save(clf.network_, tmp_path / "iris.npz")
    net = deltarule.load(tmp_path / "iris.npz")
    np.testing.assert_allclose(net.predict(X), clf.predict_proba(X), rtol=1e-12)


@pytest.mark.parametrize("params, match", [
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
    ({"hidden_layer_sizes": "big"}, "hidden_layer_sizes"),
    ({"batch_size": "huge"}, "batch_size"),
    ({"random_state": "seed"}, "random_state"),
    ({"lr": -1.0}, "lr"),
    ({"activation": "tanhh"}, "tanh"),
    ({"optimizer": "adam", "optimizer_options": {"beta2": 1.0}}, "beta2"),
])
def test_bad_parameters_raise_value_errors_at_fit(iris, params, match):
    X, y = iris
    clf = DeltaRuleClassifier(**params)  # sklearn: __init__ never validates
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


def test_divergence_warns():
    from sklearn.exceptions import ConvergenceWarning

    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    reg = DeltaRuleRegressor(optimizer="sgd", lr=10.0, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        reg.fit(X, 1e3 * y)
    assert reg.stop_reason_ == "diverged"
    assert np.isfinite(reg.network_.theta).all()


def test_single_class_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="at least 2 classes"):
        DeltaRuleClassifier().fit(np.zeros((4, 2)), np.ones(4))


def test_config_errors_are_value_errors():
    assert issubclass(ConfigError, ValueError)
